/**
 * `berth summary`: turns the JSON of `pulumi preview --json` into Markdown for a pull-request
 * comment. Pure: a value in, a string out.
 *
 * The input is Pulumi's `PreviewDigest` (pulumi/pulumi `sdk/pkg/display/json.go`, written by
 * `ShowPreviewDigest` in `pkg/backend/display/json.go`): `steps[]`, each with `op`, `urn`,
 * `oldState`/`newState` (apitype.ResourceV3: `type`, `custom`, `inputs`, `outputs`; a planned
 * update's `newState` has no outputs yet), `diffReasons`, `replaceReasons` and `detailedDiff`
 * (property path → `{kind, inputDiff}`, null when the provider gives none), plus `changeSummary`
 * and `diagnostics`. Unchanged resources are left out unless `--show-sames`; a replacement is one
 * `replace` step, or three with `--show-replacement-steps`. Secret values are `"[secret]"` (or in
 * clear with `--show-secrets`), unknown values the string `UNKNOWN`.
 *
 * Secrets: this file never renders a value read from `secrets` or `connection` (it only reads the
 * names of changed paths there), never renders an env value (clear or secret), and renders
 * `(secret)` for any secret value elsewhere. Values are shown only for the version, the image,
 * kamal-proxy routing settings, the maintenance message, and a few kamal-proxy/image labels.
 *
 * Berth's resources are recognized by their type tokens (`berth:index:AppHost`, ...: the constants
 * of sdk/components/resources.ts, not imported so that the CLI does not load `@pulumi/pulumi`).
 * The `Image` component shares its token with the `Image` resource: only custom resources count.
 */

/** Pulumi's marker for a value not known until the update runs. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** The key of Pulumi's secret sentinel object. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** What `pulumi preview --json` writes instead of a secret value. */
const SECRET_TEXT = "[secret]";
/** Longest value shown inline before it is shortened. */
const MAX_VALUE = 100;

type Obj = Record<string, unknown>;
type Change = "create" | "update" | "delete" | "replace";

interface State {
  type: string;
  custom?: boolean;
  inputs: Obj;
  outputs: Obj;
}

/** One resource's change, after merging the steps Pulumi emits for it (e.g. the three steps of a replacement). */
interface ResourceChange {
  urn: string;
  name: string;
  type: string;
  change: Change;
  old?: State;
  new?: State;
  /** Property path → diff kind (`add`, `update-replace`, ...). */
  detailedDiff: Map<string, string>;
  /** Top-level keys the engine reports as changed or replacing. */
  reasons: string[];
  replaceReasons: string[];
}

// ---------------------------------------------------------------------------------------------
// Values

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isSecret = (v: unknown): boolean => v === SECRET_TEXT || (isObj(v) && SECRET_SIG in v);
const isUnknown = (v: unknown): boolean => v === UNKNOWN;
/** A plain object to descend into (not a secret sentinel). */
const isPlain = (v: unknown): v is Obj => isObj(v) && !(SECRET_SIG in v);

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => equal(a[k], b[k]));
  }
  return false;
}

