/**
 * The plugin's Pulumi package schema, derived from the resources' zod schemas (config/resources.ts)
 * so the two cannot drift. A nested `z.object` becomes a named object type
 * (`berth:index:<Resource><Property>`); a setting typed from `config/` (`z.custom`) is
 * `pulumi.json#/Any`; a resource's `secretInputs` are marked `secret`.
 */
import type { z } from "zod";
import type { AnyResourceDef } from "./resource";

/** A property (or item) type in Pulumi's schema. */
export type TypeSpec = {
  type?: "string" | "number" | "integer" | "boolean" | "array" | "object";
  $ref?: string;
  items?: TypeSpec;
  additionalProperties?: TypeSpec;
  oneOf?: TypeSpec[];
  enum?: unknown[];
};
export type PropertySpec = TypeSpec & { description?: string; secret?: boolean; replaceOnChanges?: boolean };

interface ObjectTypeSpec {
  type: "object";
  description?: string;
  properties: Record<string, PropertySpec>;
  required: string[];
}

export interface PackageSchema {
  name: string;
  version: string;
  displayName: string;
  description: string;
  license: string;
  keywords: string[];
  meta: { moduleFormat: string };
  config: Record<string, never>;
  provider: { description: string };
  resources: Record<string, { description?: string; inputProperties: Record<string, PropertySpec>; requiredInputs: string[]; properties: Record<string, PropertySpec>; required: string[] }>;
  types: Record<string, ObjectTypeSpec>;
}

type Def = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const bagOf = (s: z.ZodType): Record<string, unknown> => (s as unknown as { _zod: { bag?: Record<string, unknown> } })._zod.bag ?? {};

/** Unwraps optional/nullable/default; says whether the value may be absent. */
function unwrap(s: z.ZodType): { inner: z.ZodType; optional: boolean; description?: string } {
  let cur = s;
  let optional = false;
  let description = s.description;
  for (;;) {
    const d = defOf(cur);
    if (d.type === "optional" || d.type === "nullable" || d.type === "default") {
      optional = optional || d.type !== "nullable";
      cur = d.innerType as z.ZodType;
      description = description ?? cur.description;
    } else return { inner: cur, optional, description };
  }
}

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function typeSpec(s: z.ZodType, typeName: string, types: Record<string, ObjectTypeSpec>): TypeSpec {
  const { inner } = unwrap(s);
  const d = defOf(inner);
  switch (d.type) {
    case "string":
      return { type: "string" };
    case "number": {
      const fmt = String(bagOf(inner).format ?? "");
      return { type: /int/.test(fmt) ? "integer" : "number" };
    }
    case "boolean":
      return { type: "boolean" };
    case "enum":
      return { type: "string", enum: Object.values(d.entries as Record<string, string>) };
    case "array":
      return { type: "array", items: typeSpec(d.element as z.ZodType, `${typeName}Item`, types) };
    case "record":
      return { type: "object", additionalProperties: typeSpec(d.valueType as z.ZodType, `${typeName}Value`, types) };
    case "union":
      return { oneOf: (d.options as z.ZodType[]).map((o, i) => typeSpec(o, `${typeName}${i}`, types)) };
    case "object": {
      objectType(inner as z.ZodObject, typeName, types);
      return { $ref: `#/types/${typeName}` };
    }
    default:
      // custom, unknown, any: a setting typed in config/ (see its TSDoc there).
      return { $ref: "pulumi.json#/Any" };
  }
}

function properties(obj: z.ZodObject, typeName: string, types: Record<string, ObjectTypeSpec>, secret: readonly string[] = []) {
  const props: Record<string, PropertySpec> = {};
  const required: string[] = [];
  for (const [key, field] of Object.entries(obj.shape) as [string, z.ZodType][]) {
    const { optional, description } = unwrap(field);
    const spec: PropertySpec = typeSpec(field, `${typeName}${upperFirst(key)}`, types);
    if (description) spec.description = description;
    if (secret.includes(key)) spec.secret = true;
    props[key] = spec;
    if (!optional) required.push(key);
  }
  return { props, required };
}

function objectType(obj: z.ZodObject, typeName: string, types: Record<string, ObjectTypeSpec>): void {
  if (types[typeName]) return;
  const { props, required } = properties(obj, typeName, types);
  types[typeName] = { type: "object", ...(obj.description ? { description: obj.description } : {}), properties: props, required };
}

/** The package schema of the given resources. */
export function packageSchema(version: string, resources: readonly AnyResourceDef[]): PackageSchema {
  const types: Record<string, ObjectTypeSpec> = {};
  const out: PackageSchema["resources"] = {};
  for (const r of resources) {
    const base = `berth:index:${r.token.split(":").pop()}`;
    const ins = properties(r.inputs, base, types, r.secretInputs);
    for (const k of r.replaceOnChanges ?? []) if (ins.props[k]) ins.props[k].replaceOnChanges = true;
    const outs = r.outputs ? properties(r.outputs, base, types) : { props: {}, required: [] };
    out[r.token] = {
      ...(r.inputs.description ? { description: r.inputs.description } : {}),
      inputProperties: ins.props,
      requiredInputs: ins.required,
      properties: { ...ins.props, ...outs.props },
      required: [...ins.required, ...outs.required],
    };
  }
  return {
    name: "berth",
    version,
    displayName: "Berth",
    description: "Zero-downtime container deploys to your own servers over SSH, behind kamal-proxy.",
    license: "Apache-2.0",
    keywords: ["kamal", "docker", "ssh", "deploy", "category/infrastructure"],
    meta: { moduleFormat: "(.*)" },
    config: {},
    provider: { description: "Berth's provider. It takes no configuration: every resource carries its own SSH connection." },
    resources: out,
    types,
  };
}
