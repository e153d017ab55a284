/**
 * What the Day-2 commands know of a stack, read from its state with
 * `pulumi stack export --show-secrets`: each `berth:index:AppHost` (a role on a host), `ProxyHost`
 * (kamal-proxy on a host) and `AccessoryHost` (an accessory on a host), with the host's SSH
 * connection. The connection is a secret in state (`--show-secrets` reveals it to this process
 * only); nothing read here is printed.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { z } from "zod";
import { accessoryHostSchema, appHostSchema, proxyHostSchema } from "../config/resources";
import { SECRET_SIG, SIG_KEY } from "../provider/values";

/**
 * The provider's type tokens (sdk/provider/{app,proxy,accessory}-host.ts export the same; a unit
 * test ties them). Written out here so the CLI does not load the provider's resource code.
 */
export const TOKENS = { app: "berth:index:AppHost", proxy: "berth:index:ProxyHost", accessory: "berth:index:AccessoryHost" } as const;

/** One role of a service on one host. */
export const appTargetSchema = appHostSchema.pick({ host: true, service: true, role: true, destination: true, primary: true, version: true, image: true, container: true, proxyContainer: true, connection: true });
export type AppTarget = z.infer<typeof appTargetSchema>;

/** kamal-proxy on one host. */
export const proxyTargetSchema = proxyHostSchema.pick({ host: true, run: true, connection: true });
export type ProxyTarget = z.infer<typeof proxyTargetSchema>;

/** One accessory on one host. */
export const accessoryTargetSchema = accessoryHostSchema.pick({
  host: true,
  service: true,
  app: true,
  name: true,
  image: true,
  env: true,
  network: true,
  volumes: true,
  files: true,
  directories: true,
  connection: true,
});
export type AccessoryTarget = z.infer<typeof accessoryTargetSchema>;

/** Everything of a stack the Day-2 commands act on, in the order of the stack's state. */
export interface StackTargets {
  apps: AppTarget[];
  proxies: ProxyTarget[];
  accessories: AccessoryTarget[];
}

/** `pulumi stack export --show-secrets [--stack <s>]`. */
export function stackExportArgv(stack?: string): string[] {
  return ["pulumi", "stack", "export", "--show-secrets", ...(stack !== undefined ? ["--stack", stack] : [])];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * The plain value of a state property: secrets as `stack export --show-secrets` writes them
 * (`{"<sig>": "<secret sig>", "plaintext": "<JSON>"}`) decoded. A secret still encrypted
 * (`ciphertext`) is an error: the export was made without `--show-secrets`.
 */
export function decodeState(v: unknown): unknown {
  if (isObj(v) && v[SIG_KEY] === SECRET_SIG) {
    if (typeof v.plaintext === "string") return decodeState(JSON.parse(v.plaintext));
    if ("value" in v) return decodeState(v.value);
    throw new Error("the stack's secrets are encrypted in this export: export it with `--show-secrets`");
  }
  if (Array.isArray(v)) return v.map(decodeState);
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeState(x)]));
  return v;
}

/** The resource's name: the last part of its URN. */
function nameOf(urn: unknown): string {
  return typeof urn === "string" ? urn.split("::").pop()! : "?";
}

/**
 * The Day-2 targets in a `pulumi stack export --show-secrets` document. A resource of Berth's
 * types whose state lacks what the commands need fails naming the resource and the field (never
 * its value).
 */
export function parseStackExport(doc: unknown): StackTargets {
  const deployment = isObj(doc) ? doc.deployment : undefined;
  if (!isObj(deployment)) throw new Error("not a `pulumi stack export`: no `deployment`");
  const resources = Array.isArray(deployment.resources) ? deployment.resources : [];
  const out: StackTargets = { apps: [], proxies: [], accessories: [] };
  const kinds: [string, z.ZodType, unknown[]][] = [
    [TOKENS.app, appTargetSchema, out.apps],
    [TOKENS.proxy, proxyTargetSchema, out.proxies],
    [TOKENS.accessory, accessoryTargetSchema, out.accessories],
  ];
  for (const r of resources) {
    if (!isObj(r) || r.delete === true) continue;
    const kind = kinds.find(([token]) => token === r.type);
    if (!kind) continue;
    const merged = { ...(decodeState(r.inputs) as Obj), ...(decodeState(r.outputs) as Obj) };
    const parsed = kind[1].safeParse(merged);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`the stack's ${r.type} \`${nameOf(r.urn)}\` has no usable \`${issue.path.join(".")}\` (${issue.message})`);
    }
    kind[2].push(parsed.data);
  }
  return out;
}

/** Where and how to read the stack. */
export interface StackSource {
  /** `--stack`: the stack to read (default: Pulumi's selected stack). */
  stack?: string;
  /** `--cwd`: the Pulumi project's directory (default: the current one). */
  cwd?: string;
}

/**
 * Runs `pulumi stack export --show-secrets` (the `pulumi` on PATH, with this process's environment:
 * backend, passphrase, PULUMI_HOME) and parses it. A failure quotes Pulumi's own error.
 */
export function readStack(src: StackSource): Promise<StackTargets> {
  const [cmd, ...args] = stackExportArgv(src.stack);
  if (src.cwd !== undefined && !fs.statSync(src.cwd, { throwIfNoEntry: false })?.isDirectory()) {
    return Promise.reject(new Error(`cannot read the stack: \`--cwd\` ${src.cwd} is not a directory`));
  }
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: src.cwd, maxBuffer: 256 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "`pulumi` is not on PATH" : stderr.trim().split("\n").slice(-5).join("\n") || err.message;
        return reject(new Error(`cannot read the stack (\`${[cmd, ...args].join(" ")}\`${src.cwd ? ` in ${src.cwd}` : ""}): ${why}`));
      }
      try {
        resolve(parseStackExport(JSON.parse(stdout)));
      } catch (e) {
        reject(new Error(`cannot read the stack: ${(e as Error).message}`));
      }
    });
  });
}
