/**
 * Kamal's hooks (`.kamal/hooks/<name>`, run on the deploying machine at fixed moments of a deploy)
 * as typed args: a directory like Kamal's `hooks_path`, and per hook a file or an inline command.
 * `normalizeHooks` validates them with field paths; `dirHookProblems` refuses what Kamal refuses
 * in the directory (the legacy Traefik hooks); `hookEnv` renders Kamal's hook environment.
 * Pure: the component lists the directory and hashes the files; the provider runs them.
 */
import * as path from "node:path";
import { z } from "zod";
import { either, envNameProblem, isRecord, keyProblem, MAX_SECRET_BYTES, mustBe, parse, problem, show, strict, text, whenClean, type Problem } from "./errors";

/** Kamal's hook names, in the order a first deploy runs them in Berth. */
export const HOOK_NAMES = [
  "pre-build",
  "pre-connect",
  "docker-setup",
  "pre-deploy",
  "pre-app-boot",
  "post-app-boot",
  "post-deploy",
  "pre-proxy-reboot",
  "post-proxy-reboot",
] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The arg key of each hook (`pre-deploy` → `preDeploy`). */
export const HOOK_KEYS: Record<HookName, HookKey> = {
  "pre-build": "preBuild",
  "pre-connect": "preConnect",
  "docker-setup": "dockerSetup",
  "pre-deploy": "preDeploy",
  "pre-app-boot": "preAppBoot",
  "post-app-boot": "postAppBoot",
  "post-deploy": "postDeploy",
  "pre-proxy-reboot": "preProxyReboot",
  "post-proxy-reboot": "postProxyReboot",
};
export type HookKey = "preBuild" | "preConnect" | "dockerSetup" | "preDeploy" | "preAppBoot" | "postAppBoot" | "postDeploy" | "preProxyReboot" | "postProxyReboot";

/** Files Kamal refuses in the hooks directory (`ensure_no_traefik_reboot_hooks`). */
export const LEGACY_HOOKS = ["pre-traefik-reboot", "post-traefik-reboot"] as const;

/**
 * One hook: a file to execute (a path relative to the Pulumi project directory), an inline shell
 * command (`/bin/sh -c`), or `false` to skip the hook even when the hooks directory has it.
 */
export type HookArg = string | { command: string } | false;

/** Kamal's hooks, run on the machine running `pulumi up` (see docs/deploy.md, "Hooks"). */
export interface HooksArgs {
  /**
   * A directory of executable hook files named like Kamal's (`pre-deploy`, `post-deploy`, …),
   * relative to the Pulumi project directory. Equivalent to Kamal's `hooks_path`: a Kamal project
   * writes `".kamal/hooks"`.
   * @default - none: no hook runs unless given below
   * @example ".kamal/hooks"
   */
  path?: string;
  /** `docker-setup`: once, on the first deploy, after `pre-connect`, before `pre-deploy`. @default - the directory's file, if any */
  dockerSetup?: HookArg;
  /** `pre-connect`: before the first SSH connection of the deploy. @default - the directory's file, if any */
  preConnect?: HookArg;
  /** `pre-build`: before an `Image` builds. @default - the directory's file, if any */
  preBuild?: HookArg;
  /** `pre-deploy`: after the image is known, before kamal-proxy and any app host is touched. @default - the directory's file, if any */
  preDeploy?: HookArg;
  /** `pre-app-boot`: before each boot group of each role (`KAMAL_HOSTS` is the group). @default - the directory's file, if any */
  preAppBoot?: HookArg;
  /** `post-app-boot`: after each boot group of each role. @default - the directory's file, if any */
  postAppBoot?: HookArg;
  /** `post-deploy`: after every app host is deployed; gets `KAMAL_RUNTIME`. @default - the directory's file, if any */
  postDeploy?: HookArg;
  /** `pre-proxy-reboot`: before kamal-proxy restarts with new run settings. @default - the directory's file, if any */
  preProxyReboot?: HookArg;
  /** `post-proxy-reboot`: after kamal-proxy restarted with new run settings. @default - the directory's file, if any */
  postProxyReboot?: HookArg;
}

/** A validated hook source: a file (relative path) or an inline command, or skipped. */
export type HookSource = { path: string } | { command: string } | false;

export interface HooksConfig {
  path?: string;
  given: Partial<Record<HookName, HookSource>>;
}

