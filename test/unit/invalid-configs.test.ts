/**
 * Issue 11, bad input: a table of invalid configurations across AppService, Proxy, Image,
 * BuildxBuilder and the SSH settings. Each case is constructed through the component itself
 * (with Pulumi mocks), so what is checked is what a user's program gets: a `BerthConfigError`
 * thrown at once (never a TypeError, never a hang), naming the field path, saying how to fix it,
 * never showing a secret, and no child resource registered.
 *
 * Many cases are generated (bad types × fields, control characters × fields, lengths), each with
 * its expected path written out.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError } from "../../sdk/config/errors";
import { normalizeSsh } from "../../sdk/config/ssh";
import { installMocks, registered, settle } from "../helpers/mocks";

type Component = "AppService" | "Proxy" | "Image" | "BuildxBuilder" | "SSH";

interface Case {
  component: Component;
  title: string;
  args: unknown;
  /** The field path the message must name (as printed, without backticks). */
  path: string;
  /** Text that must not appear anywhere in the message. */
  secret?: string;
  /** Text the message must contain (e.g. `got NaN`). */
  contains?: string;
  /**
   * The problem carries an explicit fix sentence ("…. <Fix>"). False only for the older messages
   * whose exact text other tests pin, which state what is allowed ("must be X; got Y.").
   */
  fix: boolean;
}

const cases: Case[] = [];
const PEM_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";
const SECRET = "s3cr3t-Pa55w0rd-xyz";
const SSH_OK = { privateKeyPath: "/keys/id_ed25519", allowUnknownHostKeys: true };
let contextDir = "";

const APP = (): Record<string, unknown> => ({ service: "shop", image: "reg.test/shop:v1", hosts: ["10.0.0.1"], ssh: { ...SSH_OK } });
const APP_ROLES = (): Record<string, unknown> => ({ service: "shop", image: "reg.test/shop:v1", roles: { web: { hosts: ["10.0.0.1"] } }, ssh: { ...SSH_OK } });
const PROXY = (): Record<string, unknown> => ({ hosts: ["10.0.0.1"], ssh: { ...SSH_OK } });
const IMAGE = (): Record<string, unknown> => ({ context: contextDir, tags: ["reg.test/app:1"] });
const BUILDER = (): Record<string, unknown> => ({});
const BUILDER_REMOTE = (): Record<string, unknown> => ({ driver: "remote", endpoint: "tcp://buildkitd.test:1234" });
const BUILDER_K8S = (): Record<string, unknown> => ({ driver: "kubernetes" });
const bases: Record<string, () => Record<string, unknown>> = { APP, APP_ROLES, PROXY, IMAGE, BUILDER, BUILDER_REMOTE, BUILDER_K8S, SSH: () => ({}) };
const componentOf: Record<string, Component> = {
  APP: "AppService",
  APP_ROLES: "AppService",
  PROXY: "Proxy",
  IMAGE: "Image",
  BUILDER: "BuildxBuilder",
  BUILDER_REMOTE: "BuildxBuilder",
  BUILDER_K8S: "BuildxBuilder",
  SSH: "SSH",
};

/** A copy of `base` with `value` at `keys` (objects and lists created on the way). */
function patched(base: Record<string, unknown>, keys: (string | number)[], value: unknown): Record<string, unknown> {
  const root = structuredCloneLoose(base);
  let cur: any = root;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) cur[k] = value;
    else {
      if (cur[k] === undefined || cur[k] === null || typeof cur[k] !== "object") cur[k] = typeof keys[i + 1] === "number" ? [] : {};
      cur = cur[k];
    }
  });
  return root;
}

/** A deep copy of plain data that keeps Outputs, functions and symbols as they are. */
function structuredCloneLoose<T>(v: T): T {
  if (Array.isArray(v)) return v.map(structuredCloneLoose) as T;
  if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneLoose(x)])) as T;
  }
  return v;
}

