/**
 * BuildxBuilder on the lab through the real engine: seed 000 end to end (tinyproxy, NO_PROXY, the
 * TLS registry's private CA), the same build without the CA, a setting change that recreates the
 * builder, destroy without orphans, and secrets that never reach argv, logs, errors or state.
 */
import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { BuildxBuilder, BuildxBuilderArgs, Image, ImageArgs } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { Lab, lab } from "../helpers/lab";

const PASSWORD = `pw-${randomBytes(6).toString("hex")}`;
const BUILD_SECRET = `bs-${randomBytes(6).toString("hex")}`;

/** A stack whose builder and image args the test changes between runs. */
class BuildStack {
  builder?: BuildxBuilderArgs & { name: string };
  image?: Omit<ImageArgs, "builder">;
  stack!: Stack;
  output = "";
  constructor(
    readonly b: TestBackend,
    readonly name: string,
    readonly envVars: Record<string, string> = {},
  ) {}
  async init() {
    this.stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: this.name,
        projectName: "berth-real-buildx",
        program: async () => {
          const builder = this.builder ? new BuildxBuilder("builder", this.builder) : undefined;
          const img = this.image ? new Image("image", { ...this.image, builder }) : undefined;
          return { ref: img?.ref, digest: img?.digest };
        },
      },
      { pulumiCommand: this.b.pulumi, envVars: { ...this.b.envVars, ...this.envVars }, secretsProvider: "passphrase" },
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
  async destroy() {
    this.output = "";
    return this.stack.destroy({ onOutput: (o) => (this.output += o) });
  }
}

function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/** BuildKit containers (any state) of a builder in the root engine. */
function buildkitContainers(name: string): string[] {
  return docker("ps", "-a", "--format", "{{.Names}}")
    .split("\n")
    .filter((n) => n.startsWith(`buildx_buildkit_${name}`));
}

/** Files under `dir` containing `text`. */
function grepFiles(text: string, dir: string): string {
  const r = spawnSync("grep", ["-rl", "--", text, dir], { encoding: "utf8" });
  if (r.status === 1) return "";
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

/** Samples every process's argv (as `ps` shows it) until stopped. */
function sampleArgv() {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    const r = spawnSync("ps", ["-eo", "args="], { encoding: "utf8" });
    for (const l of r.stdout.split("\n")) if (/docker|buildx|buildkit|pulumi/.test(l)) seen.add(l);
  }, 50);
  return {
    stop(): string[] {
      clearInterval(timer);
      return [...seen];
    },
  };
}

/** New tinyproxy log lines since `from` (a byte offset). */
function proxyLogSince(l: Lab, from: number): string[] {
  const buf = fs.readFileSync(l.proxy.logPath);
  return buf.subarray(from).toString("utf8").split("\n");
}