const PATH_EXPECT = "a path relative to the Pulumi project directory";
const PATH_FIX = "State and previews never hold a path of the deploying machine: write it relative to the project directory, e.g. \".kamal/hooks\".";

function relativePath() {
  return text(PATH_EXPECT).superRefine((v, ctx) => {
    if (v.trim() === "" || path.isAbsolute(v) || v.startsWith("~")) problem(ctx, [], mustBe(PATH_EXPECT, v, PATH_FIX));
  }, whenClean);
}

const COMMAND_EXPECT = "a hook file path, `{ command: \"…\" }` or false";
const hookArgSchema = either<HookSource>(
  COMMAND_EXPECT,
  (v) => {
    if (v === false) return z.literal(false);
    if (typeof v === "string") return relativePath().transform((p) => ({ path: p }));
    if (typeof v === "object" && v !== null && !Array.isArray(v))
      return strict({ command: text("a shell command", undefined, { chars: "lines" }).superRefine((c, ctx) => {
        if (c.trim() === "") problem(ctx, [], mustBe("a shell command", c, "Write the command, or leave the hook out."));
      }, whenClean) }, "`{ command: \"…\" }`");
    return undefined;
  },
  'e.g. ".kamal/hooks/pre-deploy", { command: "bin/notify" } or false.',
);

export const hooksSchema = strict(
  {
    path: relativePath().optional(),
    dockerSetup: hookArgSchema.optional(),
    preConnect: hookArgSchema.optional(),
    preBuild: hookArgSchema.optional(),
    preDeploy: hookArgSchema.optional(),
    preAppBoot: hookArgSchema.optional(),
    postAppBoot: hookArgSchema.optional(),
    postDeploy: hookArgSchema.optional(),
    preProxyReboot: hookArgSchema.optional(),
    postProxyReboot: hookArgSchema.optional(),
  },
  "an object like `{ path: \".kamal/hooks\" }`",
).transform((v): HooksConfig => {
  const given: HooksConfig["given"] = {};
  for (const name of HOOK_NAMES) {
    const s = v[HOOK_KEYS[name]] as HookSource | undefined;
    if (s !== undefined) given[name] = s;
  }
  return { ...(v.path !== undefined ? { path: v.path } : {}), given };
});

/** Validates hook args; throws one `BerthConfigError` naming each bad field under `prefix` (e.g. `hooks.preDeploy`). */
export function normalizeHooks(args: HooksArgs | undefined, component: string, prefix = "hooks"): HooksConfig {
  if (args === undefined) return { given: {} };
  return parse(component, hooksSchema, args, prefix);
}

/**
 * What Kamal refuses in a hooks directory, given its file names: the legacy `pre-traefik-reboot` and
 * `post-traefik-reboot` hooks (renamed `pre-proxy-reboot`/`post-proxy-reboot` in Kamal 2).
 */
export function dirHookProblems(files: readonly string[], prefix = "hooks.path"): Problem[] {
  return LEGACY_HOOKS.filter((f) => files.includes(f)).map((f) => ({
    path: prefix,
    message: `must not hold ${show(f)}: Kamal 2 renamed the Traefik hooks, and refuses them as Berth does. Rename it to \`${f.replace("traefik", "proxy")}\`.`,
  }));
}

/**
 * Which hooks run and from where: an explicit arg wins; otherwise the directory's file of that
 * name when `files` (the directory's executable file names) has it. `false` skips a hook.
 */
export function hookSources(cfg: HooksConfig, files: readonly string[], names: readonly HookName[] = HOOK_NAMES): Partial<Record<HookName, { path: string } | { command: string }>> {
  const out: Partial<Record<HookName, { path: string } | { command: string }>> = {};
  for (const name of names) {
    const given = cfg.given[name];
    if (given === false) continue;
    if (given !== undefined) out[name] = given;
    else if (cfg.path !== undefined && files.includes(name)) out[name] = { path: path.posix.join(cfg.path.split(path.sep).join("/"), name) };
  }
  return out;
}

/** Kamal's `abbreviated_version`: the first 7 characters, unless the version holds `_` (`<sha>_uncommitted_…`). */
export function abbreviatedVersion(version: string): string {
  return version.includes("_") ? version : version.slice(0, 7);
}

/** What a hook's environment says about the deploy, known when the program runs. */
export interface HookContext {
  service?: string;
  version?: string;
  destination?: string;
  hosts: readonly string[];
  roles?: readonly string[];
  command: string;
  subcommand?: string;
}

