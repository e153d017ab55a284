/**
 * Provider side of `BuildxBuilder` and `Image`: `docker buildx` run on this machine.
 *
 * Builder: render each node's buildkitd.toml to a 0600 temp file → `docker buildx create` (node 0)
 * and `--append` (the others), secret env values as placeholders → swap the placeholders for the
 * values in buildx's own builder store (a 0600 file), so no secret is ever in argv → `docker buildx
 * inspect --bootstrap` → remove the temp files. Destroy: `docker buildx rm`, then check every
 * `docker-container` node's engine for a left-over `buildx_buildkit_<node>` container (removed
 * with its state volume) so nothing is orphaned.
 *
 * Image: `docker buildx build … --metadata-file` with build secrets and the builder's proxy in the
 * child's environment; outputs the digest buildx reports. Nothing is deleted on destroy: pushed
 * images stay in the registry and loaded images in the engine.
 */
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as os from "node:os";
import * as tls from "node:tls";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { BuilderConfig, BuilderNodeConfig, BuilderTlsArgs } from "../config/builder";
import { hasCredentials } from "../config/builder";
import { parseImage } from "../config/app";
import type { ImageConfig } from "../config/image";
import {
  buildArgv,
  buildkitContainerName,
  buildkitContainersArgv,
  buildxBootstrapArgv,
  buildxCreateArgv,
  buildxRmArgv,
  dockerStorageArgv,
  type NodeFiles,
  removeBuildkitContainerArgv,
  renderBuildkitdToml,
  secretPlaceholder,
} from "../commands/buildx";
import { line } from "../commands/shell";
import { diffKeys } from "./diff";
import type { Handler } from "./handlers";
import { execLocal, redact, runLocal } from "./local";
import { progress } from "./log";
import { lastLines, RemoteCommandError } from "./ssh";

// ---------------------------------------------------------------------------------------------
// Files

/** A private temp dir (0700), removed by `done`. */
function tempDir(prefix: string): { dir: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return { dir, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function writePrivate(file: string, content: string): string {
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

/** buildx's config dir (`$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`, else `~/.docker/buildx`). */
export function buildxDir(): string {
  if (process.env.BUILDX_CONFIG) return process.env.BUILDX_CONFIG;
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), ".docker"), "buildx");
}

/** Where Berth keeps a remote builder's TLS files while it exists (buildx reads them on each connection). */
export function tlsDir(builder: string): string {
  return path.join(buildxDir(), "berth-tls", builder);
}

// ---------------------------------------------------------------------------------------------
// BuildxBuilder

/** What a builder's preview shows: everything but secrets. */
export type BuilderNodeSpec = Omit<BuilderNodeConfig, "tls"> & { tls?: { serverName?: string } };

export interface BuilderInputs {
  name: string;
  driver: BuilderConfig["driver"];
  driverOptions: Record<string, string>;
  nodes: BuilderNodeSpec[];
  /** Stored encrypted: secret env of buildkitd, the proxy (for RUN steps) and TLS PEMs per node. */
  secrets: { env: Record<string, string>; proxyEnv: Record<string, string>; tls: (BuilderTlsArgs | null)[] };
}

/** Credentialed proxy URLs, their `user:password` and their password: all redacted from output. */
function proxySecrets(urls: string[]): string[] {
  const proxies = urls.filter(hasCredentials);
  const creds = proxies.map((p) => /\/\/([^@/]*)@/.exec(p)?.[1] ?? "").flatMap((c) => [c, c.split(":").slice(1).join(":")]);
  return [...proxies, ...creds];
}

function secretValues(inputs: BuilderInputs): string[] {
  const tls = inputs.secrets.tls.flatMap((t) => (t ? [t.keyPem ?? ""] : []));
  return [...Object.values(inputs.secrets.env), ...proxySecrets(Object.values(inputs.secrets.proxyEnv)), ...tls].filter((s) => s.length >= 3);
}

/**
 * Swaps placeholder values of `env.*` driver options for the secret values in buildx's store file
 * of the builder (written 0600, atomically). Throws when a placeholder is not found.
 */
