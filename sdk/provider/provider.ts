/**
 * Berth's Pulumi provider (`pulumi-resource-berth`): one `pulumi.provider.Provider` that serves
 * every Berth resource type. For each call it finds the type's `ResourceDef`, reveals the secret
 * and output sentinels the engine sends, and runs the type's lifecycle on plain values. What it
 * returns keeps every value that arrived secret a secret (and the type's `secretInputs` always),
 * so nothing secret is ever stored in plain state.
 */
import type * as provider from "@pulumi/pulumi/provider";
import { formatPath } from "../config/errors";
import { withResource } from "./log";
import type { AnyResourceDef, DiffKind } from "./resource";
import { changedPaths, hasSecret, hasUnknown, isSecretValue, reveal, secret, topOf, UNKNOWN } from "./values";
import { appHostResource } from "./app-host";
import { proxyHostResource } from "./proxy-host";
import { commandResource } from "./command";
import { buildxBuilderResource } from "./buildx-builder";
import { imageResource } from "./image";
import { accessoryHostResource } from "./accessory-host";
import { redactIn } from "./redact";
import { hookResource } from "./hook";
import { dockerHostResource } from "./docker-host";

export const RESOURCES: readonly AnyResourceDef[] = [appHostResource, proxyHostResource, commandResource, buildxBuilderResource, imageResource, accessoryHostResource, hookResource, dockerHostResource];

const byToken = new Map(RESOURCES.map((r) => [r.token, r]));

/** The type token in a URN (`…::parent$berth:index:AppHost::name` → `berth:index:AppHost`). */
export function typeOf(urn: string): string {
  const qualified = urn.split("::")[2] ?? "";
  return qualified.split("$").pop() ?? "";
}

function defFor(urn: string): AnyResourceDef {
  const def = byToken.get(typeOf(urn));
  if (!def) throw new Error(`berth: unknown resource type ${typeOf(urn)} (this provider serves ${[...byToken.keys()].join(", ")})`);
  return def;
}

/** The detailed diff of the last `diff` call per URN, picked up by the gRPC layer (see main.ts). */
export const detailedDiffs = new Map<string, { diffs: string[]; detailed: Record<string, DiffKind> }>();

/** Only the input properties of a type (state also holds outputs). */
function inputsOf(def: AnyResourceDef, props: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(def.inputs.shape);
  return Object.fromEntries(Object.entries(props ?? {}).filter(([k]) => keys.includes(k)));
}

/**
 * Re-applies the secret marks of `model` (what the engine sent) to `value` (plain), path by path,
 * and wraps the type's always-secret properties.
 */
