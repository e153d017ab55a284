/**
 * Image on the lab through the real engine: seed 002 (single platform with the docker-container
 * driver: push, load, both; then AppService deploys the pushed digest), a multi-platform load that
 * cannot work, the registry cache (no rebuild when nothing changed; CACHED layers after a one-file
 * change), and a two-platform manifest list from a two-node (amd64 + arm64) builder.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService, BuildxBuilder, BuildxBuilderArgs, Image, ImageArgs } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const PROJECT = "berth-real-image";

/** A stack with one builder, some images and optionally an AppService deploying one of them. */
class ImageStack {
  builder!: BuildxBuilderArgs & { name: string };
  images: Record<string, Omit<ImageArgs, "builder">> = {};
  deploy?: { image: string; service: string; host: string; hostHeader: string; l: Lab };
  stack!: Stack;
  output = "";
  constructor(
    readonly b: TestBackend,
    readonly name: string,
  ) {}
  async init() {
    this.stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: this.name,
        projectName: PROJECT,
        program: async () => {
          const builder = new BuildxBuilder("builder", this.builder);
          const out: Record<string, unknown> = {};
          const built: Record<string, Image> = {};
          for (const [key, args] of Object.entries(this.images)) {
            built[key] = new Image(key, { ...args, builder });
            out[`${key}Ref`] = built[key].ref;
            out[`${key}Digest`] = built[key].digest;
          }
          if (this.deploy) {
            const d = this.deploy;
            const app = new AppService("app", {
              service: d.service,
              image: built[d.image].ref,
              hosts: [d.host],
              proxy: { hosts: [d.hostHeader], healthcheck: { intervalSeconds: 1 } },
              deployTimeoutSeconds: 20,
              drainTimeoutSeconds: 2,
              ssh: labSsh(d.l),
            });
            out.version = app.version;
          }
          return out;
        },
      },
      { pulumiCommand: this.b.pulumi, envVars: this.b.envVars, secretsProvider: "passphrase" },
    );
    return this;
  }
  async up() {
    this.output = "";
    return this.stack.up({ onOutput: (o) => (this.output += o) });
  }
  async preview() {
    return this.stack.preview({ diff: true });
  }
}

function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/**
 * A registry in front of the lab's plain one that refuses every blob upload (with the answer the
 * lab's registry gave when two uploads of one blob raced: 400 DIGEST_INVALID) while `failing` is
 * set, and passes everything else through. The Host header is kept, so the registry's upload
 * locations point back here.
 */
async function flakyRegistry(target: string): Promise<{ address: string; failing: boolean; refused: number; close: () => Promise<void> }> {
  const [targetHost, targetPort] = target.split(":");
  const state = { address: "", failing: true, refused: 0, close: async () => undefined as void };
  const server = http.createServer((req, res) => {
    if (state.failing && req.method === "PUT" && /\/blobs\/uploads\//.test(req.url ?? "")) {
      state.refused++;
      req.resume();
      req.on("end", () => {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }] }));
      });
      return;
    }
    const up = http.request({ host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, targetHost, resolve));
  state.address = `${targetHost}:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

/** The registry's manifest (or index) for a reference, parsed. */
function registryManifest(l: Lab, repo: string, reference: string): any {
  const out = execFileSync(
    "curl",
    ["-sf", "--cacert", l.registry.caPath, "-H", "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json", `https://${l.registry.tls}/v2/${repo}/manifests/${reference}`],
    { encoding: "utf8" },
  );
  return JSON.parse(out);
}

function buildkitContainers(engine: string[], name: string): string[] {
  return execFileSync("docker", [...engine, "ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" })
    .split("\n")
    .filter((n) => n.startsWith(`buildx_buildkit_${name}`));
}