export function patchStore(builder: string, env: Record<string, string>): void {
  const file = path.join(buildxDir(), "instances", builder);
  const store = JSON.parse(fs.readFileSync(file, "utf8")) as { Nodes?: { DriverOpts?: Record<string, string> }[] };
  for (const [name, value] of Object.entries(env)) {
    let found = 0;
    for (const node of store.Nodes ?? []) {
      if (node.DriverOpts?.[`env.${name}`] === secretPlaceholder(name)) {
        node.DriverOpts[`env.${name}`] = value;
        found++;
      }
    }
    if (found !== (store.Nodes ?? []).length) {
      throw new Error(`builder ${builder}: buildx's store ${file} does not hold the placeholder of env.${name} on every node; this buildx stores builders differently, so Berth cannot set the secret without putting it in argv`);
    }
  }
  const tmp = `${file}.berth-${process.pid}`;
  writePrivate(tmp, JSON.stringify(store));
  fs.renameSync(tmp, file);
}

/** Writes the TLS PEMs of a node to 0600 files buildx reads on each connection. */
function writeTls(builder: string, node: string, tls: BuilderTlsArgs | null): NodeFiles["tls"] {
  if (!tls || (!tls.caPem && !tls.certPem && !tls.keyPem)) return undefined;
  const dir = path.join(tlsDir(builder), node);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out: NonNullable<NodeFiles["tls"]> = {};
  if (tls.caPem) out.cacert = writePrivate(path.join(dir, "ca.pem"), tls.caPem);
  if (tls.certPem) out.cert = writePrivate(path.join(dir, "cert.pem"), tls.certPem);
  if (tls.keyPem) out.key = writePrivate(path.join(dir, "key.pem"), tls.keyPem);
  return out;
}

/** A clear explanation for a bootstrap failure that looks like TLS. */
function tlsHint(output: string): string {
  if (/certificate signed by unknown authority|bad certificate|unknown certificate authority|certificate required|tls:|x509:/i.test(output)) {
    return (
      "\nThe TLS handshake with buildkitd failed: buildkitd refused the client certificate, or the server certificate is not signed by `tls.caPem`. " +
      "Check that `tls.certPem`/`tls.keyPem` are signed by the CA in buildkitd's `[grpc.tls] ca`, and `tls.caPem` is the CA of buildkitd's certificate."
    );
  }
  return "";
}

/**
 * Checks the mutual-TLS handshake with a remote buildkitd before buildx tries (buildx only says
 * "context deadline exceeded" after 20 s). Resolves a clear problem, or undefined when accepted.
 */
export function probeTls(endpoint: string, t: BuilderTlsArgs, timeoutMs = 5000): Promise<string | undefined> {
  const u = new URL(endpoint.replace(/^tcp:/, "http:"));
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port);
  return new Promise((resolve) => {
    let settled = false;
    const sock = tls.connect({
      host,
      port,
      ca: t.caPem,
      cert: t.certPem,
      key: t.keyPem,
      ALPNProtocols: ["h2"],
      ...(t.serverName ? { servername: t.serverName } : isIP(host) ? {} : { servername: host }),
    });
    const done = (problem: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on("secureConnect", () => {
      // TLS 1.3 servers judge the client certificate after the handshake: speak first (the HTTP/2
      // preface gRPC starts with) and see whether the answer is data or an alert.
      sock.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      sock.once("data", () => done(undefined));
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      const code = e.code ?? "";
      if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ETIMEDOUT") done(`nothing accepts connections at ${host}:${port} (${code}): is buildkitd running with a tcp address in \`[grpc] address\`?`);
      else if (/ALERT/.test(code) || /alert/i.test(e.message)) done(`buildkitd refused the client certificate (TLS alert: ${code || e.message}): \`tls.certPem\`/\`tls.keyPem\` must be signed by the CA in buildkitd's \`[grpc.tls] ca\`.`);
      else if (/ALTNAME|Hostname\/IP does not match/i.test(code + e.message)) done(`buildkitd's server certificate does not name ${host} (${e.message}): set \`tls.serverName\` to a name it holds, or reissue it.`);
      else if (/CERT|SIGNATURE|SELF_SIGNED|ISSUER/.test(code)) done(`buildkitd's server certificate is not signed by \`tls.caPem\` (${code}): give the CA that signed buildkitd's \`[grpc.tls] cert\`.`);
      else done(`the TLS connection to ${host}:${port} failed: ${e.message}`);
    });
    sock.on("close", () => done(undefined));
  });
}

