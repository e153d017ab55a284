/**
 * Property values as the engine sends them to the provider: plain JSON, with secrets wrapped in
 * Pulumi's secret sentinel object, unknowns (at preview) as the unknown sentinel string, and
 * output values (value + secret + dependencies) in the output sentinel object.
 *
 * The provider keeps what it receives wrapped when it returns it (so a secret anywhere stays a
 * secret in state) and works on the revealed plain values.
 */

/** The key of Pulumi's special signature in a sentinel object. */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
/** The value of an input that is unknown at preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function isSecretValue(v: unknown): v is Obj & { value: unknown } {
  return isObj(v) && v[SIG_KEY] === SECRET_SIG;
}

function isOutputValue(v: unknown): v is Obj {
  return isObj(v) && v[SIG_KEY] === OUTPUT_SIG;
}

/** Wraps `value` in the secret sentinel (once). */
export function secret(value: unknown): unknown {
  if (isSecretValue(value) || value === undefined) return value;
  return { [SIG_KEY]: SECRET_SIG, value };
}

/** Is `v`, or anything in it, unknown? */
export function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (isSecretValue(v)) return hasUnknown(v.value);
  if (isOutputValue(v)) return !("value" in v) || hasUnknown(v.value);
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (isObj(v)) return Object.values(v).some(hasUnknown);
  return false;
}

/** The plain value: secret and output sentinels removed (unknowns stay as the sentinel string). */
export function reveal<T = unknown>(v: unknown): T {
  if (isSecretValue(v)) return reveal(v.value);
  if (isOutputValue(v)) return ("value" in v ? reveal(v.value) : UNKNOWN) as T;
  if (Array.isArray(v)) return v.map((x) => reveal(x)) as T;
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = reveal(x);
    return out as T;
  }
  return v as T;
}

/** Does `v` hold a secret anywhere? */
export function hasSecret(v: unknown): boolean {
  if (isSecretValue(v)) return true;
  if (isOutputValue(v)) return v.secret === true || hasSecret(v.value);
  if (Array.isArray(v)) return v.some(hasSecret);
  if (isObj(v)) return Object.values(v).some(hasSecret);
  return false;
}

/** Every plain string held in a secret anywhere in `v` (for redaction). */
export function secretStrings(v: unknown, inSecret = false): string[] {
  if (isSecretValue(v)) return secretStrings(v.value, true);
  if (isOutputValue(v)) return secretStrings(v.value, inSecret || v.secret === true);
  if (typeof v === "string") return inSecret ? [v] : [];
  if (Array.isArray(v)) return v.flatMap((x) => secretStrings(x, inSecret));
  if (isObj(v)) return Object.values(v).flatMap((x) => secretStrings(x, inSecret));
  return [];
}

/** Every string outside any secret in `v`. */
export function plainStrings(v: unknown): string[] {
  if (isSecretValue(v)) return [];
  if (isOutputValue(v)) return v.secret === true ? [] : plainStrings(v.value);
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(plainStrings);
  if (isObj(v)) return Object.values(v).flatMap(plainStrings);
  return [];
}

/**
 * Property paths (Pulumi's syntax: `a.b`, `a["x.y"]`, `a[0]`) where `olds` and `news` differ, with
 * the kind of change. Objects are compared key by key; arrays and scalars as a whole. An unknown
 * new value is a change.
 */
export function changedPaths(olds: unknown, news: unknown, prefix = ""): Record<string, "add" | "delete" | "update"> {
  const out: Record<string, "add" | "delete" | "update"> = {};
  const o = reveal(olds);
  const n = reveal(news);
  if (isObj(o) && isObj(n)) {
    for (const key of [...new Set([...Object.keys(o), ...Object.keys(n)])].sort()) {
      const p = joinPath(prefix, key);
      if (o[key] === undefined && n[key] === undefined) continue;
      if (o[key] === undefined) out[p] = "add";
      else if (n[key] === undefined) out[p] = "delete";
      else Object.assign(out, changedPaths(o[key], n[key], p));
    }
    return out;
  }
  if (n === UNKNOWN || JSON.stringify(o) !== JSON.stringify(n)) out[prefix] = "update";
  return out;
}

/** `prefix.key`, or `prefix["key"]` when the key is not a plain name. */
export function joinPath(prefix: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return prefix ? `${prefix}.${key}` : key;
  return `${prefix}[${JSON.stringify(key)}]`;
}

/** The top-level property of a path (`container.env.A` → `container`). */
export function topOf(path: string): string {
  return /^[^.[]+/.exec(path)?.[0] ?? path;
}
