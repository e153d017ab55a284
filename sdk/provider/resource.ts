/**
 * What one Berth resource type gives the provider: its token, its input schema (from
 * `config/resources.ts`) and its lifecycle on plain, revealed values. `provider.ts` does the rest
 * for every type alike: secret and unknown values, `check` failures by property path, the
 * property-level diff, and the engine log.
 */
import type { z } from "zod";

/** Kinds of a property change, as Pulumi's `PropertyDiff.Kind` names them. */
export type DiffKind = "add" | "delete" | "update" | "add-replace" | "delete-replace" | "update-replace";

export interface ResourceDef<I extends object, O extends object = Record<string, never>> {
  /** The type token, `berth:index:<Name>`. */
  token: string;
  /** The inputs. Their shape's keys are the properties diffed. */
  inputs: z.ZodObject;
  /** Extra outputs (besides the inputs, which are always outputs too). */
  outputs?: z.ZodObject;
  /** Top-level inputs always stored as secrets, whatever the program sent. */
  secretInputs: readonly string[];
  /** Extra outputs stored as secrets when any input is (e.g. a command's stdout). */
  secretOutputsWhenInputsSecret?: readonly string[];
  /** Top-level inputs whose change replaces the resource. */
  replaceOnChanges?: readonly string[];
  /** Delete the old resource before creating its replacement. */
  deleteBeforeReplace?: boolean;
  /**
   * Adjusts the property-level changes (paths → kinds) the generic diff found, e.g. to drop a
   * path that never changes what runs.
   */
  adjustDiff?(changes: Record<string, DiffKind>, olds: I & O, news: I): Record<string, DiffKind>;
  /** Creates it; the id, and the extra outputs. */
  create(inputs: I): Promise<{ id: string; outs?: O }>;
  /**
   * Reports what is really there: the inputs that would produce it (so a hand-made change shows as
   * a property diff in the next preview), or undefined when it is gone.
   */
  read?(id: string, state: I & O, urn: string): Promise<{ id: string; inputs: I; outs?: O } | undefined>;
  /** Brings it from `olds` to `news`; the extra outputs. */
  update(id: string, olds: I & O, news: I, changes: Record<string, DiffKind>): Promise<O | void>;
  delete(id: string, state: I & O): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResourceDef = ResourceDef<any, any>;