async function removeBuilder(inputs: Pick<BuilderInputs, "name" | "driver" | "nodes">, redactions: string[]): Promise<void> {
  const rm = await execLocal(buildxRmArgv(inputs.name));
  const out = `${rm.stdout}${rm.stderr}`;
  if (rm.code !== 0 && !/no builder|not found|does not exist/i.test(out)) {
    throw new RemoteCommandError("localhost", `docker buildx rm ${inputs.name}`, rm.code, redact(out, redactions));
  }
  if (inputs.driver === "docker-container") {
    for (const node of inputs.nodes) {
      const left = await leftContainers(node);
      if (left.length) {
        await progress(`builder ${inputs.name}: removing the left-over BuildKit container ${buildkitContainerName(node.name)}`);
        for (const argv of removeBuildkitContainerArgv(node.endpoint, node.name)) await execLocal(argv);
      }
      const still = await leftContainers(node);
      if (still.length) throw new Error(`builder ${inputs.name}: BuildKit container ${still.join(", ")} is still there after \`docker buildx rm\` and \`docker rm -f\``);
    }
  }
  fs.rmSync(tlsDir(inputs.name), { recursive: true, force: true });
  try {
    fs.rmdirSync(path.dirname(tlsDir(inputs.name)));
  } catch {
    /* other builders' files are still there, or it never existed */
  }
}

async function leftContainers(node: Pick<BuilderNodeSpec, "name" | "endpoint">): Promise<string[]> {
  const r = await execLocal(buildkitContainersArgv(node.endpoint, node.name));
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s === buildkitContainerName(node.name));
}

async function createBuilder(inputs: BuilderInputs): Promise<void> {
  const tmp = tempDir("berth-buildx-");
  const secrets = secretValues(inputs);
  const names = Object.keys(inputs.secrets.env);
  const say = (m: string) => progress(`builder ${inputs.name}: ${m}`);
  try {
    for (let i = 0; i < inputs.nodes.length; i++) {
      const node = inputs.nodes[i];
      const files: NodeFiles = {};
      if (node.config) files.configPath = writePrivate(path.join(tmp.dir, `${node.name}.buildkitd.toml`), renderBuildkitdToml(node.config));
      const tls = writeTls(inputs.name, node.name, inputs.secrets.tls[i] ?? null);
      if (tls) files.tls = tls;
      const argv = buildxCreateArgv({ ...inputs, nodes: inputs.nodes as BuilderNodeConfig[] }, i, { secretEnvNames: names, files });
      await say(i === 0 ? `creating (${inputs.driver}, node ${node.name}${node.platforms.length ? ` for ${node.platforms.join(", ")}` : ""})` : `appending node ${node.name}${node.platforms.length ? ` for ${node.platforms.join(", ")}` : ""}`);
      await runLocal(line(argv), argv, { redact: secrets });
    }
    if (names.length) {
      await say(`setting ${names.join(", ")} in buildx's builder store (not in argv)`);
      patchStore(inputs.name, inputs.secrets.env);
    }
    if (inputs.driver === "remote") {
      for (let i = 0; i < inputs.nodes.length; i++) {
        const node = inputs.nodes[i];
        const t = inputs.secrets.tls[i];
        if (!t || !node.endpoint?.startsWith("tcp://")) continue;
        await say(`checking mutual TLS with ${node.endpoint}`);
        const problem = await probeTls(node.endpoint, t);
        if (problem) throw new Error(`builder ${inputs.name}: node ${node.name} (${node.endpoint}): ${problem}`);
      }
    }
    await say("booting BuildKit");
    const boot = await execLocal(buildxBootstrapArgv(inputs.name), { redact: secrets });
    if (boot.code !== 0) {
      const out = redact(`${boot.stdout}\n${boot.stderr}`, secrets);
      throw new RemoteCommandError("localhost", `booting builder ${inputs.name} (docker buildx inspect --bootstrap)`, boot.code, `${lastLines(out, 20)}${tlsHint(out)}`);
    }
    await say("ready");
  } catch (e) {
    // Leave nothing half-made behind.
    await removeBuilder(inputs, secrets).catch(() => undefined);
    throw e;
  } finally {
    tmp.done();
  }
}

