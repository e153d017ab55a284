/**
 * `berth:index:BuildxBuilder`: a `docker buildx` builder, run on this machine.
 *
 * Create: render each node's buildkitd.toml to a 0600 temp file → `docker buildx create` (node 0)
 * and `--append` (the others), secret env values as placeholders → swap the placeholders for the
 * values in buildx's own builder store (a 0600 file), so no secret is ever in argv → `docker buildx
 * inspect --bootstrap` → remove the temp files. Any change of a setting recreates it (delete
 * first: the name stays). Delete: `docker buildx rm`, then check every `docker-container` node's
 * engine for a left-over `buildx_buildkit_<node>` container (removed with its state volume).
 */
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as tls from "node:tls";
import * as path from "node:path";
import type { BuilderNodeConfig, BuilderTlsArgs } from "../config/builder";
import { buildxBuilderSchema, type BuildxBuilderInputs, type BuilderNodeSpec } from "../config/resources";
import {
  buildkitContainerName,
  buildkitContainersArgv,
  buildxBootstrapArgv,
  buildxCreateArgv,
  buildxRmArgv,
  type NodeFiles,
  removeBuildkitContainerArgv,
  renderBuildkitdToml,
  secretPlaceholder,
} from "../commands/buildx";
import { line } from "../commands/shell";
import { buildxDir, proxySecrets, tempDir, tlsDir, writePrivate } from "./files";
import { execLocal, redact, runLocal } from "./local";
import { progress } from "./log";
import type { ResourceDef } from "./resource";
import { lastLines, RemoteCommandError } from "./ssh";

export { buildxDir, tlsDir } from "./files";
export const BUILDX_BUILDER_TOKEN = "berth:index:BuildxBuilder";


type BuilderInputs = BuildxBuilderInputs;

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

export const buildxBuilderResource: ResourceDef<BuildxBuilderInputs> = {
  token: BUILDX_BUILDER_TOKEN,
  inputs: buildxBuilderSchema,
  secretInputs: ["secrets"],
  // A buildx builder cannot be changed in place: any setting recreates it, under the same name,
  // so the old one must go first.
  replaceOnChanges: ["name", "driver", "driverOptions", "nodes", "secrets"],
  deleteBeforeReplace: true,

  async create(inputs) {
    await createBuilder(inputs);
    return { id: inputs.name };
  },
  async update(_id, olds, news) {
    // Every setting replaces the builder; this only runs if the engine asks anyway.
    await removeBuilder(olds, secretValues(olds));
    await createBuilder(news);
  },
  async delete(_id, props) {
    await progress(`builder ${props.name}: removing (docker buildx rm)`);
    await removeBuilder(props, secretValues(props));
  },
};