describe("real: Image on the lab", function () {
  let l: Lab;
  let b: TestBackend;
  let work: string;
  let img: ImageStack;
  const run = randomBytes(3).toString("hex");

  const registryConfig = () => ({ registry: { [l.registry.tls]: { ca: [l.registry.caPath] }, [l.registry.plain]: { http: true } } });

  before(async function () {
    l = lab();
    b = await backend("berth-real-image-");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-image-work-"));
    fs.cpSync(path.join(REPO, "examples/app"), path.join(work, "app"), { recursive: true });
    fs.mkdirSync(path.join(work, "cache"));
    fs.writeFileSync(
      path.join(work, "cache", "Dockerfile"),
      [`FROM ${l.registry.plain}/berth-lab/base:1`, "RUN echo expensive step > /step.txt", "COPY a.txt /a.txt", "COPY b.txt /b.txt", ""].join("\n"),
    );
    fs.writeFileSync(path.join(work, "cache", "a.txt"), "a\n");
    fs.writeFileSync(path.join(work, "cache", "b.txt"), "b1\n");
    fs.mkdirSync(path.join(work, "multi"));
    fs.writeFileSync(path.join(work, "multi", "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    fs.writeFileSync(path.join(work, "multi", "hello.txt"), "hello from two platforms\n");
    img = await new ImageStack(b, "img").init();
    img.builder = { name: "berth-img", image: l.images.buildkit, config: registryConfig() };
  });

  after(async function () {
    for (const name of ["img", "multi", "badload", "flaky"]) {
      try {
        const s = await LocalWorkspace.selectStack({ stackName: name, projectName: PROJECT, program: async () => undefined }, { pulumiCommand: b.pulumi, envVars: b.envVars });
        await s.destroy();
      } catch {
        /* already gone */
      }
    }
    for (const name of ["berth-img", "berth-hybrid", "berth-badload", "berth-flaky"]) spawnSync("docker", ["buildx", "rm", name]);
    try {
      sshRun(l, l.hosts[0].address, "docker ps -aq --filter label=service=seed002 | xargs -r docker rm -f");
    } catch {
      /* best effort */
    }
    for (const tag of [`berth-test/seed002:load-${run}`, `${l.registry.tls}/berth-test/seed002:both-${run}`]) spawnSync("docker", ["image", "rm", "-f", tag]);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("4. seed 002: single platform on docker-container — push, load, and both — then AppService deploys the pushed digest", async function () {
    const common = { context: path.join(work, "app"), platforms: ["linux/amd64"], service: "seed002", buildArgs: { BASE: `${l.registry.plain}/berth-lab/base:1`, VERSION: "v1", SERVICE: "seed002" } };
    img.images = {
      pushed: { ...common, tags: [`${l.registry.tls}/berth-test/seed002:push-${run}`] },
      loaded: { ...common, tags: [`berth-test/seed002:load-${run}`], push: false, load: true },
      both: { ...common, tags: [`${l.registry.tls}/berth-test/seed002:both-${run}`], load: true },
    };
    img.deploy = { image: "pushed", service: "seed002", host: l.hosts[0].address, hostHeader: "seed002.test", l };
    const r = await img.up();
    assert.equal(r.summary.result, "succeeded");
    assert.doesNotMatch(img.output, /does not exist locally/);

    // push: the digest is in the registry, and is what AppService runs.
    const pushed = r.outputs.pushedDigest.value as string;
    assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
    assert.ok(registryManifest(l, "berth-test/seed002", pushed));
    assert.equal(r.outputs.pushedRef.value, `${l.registry.tls}/berth-test/seed002@${pushed}`);
    assert.equal(r.outputs.version.value, `sha256-${pushed.slice(7, 19)}`);
    const page = await get(l.hosts[0].address, "seed002.test");
    assert.equal(page.body.trim(), "version v1");
    const running = sshRun(l, l.hosts[0].address, "docker ps -q --filter label=service=seed002 | xargs docker inspect -f '{{.Config.Image}} {{index .Config.Labels \"destination\"}}'").trim();
    assert.equal(running, `${l.registry.tls}/berth-test/seed002@${pushed} img`);

    // load: the image is in the local engine with its labels (seed 002's failure was exactly this missing).
    const labels = JSON.parse(docker("image", "inspect", "-f", "{{json .Config.Labels}}", `berth-test/seed002:load-${run}`));
    assert.equal(labels.service, "seed002");
    assert.equal(labels.destination, "img");
    assert.equal(r.outputs.loadedRef.value, `berth-test/seed002:load-${run}`);

    // both in one build: in the local engine and in the registry.
    assert.ok(docker("image", "inspect", "-f", "{{.Id}}", `${l.registry.tls}/berth-test/seed002:both-${run}`).startsWith("sha256:"));
    assert.ok(registryManifest(l, "berth-test/seed002", `both-${run}`));
  });

  it("4. says clearly that a multi-platform image cannot be loaded into an engine without the containerd store, before building", async function () {
    const bad = await new ImageStack(b, "badload").init();
    bad.builder = { name: "berth-badload", image: l.images.buildkit, config: registryConfig() };
    bad.images = { multi: { context: path.join(work, "multi"), tags: [`berth-test/multi:load-${run}`], platforms: ["linux/amd64", "linux/arm64"], push: false, load: true } };
    await assert.rejects(bad.up(), (e: Error) => /cannot load a multi-platform image \(linux\/amd64, linux\/arm64\) into the local Docker engine: it does not use the containerd image store/.test(e.message));
    assert.doesNotMatch(bad.output, /: building/);
    await bad.stack.destroy();
    assert.deepEqual(buildkitContainers([], "berth-badload"), []);
  });

  it("6. registry cache: an unchanged context previews 0 changes and runs no build; a one-file change rebuilds with CACHED layers from the registry", async function () {
    const cacheRef = `${l.registry.tls}/berth-test/cached:buildcache-${run}`;
    img.deploy = undefined;
    img.images = {
      cached: {
        context: path.join(work, "cache"),
        tags: [`${l.registry.tls}/berth-test/cached:${run}`],
        cacheTo: [{ type: "registry", ref: cacheRef, mode: "max" }],
        cacheFrom: [{ type: "registry", ref: cacheRef }],
      },
    };
    const first = await img.up();
    assert.equal(first.summary.result, "succeeded");
    assert.match(img.output, /image 10\.77\.0\.1:5443\/berth-test\/cached:\w+: building/);
    assert.match(img.output, /exporting cache/);

    const p = await img.preview();
    assert.deepEqual(Object.keys(p.changeSummary).filter((k) => k !== "same"), [], JSON.stringify(p.changeSummary));
    const again = await img.up();
    assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}).filter((k) => k !== "same"), []);
    assert.doesNotMatch(img.output, /: building/);

    // Drop the builder's own cache so every hit below comes from the registry cache.
    docker("buildx", "prune", "--builder", "berth-img", "-af");
    fs.writeFileSync(path.join(work, "cache", "b.txt"), "b2\n");
    const p2 = await img.preview();
    assert.equal(p2.changeSummary.update, 1, JSON.stringify(p2.changeSummary));
    assert.match(p2.stdout, /~ contextHash\s*: "sha256:[0-9a-f]+" => "sha256:[0-9a-f]+"/);
    const second = await img.up();
    assert.equal(second.summary.result, "succeeded");
    assert.match(img.output, /importing cache manifest from 10\.77\.0\.1:5443\/berth-test\/cached:buildcache/);
    assert.match(img.output, /#\d+ \[2\/4\] RUN echo expensive step[^\n]*\n(?:[^\n]*\n)*?[^\n]*#\d+ CACHED/);
    const cachedSteps = (img.output.match(/#\d+ CACHED/g) ?? []).length;
    assert.ok(cachedSteps >= 2, `expected the RUN and the first COPY to be CACHED:\n${img.output}`);
    assert.match(img.output, /#\d+ \[4\/4\] COPY b\.txt \/b\.txt/);
    assert.notEqual(second.outputs.cachedDigest.value, first.outputs.cachedDigest.value);
  });

  it("3. two platforms on a two-node builder (amd64 here, arm64 on a lab host's engine) push one manifest list with both", async function () {
    const multi = await new ImageStack(b, "multi").init();
    const h2 = l.hosts[1];
    multi.builder = {
      name: "berth-hybrid",
      image: l.images.buildkit,
      platforms: ["linux/amd64"],
      config: { ...registryConfig(), worker: { oci: { platforms: ["linux/amd64"] } } },
      appendNodes: [{ endpoint: `unix://${h2.dockerSocket}`, platforms: ["linux/arm64"], config: { ...registryConfig(), worker: { oci: { platforms: ["linux/arm64"] } } } }],
    };
    multi.images = { multi: { context: path.join(work, "multi"), tags: [`${l.registry.tls}/berth-test/multi:${run}`], platforms: ["linux/amd64", "linux/arm64"] } };
    const r = await multi.up();
    assert.equal(r.summary.result, "succeeded");
    assert.match(multi.output, /builder berth-hybrid: appending node berth-hybrid1 for linux\/arm64/);
    const index = registryManifest(l, "berth-test/multi", r.outputs.multiDigest.value as string);
    const platforms = (index.manifests as { platform?: { os: string; architecture: string } }[])
      .map((m) => m.platform)
      .filter((p) => p && p.os !== "unknown")
      .map((p) => `${p!.os}/${p!.architecture}`)
      .sort();
    assert.deepEqual(platforms, ["linux/amd64", "linux/arm64"]);
    // Each node ran its own BuildKit: one container here, one in the lab host's engine.
    assert.deepEqual(buildkitContainers([], "berth-hybrid"), ["buildx_buildkit_berth-hybrid0"]);
    assert.deepEqual(buildkitContainers(["-H", `unix://${h2.dockerSocket}`], "berth-hybrid"), ["buildx_buildkit_berth-hybrid1"]);
    await multi.stack.destroy();
    assert.deepEqual(buildkitContainers([], "berth-hybrid"), []);
    assert.deepEqual(buildkitContainers(["-H", `unix://${h2.dockerSocket}`], "berth-hybrid"), []);
  });

  it("OCI output and a local cache directory (mode=max), with no registry involved", async function () {
    const out = path.join(work, "out");
    fs.mkdirSync(out);
    img.images = {
      oci: {
        context: path.join(work, "cache"),
        push: false,
        oci: { dest: path.join(out, "app.tar") },
        cacheTo: [{ type: "local", path: path.join(out, "cache"), mode: "max" }],
      },
    };
    const r = await img.up();
    assert.equal(r.summary.result, "succeeded");
    const listing = execFileSync("tar", ["tf", path.join(out, "app.tar")], { encoding: "utf8" }).split("\n");
    assert.ok(listing.includes("index.json") && listing.includes("oci-layout"), listing.join(", "));
    const cacheIndex = JSON.parse(fs.readFileSync(path.join(out, "cache", "index.json"), "utf8"));
    assert.ok(cacheIndex.manifests.length >= 1);
    assert.match(r.outputs.ociDigest.value as string, /^sha256:[0-9a-f]{64}$/);
  });

  it("a registry that refuses the upload: the build is tried again and pushes on the next try", async function () {
    const flaky = await flakyRegistry(l.registry.plain);
    const stack = await new ImageStack(b, "flaky").init();
    try {
      stack.builder = { name: "berth-flaky", image: l.images.buildkit, config: { registry: { ...registryConfig().registry, [flaky.address]: { http: true } } } };
      fs.writeFileSync(path.join(work, "cache", "b.txt"), `flaky ${run}\n`);
      stack.images = { flaky: { context: path.join(work, "cache"), tags: [`${flaky.address}/berth-test/flaky:${run}`] } };
      // The registry refuses until Berth says it tries again, whatever BuildKit retried on its own.
      const up = stack.stack.up({
        onOutput: (o) => {
          stack.output += o;
          if (/sending to the registry failed \(/.test(stack.output)) flaky.failing = false;
        },
      });
      const r = await up;
      assert.equal(r.summary.result, "succeeded");
      assert.ok(flaky.refused >= 1, "the registry refused no upload");
      assert.match(stack.output, /image 10\.77\.0\.1:\d+\/berth-test\/flaky:\w+: sending to the registry failed \(failed to push [^)]*\); trying again in 2 s \(try 2 of 3\)/);
      const digest = r.outputs.flakyDigest.value as string;
      const manifest = execFileSync("curl", ["-sf", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Accept: application/vnd.oci.image.index.v1+json", `http://${l.registry.plain}/v2/berth-test/flaky/manifests/${digest}`], { encoding: "utf8" });
      assert.equal(manifest, "200");
    } finally {
      await stack.stack.destroy().catch(() => undefined);
      await flaky.close();
    }
    assert.deepEqual(buildkitContainers([], "berth-flaky"), []);
  });

  it("destroy removes the builder and leaves no BuildKit container", async function () {
    await img.stack.destroy();
    assert.deepEqual(buildkitContainers([], "berth-img"), []);
  });
});