/** The path as the message prints it. */
function printed(keys: (string | number)[]): string {
  return keys.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

function add(base: string, title: string, keys: (string | number)[], value: unknown, opts: Partial<Case> = {}): void {
  cases.push({
    component: componentOf[base],
    title,
    args: patched(bases[base](), keys, value),
    path: printed(keys),
    fix: true,
    ...opts,
  });
}

function addArgs(component: Component, title: string, args: unknown, path: string, opts: Partial<Case> = {}): void {
  cases.push({ component, title, args, path, fix: true, ...opts });
}

// ---------------------------------------------------------------------------------------------
// 1. Bad types × fields

type Kind = "string" | "integer" | "boolean" | "list" | "object" | "record";
const FIELDS: [string, (string | number)[], Kind][] = [
  ["APP", ["service"], "string"],
  ["APP", ["image"], "string"],
  ["APP", ["version"], "string"],
  ["APP", ["destination"], "string"],
  ["APP", ["primaryRole"], "string"],
  ["APP", ["volumes", 0], "string"],
  ["APP", ["logging", "driver"], "string"],
  ["APP", ["maintenance", "message"], "string"],
  ["APP", ["proxyRun", "network"], "string"],
  ["APP", ["proxyRun", "containerName"], "string"],
  ["APP", ["proxyRun", "logMaxSize"], "string"],
  ["APP", ["proxy", "healthcheck", "path"], "string"],
  ["APP", ["ssh", "user"], "string"],
  ["APP", ["ssh", "privateKeyPath"], "string"],
  ["APP", ["retainContainers"], "integer"],
  ["APP", ["drainTimeoutSeconds"], "integer"],
  ["APP", ["deployTimeoutSeconds"], "integer"],
  ["APP", ["readinessDelaySeconds"], "integer"],
  ["APP", ["boot", "waitSeconds"], "integer"],
  ["APP", ["proxy", "appPort"], "integer"],
  ["APP", ["proxy", "healthcheck", "intervalSeconds"], "integer"],
  ["APP", ["proxyRun", "httpPort"], "integer"],
  ["APP", ["ssh", "port"], "integer"],
  ["APP", ["maintenance", "enabled"], "boolean"],
  ["APP", ["proxyRun", "publish"], "boolean"],
  ["APP", ["proxy", "forwardHeaders"], "boolean"],
  ["APP", ["ssh", "allowUnknownHostKeys"], "boolean"],
  ["APP", ["volumes"], "list"],
  ["APP", ["proxy", "pathPrefixes"], "list"],
  ["APP", ["proxy", "healthcheck"], "object"],
  ["APP", ["maintenance"], "object"],
  ["APP", ["labels"], "record"],
  ["APP", ["env", "clear"], "record"],
  ["PROXY", ["network"], "string"],
  ["PROXY", ["httpsPort"], "integer"],
  ["PROXY", ["debug"], "boolean"],
  ["PROXY", ["bindIps"], "list"],
  ["PROXY", ["image"], "object"],
  ["IMAGE", ["target"], "string"],
  ["IMAGE", ["builder"], "string"],
  ["IMAGE", ["push"], "boolean"],
  ["IMAGE", ["noCache"], "boolean"],
  ["IMAGE", ["platforms"], "list"],
  ["IMAGE", ["buildArgs"], "record"],
  ["BUILDER", ["image"], "string"],
  ["BUILDER", ["network"], "string"],
  ["BUILDER", ["config", "history", "maxEntries"], "integer"],
  ["BUILDER", ["config", "debug"], "boolean"],
  ["BUILDER", ["buildkitdFlags"], "list"],
  ["BUILDER", ["driverOptions"], "record"],
  ["SSH", ["ssh", "user"], "string"],
  ["SSH", ["ssh", "connectTimeoutSeconds"], "integer"],
  ["SSH", ["ssh", "keepaliveSeconds"], "integer"],
  ["SSH", ["ssh", "allowUnknownHostKeys"], "boolean"],
  ["SSH", ["ssh", "hostKeys"], "record"],
];

/** Bad values per kind, and whether the message has an explicit fix for them. */
const BAD: Record<Kind, [string, unknown, boolean][]> = {
  string: [
    ["a number", 5, true],
    ["a boolean", true, true],
    ["a list", ["x"], true],
    ["an object", { a: 1 }, true],
    ["null", null, true],
    ["NaN", Number.NaN, true],
  ],
  integer: [
    ["a numeric string", "30", false],
    ["a boolean", true, true],
    ["NaN", Number.NaN, true],
    ["Infinity", Number.POSITIVE_INFINITY, true],
    ["-Infinity", Number.NEGATIVE_INFINITY, true],
    ["a fraction", 1.5, false],
    ["a negative number", -1, false],
    ["a bigint", BigInt(10), true],
    ["a list", [1], true],
    ["null", null, true],
  ],
  boolean: [
    ['"true"', "true", true],
    ["1", 1, true],
    ["null", null, true],
    ["a list", [true], true],
  ],
  list: [
    ["a string", "x", true],
    ["a number", 3, true],
    ["an object", { a: "x" }, true],
  ],
  object: [
    ["a string", "x", true],
    ["a number", 3, true],
    ["a list", [], true],
    ["null", null, false],
  ],
  record: [
    ["a string", "x=y", true],
    ["a list", ["x"], true],
    ["null", null, false],
  ],
};

/** Fields whose own fix applies to every problem: a fix is there even where the type alone has none. */
const OWN_FIX = new Set(["service", "destination", "retainContainers", "ssh.keepaliveSeconds", "proxyRun.logMaxSize", "proxyRun.network", "proxyRun.containerName", "network", "ssh.user", "ssh.privateKeyPath"]);

for (const [base, keys, kind] of FIELDS) {
  for (const [what, value, fix] of BAD[kind]) {
    const p = printed(keys);
    // The AppService takes a missing (or null) destination as the stack name.
    if (p === "destination" && value === null) continue;
    const shown = typeof value === "number" && !Number.isFinite(value) ? String(value) : typeof value === "bigint" ? `${value}n` : undefined;
    add(base, `${p} given ${what}`, keys, value, { fix: fix || OWN_FIX.has(p), ...(shown ? { contains: `got ${shown}` } : {}) });
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Control characters × string fields

/** One-line fields: no control character at all. */
const LINE_FIELDS: [string, (string | number)[]][] = [
  ["APP", ["service"]],
  ["APP", ["image"]],
  ["APP", ["version"]],
  ["APP", ["destination"]],
  ["APP", ["primaryRole"]],
  ["APP", ["hosts", 0]],
  ["APP_ROLES", ["roles", "web", "hosts", 0]],
  ["APP", ["volumes", 0]],
  ["APP", ["logging", "driver"]],
  ["APP", ["logging", "options", "max-size"]],
  ["APP", ["registry", "server"]],
  ["APP", ["registry", "username"]],
  ["APP", ["proxy", "host"]],
  ["APP", ["proxy", "hosts", 0]],
  ["APP", ["proxy", "healthcheck", "path"]],
  ["APP", ["proxy", "pathPrefixes", 0]],
  ["APP", ["proxy", "logging", "requestHeaders", 0]],
  ["APP", ["proxyRun", "network"]],
  ["APP", ["proxyRun", "configVolume"]],
  ["APP", ["proxyRun", "bindIps", 0]],
  ["APP", ["proxyRun", "image", "version"]],
  ["APP_ROLES", ["roles", "web", "options", "cpus"]],
  ["APP", ["ssh", "user"]],
  ["APP", ["ssh", "knownHostsPath"]],
  ["APP", ["ssh", "proxy"]],
  ["APP", ["ssh", "hostKeys", "h1"]],
  ["PROXY", ["hosts", 0]],
  ["PROXY", ["containerName"]],
  ["PROXY", ["logMaxSize"]],
  ["IMAGE", ["dockerfile"]],
  ["IMAGE", ["target"]],
  ["IMAGE", ["tags", 0]],
  ["IMAGE", ["ssh", 0]],
  ["IMAGE", ["platforms", 0]],
  ["IMAGE", ["service"]],
  ["BUILDER", ["name"]],
  ["BUILDER", ["image"]],
  ["BUILDER", ["env", "FOO"]],
  ["BUILDER", ["buildkitdFlags", 0]],
  ["BUILDER", ["driverOptions", "memory"]],
  ["BUILDER", ["proxy", "noProxy", 0]],
  ["BUILDER", ["config", "root"]],
  ["BUILDER", ["config", "grpc", "debugAddress"]],
  ["BUILDER", ["config", "worker", "oci", "labels", "team"]],
  ["BUILDER", ["config", "worker", "oci", "apparmorProfile"]],
  ["BUILDER", ["config", "worker", "oci", "reservedSpace"]],
  ["BUILDER", ["config", "registry", "docker.io", "mirrors", 0]],
  ["BUILDER", ["config", "otel", "socketPath"]],
  ["BUILDER_REMOTE", ["endpoint"]],
  ["BUILDER_REMOTE", ["tls", "serverName"]],
  ["BUILDER_K8S", ["kubernetes", "namespace"]],
  ["SSH", ["ssh", "user"]],
  ["SSH", ["ssh", "privateKeyPath"]],
];
/** Values passed on as data: anything but NUL (and an unpaired surrogate). */
const DATA_FIELDS: [string, (string | number)[]][] = [
  ["APP", ["env", "clear", "NOTE"]],
  ["APP", ["labels", "note"]],
  ["APP", ["maintenance", "message"]],
  ["APP_ROLES", ["roles", "web", "cmd", 1]],
  ["APP_ROLES", ["roles", "web", "labels", "note"]],
  ["IMAGE", ["buildArgs", "NOTE"]],
  ["IMAGE", ["labels", "note"]],
];
const CONTROLS: [string, string][] = [
  ["a NUL byte", "\u0000"],
  ["a line feed", "\n"],
  ["a tab", "\t"],
  ["an escape", "\u001b"],
  ["a DEL", "\u007f"],
  ["a C1 control", "\u0085"],
  ["an unpaired surrogate", "\ud800"],
];
for (const [base, keys] of LINE_FIELDS) {
  for (const [what, c] of CONTROLS) add(base, `${printed(keys)} holding ${what}`, keys, `ab${c}c`);
}
for (const [what, c] of CONTROLS) {
  add("IMAGE", `cacheTo[0].ref holding ${what}`, ["cacheTo"], [{ type: "registry", ref: `reg.test/app:cache${c}` }], { path: "cacheTo[0].ref" });
}
for (const [base, keys] of DATA_FIELDS) {
  for (const [what, c] of [CONTROLS[0], CONTROLS[6]]) add(base, `${printed(keys)} holding ${what}`, keys, `ab${c}c`);
}
// The first element of a cmd list is a plain word; `roles.web.cmd[1]` needs one before it.
for (const c of cases) if (c.path.startsWith("roles.web.cmd[1]")) ((c.args as any).roles.web.cmd as unknown[])[0] = "bin/run";

// Keys of free-form objects: never empty, no control characters.
const KEYED: [string, (string | number)[], string][] = [
  ["APP", ["labels"], "labels"],
  ["APP", ["env", "clear"], "env.clear"],
  ["APP", ["env", "tags"], "env.tags"],
  ["APP", ["logging", "options"], "logging.options"],
  ["APP_ROLES", ["roles", "web", "options"], "roles.web.options"],
  ["APP", ["ssh", "hostKeys"], "ssh.hostKeys"],
  ["IMAGE", ["buildArgs"], "buildArgs"],
  ["IMAGE", ["labels"], "labels"],
  ["BUILDER", ["env"], "env"],
  ["BUILDER", ["driverOptions"], "driverOptions"],
  ["BUILDER", ["config", "worker", "oci", "labels"], "config.worker.oci.labels"],
];
for (const [base, keys, p] of KEYED) {
  const value = p === "env.tags" ? { clear: { A: "1" } } : p === "ssh.hostKeys" ? "ssh-ed25519 AAAA" : "x";
  add(base, `${p} with an empty key`, keys, { "": value }, { path: `${p}[""]` });
  add(base, `${p} with a NUL in a key`, keys, { "K\u0000": value }, { path: `${p}["K\\u0000"]` });
  add(base, `${p} with a line feed in a key`, keys, { "K\n": value }, { path: `${p}["K\\n"]` });
}
add("APP_ROLES", "a role named with a NUL", ["roles"], { "web\u0000": { hosts: ["10.0.0.1"] } }, { path: 'roles["web\\u0000"]' });
add("APP_ROLES", "a role named with an empty string", ["roles"], { "": { hosts: ["10.0.0.1"] } }, { path: 'roles[""]' });

// ---------------------------------------------------------------------------------------------
// 3. Lengths: what the host accepts

const KIB = 1024;
add("APP", "a 260-character service name (the env file directory name)", ["service"], "a".repeat(260));
add("APP", "a 128-character service name", ["service"], "a".repeat(128));
add("APP", "a 128-character destination", ["destination"], "d".repeat(128));
add("APP_ROLES", "a 128-character role name", ["roles"], { ["r".repeat(128)]: { hosts: ["10.0.0.1"] } }, { path: `roles.${"r".repeat(128)}` });
add("APP", "a 129-character version (docker's tag limit is 128)", ["version"], "v".repeat(129), { fix: true });
add("APP", "a 200 kB env value (E2BIG on the host)", ["env", "clear", "BIG"], "x".repeat(200 * KIB));
add("APP", "a 33 KiB env value", ["env", "clear", "BIG"], "x".repeat(33 * KIB));
add("APP", "a 33 KiB label value", ["labels", "big"], "x".repeat(33 * KIB));
add("APP", "a 33 KiB volume", ["volumes", 0], `/data:/${"x".repeat(33 * KIB)}`);
add("APP_ROLES", "a 33 KiB cmd argument", ["roles", "web", "cmd"], ["run", "x".repeat(33 * KIB)], { path: "roles.web.cmd[1]" });
add("APP", "a 33 KiB maintenance message", ["maintenance", "message"], "m".repeat(33 * KIB));
add("APP", "a 65 KiB secret env value", ["env", "secret", "BIG"], `${SECRET}${"x".repeat(65 * KIB)}`, { secret: SECRET });
add("APP", "env values summing over what one `sh -c` string holds", ["env", "clear"], Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`V${i}`, "x".repeat(20 * KIB)])));
add("APP", "labels of quotes summing over the command limit (quoting quadruples them)", ["labels"], Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`l${i}`, "'".repeat(8 * KIB)])));
const LONG_HOST = `${"a".repeat(62)}.`.repeat(4) + "ab"; // 254 characters, labels of 62
add("APP", "a 254-character host name", ["hosts", 0], LONG_HOST);
add("APP", "a 254-character proxy host", ["proxy", "hosts", 0], LONG_HOST);
add("PROXY", "a 254-character host name", ["hosts", 0], LONG_HOST);
add("APP", "a 33-character ssh user", ["ssh", "user"], "u".repeat(33));
add("APP", "a 5000-byte key path", ["ssh", "privateKeyPath"], `/${"k".repeat(5000)}`);
add("APP", "a 256-character kamal-proxy volume name", ["proxyRun", "configVolume"], "v".repeat(256));
add("BUILDER", "a 201-character builder name", ["name"], "b".repeat(201));
add("IMAGE", "a 5000-byte context path", ["context"], `/${"c".repeat(5000)}`);
add("IMAGE", "a 33 KiB build arg", ["buildArgs", "BIG"], "x".repeat(33 * KIB));
add("IMAGE", "build args summing over ARG_MAX", ["buildArgs"], Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`A${i}`, "x".repeat(30 * KIB)])));
add("BUILDER", "a 33 KiB buildkitd label", ["config", "worker", "oci", "labels", "team"], "t".repeat(33 * KIB));