/**
 * Kamal's hook environment that does not change from run to run (`Kamal::Tags` and `run_hook`):
 * `KAMAL_SERVICE`, `KAMAL_VERSION`, `KAMAL_SERVICE_VERSION` (`<service>@<abbreviated version>`),
 * `KAMAL_DESTINATION` (only when set), `KAMAL_HOSTS`, `KAMAL_ROLES` (only when given),
 * `KAMAL_COMMAND`, `KAMAL_SUBCOMMAND` (only when given). The provider adds `KAMAL_RECORDED_AT`,
 * `KAMAL_PERFORMER`, `KAMAL_LOCK` and (post-deploy) `KAMAL_RUNTIME` when it runs the hook.
 */
export function hookEnv(c: HookContext): Record<string, string> {
  const env: Record<string, string> = {};
  if (c.destination) env.KAMAL_DESTINATION = c.destination;
  if (c.version !== undefined) env.KAMAL_VERSION = c.version;
  if (c.service !== undefined) env.KAMAL_SERVICE_VERSION = [c.service, ...(c.version !== undefined ? [abbreviatedVersion(c.version)] : [])].join("@");
  if (c.service !== undefined) env.KAMAL_SERVICE = c.service;
  env.KAMAL_HOSTS = c.hosts.join(",");
  if (c.roles !== undefined && c.roles.length > 0) env.KAMAL_ROLES = c.roles.join(",");
  env.KAMAL_COMMAND = c.command;
  if (c.subcommand !== undefined) env.KAMAL_SUBCOMMAND = c.subcommand;
  return env;
}

/** The hooks Kamal exports its secrets to (`run_hook(…, secrets: true)`): the others get none. */
export const SECRET_HOOKS: readonly HookName[] = ["pre-connect", "pre-deploy", "post-deploy"];

/** Kamal's hook variables: Berth sets them, so a hook secret may not take their names. */
export const KAMAL_HOOK_VARS = [
  "KAMAL_RECORDED_AT",
  "KAMAL_PERFORMER",
  "KAMAL_VERSION",
  "KAMAL_SERVICE",
  "KAMAL_SERVICE_VERSION",
  "KAMAL_DESTINATION",
  "KAMAL_HOSTS",
  "KAMAL_ROLES",
  "KAMAL_LOCK",
  "KAMAL_COMMAND",
  "KAMAL_SUBCOMMAND",
  "KAMAL_RUNTIME",
] as const;

/**
 * The problems with `hooks.secrets` (variable name → value, exported to `SECRET_HOOKS`): a plain
 * map of environment variable names other than Kamal's hook variables. `value(name)` is the value
 * when known (a string, or something else to refuse); undefined while it is still an Output. A
 * message never shows a value.
 */
export function hookSecretsProblems(secrets: unknown, value: (name: string) => unknown, prefix = "hooks.secrets"): Problem[] {
  if (secrets === undefined) return [];
  if (!isRecord(secrets)) return [{ path: prefix, message: mustBe("a map of variable names to secret values", secrets, "Write it like `{ SLACK_TOKEN: token.value }`.", true) }];
  const out: Problem[] = [];
  for (const name of Object.keys(secrets)) {
    const at = `${prefix}.${name}`;
    const bad = keyProblem(name);
    if (bad !== undefined) {
      out.push({ path: prefix, message: bad });
      continue;
    }
    const badName = envNameProblem(name);
    if (badName !== undefined) {
      out.push({ path: at, message: badName });
      continue;
    }
    if ((KAMAL_HOOK_VARS as readonly string[]).includes(name)) {
      out.push({ path: at, message: `is one of Kamal's hook variables, which Berth sets; got ${show(name)}. Give the secret another name.` });
      continue;
    }
    const v = value(name);
    if (v === undefined) continue;
    if (typeof v !== "string") out.push({ path: at, message: mustBe("a string (a `SecretAlias`'s `value`, a Pulumi secret or a string)", v, "Convert it to a string.", true) });
    else if (v.includes("\u0000")) out.push({ path: at, message: "must not hold a NUL character (an environment variable cannot); got a value with one (not shown). Remove it." });
    else if (Buffer.byteLength(v, "utf8") > MAX_SECRET_BYTES) out.push({ path: at, message: `must be at most ${MAX_SECRET_BYTES} bytes (an environment variable's limit); got ${Buffer.byteLength(v, "utf8")} bytes (not shown). Pass a shorter value.` });
  }
  return out;
}
