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

/** A key that is written quoted in a path: empty, spaces at an end, backticks, control or invisible characters, lone surrogates. */
const QUOTED_KEY = /^$|^\s|\s$|[`\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]|\p{Cs}/u;

/** Renders a zod path as `a.b[1].c`; an empty key, or one with control characters, as `a[""]`, `a["x\u0000"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && QUOTED_KEY.test(key)) out += `[${showString(key)}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(root)";
}

/** Characters JSON leaves as they are but a terminal or an editor would act on or hide: DEL, C1 controls, bidi and zero-width marks. */
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

/** A PEM block: a key or certificate pasted where it does not belong is never shown. */
const PEM = /-----BEGIN [A-Z0-9 ]*-----/;
/** What ends the user part of `user:password@host` when read backwards from the `@`. */
const USERINFO_END = /[\s/@"'`]/;

/** A string as JSON text, with DEL, C1 controls and invisible marks escaped too. */
function showString(s: string): string {
  return JSON.stringify(s).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A string with the password of `user:password@host` (in a URL or not) taken out, but not the tag
 * of `name:tag@sha256:…` (an image reference). One pass: each `@` looks back to the start of its word.
 */
function withoutPasswords(s: string): string {
  let out = "";
  let last = 0;
  for (let at = s.indexOf("@"); at >= 0; at = s.indexOf("@", at + 1)) {
    let start = at;
    while (start > last && !USERINFO_END.test(s[start - 1])) start--;
    const colon = s.indexOf(":", start);
    if (colon < 0 || colon >= at - 1 || /^sha\d+:/.test(s.slice(at + 1, at + 10))) continue;
    out += `${s.slice(last, colon + 1)}<password not shown>`;
    last = at;
  }
  return out + s.slice(last);
}

/** Values the user marked secret (Pulumi secrets), while `hidingSecrets` runs: never shown. */
let hiddenValues: { strings: string[]; others: Set<unknown> } | undefined;

/**
 * Runs `fn` (a `normalize*`) so that no message shows any of `secrets`, the values the user
 * marked secret (a Pulumi secret is a secret in whatever field it is given): a value equal to one
 * is not shown, and a secret text inside a longer value is cut out.
 */
export function hidingSecrets<T>(secrets: readonly unknown[], fn: () => T): T {
  const strings: string[] = [];
  const others = new Set<unknown>();
  const collect = (v: unknown, depth: number): void => {
    if (typeof v === "string") {
      if (v !== "") strings.push(v);
    } else if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") others.add(v);
    else if (depth < 16 && typeof v === "object" && v !== null) for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, depth + 1);
  };
  for (const v of secrets) collect(v, 0);
  // Any secret value is hidden where it is the whole value; one of 4 characters or more also where
  // it is part of a longer value (cutting out every "1" would make messages unreadable).
  const before = hiddenValues;
  hiddenValues = { strings: strings.sort((a, b) => b.length - a.length), others };
  try {
    return fn();
  } finally {
    hiddenValues = before;
  }
}

