/**
 * examples/shop through the real engine on the lab (issue 9, must-show 7): the example's program
 * directory, copied as a user's checkout, deploys a `staging` and a `production` stack to the same two
 * lab hosts. Each stack: an Image built on its own BuildxBuilder (seed 000: behind the lab's tinyproxy,
 * trusting the TLS registry's private CA; seed 001: the stack's buildkitd preset), pushed to the TLS
 * registry and deployed by digest (seeds 002, 004); web behind kamal-proxy and jobs on both hosts;
 * Postgres and Redis accessories on host 1; secrets from the example's `.kamal/secrets` file.
 * Then an unchanged preview of each stack, and destroy of both.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { berthPluginsDir, pulumiBinDir, REPO } from "../helpers/engine";
import { get, Lab, lab, sshRun } from "../helpers/lab";

const PROJECT = "berth-shop";
const STACKS = ["staging", "production"] as const;
type StackName = (typeof STACKS)[number];
const PRESET: Record<StackName, string> = { staging: "test", production: "production" };
const SVC = `shop${randomBytes(2).toString("hex")}`;
// Values that only the environment of `pulumi up` holds; .kamal/secrets reads them.
const SECRET_KEY_BASE = `skb-${randomBytes(8).toString("hex")}`;
const DB_PASSWORD = `dbpw-${randomBytes(8).toString("hex")}`;
const PROXY_PASSWORD = `px-${randomBytes(6).toString("hex")}`;
const VERSION = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version as string;
// Published accessory ports of this run (per stack), so other runs can share the lab.
const BASE_PORT = 20000 + (randomBytes(2).readUInt16BE() % 20000);
const PORTS: Record<StackName, { db: number; cache: number }> = {
  staging: { db: BASE_PORT, cache: BASE_PORT + 1 },
  production: { db: BASE_PORT + 2, cache: BASE_PORT + 3 },
};

function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/** A user's checkout of this repository: the example, the app's build context, Berth built and installed. */
function makeCheckout(repo: string): string {
  fs.mkdirSync(path.join(repo, "dist", "examples"), { recursive: true });
  fs.cpSync(path.join(REPO, "examples/shop"), path.join(repo, "examples/shop"), { recursive: true });
  fs.cpSync(path.join(REPO, "examples/app"), path.join(repo, "examples/app"), { recursive: true });
  fs.cpSync(path.join(REPO, "dist/examples/shop"), path.join(repo, "dist/examples/shop"), { recursive: true });
  fs.cpSync(path.join(REPO, "dist/sdk"), path.join(repo, "dist/sdk"), { recursive: true });
  fs.copyFileSync(path.join(REPO, "package.json"), path.join(repo, "package.json"));
  execFileSync("cp", ["-al", path.join(REPO, "node_modules"), path.join(repo, "node_modules")]);
  for (const f of ["Pulumi.staging.yaml", "Pulumi.production.yaml"]) fs.rmSync(path.join(repo, "examples/shop", f), { force: true });
  return path.join(repo, "examples/shop");
}

