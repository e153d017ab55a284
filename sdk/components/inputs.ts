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

/** True when any Output in `value` (deeply) is secret. */
export async function anySecret(value: unknown): Promise<boolean> {
  if (pulumi.Output.isInstance(value)) return (await (value as any).isSecret) as boolean;
  if (Array.isArray(value)) return (await Promise.all(value.map(anySecret))).some(Boolean);
  if (value !== null && typeof value === "object") return (await Promise.all(Object.values(value).map(anySecret))).some(Boolean);
  return false;
}

/** A component arg whose every field may be an Output (a secret from config, a digest from an `Image`). */
export type DeepInput<T> = T extends string | number | boolean
  ? pulumi.Input<T>
  : T extends readonly (infer U)[]
    ? pulumi.Input<DeepInput<U>[]>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : T;