describe("real: BuildxBuilder on the lab", function () {
  let l: Lab;
  let b: TestBackend;
  let work: string;
  let shimLog: string;
  let seed: BuildStack;
  const builders = ["berth-seed000", "berth-noca"];

  before(async function () {
    l = lab();
    b = await backend("berth-real-buildx-");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-buildx-work-"));
    // A `docker` shim first on PATH records every docker argv Berth runs (then runs the real one).
    const shim = path.join(work, "bin");
    fs.mkdirSync(shim);
    shimLog = path.join(work, "docker-argv.log");
    const real = execFileSync("sh", ["-c", "command -v docker"], { encoding: "utf8" }).trim();
    fs.writeFileSync(path.join(shim, "docker"), `#!/bin/sh\nprintf '%s\\n' "docker $*" >> ${shimLog}\nexec ${real} "$@"\n`, { mode: 0o755 });
    const ctx = path.join(work, "seed000");
    fs.mkdirSync(ctx);
    const sha = createHash("sha256").update(BUILD_SECRET).digest("hex");
    fs.writeFileSync(
      path.join(ctx, "Dockerfile"),
      [
        `FROM ${l.registry.plain}/berth-lab/base:1`,
        // A request that must go through the proxy: the plain registry is not in NO_PROXY.
        `RUN wget -q -O /v2.json http://${l.registry.plain}/v2/`,
        // The build secret reached the build (only its hash is in the Dockerfile and the log).
        `RUN --mount=type=secret,id=token test "$(sha256sum /run/secrets/token | cut -c1-64)" = "${sha}"`,
        "COPY hello.txt /hello.txt",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(path.join(ctx, "hello.txt"), "hello from seed 000\n");
    seed = await new BuildStack(b, "seed000", { PATH: `${shim}:${process.env.PATH}` }).init();
  });

  after(async function () {
    for (const name of ["seed000", "noca"]) {
      try {
        const s = await LocalWorkspace.selectStack({ stackName: name, projectName: "berth-real-buildx", program: async () => undefined }, { pulumiCommand: b.pulumi, envVars: b.envVars });
        await s.destroy();
      } catch {
        /* already gone */
      }
    }
    for (const name of builders) {
      spawnSync("docker", ["buildx", "rm", name]);
      for (const c of buildkitContainers(name)) spawnSync("docker", ["rm", "-f", c]);
    }
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const seedBuilder = (noProxy: string[]): BuildxBuilderArgs & { name: string } => ({
    name: "berth-seed000",
    image: l.images.buildkit,
    network: "host",
    buildkitdFlags: ["--allow-insecure-entitlement", "security.insecure"],
    proxy: {
      http: pulumi.secret(`http://alice:${PASSWORD}@${l.gateway}:8888`),
      https: pulumi.secret(`http://alice:${PASSWORD}@${l.gateway}:8888`),
      noProxy,
    },
    config: {
      registry: {
        [l.registry.tls]: { ca: [l.registry.caPath] },
        [l.registry.plain]: { http: true },
      },
    },
  });
  const noProxy = ["10.77.0.1:5443", "127.0.0.1", "localhost", "172.20.0.0/24"];

  it("1 & 8. seed 000 end to end: proxied pulls and RUN requests, NO_PROXY registry direct, pushed to the TLS registry trusting the lab CA; no secret in argv", async function () {
    const tag = `${l.registry.tls}/berth-test/seed000:${randomBytes(4).toString("hex")}`;
    assert.equal(noProxy[0], l.registry.tls);
    seed.builder = seedBuilder(noProxy);
    seed.image = { context: path.join(work, "seed000"), tags: [tag], service: "seed", secrets: { token: pulumi.secret(BUILD_SECRET) } };
    const logStart = fs.statSync(l.proxy.logPath).size;
    const ps = sampleArgv();
    const r = await seed.up();
    const argvSeen = ps.stop();
    assert.equal(r.summary.result, "succeeded");

    // The push reached the TLS registry: its manifest is there under the reported digest.
    const digest = r.outputs.digest.value as string;
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const manifest = execFileSync("curl", ["-sf", "--cacert", l.registry.caPath, "-H", "Accept: application/vnd.oci.image.index.v1+json", `https://${l.registry.tls}/v2/berth-test/seed000/manifests/${digest}`], { encoding: "utf8" });
    assert.match(manifest, /"manifests"|"layers"/);
    assert.equal(r.outputs.ref.value, `${l.registry.tls}/berth-test/seed000@${digest}`);

    // tinyproxy saw buildkitd's pull from the plain registry and the RUN step's wget, nothing for the TLS registry (NO_PROXY).
    const log = proxyLogSince(l, logStart);
    const requests = log.filter((x) => /Request \(file descriptor \d+\):/.test(x));
    assert.ok(requests.some((x) => x.includes(`GET http://${l.registry.plain}/v2/berth-lab/base/manifests/`)), `no proxied pull in:\n${requests.join("\n")}`);
    assert.ok(requests.some((x) => x.includes(`GET http://${l.registry.plain}/v2/ HTTP`)), `no proxied RUN wget in:\n${requests.join("\n")}`);
    assert.deepEqual(log.filter((x) => x.includes(l.registry.tls)), [], "a request to the NO_PROXY registry went through the proxy");

    // The builder: one BuildKit container, NO_PROXY as ONE value in its environment, the proxy from buildx's store.
    assert.deepEqual(buildkitContainers("berth-seed000"), ["buildx_buildkit_berth-seed0000"]);
    const env = JSON.parse(docker("inspect", "-f", "{{json .Config.Env}}", "buildx_buildkit_berth-seed0000")) as string[];
    assert.deepEqual(env.filter((e) => e.startsWith("NO_PROXY=")), [`NO_PROXY=${l.registry.tls},127.0.0.1,localhost,172.20.0.0/24`]);
    assert.ok(env.includes(`HTTP_PROXY=http://alice:${PASSWORD}@${l.gateway}:8888`), "the proxy did not reach buildkitd");
    assert.equal((fs.statSync(path.join(os.homedir(), ".docker/buildx/instances/berth-seed000")).mode & 0o777).toString(8), "600");

    // 8. Secrets: no argv (every docker call, and ps samples), no log line, nothing in the backend's files.
    const calls = fs.readFileSync(shimLog, "utf8");
    assert.match(calls, /docker buildx create --name berth-seed000 .*--driver-opt env.HTTP_PROXY=berth-secret:HTTP_PROXY/);
    assert.match(calls, /docker buildx build .*--build-arg HTTP_PROXY .*--secret id=token,env=BERTH_BUILD_SECRET_0/);
    for (const secret of [PASSWORD, BUILD_SECRET]) {
      assert.equal(calls.includes(secret), false, `${secret} in a docker argv`);
      assert.deepEqual(argvSeen.filter((a) => a.includes(secret)), [], `${secret} seen by ps`);
      assert.equal(seed.output.includes(secret), false, `${secret} in the up output`);
      assert.equal(grepFiles(secret, b.dir), "", `${secret} in the backend's files`);
    }
    assert.ok(argvSeen.length > 0, "ps saw no process at all");
  });

  it("1. the same build without the CA fails with a certificate error (that names no secret), and leaves no builder", async function () {
    const noca = await new BuildStack(b, "noca").init();
    noca.builder = { ...seedBuilder([l.registry.tls, "localhost"]), name: "berth-noca", config: { registry: { [l.registry.plain]: { http: true } } } };
    noca.image = { context: path.join(work, "seed000"), tags: [`${l.registry.tls}/berth-test/noca:1`], secrets: { token: pulumi.secret(BUILD_SECRET) } };
    let message = "";
    try {
      await noca.up();
      assert.fail("the push without the CA succeeded");
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /x509: certificate signed by unknown authority|failed to verify certificate/);
    assert.match(message, /docker buildx build of 10\.77\.0\.1:5443\/berth-test\/noca:1 failed/);
    for (const secret of [PASSWORD, BUILD_SECRET]) assert.equal(message.includes(secret), false, `${secret} in the error`);
    await noca.destroy();
    assert.deepEqual(buildkitContainers("berth-noca"), []);
  });

  it("7. changing one setting (NO_PROXY) previews a replace naming the field, recreates the builder, and rebuilds nothing", async function () {
    const before = docker("inspect", "-f", "{{.Id}}", "buildx_buildkit_berth-seed0000");
    seed.builder = seedBuilder([...noProxy, "10.77.0.12"]);
    const p = await seed.preview();
    assert.equal(p.changeSummary.replace, 1, JSON.stringify(p.changeSummary));
    assert.equal(p.changeSummary.update ?? 0, 0, JSON.stringify(p.changeSummary));
    assert.match(p.stdout, /\+-berth:index:BuildxBuilder: \(replace\)/);
    assert.match(p.stdout, /~ driverOptions\s*: \{/);
    assert.match(p.stdout, /~ env\.NO_PROXY\s*: "10\.77\.0\.1:5443,127\.0\.0\.1,localhost,172\.20\.0\.0\/24" => "10\.77\.0\.1:5443,127\.0\.0\.1,localhost,172\.20\.0\.0\/24,10\.77\.0\.12"/);
    const r = await seed.up();
    assert.equal(r.summary.result, "succeeded");
    assert.equal(r.summary.resourceChanges?.replace, 1);
    assert.doesNotMatch(seed.output, /image .*: building/);
    const after = docker("inspect", "-f", "{{.Id}}", "buildx_buildkit_berth-seed0000");
    assert.notEqual(after, before, "the BuildKit container was not recreated");
    const env = JSON.parse(docker("inspect", "-f", "{{json .Config.Env}}", "buildx_buildkit_berth-seed0000")) as string[];
    assert.ok(env.includes(`NO_PROXY=${[...noProxy, "10.77.0.12"].join(",")}`));
  });

  it("7. destroy removes the builder, its BuildKit container, its state volume and buildx's record", async function () {
    const r = await seed.destroy();
    assert.equal(r.summary.result, "succeeded");
    assert.deepEqual(buildkitContainers("berth-seed000"), []);
    assert.equal(docker("volume", "ls", "-q", "--filter", "name=buildx_buildkit_berth-seed000"), "");
    assert.equal(fs.existsSync(path.join(os.homedir(), ".docker/buildx/instances/berth-seed000")), false);
    assert.doesNotMatch(docker("buildx", "ls"), /berth-seed000/);
    assert.equal(grepFiles(PASSWORD, b.dir), "");
  });
});
