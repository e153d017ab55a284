/**
 * `docker buildx` command lines and the buildkitd.toml renderer. Pure: every function returns argv
 * or text. Secret values never appear here: secret `env.*` driver options are written as
 * placeholders (the provider swaps them in buildx's store), build secrets as `env=` names.
 */
import type { BuilderConfig, BuilderNodeConfig, BuildkitdConfig } from "../config/builder";
import type { CacheArgs, ImageConfig } from "../config/image";
import { type Argv, quote } from "./shell";

/** The value written in argv for a secret `env.<NAME>` driver option; the provider replaces it. */
export function secretPlaceholder(name: string): string {
  return `berth-secret:${name}`;
}

/** The name of buildx's BuildKit container for a `docker-container` node. */
export function buildkitContainerName(node: string): string {
  return `buildx_buildkit_${node}`;
}

/**
 * One CSV field as buildx parses `--driver-opt`, `--output`, `--cache-to` and `--secret`: a field
 * holding `,` or `"` is wrapped in double quotes (so `env.NO_PROXY=a,b` stays one option).
 */
export function csvField(field: string): string {
  return /[,"\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

/** `k=v` pairs as one CSV value. */
export function csv(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => csvField(`${k}=${v}`)).join(",");
}

/** Files the provider wrote for a node: its buildkitd.toml and TLS PEMs. */
export interface NodeFiles {
  configPath?: string;
  tls?: { cacert?: string; cert?: string; key?: string };
}

/** The `--driver-opt` values of one node: the builder's options, secret env placeholders, then TLS. */
export function nodeDriverOptions(b: Pick<BuilderConfig, "driverOptions">, secretEnvNames: readonly string[], node: Pick<BuilderNodeConfig, "tls">, files: NodeFiles = {}): string[] {
  const out = Object.entries(b.driverOptions).map(([k, v]) => csvField(`${k}=${v}`));
  for (const name of secretEnvNames) out.push(csvField(`env.${name}=${secretPlaceholder(name)}`));
  if (files.tls?.cacert) out.push(`cacert=${files.tls.cacert}`);
  if (files.tls?.cert) out.push(`cert=${files.tls.cert}`);
  if (files.tls?.key) out.push(`key=${files.tls.key}`);
  if (node.tls?.serverName) out.push(`servername=${node.tls.serverName}`);
  return out;
}

/** `--buildkitd-flags` takes one string that buildx splits like a shell; each flag is quoted. */
export function buildkitdFlagsValue(flags: readonly string[]): string {
  return flags.map(quote).join(" ");
}

/**
 * `docker buildx create` for node `index` of the builder: node 0 creates it, the others are
 * `--append`ed. Equivalent to seed 000's command, with NO_PROXY merged into one value and secret
 * values replaced by placeholders.
 */
export function buildxCreateArgv(
  b: Pick<BuilderConfig, "name" | "driver" | "driverOptions" | "nodes">,
  index: number,
  o: { secretEnvNames?: readonly string[]; files?: NodeFiles; bootstrap?: boolean } = {},
): Argv {
  const node = b.nodes[index];
  const argv = ["docker", "buildx", "create"];
  if (index > 0) argv.push("--append");
  argv.push("--name", b.name, "--node", node.name);
  if (index === 0) argv.push("--driver", b.driver);
  for (const opt of nodeDriverOptions(b, o.secretEnvNames ?? [], node, o.files)) argv.push("--driver-opt", opt);
  if (node.buildkitdFlags.length) argv.push("--buildkitd-flags", buildkitdFlagsValue(node.buildkitdFlags));
  if (o.files?.configPath) argv.push("--buildkitd-config", o.files.configPath);
  if (node.platforms.length) argv.push("--platform", node.platforms.join(","));
  if (o.bootstrap) argv.push("--bootstrap");
  if (node.endpoint !== undefined) argv.push(node.endpoint);
  return argv;
}

/** Boots every node: `docker buildx inspect --bootstrap <name>`. */
export function buildxBootstrapArgv(name: string): Argv {
  return ["docker", "buildx", "inspect", "--bootstrap", name];
}

/** Removes the builder, its nodes' BuildKit containers and their state volumes. */
export function buildxRmArgv(name: string): Argv {
  return ["docker", "buildx", "rm", name];
}

/** `docker` with the engine of a node: `-H <host>` for a URL, `--context <name>` for a context. */
export function dockerAt(endpoint: string | undefined, ...args: string[]): string[] {
  if (endpoint === undefined) return ["docker", ...args];
  return endpoint.includes("://") ? ["docker", "-H", endpoint, ...args] : ["docker", "--context", endpoint, ...args];
}

/** Lists BuildKit containers of a node (exact name checked by the caller: docker's filter matches substrings). */
export function buildkitContainersArgv(endpoint: string | undefined, node: string): Argv {
  return dockerAt(endpoint, "ps", "-a", "--filter", `name=${buildkitContainerName(node)}`, "--format", "{{.Names}}");
}

/** Force-removes a left-over BuildKit container and its state volume. */
export function removeBuildkitContainerArgv(endpoint: string | undefined, node: string): Argv[] {
  return [dockerAt(endpoint, "rm", "-f", buildkitContainerName(node)), dockerAt(endpoint, "volume", "rm", "-f", `${buildkitContainerName(node)}_state`)];
}

// ---------------------------------------------------------------------------------------------
// docker buildx build

function cacheValue(c: CacheArgs, direction: "to" | "from"): string {
  const pairs: [string, string][] = [["type", c.type]];
  if (c.type === "registry") pairs.push(["ref", c.ref]);
  else pairs.push([direction === "to" ? "dest" : "src", c.path]);
  if (direction === "to" && c.mode !== undefined) pairs.push(["mode", c.mode]);
  return csv(pairs);
}

/** What the provider hands `buildArgv` besides the config: names only, never values. */
export interface BuildRun {
  /** Where buildx writes the build result (digest). */
  metadataFile: string;
  /** Secret id → name of the environment variable holding its value. */
  secretEnv: Record<string, string>;
  /** Build args whose values come from buildx's environment (`--build-arg NAME`): the builder's proxy. */
  envBuildArgs: readonly string[];
}

/**
 * `docker buildx build`, in Kamal's order: outputs, platforms, builder, tags, caches, labels,
 * build args, secrets, file, target, ssh, attestations, then Berth's metadata file and the context.
 */
export function buildArgv(cfg: Omit<ImageConfig, "secrets">, run: BuildRun): Argv {
  const argv = ["docker", "buildx", "build"];
  if (cfg.exports.push) argv.push("--output", "type=registry");
  if (cfg.exports.load) argv.push("--output", "type=docker");
  if (cfg.exports.oci) argv.push("--output", csv([["type", "oci"], ["dest", cfg.exports.oci.dest], ["tar", String(cfg.exports.oci.tar)]]));
  if (cfg.platforms.length) argv.push("--platform", cfg.platforms.join(","));
  if (cfg.builder !== undefined) argv.push("--builder", cfg.builder);
  for (const t of cfg.tags) argv.push("-t", t);
  for (const c of cfg.cacheTo) argv.push("--cache-to", cacheValue(c, "to"));
  for (const c of cfg.cacheFrom) argv.push("--cache-from", cacheValue(c, "from"));
  for (const [k, v] of Object.entries(cfg.labels)) argv.push("--label", `${k}=${v}`);
  for (const [k, v] of Object.entries(cfg.buildArgs)) argv.push("--build-arg", `${k}=${v}`);
  for (const name of run.envBuildArgs) argv.push("--build-arg", name);
  for (const [id, env] of Object.entries(run.secretEnv)) argv.push("--secret", csv([["id", id], ["env", env]]));
  argv.push("--file", cfg.dockerfile);
  if (cfg.target !== undefined) argv.push("--target", cfg.target);
  for (const s of cfg.ssh) argv.push("--ssh", s);
  if (cfg.provenance !== undefined) argv.push("--provenance", cfg.provenance === true ? "mode=min" : cfg.provenance === false ? "false" : `mode=${cfg.provenance}`);
  if (cfg.sbom !== undefined) argv.push("--sbom", String(cfg.sbom));
  if (cfg.noCache) argv.push("--no-cache");
  if (cfg.pull) argv.push("--pull");
  if (cfg.network !== undefined) argv.push("--network", cfg.network);
  argv.push("--metadata-file", run.metadataFile, "--progress", "plain", cfg.context);
  return argv;
}

/** `docker info` of the local engine's storage driver status (to tell whether it uses the containerd image store). */
export function dockerStorageArgv(): Argv {
  return ["docker", "info", "--format", "{{json .DriverStatus}}"];
}

// ---------------------------------------------------------------------------------------------
// buildkitd.toml

/**
 * A TOML basic string. JSON's escapes are TOML's, except that TOML also forbids a raw DEL and has
 * no way to write an unpaired surrogate (the config layer refuses both; this never writes them).
 */
function tomlString(s: string): string {
  if (/\p{Cs}/u.test(s)) throw new Error("renderBuildkitdToml: a value holds an unpaired surrogate, which TOML cannot hold");
  return JSON.stringify(s).replace(/\u007f/g, "\\u007F");
}

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k);
}

