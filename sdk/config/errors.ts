/**
 * Berth's one error style for bad input: every problem names the field path in backticks, the bad
 * value, what is allowed and how to fix it. All problems are collected and thrown once.
 */
import { z } from "zod";

/** One problem with one field. */
export interface Problem {
  /** Field path, e.g. `roles.web.hosts[1]`. */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/** Thrown by every `normalize*` function; `problems` lists each bad field. */
export class BerthConfigError extends Error {
  constructor(
    readonly component: string,
    readonly problems: Problem[],
  ) {
    super(
      `Invalid ${component} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - \`${p.path}\`: ${p.message}`).join("\n"),
    );
    this.name = "BerthConfigError";
  }
}

/** Renders a zod path as `a.b[1].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(root)";
}

/** Shows a user's value in an error message, shortened. Never call it on a secret. */
export function show(value: unknown): string {
  let s: string;
  try {
    s = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Parses `input` with `schema`; on failure throws one BerthConfigError listing every issue with its
 * path. `prefix` is prepended to each path (e.g. `proxy`).
 */
export function parse<S extends z.ZodType>(component: string, schema: S, input: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const full = [...(prefix ? [prefix] : []), ...issue.path];
    return { path: formatPath(full), message: issue.message };
  });
  throw new BerthConfigError(component, problems);
}

// ---------------------------------------------------------------------------------------------
// Schema builders. Each zod leaf below words its problems in the one style above
// ("must be <what is allowed>; got <value>. <how to fix>"), so config schemas never show zod's
// default messages. A value marked secret is never shown.

/** How a bad value is shown in a message: `nothing` when missing, else `show(value)`. */
export function got(value: unknown): string {
  return value === undefined ? "nothing" : show(value);
}

/** `must be <expect>; got <value>. <fix>`. With `secret`, the value is never shown. */
export function mustBe(expect: string, value: unknown, fix?: string, secret = false): string {
  const shown = secret && value !== undefined ? "a value that is not shown because it is secret" : got(value);
  return `must be ${expect}; got ${shown}.${fix ? ` ${fix}` : ""}`;
}

function camelize(key: string): string {
  return key.replace(/[_-]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A zod error function: unknown keys are listed with the allowed ones; anything else is `mustBe`. */
export function says(expect: string, fix?: string, secret = false) {
  return (iss: z.core.$ZodRawIssue): string => {
    if (iss.code === "unrecognized_keys") {
      const shape = (iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape ?? {};
      const allowed = Object.keys(shape);
      const hints = iss.keys
        .map((k) => (allowed.includes(camelize(k)) ? `\`${k}\` is spelled \`${camelize(k)}\` in Berth` : undefined))
        .filter((h): h is string => h !== undefined);
      const list = iss.keys.map((k) => `\`${k}\``).join(", ");
      return (
        `has unknown key${iss.keys.length === 1 ? "" : "s"} ${list}; allowed keys are ` +
        `${allowed.map((k) => `\`${k}\``).join(", ")}.` +
        (hints.length ? ` ${hints.join("; ")}.` : ` Remove ${iss.keys.length === 1 ? "it" : "them"} or check the spelling.`)
      );
    }
    return mustBe(expect, iss.input, fix, secret);
  };
}

/** Adds one custom problem at `path` (relative to the schema the refinement is on). */
export function problem(ctx: z.core.$RefinementCtx<unknown>, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: "custom", path, message });
}

/** A string. */
export function text(expect = "a string", fix?: string) {
  return z.string({ error: says(expect, fix) });
}

/** A string matching `re`. */
export function matching(re: RegExp, expect: string, fix?: string) {
  return text(expect, fix).superRefine((v, ctx) => {
    if (!re.test(v)) problem(ctx, [], mustBe(expect, v, fix));
  });
}

/** A secret string: messages never show it. `valid` adds a format check. */
export function secret(expect: string, fix?: string, valid: (v: string) => boolean = () => true) {
  return z.string({ error: says(expect, fix, true) }).superRefine((v, ctx) => {
    if (!valid(v)) problem(ctx, [], mustBe(expect, v, fix, true));
  });
}

/** true or false. */
export function flag(fix?: string) {
  return z.boolean({ error: says("true or false", fix) });
}

/** An integer in [min, max]. */
export function integer(min: number, max = Number.POSITIVE_INFINITY, fix?: string) {
  const expect = Number.isFinite(max) ? `an integer from ${min} to ${max}` : `an integer of at least ${min}`;
  return z.number({ error: says(expect, fix) }).superRefine((v, ctx) => {
    if (!Number.isInteger(v) || v < min || v > max) problem(ctx, [], mustBe(expect, v, fix));
  });
}

/** A TCP port, 1–65535. */
export function port(fix?: string) {
  return integer(1, 65535, fix);
}

/** A list. */
export function list<T extends z.ZodType>(item: T, expect = "a list") {
  return z.array(item, { error: says(expect) });
}

/** An object with free-form string keys. */
export function dict<T extends z.ZodType>(value: T, expect = "an object") {
  return z.record(z.string(), value, { error: says(expect) });
}

/** An object with exactly these keys (unknown keys are problems). */
export function strict<S extends z.core.$ZodLooseShape>(shape: S, expect = "an object") {
  return z.strictObject(shape, { error: says(expect) });
}

/**
 * A value of one of several shapes: `pick` chooses the schema by looking at the value (so problems
 * are reported inside the chosen shape, not as "no union member matched"), or returns undefined
 * when no shape fits. With `secret`, a value that fits no shape is not shown.
 */
export function either<T>(expect: string, pick: (value: unknown) => z.ZodType<T> | undefined, fix?: string, secret = false) {
  return z.unknown().transform((value, ctx): T => {
    const schema = pick(value);
    if (schema === undefined) {
      problem(ctx, [], mustBe(expect, value, fix, secret));
      return z.NEVER;
    }
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) problem(ctx, issue.path as PropertyKey[], issue.message);
    return z.NEVER;
  });
}

/** True for a plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Refinement options for a check over several fields of an object: it runs even when some of
 * those fields are invalid (so every problem is reported at once), but not when the value is not
 * an object at all. The check must then read its fields defensively.
 */
export const evenWithFieldErrors = { when: (payload: { value: unknown }) => isRecord(payload.value) };

/** Like `evenWithFieldErrors`, for a check over the items of a list. */
export const evenWithItemErrors = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };
