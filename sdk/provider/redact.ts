/** Keeping secret values out of error messages that leave the provider. */
import { redact } from "./local";
import { secretStrings } from "./values";

/**
 * Every secret string in `raw` (what the engine sent), and each line of a multi-line one (a
 * container may log a single line of a PEM key or a multi-line value).
 */
export function secretsIn(raw: unknown): string[] {
  const all = secretStrings(raw);
  const lines = all.flatMap((s) => (s.includes("\n") ? s.split("\n").map((l) => l.trim()).filter((l) => l.length >= 8) : []));
  return [...new Set([...all, ...lines])].filter((s) => s.length >= 3);
}

/** `e` with every secret of `raw` replaced by `***` in its message (and stack). */
export function redactIn(e: unknown, raw: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const secrets = secretsIn(raw);
  err.message = redact(err.message, secrets);
  if (err.stack) err.stack = redact(err.stack, secrets);
  return err;
}