// ---------------------------------------------------------------------------------------------
// 4. The issue's cases

const later = () => pulumi.output("v1");
addArgs("AppService", "boot.limit 0 with an Output elsewhere (looped until out of memory)", { ...APP(), hosts: ["h1", "h2"], boot: { limit: 0 }, version: later() }, "boot.limit", { fix: false });
addArgs("AppService", "boot.limit -3 with an Output elsewhere", { ...APP(), boot: { limit: -3 }, image: pulumi.output("reg.test/shop:v1") }, "boot.limit", { fix: false });
addArgs("AppService", 'boot.limit "0%" with an Output elsewhere', { ...APP(), boot: { limit: "0%" }, version: later() }, "boot.limit", { fix: false });
addArgs("AppService", "boot.limit NaN with an Output elsewhere", { ...APP(), boot: { limit: Number.NaN }, version: later() }, "boot.limit", { contains: "got NaN" });
addArgs("Proxy", 'hosts: "10.0.0.1" (a TypeError before)', { ...PROXY(), hosts: "10.0.0.1" }, "hosts", { contains: 'Write it as a list: ["10.0.0.1"]' });
addArgs("Proxy", "hosts: 5", { ...PROXY(), hosts: 5 }, "hosts");
addArgs("Proxy", "hosts: null", { ...PROXY(), hosts: null }, "hosts");
addArgs("Proxy", "hosts missing", { ssh: SSH_OK }, "hosts", { fix: false });
addArgs("Proxy", "hosts: []", { ...PROXY(), hosts: [] }, "hosts");
addArgs("Proxy", "a repeated host", { ...PROXY(), hosts: ["h1", "h1"] }, "hosts[1]");
addArgs("Proxy", "hosts: [{ host }]", { ...PROXY(), hosts: [{ host: "h1" }] }, "hosts[0]");
addArgs("AppService", "roles: { web: null } with an Output elsewhere (a TypeError before)", { ...APP_ROLES(), roles: { web: null }, version: later() }, "roles.web", { fix: false });
// hooks.secrets (exported to the pre-connect, pre-deploy and post-deploy hooks): names and known values, never shown.
const HOOKS = (secrets: unknown): Record<string, unknown> => ({ ...APP(), hooks: { preDeploy: { command: "true" }, secrets } });
addArgs("AppService", "hooks.secrets: a name that is not an environment variable", HOOKS({ "1BAD": SECRET }), "hooks.secrets.1BAD", { secret: SECRET, fix: false });
addArgs("AppService", "hooks.secrets: a name with a dash", HOOKS({ "MY-TOKEN": SECRET }), "hooks.secrets.MY-TOKEN", { secret: SECRET, fix: false });
addArgs("AppService", "hooks.secrets: one of Kamal's hook variables", HOOKS({ KAMAL_HOSTS: SECRET }), "hooks.secrets.KAMAL_HOSTS", { secret: SECRET });
addArgs("AppService", "hooks.secrets: a NUL in a value", HOOKS({ TOKEN: `${SECRET}\u0000x` }), "hooks.secrets.TOKEN", { secret: SECRET });
addArgs("AppService", "hooks.secrets: a value over 64 KiB", HOOKS({ TOKEN: SECRET.repeat(4000) }), "hooks.secrets.TOKEN", { secret: SECRET });
addArgs("AppService", "hooks.secrets: a number", HOOKS({ TOKEN: 424242 }), "hooks.secrets.TOKEN", { secret: "424242" });
addArgs("AppService", "hooks.secrets: a string instead of a map", HOOKS(SECRET), "hooks.secrets", { secret: SECRET });
addArgs("AppService", "hooks.secrets: the whole map an Output", HOOKS(pulumi.output({ TOKEN: SECRET })), "hooks.secrets", { secret: SECRET });
addArgs("AppService", "roles: { web: null }", { ...APP_ROLES(), roles: { web: null } }, "roles.web", { fix: false });
addArgs("AppService", 'roles: { web: "10.0.0.1" }', { ...APP_ROLES(), roles: { web: "10.0.0.1" } }, "roles.web");
addArgs("AppService", "roles: { web: { hosts: null } } with an Output elsewhere", { ...APP_ROLES(), roles: { web: { hosts: null } }, version: later() }, "roles.web.hosts");
addArgs("AppService", "roles: { web: { hosts: [null] } }", { ...APP_ROLES(), roles: { web: { hosts: [null] } } }, "roles.web.hosts[0]");
addArgs("AppService", "roles: { web: { hosts: [{}] } }", { ...APP_ROLES(), roles: { web: { hosts: [{}] } } }, "roles.web.hosts[0].host");
addArgs("AppService", "roles: []", { ...APP_ROLES(), roles: [] }, "roles");
addArgs("AppService", "roles: null", { ...APP_ROLES(), roles: null }, "roles", { fix: false });
addArgs("AppService", "roles: {}", { ...APP_ROLES(), roles: {} }, "roles");
addArgs("AppService", "hosts: {}", { ...APP(), hosts: {} }, "hosts");
addArgs("AppService", "hosts and roles both", { ...APP(), roles: { web: { hosts: ["h1"] } } }, "roles", { fix: false });
addArgs("AppService", "env.tags.eu: null", { ...APP(), env: { tags: { eu: null } } }, "env.tags.eu", { fix: false });
for (const bad of ["bad host;touch x", "-oProxyCommand=x", "$(touch x)", "h1 h2", "user@h1", "h1:22", "https://h1", ""]) {
  addArgs("Proxy", `host ${JSON.stringify(bad)} with an Output elsewhere`, { ...PROXY(), hosts: ["10.0.0.1", bad], httpPort: pulumi.output(8080) }, "hosts[1]");
  addArgs("Proxy", `host ${JSON.stringify(bad)} with the ssh settings an Output`, { hosts: [bad], ssh: pulumi.output(SSH_OK) }, "hosts[0]");
  addArgs("AppService", `host ${JSON.stringify(bad)} with the image an Output`, { ...APP(), hosts: [bad], image: pulumi.output("reg.test/shop:v1") }, "hosts[0]");
  addArgs("AppService", `role host ${JSON.stringify(bad)} with an env value an Output`, { ...APP_ROLES(), roles: { web: { hosts: [bad] } }, env: { clear: { A: pulumi.output("1") } } }, "roles.web.hosts[0]");
}
addArgs("AppService", "a bad service with an Output elsewhere", { ...APP(), service: "My App", version: later() }, "service");
addArgs("AppService", "a bad destination with an Output elsewhere", { ...APP(), destination: "a b", version: later() }, "destination");
addArgs("AppService", "a bad role name with an Output elsewhere", { ...APP_ROLES(), roles: { "We b": { hosts: ["h1"] } }, version: later() }, "roles.We b");
addArgs("AppService", "two role/host pairs making one resource name", { ...APP_ROLES(), roles: { web: { hosts: ["api-1"] }, "web-api": { hosts: ["1"] } } }, "roles.web-api.hosts[0]");

