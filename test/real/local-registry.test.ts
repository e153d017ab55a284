/**
 * Kamal's local registry (issue 10, must-show 6), on the lab with the real engine: a registry on the
 * deploying machine's loopback only (Debian's `docker-registry`, our own instance and storage), an
 * image pushed there and nowhere else, deployed by AppService to both lab hosts — which cannot reach
 * that registry — through SSH reverse tunnels that Berth opens for the pull and closes after it.
 */
import * as assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService, BuildxBuilder, Image } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

/** A TCP port free on this machine's 127.0.0.1 and on every lab host's 127.0.0.1. */
async function freePort(l: Lab): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (!free) continue;
    if (l.hosts.every((h) => listening(l, h.address, port) === "")) return port;
  }
  throw new Error("no free port found on 127.0.0.1 here and on the lab hosts");
}

/** What listens on the host's TCP `port` (`ss` lines; "" for nothing). */
function listening(l: Lab, address: string, port: number): string {
  return sshRun(l, address, `ss -Hltn 'sport = :${port}'`).trim();
}

/** The outcome of `curl` to `url` run on a lab host: "ok <status>" or "failed <curl exit code>". */
function curlFrom(l: Lab, address: string, url: string): string {
  return sshRun(l, address, `code=$(curl -sS -o /dev/null -m 5 -w '%{http_code}' '${url}' 2>/dev/null) && echo "ok $code" || echo "failed $?"`).trim();
}

/** Every manifest type, so a registry answers for an OCI index (buildx) as for a plain image. */
const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** GET http://127.0.0.1:<port><path> on this machine: the status code, 0 when nothing answers. */
function localStatus(port: number, urlPath: string): number {
  const r = spawnSync("curl", ["-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", "-H", `Accept: ${MANIFEST_TYPES}`, `http://127.0.0.1:${port}${urlPath}`], { encoding: "utf8" });
  return Number(r.stdout.trim() || "0");
}