/** Renders any value truthfully and briefly (NaN, Infinity, 10n, Symbol(x), a function, an Output). */
function render(value: unknown, seen: Set<object>, depth: number): string {
  if (hiddenValues && (hiddenValues.others.has(value) || (typeof value === "string" && hiddenValues.strings.includes(value)))) return HIDDEN;
  switch (typeof value) {
    case "string": {
      // A key or certificate pasted where it does not belong is not shown at all.
      if (PEM.test(value)) return "PEM text (not shown: it may hold a private key)";
      let s = value;
      if (hiddenValues) for (const secret of hiddenValues.strings) if (secret.length >= 4) s = s.split(secret).join("<secret>");
      return showString(withoutPasswords(s).slice(0, 200));
    }
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return value.name ? `a function (${value.name})` : "a function";
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
  }
  if (value === null) return "null";
  const o = value as Record<string | symbol, unknown>;
  if (o.__pulumiOutput === true) return "an Output (a value not known until the deployment runs)";
  if (o.__pulumiResource === true) return "a Pulumi resource";
  if (value instanceof Promise) return "a Promise";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "an invalid Date" : `a Date (${value.toISOString()})`;
  if (value instanceof RegExp) return `a RegExp (${String(value)})`;
  if (value instanceof Map) return `a Map of ${value.size}`;
  if (value instanceof Set) return `a Set of ${value.size}`;
  if (ArrayBuffer.isView(value)) return `binary data of ${value.byteLength} bytes`;
  if (value instanceof Error) return `an Error (${showString(value.message.slice(0, 60))})`;
  if (seen.has(value as object)) return "[circular]";
  if (depth > 3) return Array.isArray(value) ? "[…]" : "{…}";
  seen.add(value as object);
  try {
    const parts: string[] = [];
    let length = 0;
    const entries: [string | undefined, unknown][] = Array.isArray(value) ? value.map((v) => [undefined, v]) : Object.keys(o).map((k) => [k, o[k]]);
    for (const [k, v] of entries) {
      if (length > 100) {
        parts.push("…");
        break;
      }
      const part = k === undefined ? render(v, seen, depth + 1) : `${showString(k)}:${render(v, seen, depth + 1)}`;
      parts.push(part);
      length += part.length + 1;
    }
    return Array.isArray(value) ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
  } finally {
    seen.delete(value as object);
  }
}

/**
 * Shows a user's value in an error message, shortened: strings as JSON (control and invisible
 * characters escaped), numbers as they are (`NaN`, `Infinity`), and never what may be a credential:
 * a PEM block, or the password in `user:password@host`. Never call it on a secret field's value:
 * `mustBe(…, secret)` does not.
 */
export function show(value: unknown): string {
  let s: string;
  try {
    s = render(value, new Set(), 0);
  } catch {
    s = "a value that cannot be shown";
  }
  const chars = Array.from(s);
  return chars.length > 80 ? `${chars.slice(0, 77).join("")}...` : s;
}

/**
 * Parses `input` with `schema`; on failure throws one BerthConfigError listing every issue with its
 * path. `prefix` is prepended to each path (e.g. `proxy`).
 */
export function parse<S extends z.ZodType>(component: string, schema: S, input: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new BerthConfigError(component, problemsOf(result.error, prefix));
}