function tomlValue(v: string | number | boolean | readonly string[]): string {
  if (Array.isArray(v)) return `[${v.map((x) => tomlString(x)).join(", ")}]`;
  if (typeof v === "string") return tomlString(v);
  return String(v);
}

/** Adds `key = value` lines for the defined entries of `pairs`. */
function keys(lines: string[], indent: string, pairs: [string, string | number | boolean | readonly string[] | undefined][]): void {
  for (const [k, v] of pairs) if (v !== undefined) lines.push(`${indent}${tomlKey(k)} = ${tomlValue(v)}`);
}

/**
 * Renders the model as buildkitd.toml, with BuildKit's own key names (`max-parallelism`,
 * `networkMode`, `insecure-entitlements`, `[[registry."h".keypair]]`). Unset fields are left out
 * so buildkitd's defaults apply; durations are written as Go durations (`"604800s"`).
 */
export function renderBuildkitdToml(c: BuildkitdConfig): string {
  const lines: string[] = [];
  keys(lines, "", [
    ["debug", c.debug],
    ["trace", c.trace],
    ["root", c.root],
    ["insecure-entitlements", c.insecureEntitlements],
  ]);
  const table = (name: string) => {
    if (lines.length) lines.push("");
    lines.push(`[${name}]`);
  };
  if (c.log && (c.log.format !== undefined || c.log.level !== undefined)) {
    table("log");
    keys(lines, "  ", [
      ["format", c.log.format],
      ["level", c.log.level],
    ]);
  }
  if (c.grpc) {
    table("grpc");
    keys(lines, "  ", [
      ["address", c.grpc.address],
      ["debugAddress", c.grpc.debugAddress],
      ["uid", c.grpc.uid],
      ["gid", c.grpc.gid],
    ]);
    if (c.grpc.tls) {
      lines.push("", "  [grpc.tls]");
      keys(lines, "    ", [
        ["cert", c.grpc.tls.cert],
        ["key", c.grpc.tls.key],
        ["ca", c.grpc.tls.ca],
      ]);
    }
  }
  if (c.otel?.socketPath !== undefined) {
    table("otel");
    keys(lines, "  ", [["socketPath", c.otel.socketPath]]);
  }
  const oci = c.worker?.oci;
  if (oci) {
    table("worker.oci");
    keys(lines, "  ", [
      ["enabled", oci.enabled],
      ["platforms", oci.platforms],
      ["max-parallelism", oci.maxParallelism],
      ["gc", oci.gc],
      ["reservedSpace", oci.reservedSpace],
      ["maxUsedSpace", oci.maxUsedSpace],
      ["minFreeSpace", oci.minFreeSpace],
      ["networkMode", oci.networkMode],
      ["snapshotter", oci.snapshotter],
      ["apparmor-profile", oci.apparmorProfile],
    ]);
    if (oci.labels && Object.keys(oci.labels).length) {
      lines.push("", "  [worker.oci.labels]");
      keys(lines, "    ", Object.entries(oci.labels));
    }
  }
  for (const [host, r] of Object.entries(c.registry ?? {})) {
    table(`registry.${tomlString(host)}`);
    keys(lines, "  ", [
      ["mirrors", r.mirrors],
      ["http", r.http],
      ["insecure", r.insecure],
      ["ca", r.ca],
    ]);
    for (const kp of r.keypairs ?? []) {
      lines.push("", `  [[registry.${tomlString(host)}.keypair]]`);
      keys(lines, "    ", [
        ["key", kp.key],
        ["cert", kp.cert],
      ]);
    }
  }
  if (c.history && (c.history.maxAgeSeconds !== undefined || c.history.maxEntries !== undefined)) {
    table("history");
    keys(lines, "  ", [
      ["maxAge", c.history.maxAgeSeconds !== undefined ? `${c.history.maxAgeSeconds}s` : undefined],
      ["maxEntries", c.history.maxEntries],
    ]);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
