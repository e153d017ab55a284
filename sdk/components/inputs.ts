/** Helpers for component args that may hold Pulumi Outputs. */
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError, formatPath, isRecord, mustBe, NOT_KNOWN, type Problem } from "../config/errors";

/** Is `value` itself an Output or a Promise? */
export function isUnresolved(value: unknown): boolean {
  return pulumi.Output.isInstance(value) || value instanceof Promise;
}

/** Does `value` hold an Output or a Promise anywhere? */
export function hasUnresolved(value: unknown): boolean {
  const seen = new Set<object>();
  const walk = (v: unknown): boolean => {
    if (isUnresolved(v)) return true;
    if (v === null || typeof v !== "object" || seen.has(v)) return false;
    seen.add(v);
    return (Array.isArray(v) ? v : Object.values(v)).some(walk);
  };
  return walk(value);
}

type Key = string | number;

/** `value` with each Output and Promise replaced by `NOT_KNOWN`; `unknown` collects their paths. */
function knownParts(value: unknown, path: Key[], unknown: Key[][], seen: Set<object>): unknown {
  if (isUnresolved(value)) {
    unknown.push(path);
    return NOT_KNOWN;
  }
  if (value === null || typeof value !== "object" || seen.has(value)) return value;
  if (Array.isArray(value)) {
    seen.add(value);
    const out = value.map((v, i) => knownParts(v, [...path, i], unknown, seen));
    seen.delete(value);
    return out;
  }
  // Class instances (a resource, a Date) are values, not settings to walk into.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  seen.add(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = knownParts(v, [...path, k], unknown, seen);
  seen.delete(value);
  return out;
}

/** Is the formatted `path` at or under one of `roots`? */
function under(path: string, roots: string[]): boolean {
  return roots.some((r) => r === "(root)" || path === r || path.startsWith(`${r}.`) || path.startsWith(`${r}[`));
}

/**
 * The problems with the parts of `args` that are known now. Each Output or Promise is replaced by
 * a stand-in (`NOT_KNOWN`) and `validate` runs on the rest: problems of a stand-in itself are
 * dropped, and checks over several fields wait for their fields (see `evenWithFieldErrors`). What
 * is not known yet is validated when it resolves. `prefix` is the path `validate` reports under.
 */
export function knownProblems<T>(args: T, validate: (known: T) => unknown, prefix: Key[] = []): Problem[] {
  const unknown: Key[][] = [];
  const known = knownParts(args, [], unknown, new Set()) as T;
  try {
    validate(known);
  } catch (e) {
    if (!(e instanceof BerthConfigError)) {
      // Nothing can be concluded from stand-ins a check did not expect: the values are checked
      // when they resolve. With every value known, this is a bug to report as it is.
      if (unknown.length > 0) return [];
      throw e;
    }
    const roots = unknown.map((p) => formatPath([...prefix, ...p]));
    return e.problems.filter((p) => !under(p.path, roots));
  }
  return [];
}

/**
 * The problems of values at `paths` (`*` matches any key or index) that must be plain, known when
 * the program runs, because they decide which resources exist (hosts, roles, names).
 */
export function plainProblems(args: unknown, paths: readonly (readonly Key[])[]): Problem[] {
  const out: Problem[] = [];
  const visit = (value: unknown, pattern: readonly Key[], at: Key[]) => {
    if (pattern.length === 0) {
      if (isUnresolved(value)) {
        out.push({
          path: formatPath(at),
          message: mustBe(
            "a plain value, known when the program runs",
            value,
            "It decides which resources Berth registers (one per host and role), so it cannot wait for a deployment: pass a plain value, e.g. from `config.require`.",
          ),
        });
      }
      return;
    }
    if (isUnresolved(value)) return; // reported at its own path, if listed
    const [head, ...rest] = pattern;
    if (head === "*") {
      if (Array.isArray(value)) value.forEach((v, i) => visit(v, rest, [...at, i]));
      else if (isRecord(value)) for (const [k, v] of Object.entries(value)) visit(v, rest, [...at, k]);
    } else if (Array.isArray(value) && typeof head === "number") visit(value[head], rest, [...at, head]);
    else if (isRecord(value)) visit(value[head as string], rest, [...at, head]);
  };
  for (const p of paths) visit(args, p, []);
  // A path and its pattern may match the same value twice (`hosts` and `hosts.*`): once each.
  return out.filter((p, i) => out.findIndex((q) => q.path === p.path) === i);
}

/** Throws one `BerthConfigError` when there are problems. */
export function throwProblems(component: string, problems: Problem[]): void {
  if (problems.length > 0) throw new BerthConfigError(component, problems);
}

/** The args of a component must be an object: the problem, or undefined. */
export function argsProblem(args: unknown, example: string): Problem | undefined {
  return isRecord(args) && !isUnresolved(args) ? undefined : { path: "(root)", message: mustBe("an object of settings", args, `Pass ${example}.`) };
}

/**
 * Runs `validate` at once when `args` are plain values, so bad input fails as the program starts,
 * before any resource is registered. Args holding Outputs are validated when they resolve.
 */
export function plainWhenKnown<T>(args: T, validate: (plain: T) => unknown): void {
  if (!hasUnresolved(args)) validate(args);
}

/** A component arg whose every field may be an Output (a secret from config, a digest from an `Image`). */
export type DeepInput<T> = T extends string | number | boolean
  ? pulumi.Input<T>
  : T extends readonly (infer U)[]
    ? pulumi.Input<DeepInput<U>[]>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : T;

/** The values at `paths` (key lists) of `root`: e.g. the resolved values of the secret Outputs of some args. */
export function valuesAt(root: unknown, paths: readonly (readonly (string | number)[])[]): unknown[] {
  return paths.map((path) => {
    let cur: unknown = root;
    for (const k of path) cur = isRecord(cur) ? cur[String(k)] : Array.isArray(cur) ? cur[Number(k)] : undefined;
    return cur;
  });
}

/** The paths (key lists) of every secret Output in `value`, found without waiting for unknowns. */
export async function secretPaths(value: unknown, prefix: (string | number)[] = []): Promise<(string | number)[][]> {
  if (pulumi.Output.isInstance(value)) {
    if ((await (value as unknown as { isSecret: Promise<boolean> }).isSecret) === true) return [prefix];
    return [];
  }
  if (value instanceof Promise) return secretPaths(await value, prefix);
  if (Array.isArray(value)) return (await Promise.all(value.map((v, i) => secretPaths(v, [...prefix, i])))).flat();
  if (value !== null && typeof value === "object") {
    return (await Promise.all(Object.entries(value).map(([k, v]) => secretPaths(v, [...prefix, k])))).flat();
  }
  return [];
}
