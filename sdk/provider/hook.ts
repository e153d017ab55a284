/**
 * `berth:index:Hook`: one of Kamal's hooks (`pre-deploy`, `post-deploy`, …), run on the machine
 * running Pulumi (the provider's working directory is the Pulumi project directory, so a hook file
 * path is relative to it, as Kamal's `hooks_path` is to the project). It runs on create (unless
 * `runOnCreate` is false) and whenever `trigger` (or `secretsTrigger`) changes; a change of
 * anything else (the file's hash, the env) is only recorded. Its output reaches the `pulumi up`
 * log line by line; a failure names the hook, its exit code and its last lines, so the resources
 * that depend on it (kamal-proxy, the app hosts) are never touched.
 *
 * Kamal's environment that varies from run to run is added here, never stored: `KAMAL_RECORDED_AT`,
 * `KAMAL_PERFORMER` (git `user.email`, else the local user), `KAMAL_LOCK` and, for `post-deploy`,
 * `KAMAL_RUNTIME`.
 */
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { hookSchema, type HookInputs } from "../config/resources";
import { localUser } from "./host-lock";
import { execLocal, redact } from "./local";
import { progress } from "./log";
import { toHide } from "./redact";
import type { ResourceDef } from "./resource";
import { lastLines } from "./ssh";

export const HOOK_TOKEN = "berth:index:Hook";

/** When this provider process started: a `pulumi up` starts it, so `KAMAL_RUNTIME` counts from there. */
const STARTED_AT = Date.now();

let performerCache: Promise<string> | undefined;

/** Kamal's performer: `git config user.email`, else the local user (`whoami`). */
export function performer(): Promise<string> {
  performerCache ??= execLocal(["git", "config", "user.email"])
    .then((r) => (r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : localUser()))
    .catch(() => localUser());
  return performerCache;
}

/** `KAMAL_LOCK`: "true" only when this process runs under a Kamal (or Berth) deploy that holds the lock. */
export function inheritedLock(env: NodeJS.ProcessEnv = process.env): "true" | "false" {
  return env.KAMAL_LOCK === "true" ? "true" : "false";
}

/** The environment a hook runs with: the stable part from the inputs, the rest computed now. */
export async function runEnv(inputs: Pick<HookInputs, "hook" | "env">, now = new Date()): Promise<Record<string, string>> {
  return {
    KAMAL_RECORDED_AT: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    KAMAL_PERFORMER: await performer(),
    ...inputs.env,
    KAMAL_LOCK: inheritedLock(),
    ...(inputs.hook === "post-deploy" ? { KAMAL_RUNTIME: String(Math.round((now.getTime() - STARTED_AT) / 1000)) } : {}),
  };
}

/** What a hook is, for messages: `pre-deploy hook (.kamal/hooks/pre-deploy)`. */
function describe(h: HookInputs): string {
  return `${h.hook} hook (${h.path ?? "inline command"})`;
}

/** `BERTH_SKIP_HOOKS` (Kamal's `-H/--skip_hooks`): set to `1` or `true`, no hook runs in this `up`. */
export function hooksSkipped(env: NodeJS.ProcessEnv = process.env): boolean {
  return ["1", "true"].includes((env.BERTH_SKIP_HOOKS ?? "").trim().toLowerCase());
}

/**
 * Runs the hook (unless `BERTH_SKIP_HOOKS` is set); throws naming it, its exit code and its last
 * output lines unless it exits 0. Its secrets (`secretEnv`) are in its environment only, and
 * replaced by `***` in every line it prints and in the error.
 */
export async function runHook(h: HookInputs): Promise<void> {
  if (h.path === undefined && h.command === undefined) throw new Error(`${h.hook} hook: neither \`path\` nor \`command\` is set`);
  if (hooksSkipped()) {
    await progress(`${describe(h)}: skipped (BERTH_SKIP_HOOKS is set); recorded as run`);
    return;
  }
  const env = { ...(h.secretEnv ?? {}), ...(await runEnv(h)) };
  await progress(`Running the ${describe(h)} on ${env.KAMAL_HOSTS || "no hosts"}...`);
  const secrets = toHide(Object.values(h.secretEnv ?? {}));
  const lines: Promise<void>[] = [];
  const onLine = (l: string) => void lines.push(progress(`${h.hook}: ${l}`));
  let r;
  try {
    r = h.path !== undefined ? await execLocal([path.resolve(h.path)], { env, onLine, redact: secrets }) : await execLocal(h.command!, { env, onLine, redact: secrets });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "EACCES" ? "it is not executable (chmod +x it)" : (e as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : String((e as Error).message);
    throw new Error(`Hook \`${h.hook}\` (${h.path}) could not be run: ${why}. Nothing after it was changed.`);
  }
  await Promise.all(lines);
  if (r.code !== 0) {
    const out = redact(lastLines(`${r.stdout}\n${r.stderr}`, 30), secrets);
    throw new Error(`Hook \`${h.hook}\` failed (exit ${r.code}); nothing after it was changed. ${describe(h)}${out ? ` output:\n${out}` : " printed nothing."}`);
  }
}

/** Did the deploy change (so the hook runs)? */
function triggered(changes: Record<string, string>): boolean {
  return Object.keys(changes).some((p) => p === "trigger" || p.startsWith("trigger.") || p.startsWith("trigger[") || p === "secretsTrigger");
}

export const hookResource: ResourceDef<HookInputs> = {
  token: HOOK_TOKEN,
  inputs: hookSchema,
  secretInputs: ["secretsTrigger", "secretEnv"],

  async create(inputs) {
    if (inputs.runOnCreate) await runHook(inputs);
    else await progress(`${describe(inputs)}: recorded; it runs when \`trigger\` changes`);
    return { id: `${inputs.hook}-${randomBytes(6).toString("hex")}` };
  },
  async update(_id, _olds, news, changes) {
    if (triggered(changes)) await runHook(news);
  },
  async delete() {
    // A hook leaves nothing behind.
  },
};