const BUILDER_KEYS = ["name", "driver", "driverOptions", "nodes", "secrets"] as const;

export const buildxBuilderHandler: Handler = {
  async create(inputs: BuilderInputs) {
    await createBuilder(inputs);
    return { id: inputs.name, outs: inputs };
  },
  async update(_id, olds: BuilderInputs, news: BuilderInputs) {
    // Every setting replaces the builder (see diff); this only runs if the engine asks anyway.
    await removeBuilder(olds, secretValues(olds));
    await createBuilder(news);
    return { outs: news };
  },
  async delete(_id, props: BuilderInputs) {
    await progress(`builder ${props.name}: removing (docker buildx rm)`);
    await removeBuilder(props, secretValues(props));
  },
  async diff(_id, olds: BuilderInputs, news: BuilderInputs) {
    // A buildx builder cannot be changed in place: any setting recreates it, under the same name,
    // so the old one must go first.
    const d = diffKeys(olds, news, BUILDER_KEYS, BUILDER_KEYS);
    return { ...d, deleteBeforeReplace: true };
  },
};

// ---------------------------------------------------------------------------------------------
// Image

export interface ImageInputs extends Omit<ImageConfig, "secrets"> {
  /** Hash of the context's files (after .dockerignore) and the Dockerfile. */
  contextHash: string;
  /**
   * CA files the buildx client trusts besides the system's (the builder's registry CAs): buildx
   * itself talks to the registry when it merges the manifest lists of a multi-node build.
   */
  trustedCaFiles?: string[];
  /** Stored encrypted: build secrets by id, and the builder's proxy for RUN steps. */
  secrets: { build: Record<string, string>; proxyEnv: Record<string, string> };
}

export interface ImageOutputs extends ImageInputs {
  /** The digest buildx reports (`containerimage.digest`). */
  digest: string;
  /** `repository@digest` of the first tag when pushed, else the first tag. */
  ref: string;
}

/** The image's reference without tag. */
function repositoryOf(tag: string): string {
  const r = parseImage(tag);
  if (!r) return tag;
  return `${r.registry !== undefined ? `${r.registry}/` : ""}${r.repository}`;
}

/** Build output lines worth showing in `pulumi up`: steps, cache hits, exports, errors. */
function interesting(l: string): boolean {
  return /^#\d+ (\[|CACHED|ERROR|exporting|pushing|writing|importing|sending|naming|DONE)/.test(l) || /^ERROR/.test(l);
}

async function containerdStore(): Promise<boolean> {
  const r = await execLocal(dockerStorageArgv());
  return r.code === 0 && /io\.containerd\.snapshotter/.test(r.stdout);
}

async function build(inputs: ImageInputs): Promise<ImageOutputs> {
  const secrets = [...Object.values(inputs.secrets.build), ...proxySecrets(Object.values(inputs.secrets.proxyEnv))].filter((s) => s.length >= 3);
  const label = inputs.tags[0] ?? inputs.context;
  const say = (m: string) => progress(`image ${label}: ${m}`);
  if (inputs.exports.load && inputs.platforms.length > 1 && !(await containerdStore())) {
    throw new Error(
      `image ${label}: cannot load a multi-platform image (${inputs.platforms.join(", ")}) into the local Docker engine: it does not use the containerd image store, and the classic store holds one platform per tag ("docker exporter does not currently support exporting manifest lists"). ` +
        "Push it instead (`push: true`, `load: false`), build one platform to load, or turn on the containerd image store in the engine.",
    );
  }
  // Both spellings: curl reads only lower-case http_proxy, Go and busybox the upper case too.
  const proxyEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs.secrets.proxyEnv)) for (const name of [k, k.toLowerCase()]) if (!(name in inputs.buildArgs)) proxyEnv[name] = v;
  const proxyNames = Object.keys(proxyEnv);
  if (inputs.provenance === "max" && proxyNames.some((k) => hasCredentials(proxyEnv[k]))) {
    throw new Error(
      `image ${label}: \`provenance: "max"\` records every build arg in the pushed attestation, and the builder's proxy (passed to RUN steps as HTTP_PROXY/HTTPS_PROXY build args) holds credentials. Use \`provenance: true\` (min mode scrubs build args) or false.`,
    );
  }
  const tmp = tempDir("berth-build-");
  try {
    const metadataFile = path.join(tmp.dir, "metadata.json");
    const env: Record<string, string> = {};
    const secretEnv: Record<string, string> = {};
    Object.entries(inputs.secrets.build).forEach(([id, value], i) => {
      secretEnv[id] = `BERTH_BUILD_SECRET_${i}`;
      env[secretEnv[id]] = value;
    });
    Object.assign(env, proxyEnv);
    if (inputs.trustedCaFiles?.length) {
      // Go (buildx) reads extra roots from SSL_CERT_DIR, on top of the system bundle file.
      const caDir = path.join(tmp.dir, "ca");
      fs.mkdirSync(caDir, { mode: 0o700 });
      inputs.trustedCaFiles.forEach((f, i) => fs.copyFileSync(f, path.join(caDir, `ca-${i}.pem`)));
      env.SSL_CERT_DIR = [caDir, process.env.SSL_CERT_DIR ?? "/etc/ssl/certs"].join(":");
    }
    const { secrets: _s, contextHash: _h, trustedCaFiles: _t, ...cfg } = inputs;
    const argv = buildArgv(cfg, { metadataFile, secretEnv, envBuildArgs: proxyNames });
    await say(`building${inputs.platforms.length ? ` for ${inputs.platforms.join(", ")}` : ""}${inputs.builder ? ` on builder ${inputs.builder}` : ""}`);
    const shown: Promise<void>[] = [];
    const r = await execLocal(argv, { env, redact: secrets, onLine: (l) => interesting(l) && shown.push(progress(`image ${label}: ${l}`)) });
    await Promise.all(shown);
    if (r.code !== 0) {
      throw new RemoteCommandError("localhost", `docker buildx build of ${label}`, r.code, lastLines(redact(`${r.stdout}\n${r.stderr}`, secrets), 40));
    }
    const meta = JSON.parse(fs.readFileSync(metadataFile, "utf8")) as Record<string, unknown>;
    const digest = typeof meta["containerimage.digest"] === "string" ? (meta["containerimage.digest"] as string) : "";
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`image ${label}: buildx reported no image digest (metadata keys: ${Object.keys(meta).join(", ")})`);
    const ref = inputs.exports.push ? `${repositoryOf(inputs.tags[0])}@${digest}` : (inputs.tags[0] ?? digest);
    await say(`built ${digest}${inputs.exports.push ? ` and pushed ${inputs.tags.join(", ")}` : ""}${inputs.exports.load ? "; loaded into the local engine" : ""}`);
    return { ...inputs, digest, ref };
  } finally {
    tmp.done();
  }
}

/** Inputs that change what is built or where it goes. */
const IMAGE_KEYS = [
  "context",
  "dockerfile",
  "contextHash",
  "target",
  "buildArgs",
  "ssh",
  "platforms",
  "tags",
  "labels",
  "exports",
  "cacheFrom",
  "cacheTo",
  "noCache",
  "pull",
  "provenance",
  "sbom",
  "network",
  "builder",
  "secrets",
] as const;

export const imageHandler: Handler = {
  async create(inputs: ImageInputs) {
    const outs = await build(inputs);
    return { id: outs.digest, outs };
  },
  async update(_id, _olds: ImageOutputs, news: ImageInputs) {
    return { outs: await build(news) };
  },
  async delete(_id, props: ImageOutputs) {
    await progress(`image ${props.tags?.[0] ?? props.digest}: removed from state; what the build exported (registry, engine, OCI file) stays where it is`);
  },
  async diff(_id, olds: ImageOutputs, news: ImageInputs) {
    // The builder's proxy is how the build reaches the network, not what is built: it alone never rebuilds.
    const changed = IMAGE_KEYS.filter((k) => (k === "secrets" ? !isDeepStrictEqual(olds.secrets?.build, news.secrets?.build) : !isDeepStrictEqual(olds[k], news[k])));
    return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
  },
};
