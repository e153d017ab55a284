/**
 * Where a secret may go in `AppService` args. A Pulumi secret given anywhere stays a secret:
 *
 *   - under `ssh`, `registry.password`, a role's TLS certificate and key, or an env's `secret`
 *     map: as designed;
 *   - in an env's `clear` map (root, role, or host tag): moved to that env's `secret` map, so it is
 *     written to the 0600 env file and never appears in `docker run` argv or plain state;
 *   - anywhere else (labels, cmd, options, volumes, names…): refused, naming the field, since
 *     those end up in argv and `docker inspect`.
 *
 * Pure: the component finds the secret paths (Outputs marked secret) and calls this.
 */
import { formatPath, type Problem } from "./errors";

type Obj = Record<string, unknown>;
type Key = string | number;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/** The env object a path runs through (`env`, `env.tags.<t>`, `roles.<r>.env`) and the rest of the path. */
function envPrefix(path: readonly Key[]): { env: Key[]; rest: Key[] } | undefined {
  if (path[0] === "env" && path[1] === "tags" && path.length >= 3) return { env: path.slice(0, 3), rest: path.slice(3) };
  if (path[0] === "env") return { env: ["env"], rest: path.slice(1) };
  if (path[0] === "roles" && path.length >= 3 && path[2] === "env") return { env: path.slice(0, 3), rest: path.slice(3) };
  return undefined;
}

function at(root: Obj, path: readonly Key[]): unknown {
  let cur: unknown = root;
  for (const k of path) cur = isObj(cur) ? cur[String(k)] : Array.isArray(cur) ? cur[Number(k)] : undefined;
  return cur;
}

/** Moves `keys` (all when undefined) of the env at `envPath`'s `clear` map to its `secret` map. */
function moveToSecret(root: Obj, envPath: readonly Key[], keys?: Key[]): void {
  const env = at(root, envPath);
  if (!isObj(env) || !isObj(env.clear)) return;
  const clear = { ...env.clear };
  const secret = isObj(env.secret) ? { ...env.secret } : {};
  for (const key of keys ?? Object.keys(clear)) {
    const k = String(key);
    if (k in clear) {
      secret[k] = clear[k];
      delete clear[k];
    }
  }
  env.clear = clear;
  env.secret = secret;
}

/** Deep copy of plain data (the resolved args). */
function copy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copy) as T;
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) as T;
  return v;
}

/**
 * Applies the rules above to resolved `args` given the paths that held secrets. Returns the args
 * with secret clear variables moved, and a problem per secret in a field that cannot hold one.
 */
export function placeSecrets<T extends object>(args: T, secretPaths: readonly (readonly Key[])[]): { args: T; problems: Problem[] } {
  const out = copy(args) as unknown as Obj;
  const problems: Problem[] = [];
  for (const path of secretPaths) {
    if (path.length === 0) {
      problems.push({ path: "(root)", message: "the whole args object is a secret; mark only the secret values (`pulumi.secret` on an env value, `config.requireSecret`)." });
      continue;
    }
    if (path[0] === "ssh" || (path[0] === "registry" && path[1] === "password")) continue;
    // A role's own TLS certificate and key (`proxy.ssl`, root or role): written 0600 for kamal-proxy.
    if (path.some((k) => k === "certificate" || k === "certificatePem" || k === "privateKeyPem") || (path.includes("proxy") && path[path.length - 1] === "ssl")) continue;
    const env = envPrefix(path);
    if (env) {
      const [where, key] = env.rest;
      if (where === "secret") continue;
      if (where === undefined) {
        moveToSecret(out, env.env);
        if (env.env.length === 1) for (const tag of Object.keys((at(out, ["env", "tags"]) as Obj | undefined) ?? {})) moveToSecret(out, ["env", "tags", tag]);
        continue;
      }
      if (where === "clear") {
        moveToSecret(out, env.env, key === undefined ? undefined : [key]);
        continue;
      }
    }
    problems.push({
      path: formatPath(path),
      message:
        "holds a secret, but this field is not secret: it appears in `docker run` argv, `docker inspect` and plain state. " +
        "Pass secret values in `env.secret` (or `env.clear`, which moves them to the 0600 env file), `registry.password` or `ssh`.",
    });
  }
  return { args: out as unknown as T, problems };
}