// What decides which resources exist must be plain.
for (const [title, patch, p] of [
  ["hosts", { hosts: pulumi.output(["h1"]) }, "hosts"],
  ["a host", { hosts: [pulumi.output("h1")] }, "hosts[0]"],
  ["service", { service: pulumi.output("shop") }, "service"],
  ["destination", { destination: pulumi.output("prod") }, "destination"],
  ["primaryRole", { primaryRole: pulumi.output("web") }, "primaryRole"],
  ["roles", { hosts: undefined, roles: pulumi.output({ web: { hosts: ["h1"] } }) }, "roles"],
  ["a role", { hosts: undefined, roles: { web: pulumi.output({ hosts: ["h1"] }) } }, "roles.web"],
  ["a role's hosts", { hosts: undefined, roles: { web: { hosts: pulumi.output(["h1"]) } } }, "roles.web.hosts"],
] as const) {
  addArgs("AppService", `${title} given as an Output`, { ...APP(), ...patch }, p);
}
addArgs("Proxy", "hosts given as an Output", { ...PROXY(), hosts: pulumi.output(["h1"]) }, "hosts");
addArgs("Proxy", "a host given as an Output", { ...PROXY(), hosts: [pulumi.output("h1")] }, "hosts[0]");
addArgs("BuildxBuilder", "name given as an Output", { name: pulumi.output("bk") }, "name");
addArgs("Image", "context given as an Output", { ...IMAGE(), context: pulumi.output("/src") }, "context");

