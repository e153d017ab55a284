/**
 * Kamal's hooks for components: which hooks run and from where (the hooks directory is read, and
 * each hook file hashed, when the program runs), and the `Hook` resources that run them. A hook
 * file is recorded by its path relative to the Pulumi project directory and its content hash, never
 * by an absolute path or its code.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Problem } from "../config/errors";
import { dirHookProblems, type HookName, HOOK_KEYS, hookSources, type HooksArgs, normalizeHooks } from "../config/hooks";
import { BerthConfigError } from "../config/errors";
import { Hook } from "./resources";
import { plainProblems, throwProblems } from "./inputs";

/** A hook ready to become a resource. */
export type ResolvedHook = { path: string; contentHash: string } | { command: string };

/** The Pulumi project directory (where Pulumi.yaml is, and the provider's working directory). */
export function projectDir(): string {
  const root = pulumi.runtime.getRootDirectory();
  return path.isAbsolute(root) ? root : process.cwd();
}

function executable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Validates `hooks` (plain values: they decide which resources exist), reads the hooks directory and
 * hashes each hook file. Only `names` are looked for (a component runs only its own hooks).
 * Throws one `BerthConfigError` naming each bad field.
 */
export function resolveHooks(component: string, hooks: HooksArgs | undefined, names: readonly HookName[], dir = projectDir()): Partial<Record<HookName, ResolvedHook>> {
  if (hooks === undefined) return {};
  throwProblems(component, plainProblems({ hooks }, [["hooks"], ["hooks", "*"], ["hooks", "*", "command"]]));
  const cfg = normalizeHooks(hooks, component);
  const problems: Problem[] = [];
  const files: string[] = [];
  if (cfg.path !== undefined) {
    const abs = path.resolve(dir, cfg.path);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
      problems.push({ path: "hooks.path", message: `must be a directory; got ${JSON.stringify(cfg.path)}, which is not one in the project directory. Create it, or leave \`path\` out.` });
    } else {
      const all = fs.readdirSync(abs);
      problems.push(...dirHookProblems(all));
      for (const name of names) {
        if (!all.includes(name) || cfg.given[name] !== undefined) continue;
        if (executable(path.join(abs, name))) files.push(name);
        else problems.push({ path: "hooks.path", message: `must hold executable hook files; got ${JSON.stringify(`${cfg.path}/${name}`)}, which is not executable. Run \`chmod +x\` on it (Kamal runs hooks as executables).` });
      }
    }
  }
  const sources = hookSources(cfg, files, names);
  const out: Partial<Record<HookName, ResolvedHook>> = {};
  for (const [name, src] of Object.entries(sources) as [HookName, { path: string } | { command: string }][]) {
    if ("command" in src) {
      out[name] = src;
      continue;
    }
    const abs = path.resolve(dir, src.path);
    if (!executable(abs)) {
      const where = cfg.given[name] !== undefined ? `hooks.${HOOK_KEYS[name]}` : "hooks.path";
      problems.push({ path: where, message: `must be an executable file; got ${JSON.stringify(src.path)}, which ${fs.existsSync(abs) ? "is not executable. Run `chmod +x` on it" : "does not exist in the project directory"}.` });
      continue;
    }
    out[name] = { path: path.relative(dir, abs).split(path.sep).join("/"), contentHash: `sha256:${createHash("sha256").update(fs.readFileSync(abs)).digest("hex")}` };
  }
  if (problems.length > 0) throw new BerthConfigError(component, problems);
  return out;
}

/** A stable short hash of a JSON value (for `trigger`). */
export function hashOf(value: unknown): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(value) ?? "null").digest("hex")}`;
}

export interface HookSpec {
  hook: HookName;
  source: ResolvedHook;
  env: pulumi.Input<Record<string, string>>;
  trigger: pulumi.Input<Record<string, pulumi.Input<string>>>;
  secretsTrigger?: pulumi.Input<string>;
  /** Secrets in the hook's environment (`hooks.secrets`). */
  secretEnv?: pulumi.Input<Record<string, string>>;
  runOnCreate?: boolean;
}

/** The `Hook` resource of one hook. */
export function hookResource(name: string, s: HookSpec, opts: pulumi.CustomResourceOptions): Hook {
  return new Hook(
    name,
    {
      hook: s.hook,
      ...("command" in s.source ? { command: s.source.command } : { path: s.source.path, contentHash: s.source.contentHash }),
      env: s.env,
      trigger: s.trigger as pulumi.Input<Record<string, string>>,
      ...(s.secretsTrigger !== undefined ? { secretsTrigger: pulumi.secret(s.secretsTrigger) } : {}),
      ...(s.secretEnv !== undefined ? { secretEnv: pulumi.secret(s.secretEnv) } : {}),
      runOnCreate: s.runOnCreate ?? true,
    },
    opts,
  );
}