export function rewrap(value: unknown, model: unknown): unknown {
  if (isSecretValue(model)) return secret(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value) && model !== null && typeof model === "object" && !Array.isArray(model)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = rewrap(v, (model as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

function outputsFor(def: AnyResourceDef, raw: Record<string, unknown>, plainInputs: Record<string, unknown>, outs: Record<string, unknown> | void): Record<string, unknown> {
  const result: Record<string, unknown> = rewrap(plainInputs, raw) as Record<string, unknown>;
  for (const k of def.secretInputs) if (result[k] !== undefined) result[k] = secret(result[k]);
  const anySecret = hasSecret(raw);
  for (const [k, v] of Object.entries(outs ?? {})) {
    result[k] = anySecret && def.secretOutputsWhenInputsSecret?.includes(k) ? secret(v) : v;
  }
  return result;
}

/** Runs `fn` for the resource `urn`; a failure's message never holds a secret value of `raw`. */
async function guarded<T>(urn: string, raw: unknown, fn: () => Promise<T>): Promise<T> {
  try {
    return await withResource(urn, fn);
  } catch (e) {
    throw redactIn(e, raw);
  }
}

export class BerthProvider implements provider.Provider {
  constructor(
    readonly version: string,
    readonly schema: string,
  ) {}

  async check(urn: string, _olds: unknown, news: Record<string, unknown>): Promise<provider.CheckResult> {
    const def = defFor(urn);
    const plain = reveal<Record<string, unknown>>(news);
    const result = def.inputs.safeParse(plain);
    const failures: provider.CheckFailure[] = [];
    if (!result.success) {
      for (const issue of result.error.issues) {
        // A value still unknown at preview is checked when it is known.
        if (unknownOnPath(plain, issue.path)) continue;
        // The schemas' messages name the expected type, never the value (it may be a secret).
        failures.push({ property: formatPath(issue.path), reason: `\`${formatPath(issue.path)}\` ${issue.message}` });
      }
    }
    return { inputs: news, failures };
  }

  async diff(_id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<provider.DiffResult> {
    const def = defFor(urn);
    const oldInputs = inputsOf(def, olds);
    let changes = changedPaths(oldInputs, news) as Record<string, DiffKind>;
    if (def.adjustDiff) changes = def.adjustDiff(changes, reveal(olds), reveal(news));
    const replaces = [...new Set(Object.keys(changes).map(topOf).filter((k) => def.replaceOnChanges?.includes(k)))];
    for (const [p, kind] of Object.entries(changes)) if (replaces.includes(topOf(p))) changes[p] = `${kind.split("-")[0]}-replace` as DiffKind;
    const diffs = [...new Set(Object.keys(changes).map(topOf))];
    detailedDiffs.set(urn, { diffs, detailed: changes });
    return {
      changes: diffs.length > 0,
      replaces,
      stables: Object.keys(def.inputs.shape).filter((k) => !diffs.includes(k) && !hasUnknown(news[k])),
      deleteBeforeReplace: def.deleteBeforeReplace === true && replaces.length > 0,
    };
  }

  async create(urn: string, inputs: Record<string, unknown>): Promise<provider.CreateResult> {
    const def = defFor(urn);
    const plain = reveal<Record<string, unknown>>(inputs);
    const r = await guarded(urn, inputs, () => def.create(plain));
    return { id: r.id, outs: outputsFor(def, inputs, plain, r.outs) };
  }

  async read(id: string, urn: string, props: Record<string, unknown>): Promise<provider.ReadResult> {
    const def = defFor(urn);
    const plain = reveal<Record<string, unknown>>(props ?? {});
    if (!def.read) return { id, props, inputs: inputsOf(def, props) };
    const r = await guarded(urn, props, () => def.read!(id, plain, urn));
    if (!r) return { id: "" } as provider.ReadResult; // gone: the engine drops it from state
    const outs = outputsFor(def, props ?? {}, r.inputs, r.outs);
    return { id: r.id, props: outs, inputs: inputsOf(def, outs) };
  }

  async update(id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<provider.UpdateResult> {
    const def = defFor(urn);
    const plainOld = reveal<Record<string, unknown>>(olds);
    const plainNew = reveal<Record<string, unknown>>(news);
    const changes = changedPaths(inputsOf(def, olds), news) as Record<string, DiffKind>;
    const outs = await guarded(urn, { olds, news }, () => def.update(id, plainOld, plainNew, changes));
    // Outputs the update did not recompute carry over (e.g. a build's digest when nothing was built).
    const kept = Object.fromEntries(Object.keys(def.outputs?.shape ?? {}).map((k) => [k, plainOld[k]]));
    return { outs: outputsFor(def, news, plainNew, { ...kept, ...(outs ?? {}) }) };
  }

  async delete(id: string, urn: string, props: Record<string, unknown>): Promise<void> {
    const def = defFor(urn);
    await guarded(urn, props, () => def.delete(id, reveal(props)));
  }
}

function unknownOnPath(v: unknown, path: readonly PropertyKey[]): boolean {
  let cur: unknown = v;
  if (cur === UNKNOWN) return true;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return false;
    cur = (cur as Record<PropertyKey, unknown>)[k];
    if (cur === UNKNOWN) return true;
  }
  return hasUnknown(cur);
}