describe("real: local registry (registry.server localhost:<port>)", function () {
  let l: Lab;
  let b: TestBackend;
  let port: number;
  let registry: ChildProcess | undefined;
  let storage: string;
  let image: string;
  let s: Stack;
  let output = "";
  const tag = `t${randomBytes(4).toString("hex")}`;
  const service = `lreg${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const repository = `berth/${service}`;
  let built: Stack | undefined;
  let down: Stack | undefined;
  let work: string | undefined;
  const builderName = `berth-${service}`;

  before(async function () {
    l = lab();
    b = await backend();
    port = await freePort(l);

    // Our own registry on this machine's loopback only, with its own storage, as Kamal's
    // `docker run -p 127.0.0.1:PORT:5000 registry:3` would be.
    storage = fs.mkdtempSync(path.join(os.tmpdir(), "berth-local-registry-"));
    const config = path.join(storage, "config.yml");
    fs.writeFileSync(
      config,
      `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(storage, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: berth-local-registry-test\n`,
    );
    const log = fs.openSync(path.join(storage, "registry.log"), "a");
    registry = spawn("docker-registry", ["serve", config], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    for (let i = 0; localStatus(port, "/v2/") !== 200; i++) {
      if (i > 50 || registry.exitCode !== null) throw new Error(`the test registry did not answer on 127.0.0.1:${port}:\n${fs.readFileSync(path.join(storage, "registry.log"), "utf8")}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The lab's example app under a tag that exists only in that registry.
    image = `localhost:${port}/${repository}:${tag}`;
    execFileSync("docker", ["build", "-q", "--build-arg", `VERSION=${tag}`, "--build-arg", `BASE=${l.images.base}`, "-t", image, path.join(REPO, "examples/app")], { stdio: "pipe", timeout: 300_000 });
    execFileSync("docker", ["push", "-q", image], { stdio: "pipe", timeout: 300_000 });
    execFileSync("docker", ["rmi", image], { stdio: "pipe" });

    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "local",
        projectName: "berth-real-local-registry",
        program: async () => {
          new AppService("app", {
            service,
            image,
            hosts: l.hosts.map((h) => h.address),
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            // Kamal's `registry: { server: localhost:5555 }`: no credentials, no login.
            registry: { server: `localhost:${port}` },
            deployTimeoutSeconds: 20,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    for (const st of [s, built, down]) {
      try {
        await st?.destroy();
      } catch {
        /* cleaned below */
      }
    }
    spawnSync("docker", ["buildx", "rm", builderName]);
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const h of l?.hosts ?? []) {
      try {
        sshRun(l, h.address, `docker ps -aq --filter label=service=${service} | xargs -r docker rm -f; docker images -q 'localhost:${port}/${repository}' | xargs -r docker rmi -f`);
      } catch {
        /* best effort */
      }
    }
    registry?.kill("SIGTERM");
    if (storage) fs.rmSync(storage, { recursive: true, force: true });
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("the image is only in the registry on this machine's loopback, which the hosts cannot reach", function () {
    assert.equal(localStatus(port, `/v2/${repository}/manifests/${tag}`), 200);
    // Not in the lab's shared registry, not on the hosts.
    const [, labPort] = l.registry.plain.split(":");
    assert.equal(localStatus(Number(labPort), `/v2/${repository}/manifests/${tag}`), 404);
    for (const h of l.hosts) {
      assert.equal(sshRun(l, h.address, `docker image inspect '${image}' >/dev/null 2>&1 && echo present || echo absent`).trim(), "absent");
      // The deploying machine's address on the lab network refuses (the registry listens on 127.0.0.1 only) …
      assert.match(curlFrom(l, h.address, `http://${l.gateway}:${port}/v2/`), /^failed \d+$/);
      // … and the host's own loopback has nothing on that port before the deploy.
      assert.match(curlFrom(l, h.address, `http://127.0.0.1:${port}/v2/`), /^failed \d+$/);
      assert.equal(listening(l, h.address, port), "");
    }
  });

  it("deploys it to both hosts through SSH reverse tunnels; both answer through kamal-proxy; the tunnels are closed afterwards", async function () {
    const logBefore = fs.readFileSync(path.join(storage, "registry.log"), "utf8").length;
    const r = await s.up({ onOutput: (o) => (output += o) });
    assert.equal(r.summary.result, "succeeded");
    for (const h of l.hosts) {
      assert.match(output, new RegExp(`${h.address.replace(/\./g, "\\.")} ${service}-web-local: pulling localhost:${port}/${repository.replace("/", "\\/")}:${tag} through an SSH tunnel to this machine's 127\\.0\\.0\\.1:${port}`));
      const res = await get(h.address, hostHeader);
      assert.deepEqual({ status: res.status, body: res.body.trim() }, { status: 200, body: `version ${tag}` });
      assert.equal(sshRun(l, h.address, `docker ps --filter label=service=${service} --format '{{.Names}} {{.Image}}'`).trim(), `${service}-web-local-${tag} ${image}`);
      // The tunnel is gone: nothing listens on the host's 127.0.0.1:<port>, and a pull there fails.
      assert.equal(listening(l, h.address, port), "");
      assert.match(curlFrom(l, h.address, `http://127.0.0.1:${port}/v2/`), /^failed \d+$/);
    }
    // The pulls reached the registry on this machine through the tunnels: during the deploy its access
    // log got the hosts' manifest requests, from 127.0.0.1 (the tunnel's end here), at least one per host.
    const log = fs.readFileSync(path.join(storage, "registry.log"), "utf8").slice(logBefore);
    const pulls = log.match(new RegExp(`^127\\.0\\.0\\.1 .*"(?:GET|HEAD) /v2/${repository.replace("/", "\\/")}/manifests/[^ ]+ HTTP/1\\.1" 200`, "gm")) ?? [];
    assert.ok(pulls.length >= 2, log.slice(-3000));
  });

  it("the stack previews 0 changes after the deploy and destroys cleanly", async function () {
    const p = await s.preview();
    assert.deepEqual(Object.keys(p.changeSummary).sort(), ["same"]);
    const d = await s.destroy();
    assert.equal(d.summary.result, "succeeded");
    for (const h of l.hosts) {
      assert.equal(sshRun(l, h.address, `docker ps -aq --filter label=service=${service}`).trim(), "");
      assert.equal(listening(l, h.address, port), "");
    }
  });

  it("an Image built by buildx on a docker-container builder with `network: host` (Kamal's `--driver-opt network=host`) pushes to the local registry, and its digest deploys through the tunnels", async function () {
    // The build's base comes from the lab registry; the build context is a copy of the example app.
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-local-registry-work-"));
    fs.cpSync(path.join(REPO, "examples/app"), work, { recursive: true });
    const builtTag = `${tag}-built`;
    const tagged = `localhost:${port}/${repository}:${builtTag}`;
    built = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "built",
        projectName: "berth-real-local-registry",
        program: async () => {
          const builder = new BuildxBuilder("builder", { name: builderName, image: l.images.buildkit, network: "host", config: { registry: { [l.registry.plain]: { http: true } } } });
          const image = new Image("app", { context: work!, builder, tags: [tagged], buildArgs: { VERSION: builtTag, BASE: `${l.registry.plain}/${l.images.base}` } });
          new AppService("app", {
            service,
            image: image.ref,
            hosts: l.hosts.map((h) => h.address),
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            registry: { server: `localhost:${port}` },
            deployTimeoutSeconds: 20,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
          return { ref: image.ref };
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    const r = await built.up();
    assert.equal(r.summary.result, "succeeded");
    const ref = String(r.outputs.ref.value);
    assert.match(ref, new RegExp(`^localhost:${port}/${repository.replace("/", "\\/")}@sha256:[0-9a-f]{64}$`));
    // Pushed to the registry on this machine's loopback, and only there.
    assert.equal(localStatus(port, `/v2/${repository}/manifests/${builtTag}`), 200);
    for (const h of l.hosts) {
      const res = await get(h.address, hostHeader);
      assert.deepEqual({ status: res.status, body: res.body.trim() }, { status: 200, body: `version ${builtTag}` });
      assert.equal(listening(l, h.address, port), "");
    }
    const d = await built.destroy();
    assert.equal(d.summary.result, "succeeded");
  });

  it("with the local registry stopped, a deploy fails naming the host, the step and the port, and starts nothing", async function () {
    registry!.kill("SIGTERM");
    await new Promise<void>((resolve) => (registry!.exitCode !== null ? resolve() : registry!.once("exit", () => resolve())));
    assert.equal(localStatus(port, "/v2/"), 0);
    down = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "down",
        projectName: "berth-real-local-registry",
        program: async () => {
          new AppService("app", {
            service,
            image: `localhost:${port}/${repository}:${tag}-gone`,
            hosts: [l.hosts[0].address],
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 20,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    const message = await down.up().then(
      () => assert.fail("the deploy succeeded without its registry"),
      (e: Error) => e.message,
    );
    assert.match(
      message,
      new RegExp(`${l.hosts[0].address.replace(/\./g, "\\.")}: pulling localhost:${port}/${repository.replace("/", "\\/")}:${tag}-gone failed: nothing answers on this machine's 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
    assert.equal(sshRun(l, l.hosts[0].address, `docker ps -aq --filter label=service=${service}`).trim(), "");
    assert.equal(listening(l, l.hosts[0].address, port), "");
    const d = await down.destroy();
    assert.equal(d.summary.result, "succeeded");
  });
});
