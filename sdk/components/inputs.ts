/** Helpers for component args that may hold Pulumi Outputs. */
import * as pulumi from "@pulumi/pulumi";

/** Does `value` hold an Output or a Promise anywhere? */
export function hasUnresolved(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return true;
  if (Array.isArray(value)) return value.some(hasUnresolved);
  if (value !== null && typeof value === "object") return Object.values(value).some(hasUnresolved);
  return false;
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