describe("real: examples/shop, staging and production on the same hosts", function () {
  let l: Lab;
  let root: string;
  let workDir: string;
  let h1: string;
  let h2: string;
  const stacks = {} as Record<StackName, Stack>;
  const outputs = {} as Record<StackName, Record<string, string>>;
  const domain = (s: StackName) => `${SVC}-${s}.test`;
  let proxyLogStart = 0;

  before(async function () {
    l = lab();
    [h1, h2] = l.hosts.map((h) => h.address);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-shop-"));
    fs.mkdirSync(path.join(root, "state"));
    const plugins = path.join(root, "pulumi-home", "plugins");
    fs.mkdirSync(plugins, { recursive: true });
    execFileSync("cp", ["-al", path.join(berthPluginsDir(), `resource-berth-v${VERSION}`), path.join(plugins, `resource-berth-v${VERSION}`)]);
    workDir = makeCheckout(path.join(root, "repo"));
    const envVars = {
      PULUMI_HOME: path.join(root, "pulumi-home"),
      PULUMI_BACKEND_URL: `file://${path.join(root, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "berth-test-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      SHOP_SECRET_KEY_BASE: SECRET_KEY_BASE,
      SHOP_DB_PASSWORD: DB_PASSWORD,
    };
    const pulumiCommand = await PulumiCommand.get({ root: path.dirname(pulumiBinDir()) });
    for (const s of STACKS) {
      stacks[s] = await LocalWorkspace.createOrSelectStack({ stackName: s, workDir }, { pulumiCommand, envVars, secretsProvider: "passphrase" });
      await stacks[s].setAllConfig({
        service: { value: SVC },
        hosts: { value: JSON.stringify([h1, h2]) },
        hostKeys: { value: JSON.stringify(Object.fromEntries(l.hosts.map((h) => [h.address, h.hostKey]))) },
        privateKeyPath: { value: l.ssh.privateKeyPath },
        domains: { value: JSON.stringify([domain(s)]) },
        registry: { value: l.registry.tls },
        registryCaPath: { value: l.registry.caPath },
        baseRegistry: { value: l.registry.plain },
        baseImage: { value: `${l.registry.plain}/${l.images.base}` },
        buildkitImage: { value: l.images.buildkit },
        proxyUrl: { value: `http://shop:${PROXY_PASSWORD}@${l.gateway}:8888`, secret: true },
        postgresImage: { value: `${l.registry.plain}/berth-lab/postgres:1` },
        redisImage: { value: `${l.registry.plain}/berth-lab/redis:1` },
        dbPort: { value: String(PORTS[s].db) },
        cachePort: { value: String(PORTS[s].cache) },
      });
    }
  });

  after(async function () {
    // Leave nothing on the shared lab, whatever failed above (accessory data is kept by destroy by design).
    for (const s of STACKS) await stacks[s]?.destroy().catch(() => undefined);
    if (h1) for (const s of STACKS) spawnSync("ssh", ["-i", l.ssh.privateKeyPath, "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${h1}`, `rm -rf ~/${SVC}-db-${s} ~/${SVC}-cache-${s}`]);
    for (const s of STACKS) spawnSync("docker", ["buildx", "rm", `${SVC}-builder-${s}`]);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("7. deploys staging, then production, from a copy of the example: each an Image on its own builder, deployed by digest", async function () {
    proxyLogStart = fs.statSync(l.proxy.logPath).size;
    for (const s of STACKS) {
      let out = "";
      const r = await stacks[s].up({ onOutput: (o) => (out += o) });
      assert.equal(r.summary.result, "succeeded", out);
      outputs[s] = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.value as string]));
      for (const v of [SECRET_KEY_BASE, DB_PASSWORD, PROXY_PASSWORD]) assert.equal(out.includes(v), false, "a secret is in the engine's output");
      const ref = outputs[s].imageRef;
      assert.match(ref, new RegExp(`^${l.registry.tls.replace(/\./g, "\\.")}/${SVC}/web@sha256:[0-9a-f]{64}$`));
      assert.equal(outputs[s].version, `sha256-${ref.split("@sha256:")[1].slice(0, 12)}`);
      assert.equal(outputs[s].destination, s);
      assert.equal(outputs[s].builderName, `${SVC}-builder-${s}`);
    }
    assert.notEqual(outputs.staging.imageRef, outputs.production.imageRef);
  });

  it("7. seed 000: each builder pulled its base image through the lab's proxy and pushed to the private-CA registry directly", function () {
    const log = fs.readFileSync(l.proxy.logPath).subarray(proxyLogStart).toString("utf8");
    assert.match(log, new RegExp(`GET http://${l.registry.plain.replace(/\./g, "\\.")}/v2/berth-lab/base/manifests/`));
    assert.equal(log.includes(`${l.registry.tls}/v2/${SVC}`), false, "a push to the NO_PROXY registry went through the proxy");
    for (const s of STACKS) {
      const digest = outputs[s].imageRef.split("@")[1];
      const manifest = execFileSync("curl", ["-sf", "--cacert", l.registry.caPath, "-H", "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json", `https://${l.registry.tls}/v2/${SVC}/web/manifests/${digest}`], { encoding: "utf8" });
      assert.match(manifest, /"manifests"|"layers"/);
      const env = JSON.parse(docker("inspect", "-f", "{{json .Config.Env}}", `buildx_buildkit_${SVC}-builder-${s}0`)) as string[];
      assert.deepEqual(env.filter((e) => e.startsWith("NO_PROXY=")), [`NO_PROXY=${l.registry.tls},127.0.0.1,localhost`]);
    }
  });

  it("7. seed 001: each stack's builder runs its own preset (staging `test`, production `production`)", function () {
    for (const s of STACKS) {
      assert.equal(outputs[s].buildkitdPreset, PRESET[s]);
      const workers = docker("exec", `buildx_buildkit_${SVC}-builder-${s}0`, "buildctl", "debug", "workers", "-v");
      assert.match(workers, new RegExp(`^\\s+environment:\\s+${PRESET[s]}$`, "m"), workers);
      const platforms = /^Platforms:\s+(\S+)/m.exec(workers)![1].split(",");
      assert.deepEqual(platforms.slice(0, 2), ["linux/amd64", "linux/arm64"], workers);
      assert.equal(platforms.includes("linux/arm/v7"), s === "production", workers);
    }
  });

  it("7. each stack's web answers through kamal-proxy by its own Host header on both hosts, running its own digest", async function () {
    for (const s of STACKS) {
      for (const h of [h1, h2]) {
        const page = await get(h, domain(s));
        assert.equal(page.status, 200);
        assert.equal(page.body.trim(), `version ${s}`);
        const image = sshRun(l, h, `docker inspect -f '{{.Config.Image}}' ${SVC}-web-${s}-${outputs[s].version}`).trim();
        assert.equal(image, outputs[s].imageRef);
      }
    }
  });

  it("7. each stack's jobs container runs on both hosts (not behind kamal-proxy)", function () {
    for (const s of STACKS) {
      for (const h of [h1, h2]) {
        const running = sshRun(l, h, `docker ps --filter label=service=${SVC} --filter label=role=jobs --filter label=destination=${s} --format '{{.Names}} {{.State}}'`).trim();
        assert.equal(running, `${SVC}-jobs-${s}-${outputs[s].version} running`);
      }
      const routes = sshRun(l, h1, "docker exec kamal-proxy kamal-proxy list");
      assert.match(routes, new RegExp(`${SVC}-web-${s}`));
      assert.doesNotMatch(routes, new RegExp(`${SVC}-jobs-${s}`));
    }
  });

  it("7. each stack's Postgres and Redis run on host 1 with their data directories, on the stack's own ports", function () {
    for (const s of STACKS) {
      for (const [acc, port, inner] of [["db", PORTS[s].db, 5432], ["cache", PORTS[s].cache, 6379]] as const) {
        const name = `${SVC}-${acc}-${s}`;
        assert.equal(sshRun(l, h1, `docker inspect -f '{{.State.Status}}' ${name}`).trim(), "running");
        assert.match(sshRun(l, h1, `docker port ${name} ${inner}`), new RegExp(`${h1.replace(/\./g, "\\.")}:${port}`));
        const mounts = JSON.parse(sshRun(l, h1, `docker inspect -f '{{json .Mounts}}' ${name}`)) as { Source: string }[];
        assert.ok(mounts.some((m) => m.Source === `/root/${name}/data`), JSON.stringify(mounts));
      }
      // Postgres initialised its data directory there; the app reaches Redis across hosts (host 2 → host 1's port).
      assert.match(sshRun(l, h1, `ls ~/${SVC}-db-${s}/data`), /PG_VERSION/);
      const pong = sshRun(l, h2, `bash -c 'exec 3<>/dev/tcp/${h1}/${PORTS[s].cache}; printf "PING\\r\\n" >&3; head -c 7 <&3'`);
      assert.equal(pong.trim(), "+PONG");
      assert.equal(sshRun(l, h1, `docker ps -a --filter name=^${SVC}-db-${s === "staging" ? "production" : "staging"}$ --format '{{.Names}}'`).trim(), `${SVC}-db-${s === "staging" ? "production" : "staging"}`);
    }
  });

  it("7. the `.kamal/secrets` values reached the containers' environment, and are not plaintext in the state files", function () {
    const env = (h: string, container: string, name: string) => {
      const all = JSON.parse(sshRun(l, h, `docker inspect --format '{{json .Config.Env}}' ${container}`)) as string[];
      return all.find((kv) => kv.startsWith(`${name}=`))?.slice(name.length + 1);
    };
    for (const s of STACKS) {
      for (const h of [h1, h2]) {
        for (const role of ["web", "jobs"]) {
          const c = `${SVC}-${role}-${s}-${outputs[s].version}`;
          assert.equal(env(h, c, "SECRET_KEY_BASE"), SECRET_KEY_BASE);
          assert.equal(env(h, c, "DATABASE_PASSWORD"), DB_PASSWORD);
        }
      }
      assert.equal(env(h1, `${SVC}-db-${s}`, "POSTGRES_PASSWORD"), DB_PASSWORD);
      const state = fs.readFileSync(path.join(root, "state", ".pulumi", "stacks", PROJECT, `${s}.json`), "utf8");
      for (const v of [SECRET_KEY_BASE, DB_PASSWORD, PROXY_PASSWORD]) assert.equal(state.includes(v), false, `a secret is plaintext in ${s}'s state file`);
    }
    // The checkout's secrets file holds no value, only where to read it.
    const file = fs.readFileSync(path.join(workDir, ".kamal/secrets"), "utf8");
    assert.equal(file.includes(SECRET_KEY_BASE) || file.includes(DB_PASSWORD), false);
  });

  it("7. a second preview of each stack shows 0 changes", async function () {
    for (const s of STACKS) {
      const p = await stacks[s].preview({ diff: true });
      const changed = Object.entries(p.changeSummary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);
      assert.deepEqual(changed, [], `${s}: ${p.stdout}`);
    }
  });

  it("7. destroying both stacks leaves no container, route, env file or builder of the shop (accessory data is kept, as documented)", async function () {
    for (const s of STACKS) {
      const r = await stacks[s].destroy();
      assert.equal(r.summary.result, "succeeded");
    }
    for (const h of [h1, h2]) {
      assert.equal(sshRun(l, h, `docker ps -a --format '{{.Names}}' | grep -F ${SVC} || true`).trim(), "", h);
      assert.doesNotMatch(sshRun(l, h, "docker exec kamal-proxy kamal-proxy list 2>/dev/null || true"), new RegExp(SVC));
      assert.equal(sshRun(l, h, `ls -d ~/.kamal/apps/${SVC}* 2>/dev/null | xargs -r find | grep -F .env || true`).trim(), "", h);
    }
    for (const s of STACKS) {
      assert.equal(docker("ps", "-a", "-q", "--filter", `name=buildx_buildkit_${SVC}-builder-${s}`), "");
      // docs/accessories.md: "destroy keeps the data"; the after hook removes it.
      assert.match(sshRun(l, h1, `ls ~/${SVC}-db-${s}/data`), /PG_VERSION/);
    }
  });
});