function at(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (!isPlain(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** A Markdown code span that survives backticks and newlines in `s`. */
function code(s: string): string {
  const flat = s.replace(/\s*\n\s*/g, " ");
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(longest + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/** Markdown-escapes text that is not in a code span (headings, names). */
function esc(s: string): string {
  return s.replace(/[\\`*_{}[\]<>()#+|!~]/g, (c) => `\\${c}`).replace(/\s*\n\s*/g, " ");
}

function shorten(s: string): string {
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s;
}

/**
 * A value for display: `(none)`, `(known after build)`, `(secret)`, or a code span (strings bare,
 * anything else as JSON with secrets and unknowns masked). Never call it on `secrets`/`connection`.
 */
function show(v: unknown): string {
  if (v === undefined || v === null) return "(none)";
  if (isUnknown(v)) return "(known after build)";
  if (isSecret(v)) return "(secret)";
  if (typeof v === "string") return code(shorten(v));
  const json = JSON.stringify(v, (_k, x) => (isSecret(x) ? "(secret)" : isUnknown(x) ? "(known after build)" : x));
  return code(shorten(json ?? String(v)));
}

/** `old → new`, or `changed (secret)` when both sides are secret. */
function arrow(a: unknown, b: unknown): string {
  if (isSecret(a) && isSecret(b)) return "changed (secret)";
  return `${show(a)} → ${show(b)}`;
}

/** Appends `key` to a property path the way Berth's provider writes them in `detailedDiff` (`a.b`, `a["x.y"]`). */
function join(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** Splits a Pulumi property path (`a.b[0]["x.y"]`) into its keys; array indices are dropped. */
export function parsePath(path: string): string[] {
  const out: string[] = [];
  const re = /([^.[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[3] !== undefined) out.push(JSON.parse(`"${m[3]}"`) as string);
  }
  return out;
}

const pathOf = (keys: string[]): string => keys.reduce(join, "");

interface Leaf {
  path: string;
  old: unknown;
  new: unknown;
}

/** Differing leaves of two values; objects are descended into, arrays compared whole. */
function leaves(a: unknown, b: unknown, path = "", out: Leaf[] = []): Leaf[] {
  if (isPlain(a) && isPlain(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) leaves(a[k], b[k], join(path, k), out);
  } else if (!equal(a, b)) {
    out.push({ path, old: a, new: b });
  }
  return out;
}

/** Natural order: `10.0.0.9` before `10.0.0.10`. */
function compare(a: string, b: string): number {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const [x, y] = [chunks(a), chunks(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    const [n, m] = [Number(x[i]), Number(y[i])];
    if (/^\d/.test(x[i]) && /^\d/.test(y[i]) && n !== m) return n - m;
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length || (a < b ? -1 : a > b ? 1 : 0);
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort(compare);

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------------------------------------
// Reading the preview

function fail(what: string): never {
  throw new Error(`${what}: expected the output of \`pulumi preview --json\``);
}

function stateOf(v: unknown, where: string): State | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(`\`${where}\` is not an object`);
  return {
    type: str(v.type) ?? "",
    custom: typeof v.custom === "boolean" ? v.custom : undefined,
    inputs: isObj(v.inputs) ? v.inputs : {},
    outputs: isObj(v.outputs) ? v.outputs : {},
  };
}

/** `urn:pulumi:stack::project::parent$type::name` → type and name. */
function urnParts(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  const qualified = parts.length >= 4 ? parts[2] : "";
  return { type: qualified.split("$").pop() ?? "", name: parts.length >= 4 ? parts.slice(3).join("::") : urn };
}

const OPS: Record<string, Change | undefined> = {
  create: "create",
  import: "create",
  update: "update",
  delete: "delete",
  discard: "delete",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "read-replacement": "replace",
  "import-replacement": "replace",
  "discard-replaced": "replace",
  // same, read, refresh, remove-pending-replace: nothing to deploy.
};
const RANK: Record<Change, number> = { update: 1, delete: 2, create: 3, replace: 4 };

function readSteps(preview: Obj): ResourceChange[] {
  const raw = preview.steps;
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) fail("`steps` is not a list");
  const byUrn = new Map<string, ResourceChange>();
  (Array.isArray(raw) ? raw : []).forEach((s: unknown, i) => {
    if (!isObj(s)) fail(`\`steps[${i}]\` is not an object`);
    const op = str(s.op);
    const urn = str(s.urn);
    if (op === undefined) fail(`\`steps[${i}].op\` is missing`);
    if (urn === undefined) fail(`\`steps[${i}].urn\` is missing`);
    const change = OPS[op];
    if (!change) return;
    const old = stateOf(s.oldState, `steps[${i}].oldState`);
    const neu = stateOf(s.newState, `steps[${i}].newState`);
    const { type, name } = urnParts(urn);
    const rc: ResourceChange = byUrn.get(urn) ?? { urn, name, type: neu?.type || old?.type || type, change, detailedDiff: new Map(), reasons: [], replaceReasons: [] };
    if (RANK[change] > RANK[rc.change]) rc.change = change;
    // A replacement's own step carries both states; its create/delete halves carry one each.
    if (old && (!rc.old || op === "replace")) rc.old = old;
    if (neu && (!rc.new || op === "replace")) rc.new = neu;
    if (isObj(s.detailedDiff)) {
      for (const [path, d] of Object.entries(s.detailedDiff)) {
        const kind = isObj(d) ? (str(d.kind) ?? str(d.diffKind) ?? "update") : "update";
        rc.detailedDiff.set(path, kind);
      }
    }
    for (const k of Array.isArray(s.diffReasons) ? s.diffReasons : []) if (typeof k === "string") rc.reasons.push(k);
    for (const k of Array.isArray(s.replaceReasons) ? s.replaceReasons : []) if (typeof k === "string") rc.replaceReasons.push(k);
    byUrn.set(urn, rc);
  });
  return [...byUrn.values()];
}

type Kind = "AppHost" | "ProxyHost" | "Image" | "BuildxBuilder" | "Command";
const BERTH_TYPE = /^berth:index:(AppHost|ProxyHost|Image|BuildxBuilder|Command)$/;

/** Components (no inputs, `custom: false`) are not deployed themselves: their children are. */
function isCustom(rc: ResourceChange): boolean {
  const st = rc.new ?? rc.old;
  if (st?.custom !== undefined) return st.custom;
  return Object.keys(st?.inputs ?? {}).length > 0;
}

function berthKind(rc: ResourceChange): Kind | undefined {
  const m = BERTH_TYPE.exec(rc.type);
  return m ? (m[1] as Kind) : undefined;
}

/** Detailed-diff paths as key lists. */
function diffPaths(rc: ResourceChange): { keys: string[]; kind: string }[] {
  return [...rc.detailedDiff.entries()].map(([p, kind]) => ({ keys: parsePath(p), kind }));
}

/** Top-level inputs that changed, as the engine reports them and as the inputs show (never their values). */
function changedKeys(rc: ResourceChange, ignore: string[]): string[] {
  const [a, b] = [rc.old?.inputs ?? {}, rc.new?.inputs ?? {}];
  const seen = [...Object.keys(a), ...Object.keys(b)].filter((k) => !equal(a[k], b[k]));
  const fromDiff = [...rc.detailedDiff.keys()].map((p) => parsePath(p)[0]).filter((k): k is string => k !== undefined);
  return sorted([...seen, ...fromDiff, ...rc.reasons, ...rc.replaceReasons].filter((k) => !ignore.includes(k)));
}

// ---------------------------------------------------------------------------------------------
// AppHost

interface HostChange {
  service: string;
  destination: string;
  role: string;
  host: string;
  change: Change;
  oldVersion: unknown;
  newVersion: unknown;
  versionChanged: boolean;
  /** Sub-bullets under the host. */
  lines: string[];
  env: boolean;
  proxy: boolean;
  maintenance?: "on" | "off";
  settings: boolean;
  /** Changes in `connection` or `secrets` besides secret env (named, never shown). */
  secret: boolean;
}

/** Inputs whose values are never read for display (only the names of their changed paths). */
const SECRET_INPUTS = ["connection", "secrets"];

/** What a reviewer may see of an AppHost: every input but `connection` and `secrets`. */
function appView(st: State | undefined): Obj | undefined {
  return st && Object.fromEntries(Object.entries(st.inputs).filter(([k]) => !SECRET_INPUTS.includes(k)));
}

function identity(rc: ResourceChange, views: (Obj | undefined)[]) {
  const pick = (k: string) => {
    for (const v of views) {
      const s = str(v?.[k]);
      if (s !== undefined && !isUnknown(s) && !isSecret(s)) return s;
    }
    return undefined;
  };
  return { service: pick("service") ?? "(unknown service)", destination: pick("destination") ?? "", role: pick("role") ?? "(unknown role)", host: pick("host") ?? rc.name };
}

function keysOf(v: unknown): string[] {
  return isPlain(v) ? Object.keys(v).filter((k) => v[k] !== undefined) : [];
}

function names(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && !isSecret(x) && !isUnknown(x)) : [];
}

/** `env: `A` added; `B` secret value changed`: names only, from values, `secretEnvNames` and the detailed diff. */
function envLine(rc: ResourceChange, oldV: Obj, newV: Obj): string | undefined {
  const groups: [string, Set<string>][] = ["added", "removed", "changed", "secret added", "secret removed", "secret value changed"].map((l) => [l, new Set<string>()]);
  const [added, removed, changed, sAdded, sRemoved, sChanged] = groups.map(([, s]) => s);
  let unknownEnv = false;

  // Clear env: names from the values (the values themselves are never shown).
  const [oe, ne] = [at(oldV, "container", "env"), at(newV, "container", "env")];
  if (isUnknown(ne) || isUnknown(at(newV, "container"))) unknownEnv = true;
  else {
    for (const k of keysOf(ne)) {
      if (!keysOf(oe).includes(k)) added.add(k);
      else if (!equal((oe as Obj)[k], (ne as Obj)[k])) changed.add(k);
    }
    for (const k of keysOf(oe)) if (!keysOf(ne).includes(k)) removed.add(k);
  }
  // Secret env names (not secret themselves).
  const [on, nn] = [names(oldV.secretEnvNames), names(newV.secretEnvNames)];
  for (const k of nn) if (!on.includes(k)) sAdded.add(k);
  for (const k of on) if (!nn.includes(k)) sRemoved.add(k);
  // The provider's detailed diff names what the values cannot show (both sides `[secret]`).
  for (const { keys, kind } of diffPaths(rc)) {
    const [a, b, name] = keys;
    const clear = a === "container" && b === "env";
    if (name === undefined || !(clear || (a === "secrets" && b === "env"))) continue;
    if (kind.startsWith("add")) (clear ? added : sAdded).add(name);
    else if (kind.startsWith("delete")) (clear ? removed : sRemoved).add(name);
    else (clear ? changed : sChanged).add(name);
  }
  for (const k of [...sAdded, ...sRemoved]) sChanged.delete(k);

  const parts: string[] = unknownEnv ? ["(known after build)"] : [];
  for (const [label, set] of groups) if (set.size > 0) parts.push(`${sorted(set).map(code).join(", ")} ${label}`);
  return parts.length > 0 ? `env: ${parts.join("; ")}` : undefined;
}

/** Paths the version, image, env and maintenance lines cover, and the identity (a change there is a replacement). */
function coveredElsewhere(keys: string[]): boolean {
  const [top, second] = keys;
  if (["version", "image", "secretEnvNames", "host", "service", "role", "destination", "proxy", ...SECRET_INPUTS].includes(top)) return true;
  if (top === "container" && second === "env") return true;
  return top === "maintenance" && (second === undefined || second === "enabled" || second === "message");
}

/** Paths as reviewers read them: array indices dropped, nothing under a path already listed. */
function settingPaths(paths: string[]): string[] {
  const clean = sorted(paths.map((p) => pathOf(parsePath(p)))).filter(Boolean);
  return clean.filter((p) => !clean.some((q) => q !== p && (p.startsWith(`${q}.`) || p.startsWith(`${q}[`))));
}

function hostChange(rc: ResourceChange): HostChange {
  const [oldV, newV] = [appView(rc.old), appView(rc.new)];
  const id = identity(rc, [newV, oldV]);
  const [oldVersion, newVersion] = [oldV?.version, newV?.version];
  const h: HostChange = {
    ...id,
    change: rc.change,
    oldVersion,
    newVersion,
    versionChanged: (rc.change === "update" || rc.change === "replace") && (!equal(oldVersion, newVersion) || isUnknown(newVersion)),
    lines: [],
    env: false,
    proxy: false,
    settings: false,
    secret: false,
  };
  const add = (l: string) => h.lines.push(l);
  const maintenanceOn = (m: unknown) => add(`maintenance on${at(m, "message") !== undefined ? `: ${show(at(m, "message"))}` : ""}`);

  if (rc.change === "delete" || !newV) return h;
  if (rc.change === "create" || !oldV) {
    if (newV.image !== undefined) add(`image: ${show(shortDigest(newV.image))}`);
    // Maintenance is kamal-proxy's: it means nothing for a role that is not proxied.
    if (at(newV, "maintenance", "enabled") === true && newV.proxy !== undefined) {
      h.maintenance = "on";
      maintenanceOn(newV.maintenance);
    }
    return h;
  }

  // update / replace
  if (!equal(oldV.image, newV.image) || isUnknown(newV.image)) add(`image: ${arrow(shortDigest(oldV.image), shortDigest(newV.image))}`);

  const env = envLine(rc, oldV, newV);
  if (env) {
    h.env = true;
    add(env);
  }

  // kamal-proxy routing: paths with old → new values (they are not secret).
  const diffs = leaves(oldV, newV);
  const proxyLeaves = diffs.filter((d) => parsePath(d.path)[0] === "proxy");
  for (const { keys } of diffPaths(rc)) {
    const p = pathOf(keys);
    const covered = proxyLeaves.some((d) => d.path === p || p.startsWith(`${d.path}.`) || p.startsWith(`${d.path}[`));
    if (keys[0] === "proxy" && !covered) proxyLeaves.push({ path: p, old: at(oldV, ...keys), new: at(newV, ...keys) });
  }
  for (const d of proxyLeaves.sort((a, b) => compare(a.path, b.path))) {
    h.proxy = true;
    if (d.old === undefined && isPlain(d.new)) add(`${code(d.path)}: added`);
    else if (d.new === undefined && isPlain(d.old)) add(`${code(d.path)}: removed`);
    else add(`${code(d.path)}: ${arrow(d.old, d.new)}`);
  }

  // Maintenance (kamal-proxy stop / resume).
  const [om, nm] = [oldV.maintenance, newV.maintenance];
  const proxied = newV.proxy !== undefined || oldV.proxy !== undefined;
  const [was, is] = [proxied && at(om, "enabled") === true, proxied && at(nm, "enabled") === true];
  if (!was && is) {
    h.maintenance = "on";
    maintenanceOn(nm);
  } else if (was && !is) {
    h.maintenance = "off";
    add("maintenance off");
  } else if (was && is && !equal(at(om, "message"), at(nm, "message"))) {
    add(`maintenance message: ${arrow(at(om, "message"), at(nm, "message"))}`);
  }

  // Everything else: paths only.
  const other = settingPaths([...diffs.map((d) => parsePath(d.path)), ...diffPaths(rc).map((d) => d.keys)].filter((k) => k.length > 0 && !coveredElsewhere(k)).map(pathOf));
  if (other.length > 0) {
    h.settings = true;
    add(`settings changed: ${other.map(code).join(", ")}`);
  }

  // Secret inputs: the names of what changed, never a value.
  const notes = new Set<string>();
  for (const { keys } of diffPaths(rc)) {
    if (keys[0] === "connection") notes.add("SSH connection changed");
    else if (keys[0] !== "secrets" || keys[1] === "env") continue;
    else if (keys[1] === "registryPassword") notes.add("registry password changed");
    else if (keys[1] === "certificate") notes.add("TLS certificate changed");
    else notes.add(`secret ${code(pathOf(keys))} changed`);
  }
  for (const k of [...rc.reasons, ...rc.replaceReasons]) {
    if (k === "connection") notes.add("SSH connection changed");
    if (k === "secrets" && !env && ![...rc.detailedDiff.keys()].some((p) => parsePath(p)[0] === "secrets")) notes.add("secrets changed (values hidden)");
  }
  // An update with nothing else to show changed what Pulumi shows only as "[secret]".
  if (notes.size === 0 && h.lines.length === 0 && !h.versionChanged && rc.change === "update") notes.add("secret or connection settings changed (values hidden)");
  for (const note of sorted(notes)) add(note);
  h.secret = notes.size > 0;
  return h;
}

function hostHead(h: HostChange, rc: ResourceChange): string {
  switch (h.change) {
    case "create":
      return `+ ${show(h.newVersion)} (new)`;
    case "delete":
      return `- ${show(h.oldVersion)} removed`;
    case "replace": {
      const v = h.versionChanged ? `${show(h.oldVersion)} → ${show(h.newVersion)}` : show(h.newVersion);
      const why = sorted(rc.replaceReasons);
      return `${v}, replaced${why.length ? ` (${why.map(code).join(", ")} changed)` : ""}`;
    }
    default:
      return h.versionChanged ? `${show(h.oldVersion)} → ${show(h.newVersion)}` : `${show(h.newVersion)} (same version)`;
  }
}

// ---------------------------------------------------------------------------------------------
// Images, builders, kamal-proxy, commands

/** `sha256:<64 hex>` anywhere in a string value shortened to its first 12 hex digits. */
function shortDigest(v: unknown): unknown {
  return typeof v === "string" && !isUnknown(v) ? v.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, "sha256:$1…") : v;
}

function digestOf(v: unknown): string {
  return v === undefined || v === null || v === "" ? "(known after build)" : show(shortDigest(v));
}

function imageLine(rc: ResourceChange): { line: string; rebuild: boolean } {
  const st = (rc.new ?? rc.old)!;
  const tag = at(st.inputs, "tags");
  const first = Array.isArray(tag) && typeof tag[0] === "string" && !isUnknown(tag[0]) ? tag[0] : undefined;
  const head = `${code(first ?? str(st.inputs.context) ?? rc.name)}:`;
  const newDigest = digestOf(at(rc.new?.outputs, "digest"));
  if (rc.change === "create") return { line: `${head} new image, digest ${newDigest}`, rebuild: false };
  if (rc.change === "delete") return { line: `${head} removed from the stack (what was pushed stays)`, rebuild: false };
  const reasons: string[] = [];
  if (changedKeys(rc, []).includes("contextHash")) reasons.push("context changed");
  // `trustedCaFiles` are paths on the deploying machine: never what is built.
  for (const k of changedKeys(rc, ["contextHash", "trustedCaFiles", "digest", "ref", "secrets"])) reasons.push(`${code(k)} changed`);
  const buildSecrets = diffPaths(rc).filter(({ keys }) => keys[0] === "secrets" && keys[1] === "build" && keys[2] !== undefined).map(({ keys }) => keys[2]);
  if (buildSecrets.length > 0) reasons.push(`build secret ${sorted(buildSecrets).map(code).join(", ")} changed`);
  else if (changedKeys(rc, []).includes("secrets")) reasons.push("build secrets changed");
  if (reasons.length === 0) reasons.push("inputs changed");
  return { line: `${head} rebuilds (${reasons.join(", ")}); digest ${digestOf(at(rc.old?.outputs, "digest"))} → ${newDigest}`, rebuild: true };
}

function builderLine(rc: ResourceChange): string {
  const st = (rc.new ?? rc.old)!;
  const label = `${code(str(st.inputs.name) ?? rc.name)}:`;
  if (rc.change === "create") return `${label} new builder (${show(st.inputs.driver)} driver)`;
  if (rc.change === "delete") return `${label} removed`;
  const keys = changedKeys(rc, []);
  return `${label} recreated${keys.length ? ` (${keys.map(code).join(", ")} changed)` : ""}`;
}

function proxyHostLine(rc: ResourceChange): { host: string; owner: string; line: string } {
  const st = (rc.new ?? rc.old)!;
  const host = str(st.inputs.host) ?? rc.name;
  const owner = str(st.inputs.owner) ?? "";
  const image = (s?: State) => at(s?.inputs, "run", "imageRef");
  const head = `${code(host)}:`;
  if (rc.change === "create") return { host, owner, line: `${head} starts kamal-proxy ${show(image(rc.new))}` };
  if (rc.change === "delete") return { host, owner, line: `${head} this stack stops using kamal-proxy (removed when no other stack uses it)` };
  const parts: string[] = [];
  if (!equal(image(rc.old), image(rc.new))) parts.push(`image ${arrow(image(rc.old), image(rc.new))}`);
  // Run settings and owner: paths only (docker options may hold anything).
  const paths = [
    ...leaves(rc.old?.inputs.run, rc.new?.inputs.run, "run").map((d) => d.path),
    ...[...rc.detailedDiff.keys()].filter((p) => parsePath(p)[0] === "run"),
    ...(equal(rc.old?.inputs.owner, rc.new?.inputs.owner) ? [] : ["owner"]),
  ].filter((p) => !/^run\.image(Ref)?\b/.test(p));
  const other = settingPaths(paths);
  if (other.length > 0) parts.push(`settings changed: ${other.map(code).join(", ")}`);
  if (changedKeys(rc, []).includes("connection")) parts.push("SSH connection changed");
  if (rc.change === "replace") parts.push(`replaced${rc.replaceReasons.length ? ` (${sorted(rc.replaceReasons).map(code).join(", ")} changed)` : ""}`);
  if (parts.length === 0) parts.push("secret settings changed (values hidden)");
  return { host, owner, line: `${head} ${parts.join("; ")}` };
}

function commandLine(rc: ResourceChange): string {
  const label = `${code(rc.name)}:`;
  const st = (rc.new ?? rc.old)!;
  if (rc.change === "create") return `${label} runs ${code("create")} (new)`;
  if (rc.change === "delete") return `${label} removed${st.inputs.delete !== undefined ? `, runs ${code("delete")}` : ""}`;
  const keys = changedKeys(rc, ["stdout", "stderr"]);
  const verb = rc.change === "replace" ? `replaced, runs ${code("create")}` : `runs ${code(st.inputs.update !== undefined ? "update" : "create")}`;
  return `${label} ${verb}${keys.length ? ` (${keys.map(code).join(", ")} changed)` : ""}`;
}

function otherLine(rc: ResourceChange): string {
  const keys = rc.change === "update" || rc.change === "replace" ? changedKeys(rc, []) : [];
  return `${code(rc.type)} ${code(rc.name)}: ${rc.change}${keys.length ? ` (${keys.map(code).join(", ")})` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function diagnosticsOf(preview: Obj): { severity: string; line: string }[] {
  const raw = Array.isArray(preview.diagnostics) ? preview.diagnostics : [];
  const out: { severity: string; line: string }[] = [];
  for (const d of raw) {
    if (!isObj(d)) continue;
    const severity = str(d.severity) ?? "";
    if (severity !== "error" && severity !== "warning") continue;
    const message = (str(d.message) ?? "").split("\n").map((l) => l.trim()).filter(Boolean)[0] ?? "";
    const urn = str(d.urn);
    const who = urn ? `${code(urnParts(urn).name)}: ` : "";
    out.push({ severity, line: `${severity}: ${who}${code(message.length > 300 ? `${message.slice(0, 299)}…` : message)}` });
  }
  return out;
}

/**
 * Summarizes `pulumi preview --json` output as Markdown: a first line of counts, then the changes
 * by service, role and host, then images, builders, kamal-proxy, commands, other resources and the
 * preview's errors and warnings. Throws when `preview` is not a preview digest.
 */
export function summarize(preview: unknown): string {
  if (!isObj(preview)) fail("the input is not a JSON object");
  const changes = readSteps(preview).filter((rc) => isCustom(rc) && !rc.type.startsWith("pulumi:pulumi:"));

  const hosts: { h: HostChange; rc: ResourceChange }[] = [];
  const images: { line: string; rebuild: boolean; change: Change }[] = [];
  const builders: { line: string; change: Change }[] = [];
  const proxies: { host: string; owner: string; line: string }[] = [];
  const commands: string[] = [];
  const others: string[] = [];
  for (const rc of changes) {
    switch (berthKind(rc)) {
      case "AppHost":
        hosts.push({ h: hostChange(rc), rc });
        break;
      case "Image":
        images.push({ ...imageLine(rc), change: rc.change });
        break;
      case "BuildxBuilder":
        builders.push({ line: builderLine(rc), change: rc.change });
        break;
      case "ProxyHost":
        proxies.push(proxyHostLine(rc));
        break;
      case "Command":
        commands.push(commandLine(rc));
        break;
      default:
        others.push(otherLine(rc));
    }
  }
  const diags = diagnosticsOf(preview);

  // The first line: counts, in a fixed order.
  const hs = hosts.map((x) => x.h);
  const n = (f: (h: HostChange) => boolean) => hs.filter(f).length;
  const verb = (c: number, one: string, many: string) => (c === 1 ? one : many);
  const parts: string[] = [];
  const part = (count: number, text: (c: number) => string) => count > 0 && parts.push(text(count));
  part(n((h) => h.versionChanged), (c) => `${plural(c, "host")} ${verb(c, "changes", "change")} version`);
  part(n((h) => h.change === "create"), (c) => plural(c, "new host"));
  part(n((h) => h.change === "delete"), (c) => `${plural(c, "host")} removed`);
  part(n((h) => h.change === "replace"), (c) => `${plural(c, "host")} replaced`);
  part(n((h) => h.env), (c) => `env changes on ${plural(c, "host")}`);
  part(n((h) => h.proxy), (c) => `proxy settings change on ${plural(c, "host")}`);
  part(n((h) => h.maintenance === "on"), (c) => `maintenance on for ${plural(c, "host")}`);
  part(n((h) => h.maintenance === "off"), (c) => `maintenance off for ${plural(c, "host")}`);
  part(n((h) => h.settings), (c) => `other settings change on ${plural(c, "host")}`);
  part(n((h) => h.secret), (c) => `secret settings change on ${plural(c, "host")}`);
  part(images.filter((i) => i.rebuild).length, (c) => `${plural(c, "image")} ${verb(c, "rebuilds", "rebuild")}`);
  part(images.filter((i) => i.change === "create").length, (c) => plural(c, "new image"));
  part(images.filter((i) => i.change === "delete").length, (c) => `${plural(c, "image")} removed`);
  part(builders.filter((b) => b.change === "update" || b.change === "replace").length, (c) => `${plural(c, "builder")} recreated`);
  part(builders.filter((b) => b.change === "create").length, (c) => plural(c, "new builder"));
  part(builders.filter((b) => b.change === "delete").length, (c) => `${plural(c, "builder")} removed`);
  part(proxies.length, (c) => `kamal-proxy changes on ${plural(c, "host")}`);
  part(commands.length, (c) => `${plural(c, "command")} ${verb(c, "changes", "change")}`);
  part(others.length, (c) => `${plural(c, "other resource")} ${verb(c, "changes", "change")}`);
  const errors = diags.filter((d) => d.severity === "error").length;
  const diagParts = [...(errors ? [plural(errors, "error")] : []), ...(diags.length > errors ? [plural(diags.length - errors, "warning")] : [])];

  const out: string[] = [];
  if (parts.length === 0) out.push(`**Berth preview**: No changes${diagParts.length ? `, ${diagParts.join(", ")}` : "."}`);
  else out.push(`**Berth preview**: ${[...parts, ...diagParts].join(", ")}`);

  // By service (and destination), role, host.
  const groups = new Map<string, { service: string; destination: string; roles: Map<string, { h: HostChange; rc: ResourceChange }[]> }>();
  for (const x of hosts) {
    const key = JSON.stringify([x.h.service, x.h.destination]);
    const g = groups.get(key) ?? { service: x.h.service, destination: x.h.destination, roles: new Map() };
    g.roles.set(x.h.role, [...(g.roles.get(x.h.role) ?? []), x]);
    groups.set(key, g);
  }
  const byService = [...groups.values()].sort((a, b) => compare(a.service, b.service) || compare(a.destination, b.destination));
  for (const g of byService) {
    out.push("", `### ${esc(g.service)}${g.destination ? ` (${esc(g.destination)})` : ""}`);
    for (const role of [...g.roles.keys()].sort(compare)) {
      out.push("", `#### ${esc(role)}`, "");
      for (const { h, rc } of g.roles.get(role)!.sort((a, b) => compare(a.h.host, b.h.host) || compare(a.rc.urn, b.rc.urn))) {
        out.push(`- ${code(h.host)}: ${hostHead(h, rc)}`);
        for (const l of h.lines) out.push(`  - ${l}`);
      }
    }
  }
  const section = (title: string, lines: string[]) => {
    if (lines.length > 0) out.push("", `### ${title}`, "", ...lines.map((l) => `- ${l}`));
  };
  section("Images", images.map((i) => i.line).sort(compare));
  section("Builders", builders.map((b) => b.line).sort(compare));
  section("kamal-proxy", proxies.sort((a, b) => compare(a.host, b.host) || compare(a.owner, b.owner)).map((p) => p.line));
  section("Commands", commands.sort(compare));
  section("Other resources", others.sort(compare));
  section("Diagnostics", diags.map((d) => d.line));
  return `${out.join("\n")}\n`;
}
