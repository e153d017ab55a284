/** Keeping secret values out of error messages that leave the provider. */
import { redact } from "./local";
import { plainStrings, reveal, secretStrings } from "./values";

/** The parts of a (secret) connection that name things rather than hide them: host, user, paths. */
function connectionNames(raw: unknown): string[] {
  const all = reveal<Record<string, any>>(raw);
  const out: string[] = [];
  const conns = [all?.connection, all?.olds?.connection, all?.news?.connection, ...[all?.preflight, all?.news?.preflight].flatMap((p) => (Array.isArray(p) ? p : []))];
  for (const c of conns) {
    if (!c || typeof c !== "object") continue;
    out.push(...[c.host, c.user, c.privateKeyPath, c.knownHostsPath, c.hostKey, c.proxy?.host, c.proxy?.user, c.proxy?.hostKey].filter((x) => typeof x === "string"));
  }
  return out;
}

/**
 * Every secret string in `raw` (what the engine sent), and each line of a multi-line one (a
 * container may log a single line of a PEM key or a multi-line value). A string that also appears
 * outside any secret (a host name inside the secret connection is also the plain `host`) is not
 * one: hiding it would only hide which host failed.
 */
export function secretsIn(raw: unknown): string[] {
  const plain = new Set([...plainStrings(raw), ...connectionNames(raw)]);
  return toHide(secretStrings(raw).filter((s) => !plain.has(s)));
}

/** What to replace in output to hide `secrets`: each value, and each line of a multi-line one (8 characters or more); no text under 3 characters. */
export function toHide(secrets: readonly string[]): string[] {
  const lines = secrets.flatMap((s) => (s.includes("\n") ? s.split("\n").map((l) => l.trim()).filter((l) => l.length >= 8) : []));
  return [...new Set([...secrets, ...lines])].filter((s) => s.length >= 3);
}

/** `e` with every secret of `raw` replaced by `***` in its message, and no stack trace. */
export function redactIn(e: unknown, raw: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const secrets = secretsIn(raw);
  err.message = redact(err.message, secrets);
  // The message says what failed where; the engine's log would otherwise print the JavaScript stack.
  err.stack = err.message;
  return err;
}