/** The problems of a zod error, each once, with `prefix` before each path. */
export function problemsOf(error: z.ZodError, prefix = ""): Problem[] {
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const full = [...(prefix ? [prefix] : []), ...issue.path];
    const p = { path: formatPath(full), message: issue.message };
    const key = `${p.path}\u0000${p.message}`;
    if (!seen.has(key)) problems.push(p);
    seen.add(key);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Schema builders. Each zod leaf below words its problems in the one style above
// ("must be <what is allowed>; got <value>. <how to fix>"), so config schemas never show zod's
// default messages. A value marked secret is never shown, whatever its shape.

/** How a bad value is shown in a message: `nothing` when missing, else `show(value)`. */
export function got(value: unknown): string {
  return value === undefined ? "nothing" : show(value);
}

/** What stands for a secret value in a message. */
const HIDDEN = "a value that is not shown because it is secret";

/** `must be <expect>; got <value>. <fix>`. With `secret`, the value is never shown. */
export function mustBe(expect: string, value: unknown, fix?: string, secret = false): string {
  const shown = secret && value !== undefined ? HIDDEN : got(value);
  return `must be ${expect}; got ${shown}.${fix ? ` ${fix}` : ""}`;
}

function camelize(key: string): string {
  return key.replace(/[_-]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A key as written in a message: in backticks, or quoted and shortened when it holds odd characters. */
function keyName(key: string): string {
  return QUOTED_KEY.test(key) || key.length > 60 ? show(key) : `\`${key}\``;
}

/**
 * How to fix a value of the wrong type, when the schema gives no fix of its own. Only for what
 * is clear from the types alone; never for a secret (the hint would show the value).
 */
function typeHint(iss: z.core.$ZodRawIssue, secret: boolean): string | undefined {
  if (secret || iss.code !== "invalid_type") return undefined;
  const v = iss.input;
  const expected = String((iss as { expected?: unknown }).expected);
  const orLeaveOut = "Write a value, or leave the key out if it is optional.";
  switch (expected) {
    case "string":
      if (v === null) return orLeaveOut;
      if ((typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean") return `Write it as a string: "${String(v)}".`;
      if (typeof v === "number" || typeof v === "bigint") return "Write it as a string.";
      if (Array.isArray(v)) return "Write one string, not a list.";
      if (isRecord(v)) return "Write one string, not an object.";
      return undefined;
    case "boolean":
      return v === "true" || v === "false" ? `Write ${v} without quotes.` : "Write true or false.";
    case "number":
      if (typeof v === "number") return "Write a finite number, e.g. 30.";
      if (typeof v === "bigint") return `Write it as a number, without the \`n\`: ${String(v)}.`;
      if (typeof v === "string" || v === undefined) return undefined;
      return "Write a number, e.g. 30.";
    case "array":
      if (typeof v === "string") return `Write it as a list: [${show(v)}].`;
      if (v === undefined) return undefined;
      return v === null ? orLeaveOut : "Write a list (`[…]`).";
    case "object":
    case "record":
      if (v === null || v === undefined) return undefined;
      return "Write an object (`{ … }`).";
  }
  return undefined;
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
      const list = iss.keys.slice(0, 10).map(keyName).join(", ") + (iss.keys.length > 10 ? ` and ${iss.keys.length - 10} more` : "");
      return (
        `has unknown key${iss.keys.length === 1 ? "" : "s"} ${list}; allowed keys are ` +
        `${allowed.map((k) => `\`${k}\``).join(", ")}.` +
        (hints.length ? ` ${hints.join("; ")}.` : ` Remove ${iss.keys.length === 1 ? "it" : "them"} or check the spelling.`)
      );
    }
    if (iss.code === "invalid_key") return `must be an object with string keys; got the key ${show(iss.input)}. Remove it.`;
    return mustBe(expect, iss.input, fix ?? typeHint(iss, secret), secret);
  };
}

/** Adds one custom problem at `path` (relative to the schema the refinement is on). */
export function problem(ctx: z.core.$RefinementCtx<unknown>, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: "custom", path, message });
}

// ---------------------------------------------------------------------------------------------
// Text: what any string may hold

/**
 * Longest string value, in UTF-8 bytes. Every command reaches a host as ONE `sh -c` string over
 * SSH (sshd runs `$SHELL -c <command>`), and Linux caps one argv string at MAX_ARG_STRLEN, 128 KiB:
 * more fails with `E2BIG` ("Argument list too long") before anything runs. Quoting for the shell can
 * make a value up to 4× longer (each `'` becomes `'\''`), so one value of 32 KiB always fits;
 * the sum over one command is checked where the command is known (a role's `docker run`).
 */
export const MAX_VALUE_BYTES = 32 * 1024;

/**
 * Longest secret value, in UTF-8 bytes. Secrets reach hosts on stdin or in 0600 files, not argv,
 * but most end up as environment variables: docker reads an env file with a 64 KiB line buffer,
 * and Linux caps one environment string at 128 KiB too.
 */
export const MAX_SECRET_BYTES = 64 * 1024;

/**
 * What a string field may hold besides printable text:
 * - `line` (the default): one line of text, no control characters at all (C0, DEL, C1);
 * - `lines`: text of several lines (a PEM block): tab, LF and CR, no other control character;
 * - `data`: a value passed on as it is (an env value, a label value, a command argument):
 *   anything but NUL.
 * Never a NUL byte (it ends a string in argv, the environment and most files, so the value would
 * be cut short) nor an unpaired surrogate (UTF-8 cannot encode it: Node would silently write U+FFFD).
 */
export type TextChars = "line" | "lines" | "data";

/** Rules for one string field. */
export interface TextRules {
  /** @default "line" */
  chars?: TextChars;
  /** @default MAX_VALUE_BYTES */
  maxBytes?: number;
  /** Why the length limit is what it is, as a sentence. @default - the argv limit */
  why?: string;
}

const CONTROL: Record<TextChars, RegExp> = {
  line: /[\u0000-\u001f\u007f-\u009f]/,
  lines: /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/,
  data: /\u0000/,
};
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL_NAMES: Record<number, string> = { 0: "NUL", 9: "tab", 10: "line feed", 13: "carriage return", 27: "escape", 127: "DEL" };

function codePoint(c: string): string {
  const n = c.codePointAt(0)!;
  const name = CONTROL_NAMES[n];
  return `U+${n.toString(16).toUpperCase().padStart(4, "0")}${name ? ` (${name})` : ""}`;
}

/**
 * The problem with a string's characters or length, or undefined: NUL bytes, control characters
 * (per `rules.chars`), unpaired surrogates, more than `rules.maxBytes` bytes. With `secret`, the
 * message shows neither the value nor where the bad character is.
 */
export function textProblem(value: string, rules: TextRules = {}, secret = false): string | undefined {
  const chars = rules.chars ?? "line";
  const at = (i: number) => (secret ? "" : ` at character ${Array.from(value.slice(0, i)).length + 1}`);
  const nul = value.indexOf("\u0000");
  if (nul >= 0) {
    return mustBe("text without NUL bytes", value, `Remove the NUL byte${at(nul)}: a NUL ends a string in argv, the environment and files on the host, so the value would be cut short.`, secret);
  }
  const control = CONTROL[chars].exec(value);
  if (control) {
    const expect = chars === "lines" ? "text without control characters other than tab and line breaks" : "one line of text without control characters";
    return mustBe(expect, value, `Remove the ${codePoint(control[0])}${at(control.index)}.`, secret);
  }
  const lone = LONE_SURROGATE.exec(value);
  if (lone) {
    return mustBe("valid Unicode text", value, `Remove the unpaired surrogate ${codePoint(lone[0])}${at(lone.index)}: it cannot be written as UTF-8.`, secret);
  }
  const max = rules.maxBytes ?? (secret ? MAX_SECRET_BYTES : MAX_VALUE_BYTES);
  // Bytes are counted only when they could be too many (a string has at most 3 UTF-8 bytes per UTF-16 unit).
  if (value.length * 3 > max) {
    const bytes = Buffer.byteLength(value, "utf8");
    if (bytes > max) {
      const why =
        rules.why ??
        (secret
          ? "Secrets end up in environment variables, which docker and Linux cap: mount a large secret as a file instead."
          : "Commands reach each host as one `sh -c` string, which Linux caps at 128 KiB: pass large data as a file (a volume) instead.");
      return `must be at most ${max} bytes; got ${bytes} bytes${secret ? " (not shown because it is secret)" : ` (${show(value)})`}. ${why}`;
    }
  }
  return undefined;
}

/**
 * Refinement options for a check that only makes sense on a value that passed the checks before
 * it (its type, its characters): a string's format is not checked once it holds a NUL byte.
 */
export const whenClean = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

/** A string: one line of text unless `rules` say otherwise, at most `MAX_VALUE_BYTES`. */
export function text(expect = "a string", fix?: string, rules: TextRules = {}) {
  return z.string({ error: says(expect, fix) }).superRefine((v, ctx) => {
    const m = textProblem(v, rules);
    if (m) problem(ctx, [], m);
  });
}

/** A string matching `re`. */
export function matching(re: RegExp, expect: string, fix?: string, rules: TextRules = {}) {
  return text(expect, fix, rules).superRefine((v, ctx) => {
    if (!re.test(v)) problem(ctx, [], mustBe(expect, v, fix));
  }, whenClean);
}

/**
 * A secret string: messages never show it, whatever is wrong with it. `valid` adds a format check.
 * By default any character but NUL, at most `MAX_SECRET_BYTES`.
 */
export function secret(expect: string, fix?: string, valid: (v: string) => boolean = () => true, rules: TextRules = {}) {
  return z
    .string({ error: says(expect, fix, true) })
    .superRefine((v, ctx) => {
      const m = textProblem(v, { chars: "data", ...rules }, true);
      if (m) problem(ctx, [], m);
    })
    .superRefine((v, ctx) => {
      if (!valid(v)) problem(ctx, [], mustBe(expect, v, fix, true));
    }, whenClean);
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

/** The problem with a key of a free-form object, or undefined. */
export type KeyCheck = (key: string) => string | undefined;

/**
 * The problem with any key of a free-form object: an empty key, control characters or a key
 * longer than `MAX_VALUE_BYTES`; then `check`, the field's own rule.
 */
export function keyProblem(key: string, check?: KeyCheck): string | undefined {
  if (key === "") return 'must not be an empty name; got "". Name the entry, or remove it.';
  return textProblem(key) ?? check?.(key);
}

/**
 * An object with free-form string keys. Every key is checked by `keyProblem` (with `keys`, the
 * field's own rule). With `secret`, a value of the wrong type is not shown (it may be a secret
 * written in the wrong shape).
 */
export function dict<T extends z.ZodType>(value: T, expect = "an object", keys?: KeyCheck, secret = false) {
  return z.record(z.string(), value, { error: says(expect, undefined, secret) }).superRefine(
    (record, ctx) => {
      for (const key of Object.keys(record)) {
        const m = keyProblem(key, keys);
        if (m) problem(ctx, [key], m);
      }
    },
    { when: (payload: { value: unknown }) => isRecord(payload.value) },
  );
}

/** An object with exactly these keys (unknown keys are problems). With `secret`, a value of the wrong type is not shown. */
export function strict<S extends z.core.$ZodLooseShape>(shape: S, expect = "an object", secret = false) {
  return z.strictObject(shape, { error: says(expect, undefined, secret) });
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
      // A value not known yet stays visible to the checks over several fields, which then wait.
      return value === NOT_KNOWN ? (value as T) : z.NEVER;
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

// ---------------------------------------------------------------------------------------------
// Values not known yet

/**
 * Stands in for a value that is not known yet (a Pulumi Output, a Promise) while a component
 * checks the known parts of its args before registering any child: leaf checks report it (and the
 * component drops those problems), and checks over several fields wait until it is known.
 */
export const NOT_KNOWN: unique symbol = Symbol("berth.notKnownYet");

/** Does `value` hold `NOT_KNOWN` anywhere? */
export function holdsNotKnown(value: unknown, depth = 0): boolean {
  if (value === NOT_KNOWN) return true;
  if (depth > 32 || typeof value !== "object" || value === null) return false;
  return (Array.isArray(value) ? value : Object.values(value)).some((v) => holdsNotKnown(v, depth + 1));
}

/**
 * Refinement options for a check over several fields of an object: it runs even when some of
 * those fields are invalid (so every problem is reported at once), but not when the value is not
 * an object at all, nor while a part of it is not known yet. The check must read its fields
 * defensively.
 */
export const evenWithFieldErrors = { when: (payload: { value: unknown }) => isRecord(payload.value) && !holdsNotKnown(payload.value) };

/** Like `evenWithFieldErrors`, for a check over the items of a list. */
export const evenWithItemErrors = { when: (payload: { value: unknown }) => Array.isArray(payload.value) && !holdsNotKnown(payload.value) };

/** An environment variable's name: letters, digits and `_`, not starting with a digit. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The problem with `name` as an environment variable's name, or undefined. */
export function envNameProblem(name: string): string | undefined {
  return ENV_NAME.test(name) ? undefined : `must be named like an environment variable (letters, digits and \`_\`, not starting with a digit); got ${show(name)}.`;
}
