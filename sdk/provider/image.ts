/**
 * `berth:index:Image`: `docker buildx build … --metadata-file`, run on this machine, with build
 * secrets and the builder's proxy in the child's environment (never argv); outputs the digest
 * buildx reports. The context and Dockerfile are recorded as written, relative to the Pulumi
 * project directory (the provider's working directory), and a build runs only when their content
 * hash or another setting changes. Nothing is deleted on destroy: pushed images stay in the
 * registry and loaded images in the engine.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { hasCredentials } from "../config/builder";
import { parseImage } from "../config/app";
import { imageOutputsSchema, imageSchema, type ImageInputs, type ImageOutputs } from "../config/resources";
import { buildArgv, dockerStorageArgv } from "../commands/buildx";
import { proxySecrets, tempDir } from "./files";
import { execLocal, redact } from "./local";
import { progress } from "./log";
import type { ResourceDef } from "./resource";
import { lastLines, RemoteCommandError } from "./ssh";

export const IMAGE_TOKEN = "berth:index:Image";

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

/**
 * Why a failed build is worth one more try, or undefined. Only the last step, sending what was
 * built to a registry, is retried: the build itself is in the builder's cache, so another try
 * redoes the upload only. A registry can refuse one of two uploads of one blob at the same moment
 * (the image push and the cache export both send each layer), and a connection can drop
 * mid-upload; an authentication, permission or certificate error is not retried.
 */
export function retryablePushFailure(output: string): string | undefined {
  const at = output.lastIndexOf("failed to solve: ");
  if (at < 0) return undefined;
  const why = output.slice(at + "failed to solve: ".length).trim().replace(/\s+/g, " ");
  if (!/^(failed to push|error writing \w+ blob|failed commit on ref|failed to do request)/.test(why)) return undefined;
  // Refused logins and untrusted or plain-HTTP registries fail the same way every time.
  if (/unauthori[sz]ed|denied|forbidden|authentication required|insufficient_scope|\b40[13]\b|x509|certificate|HTTP response to HTTPS client/i.test(output)) return undefined;
  return why.length > 240 ? `${why.slice(0, 240)}…` : why;
}

/** Waits before the second and third try of a build whose upload failed (shortened by the unit test). */
export const pushRetry = { waitsMs: [2000, 5000] };

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
    // The context and Dockerfile are stored relative to the project: the provider runs there.
    const { secrets: _s, contextHash: _h, trustedCaFiles: _t, ...rest } = inputs;
    const cfg = { ...rest, context: path.resolve(inputs.context), dockerfile: path.resolve(inputs.dockerfile) };
    const argv = buildArgv(cfg, { metadataFile, secretEnv, envBuildArgs: proxyNames });
    await say(`building${inputs.platforms.length ? ` for ${inputs.platforms.join(", ")}` : ""}${inputs.builder ? ` on builder ${inputs.builder}` : ""}`);
    for (let attempt = 1; ; attempt++) {
      const shown: Promise<void>[] = [];
      const r = await execLocal(argv, { env, redact: secrets, onLine: (l) => interesting(l) && shown.push(progress(`image ${label}: ${l}`)) });
      await Promise.all(shown);
      if (r.code === 0) break;
      const output = redact(`${r.stdout}\n${r.stderr}`, secrets);
      const why = retryablePushFailure(output);
      const wait = pushRetry.waitsMs[attempt - 1];
      if (why === undefined || wait === undefined) {
        const tries = attempt > 1 ? ` (try ${attempt} of ${pushRetry.waitsMs.length + 1})` : "";
        throw new RemoteCommandError("localhost", `docker buildx build of ${label}${tries}`, r.code, lastLines(output, 40));
      }
      await say(`sending to the registry failed (${why}); trying again in ${wait / 1000} s (try ${attempt + 1} of ${pushRetry.waitsMs.length + 1})`);
      await new Promise((res) => setTimeout(res, wait));
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
export const imageResource: ResourceDef<ImageInputs, Pick<ImageOutputs, "digest" | "ref">> = {
  token: IMAGE_TOKEN,
  inputs: imageSchema,
  outputs: imageOutputsSchema,
  secretInputs: ["secrets"],

  adjustDiff(changes) {
    // The builder's proxy is how the build reaches the network, not what is built: it alone never rebuilds.
    return Object.fromEntries(Object.entries(changes).filter(([p]) => !p.startsWith("secrets.proxyEnv")));
  },
  async create(inputs) {
    const { digest, ref } = await build(inputs);
    return { id: digest, outs: { digest, ref } };
  },
  async update(_id, _olds, news) {
    const { digest, ref } = await build(news);
    return { digest, ref };
  },
  async delete(_id, props) {
    await progress(`image ${props.tags?.[0] ?? props.digest}: removed from state; what the build exported (registry, engine, OCI file) stays where it is`);
  },
};