// Args that are not an object at all.
for (const [what, v] of [["null", null], ["undefined", undefined], ["a string", "shop"], ["a list", []], ["an Output", pulumi.output({})]] as const) {
  addArgs("AppService", `args ${what}`, v, "(root)");
  addArgs("Proxy", `args ${what}`, v, "(root)");
  addArgs("Image", `args ${what}`, v, "(root)");
  if (v !== undefined) addArgs("BuildxBuilder", `args ${what}`, v, "(root)");
}
addArgs("AppService", "kamalProxy not a Proxy", { ...APP(), kamalProxy: "edge" }, "kamalProxy");
addArgs("Image", "useBuilderProxy not a boolean", { ...IMAGE(), useBuilderProxy: "yes" }, "useBuilderProxy");
addArgs("Image", "a missing context directory", { ...IMAGE(), context: "/no/such/dir" }, "context");

// Secrets: never shown, whatever the field's shape.
const KEY_SECRET = PEM_KEY.split("\n")[1].slice(0, 30);
for (const [what, v] of [
  ["a key with a NUL", `${PEM_KEY}\u0000`],
  ["a key as a number", 1234567890123],
  ["a key in a list", [PEM_KEY]],
  ["a key in an object", { key: PEM_KEY }],
  ["a key that is not PEM", KEY_SECRET],
  ["a key with an escape character", PEM_KEY.replace("\n", "\u001b")],
  ["a 70 KiB key", PEM_KEY + "x".repeat(70 * KIB)],
] as const) {
  add("APP", `ssh.privateKey: ${what}`, ["ssh", "privateKey"], v, { secret: KEY_SECRET });
  add("SSH", `ssh.privateKey: ${what}`, ["ssh", "privateKey"], v, { secret: KEY_SECRET });
}
add("APP", "ssh: a private key pasted as the whole ssh setting", ["ssh"], PEM_KEY, { secret: KEY_SECRET, fix: false });
add("APP", "ssh.privateKeyPath: a private key pasted as a path", ["ssh", "privateKeyPath"], PEM_KEY, { secret: KEY_SECRET });
add("APP", "ssh.proxy: a private key", ["ssh", "proxy"], PEM_KEY, { secret: KEY_SECRET });
add("APP", "ssh.user: a private key", ["ssh", "user"], PEM_KEY, { secret: KEY_SECRET });
add("APP", "ssh.hostKeys value: a private key", ["ssh", "hostKeys", "h1"], PEM_KEY, { secret: KEY_SECRET });
add("SSH", "ssh.proxy with a password", ["ssh", "proxy"], `deploy:${SECRET}@bastion:bad`, { secret: SECRET });
add("APP", "registry.server holding user:password@", ["registry"], { server: `u:${SECRET}@ghcr.io`, username: "u", password: "p" }, { path: "registry.server", secret: SECRET });
add("APP", "registry given as a user:password string", ["registry"], `u:${SECRET}`, { secret: SECRET, fix: false });
add("APP", "registry.password: a number", ["registry"], { server: "ghcr.io", username: "u", password: 987654321987 }, { path: "registry.password", secret: "987654321987", fix: false });
add("APP", "registry.password with a NUL", ["registry"], { server: "ghcr.io", username: "u", password: `${SECRET}\u0000` }, { path: "registry.password", secret: SECRET });
add("APP", "registry.password in a list", ["registry"], { server: "ghcr.io", username: "u", password: [SECRET] }, { path: "registry.password", secret: SECRET, fix: false });
add("APP", "registry.username: user:password", ["registry"], { server: "ghcr.io", username: `u:${SECRET}@x`, password: "p" }, { path: "registry.username", secret: SECRET });
add("APP", "image holding user:password@", ["image"], `u:${SECRET}@reg.test/shop:v1`, { secret: SECRET });
add("APP", "env.secret given as a string", ["env", "secret"], `TOKEN=${SECRET}`, { secret: SECRET, fix: false });
add("APP", "env.secret value a number", ["env", "secret", "TOKEN"], 123456789123, { secret: "123456789123", fix: false });
add("APP", "env.secret value in a list", ["env", "secret", "TOKEN"], [SECRET], { secret: SECRET, fix: false });
add("APP", "env.secret value with a NUL", ["env", "secret", "TOKEN"], `${SECRET}\u0000`, { secret: SECRET });
add("APP", "env.secret value with a line break", ["env", "secret", "TOKEN"], `${SECRET}\nmore`, { secret: SECRET });
add("APP", "proxy.ssl: a key pasted", ["proxy", "ssl"], PEM_KEY, { secret: KEY_SECRET, fix: false });
add("APP", "proxy.ssl.certificatePem: a number", ["proxy"], { hosts: ["a.test"], ssl: { certificatePem: 1234567890123, privateKeyPem: PEM_KEY } }, { path: "proxy.ssl.certificatePem", secret: "1234567890123", fix: false });
add("APP", "proxy.ssl.privateKeyPem with a NUL", ["proxy"], { hosts: ["a.test"], ssl: { certificatePem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----", privateKeyPem: `${PEM_KEY}\u0000` } }, { path: "proxy.ssl.privateKeyPem", secret: KEY_SECRET });
add("APP", "proxy.ssl given as a string", ["proxy", "ssl"], `${SECRET}`, { secret: SECRET, fix: false });
add("BUILDER", "secretEnv value with a NUL", ["secretEnv", "TOKEN"], `${SECRET}\u0000`, { secret: SECRET });
add("BUILDER", "secretEnv given as a string", ["secretEnv"], `TOKEN=${SECRET}`, { secret: SECRET, fix: false });
add("BUILDER", "proxy.http with credentials and a bad port", ["proxy", "http"], `http://u:${SECRET}@proxy.test:port`, { secret: SECRET });
add("BUILDER", "proxy given as a URL with credentials", ["proxy"], `http://u:${SECRET}@proxy.test:3128`, { secret: SECRET, fix: false });
add("BUILDER_REMOTE", "tls.keyPem not a key", ["tls"], { certPem: "-----BEGIN CERTIFICATE-----\nx", keyPem: SECRET }, { path: "tls.keyPem", secret: SECRET, fix: false });
add("BUILDER_REMOTE", "tls given as a key", ["tls"], PEM_KEY, { secret: KEY_SECRET, fix: false });
add("BUILDER", "endpoint with user:password@", ["endpoint"], `tcp://u:${SECRET}@buildkitd.test:1234 x`, { secret: SECRET, fix: false });
add("IMAGE", "secrets value with a NUL", ["secrets", "token"], `${SECRET}\u0000`, { secret: SECRET });
add("IMAGE", "secrets value a number", ["secrets", "token"], 5550123456789, { secret: "5550123456789", fix: false });
add("IMAGE", "secrets given as a string", ["secrets"], `token=${SECRET}`, { secret: SECRET, fix: false });
add("IMAGE", "a tag holding user:password@", ["tags", 0], `u:${SECRET}@reg.test/app:1`, { secret: SECRET });

// Label keys: `--label k=v` is split at the first `=`; Berth's own labels are reserved.
for (const [what, key, p] of [
  ["role=evil", "role=evil", "labels.role=evil"],
  ["service=x", "service=x", "labels.service=x"],
  ["a space", "a b", "labels.a b"],
  ["a tab", "a\tb", 'labels["a\\tb"]'],
  ["an empty key", "", 'labels[""]'],
  ["service", "service", "labels.service"],
  ["role", "role", "labels.role"],
  ["destination", "destination", "labels.destination"],
] as const) {
  add("APP", `a label named ${what}`, ["labels"], { [key]: "x" }, { path: p });
  add("APP_ROLES", `a role label named ${what}`, ["roles", "web", "labels"], { [key]: "x" }, { path: p.replace(/^labels/, "roles.web.labels") });
}
for (const [what, key, p, fix] of [
  ["role=evil", "role=evil", "labels.role=evil", true],
  ["service", "service", "labels.service", true],
  ["destination", "destination", "labels.destination", true],
  ["a space", "a b", "labels.a b", true],
  ["an empty key", "", 'labels[""]', true],
] as const) {
  add("IMAGE", `an image label named ${what}`, ["labels"], { [key]: "x" }, { path: p, fix });
}
add("APP_ROLES", 'options.label setting "role"', ["roles", "web", "options", "label"], "role=evil", { path: "roles.web.options.label" });
add("APP_ROLES", 'options.label setting "service" in a list', ["roles", "web", "options", "label"], ["a=1", "service=x"], { path: "roles.web.options.label" });
add("APP", "a log option named with =", ["logging", "options"], { "max-size=1k,x": "1" }, { path: "logging.options.max-size=1k,x" });
add("APP", "an env tag named with a space", ["env", "tags"], { "e u": { clear: { A: "1" } } }, { path: "env.tags.e u" });

// Docker options: names `[a-z][a-z0-9-]*`; flags take only true; no value reads as an option.
for (const [what, options, p] of [
  ['init: "--privileged"', { init: "--privileged" }, "options.init"],
  ['privileged: "yes"', { privileged: "yes" }, "options.privileged"],
  ['read-only: "true"', { "read-only": "true" }, "options.read-only"],
  ["rm: a list", { rm: ["x"] }, "options.rm"],
  ['tty: ""', { tty: "" }, "options.tty"],
  ['interactive: "1"', { interactive: "1" }, "options.interactive"],
  ['init: false', { init: false }, "options.init"],
  ['cpus: "--privileged"', { cpus: "--privileged" }, "options.cpus"],
  ['user: "-u"', { user: "-u" }, "options.user"],
  ['add-host: ["a:1.1.1.1", "--privileged"]', { "add-host": ["a:1.1.1.1", "--privileged"] }, "options.add-host[1]"],
  ["a name with capitals", { Cpus: "1" }, "options.Cpus"],
  ["a name with dashes", { "--cpus": "1" }, "options.--cpus"],
  ["a name starting with a digit", { "1cpus": "1" }, "options.1cpus"],
  ["a name with a space", { "cpu s": "1" }, "options.cpu s"],
  ["a name with =", { "cpus=2": "1" }, "options.cpus=2"],
  ["an empty name", { "": "1" }, 'options[""]'],
  ["a value with a NUL", { cpus: "2\u0000" }, "options.cpus"],
  ["a value with a line feed", { cpus: "2\n--privileged" }, "options.cpus"],
  ["a number value", { cpus: 2 }, "options.cpus"],
  ["name, reserved", { name: "x" }, "options.name"],
] as const) {
  add("APP_ROLES", `role options ${what}`, ["roles", "web", "options"], options, { path: `roles.web.${p}` });
  add("PROXY", `proxy options ${what}`, ["options"], options, { path: p });
}
add("APP_ROLES", 'restart: "--privileged"', ["roles", "web", "options", "restart"], "--privileged", { path: "roles.web.options.restart" });

// Values shown truthfully: NaN, Infinity, bigint, symbol, function.
for (const [what, v, shown] of [
  ["NaN", Number.NaN, "NaN"],
  ["Infinity", Number.POSITIVE_INFINITY, "Infinity"],
  ["-Infinity", Number.NEGATIVE_INFINITY, "-Infinity"],
  ["a bigint", BigInt(7), "7n"],
  ["a symbol", Symbol("x"), "Symbol(x)"],
  ["a function", () => 3, "a function"],
] as const) {
  add("APP", `retainContainers: ${what}`, ["retainContainers"], v, { contains: `got ${shown}` });
  add("APP", `proxy.appPort: ${what}`, ["proxy", "appPort"], v, { contains: `got ${shown}` });
  add("APP", `service: ${what}`, ["service"], v, { contains: `got ${shown}` });
}

// DEL and unpaired surrogates would make buildkitd.toml invalid.
for (const [what, c] of [
  ["a DEL", "\u007f"],
  ["an unpaired high surrogate", "\ud83d"],
  ["an unpaired low surrogate", "\ude00"],
] as const) {
  add("BUILDER", `a buildkitd label key with ${what}`, ["config", "worker", "oci", "labels"], { [`k${c}`]: "v" }, { path: `config.worker.oci.labels["k\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}"]` });
  add("BUILDER", `a buildkitd registry key with ${what}`, ["config", "registry"], { [`r${c}.test`]: {} }, { path: `config.registry["r\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}.test"]` });
  add("BUILDER", `an appended node's root with ${what}`, ["appendNodes"], [{ config: { root: `/r${c}` } }], { path: "appendNodes[0].config.root" });
}

// A few more shapes that used to reach the components' own code.
add("APP", "unknown key", ["imag"], "x", { path: "(root)" });
add("APP", "proxy: true at the root", ["proxy"], true);
add("APP", "cmd with shell quoting", ["hosts"], undefined, { path: "roles.web.cmd", args: { ...APP_ROLES(), roles: { web: { hosts: ["h1"], cmd: "sh -c 'x'" } } } });
add("BUILDER", "driver docker", ["driver"], "docker");
add("BUILDER", "an appended node with a bad endpoint", ["appendNodes"], [{ endpoint: "not an endpoint" }], { path: "appendNodes[0].endpoint", fix: false });

// ---------------------------------------------------------------------------------------------

/** Builds the case's component (or normalizes the SSH settings); returns what it threw. */
function thrown(berth: typeof import("../../sdk"), c: Case, i: number): unknown {
  const name = `case${i}`;
  try {
    switch (c.component) {
      case "AppService":
        new berth.AppService(name, c.args as any);
        break;
      case "Proxy":
        new berth.Proxy(name, c.args as any);
        break;
      case "Image":
        new berth.Image(name, c.args as any);
        break;
      case "BuildxBuilder":
        new berth.BuildxBuilder(name, c.args as any);
        break;
      case "SSH":
        normalizeSsh((c.args as any).ssh, "SSH", "ssh");
        break;
    }
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("invalid configurations: one BerthConfigError, the field's path, a fix, no secret", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
    contextDir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-invalid-"));
    fs.writeFileSync(path.join(contextDir, "Dockerfile"), "FROM scratch\n");
    // The bases needing the context directory are built now that it exists.
    for (const c of cases) {
      if (c.component === "Image" && c.args && typeof c.args === "object" && (c.args as any).context === "") (c.args as any).context = contextDir;
    }
  });
  after(() => fs.rmSync(contextDir, { recursive: true, force: true }));

  it(`has at least 300 cases across the five settings (${cases.length})`, function () {
    assert.ok(cases.length >= 300, `${cases.length} cases`);
    for (const component of ["AppService", "Proxy", "Image", "BuildxBuilder", "SSH"]) {
      assert.ok(cases.some((c) => c.component === component), component);
    }
  });

  const explicitFixes = cases.filter((c) => c.fix).length;
  it(`${explicitFixes} of ${cases.length} problems carry an explicit fix sentence; the rest state what is allowed`, function () {
    assert.ok(explicitFixes / cases.length > 0.85, `${explicitFixes}/${cases.length}`);
  });

  cases.forEach((c, i) => {
    it(`${c.component}: ${c.title} → \`${c.path.length > 60 ? `${c.path.slice(0, 57)}...` : c.path}\``, function () {
      const started = Date.now();
      const e = thrown(berth, c, i);
      assert.ok(Date.now() - started < 2000, "validation took over 2 s");
      assert.ok(e !== undefined, "nothing was thrown");
      assert.ok(e instanceof BerthConfigError, `expected a BerthConfigError, got ${String((e as Error)?.stack ?? e)}`);
      assert.equal(e.name, "BerthConfigError");
      assert.ok(e.problems.length >= 1);
      assert.match(e.message, /^Invalid [A-Za-z]+ configuration \(\d+ problems?\):\n/);
      // Each problem once.
      const lines = e.problems.map((p) => `${p.path}\u0000${p.message}`);
      assert.equal(new Set(lines).size, lines.length, `a problem is listed twice:\n${e.message}`);
      const at = e.problems.filter((p) => p.path === c.path);
      assert.ok(at.length >= 1, `no problem at \`${c.path}\`:\n${e.message.slice(0, 2000)}`);
      assert.ok(e.message.includes(`\`${c.path}\``), "the message does not name the path in backticks");
      for (const p of at) {
        // The style: "must …; got …. <fix>" (or another "is …/has …/needs …/Only one of …" sentence).
        assert.match(p.message, /^(must|is|has|needs|cannot|only|Only one of|Either)\b/, p.message);
        if (c.fix) assert.match(p.message, /[.:] [A-Z`"]/, `no fix in: ${p.message}`);
        else assert.match(p.message, /^must (be|name|list) .+; got |^Only one of |^Either /, `neither a fix nor what is allowed: ${p.message}`);
      }
      if (c.contains !== undefined) assert.ok(e.message.includes(c.contains), `expected ${JSON.stringify(c.contains)} in:\n${e.message.slice(0, 2000)}`);
      if (c.secret !== undefined) {
        assert.equal(e.message.includes(c.secret), false, `the secret is shown:\n${e.message.slice(0, 2000)}`);
        assert.equal(JSON.stringify(e.problems).includes(c.secret), false);
      }
      // Messages stay short enough to read: a huge value is shortened.
      for (const p of e.problems) assert.ok(p.message.length < 1200, `a message of ${p.message.length} characters`);
    });
  });

  it("registered no child resource for any of them (only the component itself)", async function () {
    await settle();
    await settle();
    const children = registered.filter((r) => /^case\d+-/.test(r.name));
    assert.deepEqual(children.map((r) => `${r.type} ${r.name}`), []);
  });
});
