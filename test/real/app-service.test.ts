/**
 * AppService + Proxy on the lab's real hosts through the real engine: rollout under load, a
 * failing health check, previews, roles, maintenance, secrets, two stacks on one host, destroy.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { execFileSync as run } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService, AppServiceArgs } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun, startLoad } from "../helpers/lab";

const SECRET = "s3cr3t-berth-token-7f1c";
const REGISTRY_PASSWORD = "r3g-pa55-berth-91ab";

/** An inline-program stack whose AppService args the test changes between runs. */
class AppStack {
  args!: AppServiceArgs;
  stack!: Stack;
  output = "";
  constructor(
    readonly b: TestBackend,
    readonly name: string,
  ) {}
  async init(project = "berth-real-app") {
    this.stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: this.name,
        projectName: project,
        program: async () => {
          const a = { ...this.args };
          const env = a.env as any;
          if (env?.secret) a.env = { ...env, secret: Object.fromEntries(Object.entries(env.secret).map(([k, v]) => [k, pulumi.secret(v as string)])) };
          const app = new AppService("app", a);
          return { version: app.version };
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
  async preview(diff = true) {
    return this.stack.preview({ diff });
  }
}

/** Files under `dir` that contain `text` (grep exits 1 when there are none). */
function grepFiles(text: string, dir: string): string {
  try {
    return run("grep", ["-rl", "--", text, dir], { encoding: "utf8" }).trim();
  } catch (e) {
    if ((e as { status?: number }).status === 1) return "";
    throw e;
  }
}

async function versionsOn(l: Lab, hostHeader: string): Promise<string[]> {
  return Promise.all(l.hosts.map(async (h) => (await get(h.address, hostHeader)).body.trim()));
}

describe("real: AppService on lab hosts", function () {
  let l: Lab;
  let b: TestBackend;
  let staging: AppStack;
  let images: Record<string, string>;

  const base = (version: string): AppServiceArgs => ({
    service: "shop",
    image: images[version],
    hosts: l.hosts.map((h) => h.address),
    proxy: { hosts: ["shop.test"], healthcheck: { intervalSeconds: 1 } },
    env: { clear: { GREETING: "hello" }, secret: { SECRET_TOKEN: SECRET } },
    // The lab registry needs no login, but takes one: every rollout logs in first, over stdin.
    registry: { server: l.registry.plain, username: "berth", password: REGISTRY_PASSWORD },
    drainTimeoutSeconds: 5,
    deployTimeoutSeconds: 10,
    ssh: labSsh(l),
  });

  before(async function () {
    l = lab();
    b = await backend();
    images = { v1: appImage(l, "v1"), v2: appImage(l, "v2"), v3: appImage(l, "v3", false), v4: appImage(l, "v4") };
    staging = await new AppStack(b, "staging").init();
  });

  after(async function () {
    // Leave the lab clean for the next test file, whatever happened.
    for (const name of ["staging", "production"]) {
      try {
        const s = await LocalWorkspace.selectStack({ stackName: name, projectName: "berth-real-app", program: async () => undefined }, { pulumiCommand: b.pulumi, envVars: b.envVars });
        await s.destroy();
      } catch {
        /* already gone */
      }
    }
    for (const h of l?.hosts ?? []) {
      try {
        sshRun(l, h.address, "docker ps -aq --filter label=service=shop | xargs -r docker rm -f; docker ps -aq --filter label=service=jobs | xargs -r docker rm -f");
      } catch {
        /* best effort */
      }
    }
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("1. deploys v1 to both hosts; each answers v1 through kamal-proxy by Host header", async function () {
    staging.args = base("v1");
    const r = await staging.up();
    assert.equal(r.summary.result, "succeeded");
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v1", "version v1"]);
    // kamal-proxy routes shop.test to this service (other services may route other names, or all of them).
    const routes = sshRun(l, l.hosts[0].address, "docker exec kamal-proxy kamal-proxy list").replace(/\x1b\[[0-9;]*m/g, "");
    assert.match(routes, /shop-web-staging\s+shop\.test\s+\/\s+[0-9a-f]{12}:80\s+running/);
    assert.match(staging.output, /10\.77\.0\.11 shop-web-staging: pulling/);
    assert.match(staging.output, /shop-web-staging: health-checking shop-web-staging-v1/);
    const names = sshRun(l, l.hosts[0].address, "docker ps --format '{{.Names}} {{.Label \"service\"}} {{.Label \"role\"}} {{.Label \"destination\"}}' --filter label=service=shop");
    assert.equal(names.trim(), "shop-web-staging-v1 shop web staging");
  });

  it("2. rolls v1 → v2 under 50 req/s across both hosts with 0 failed requests; old containers stopped and retained", async function () {
    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: "shop.test" })), 50);
    await new Promise((r) => setTimeout(r, 1000));
    staging.args = base("v2");
    const r = await staging.up();
    await new Promise((r) => setTimeout(r, 1000));
    const counts = await load.stop();
    assert.equal(r.summary.result, "succeeded");
    assert.ok(counts.sent >= 100, `only ${counts.sent} requests were sent`);
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v2", "version v2"]);
    for (const h of l.hosts) {
      const ps = sshRun(l, h.address, "docker ps -a --format '{{.Names}} {{.State}}' --filter label=service=shop").trim().split("\n").sort();
      assert.deepEqual(ps, ["shop-web-staging-v1 exited", "shop-web-staging-v2 running"]);
    }
  });

  it("4. previews a version bump as a change of version and image on each host, and nothing else", async function () {
    staging.args = base("v4");
    const p = await staging.preview();
    assert.equal(p.changeSummary.update, 2, JSON.stringify(p.changeSummary));
    const changed = p.stdout.split("\n").filter((x) => /^\s*~ /.test(x) && !/^\s*~ \d+ to update/.test(x)).map((x) => x.trim());
    for (const line of changed) assert.match(line, /^~ (berth:index:AppHost: \(update\)|spec\s*:|image\s*:|version\s*:|\[urn=|\[id=)/, `unexpected change line: ${line}\n${p.stdout}`);
    assert.match(p.stdout, /version\s*: "v2" => "v4"/);
    assert.match(p.stdout, /image\s*: "[^"]*app:v2" => "[^"]*app:v4"/);
    // once per host, plus the stack output `version`
    assert.equal((p.stdout.match(/version\s*: "v2" => "v4"/g) ?? []).length, 3);
    assert.equal((p.stdout.match(/~ berth:index:AppHost: \(update\)/g) ?? []).length, 2);
  });

  it("4. an unchanged program previews and applies 0 changes and runs nothing on the hosts", async function () {
    staging.args = base("v2");
    const started = l.hosts.map((h) => sshRun(l, h.address, "docker inspect --format '{{.State.StartedAt}}' shop-web-staging-v2").trim());
    const p = await staging.preview();
    assert.deepEqual(Object.keys(p.changeSummary), ["same"]);
    const r = await staging.up();
    assert.deepEqual(Object.keys(r.summary.resourceChanges ?? {}), ["same"]);
    assert.doesNotMatch(staging.output, /shop-web-staging: (pulling|starting)/);
    const after = l.hosts.map((h) => sshRun(l, h.address, "docker inspect --format '{{.State.StartedAt}}' shop-web-staging-v2").trim());
    assert.deepEqual(after, started);
  });

  it("records a changed SSH setting without redeploying anything", async function () {
    staging.args = { ...base("v2"), ssh: { ...labSsh(l), knownHostsPath: l.ssh.knownHostsPath } };
    const started = l.hosts.map((h) => sshRun(l, h.address, "docker inspect --format '{{.State.StartedAt}}' shop-web-staging-v2").trim());
    const r = await staging.up();
    assert.equal(r.summary.result, "succeeded");
    assert.doesNotMatch(staging.output, /shop-web-staging: (pulling|starting|reusing)/);
    const after = l.hosts.map((h) => sshRun(l, h.address, "docker inspect --format '{{.State.StartedAt}}' shop-web-staging-v2").trim());
    assert.deepEqual(after, started);
    const p = await staging.preview();
    assert.deepEqual(Object.keys(p.changeSummary), ["same"]);
  });

  it("3. a v3 that fails its health check: up fails naming host, step and logs; every host keeps serving v2 with 0 failed requests", async function () {
    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: "shop.test" })), 50);
    staging.args = base("v3");
    let error = "";
    try {
      await staging.up();
    } catch (e) {
      error = String((e as Error).message);
    }
    const counts = await load.stop();
    assert.notEqual(error, "", "pulumi up should have failed");
    assert.match(error, /10\.77\.0\.1[12]: kamal-proxy deploy of shop-web-staging-v3 \(the previous version keeps serving\) failed \(exit 1\)/);
    assert.match(error, /target failed to become healthy/);
    assert.match(error, /container logs/);
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v2", "version v2"]);
    assert.ok(!error.includes(SECRET));
  });

  it("3. fixing the version converges every host", async function () {
    staging.args = base("v4");
    const r = await staging.up();
    assert.equal(r.summary.result, "succeeded");
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v4", "version v4"]);
    for (const h of l.hosts) {
      const running = sshRun(l, h.address, "docker ps --format '{{.Names}}' --filter label=service=shop").trim();
      assert.equal(running, "shop-web-staging-v4");
    }
  });

  it("rolls back to v2 from its retained container's image without a pull", async function () {
    staging.args = base("v2");
    const r = await staging.up();
    assert.equal(r.summary.result, "succeeded");
    assert.match(staging.output, /reusing the retained image of v2/);
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v2", "version v2"]);
  });

  it("9. secret env: in the container, 0600 env file, absent from state, output, argv and errors", async function () {
    const h = l.hosts[0].address;
    const env = await get(h, "shop.test", "/cgi-bin/env");
    assert.match(env.body, /SECRET_TOKEN=set/);
    assert.match(env.body, /GREETING=hello/);
    assert.equal(sshRun(l, h, `docker exec shop-web-staging-v2 sh -c 'printf %s "$SECRET_TOKEN"'`).trim(), SECRET);
    assert.equal(sshRun(l, h, "stat -c '%a' .kamal/apps/shop-staging/env/roles/web.env").trim(), "600");
    // Every file the backend wrote: the stack's state, its backups and its history.
    const stateFiles = grepFiles(SECRET, b.dir);
    assert.equal(stateFiles, "", "the secret is in the state in clear");
    assert.equal(grepFiles(REGISTRY_PASSWORD, b.dir), "", "the registry password is in the state in clear");
    assert.ok(!staging.output.includes(REGISTRY_PASSWORD));
    assert.ok(JSON.stringify(await staging.stack.exportStack()).includes(SECRET), "the secret is not in the decrypted state at all");
    assert.ok(!staging.output.includes(SECRET), "the secret is in the CLI output");
    const inspect = sshRun(l, h, "docker inspect --format '{{json .Args}} {{json .Path}}' shop-web-staging-v2");
    assert.ok(!inspect.includes(SECRET));
    const ps = sshRun(l, h, "ps -eo args");
    assert.ok(!ps.includes(SECRET), "the secret is in a host process's argv");
    assert.match(sshRun(l, h, "cat .docker/config.json"), new RegExp(l.registry.plain.replace(/\./g, "\\.")), "docker login did not run");
  });

  it("6. maintenance on → 503 with the message; off → 200; both visible in the preview", async function () {
    staging.args = { ...base("v2"), maintenance: { enabled: true, message: "Back at noon" } };
    const p = await staging.preview();
    assert.match(p.stdout, /enabled\s*: false => true/);
    await staging.up();
    for (const h of l.hosts) {
      const r = await get(h.address, "shop.test");
      assert.equal(r.status, 503);
      assert.match(r.body, /Back at noon/);
    }
    staging.args = base("v2");
    const p2 = await staging.preview();
    assert.match(p2.stdout, /enabled\s*: true => false/);
    await staging.up();
    assert.deepEqual(await versionsOn(l, "shop.test"), ["version v2", "version v2"]);
  });

  it("5 & 10. staging and production on the same hosts stay apart; destroying one leaves the other and the shared proxy", async function () {
    const production = await new AppStack(b, "production").init();
    production.args = { ...base("v4"), proxy: { hosts: ["shop-prod.test"] } };
    await production.up();
    const h = l.hosts[0].address;
    assert.equal((await get(h, "shop-prod.test")).body.trim(), "version v4");
    assert.equal((await get(h, "shop.test")).body.trim(), "version v2");
    const names = sshRun(l, h, "docker ps --format '{{.Names}}' --filter label=service=shop").trim().split("\n").sort();
    assert.deepEqual(names, ["shop-web-production-v4", "shop-web-staging-v2"]);
    assert.match(sshRun(l, h, "ls .kamal/apps"), /shop-production[\s\S]*shop-staging/);

    const d = await production.stack.destroy();
    assert.equal(d.summary.result, "succeeded");
    assert.doesNotMatch(sshRun(l, h, "docker exec kamal-proxy kamal-proxy list"), /shop-web-production/);
    assert.notEqual((await get(h, "shop-prod.test")).body.trim(), "version v4");
    assert.equal((await get(h, "shop.test")).body.trim(), "version v2");
    assert.deepEqual(sshRun(l, h, "docker ps -a --format '{{.Names}}' --filter label=service=shop").trim().split("\n").filter((n) => n.includes("production")), []);
    assert.doesNotMatch(sshRun(l, h, "ls .kamal/apps"), /shop-production/);
    assert.equal(sshRun(l, h, "docker inspect --format '{{.State.Running}}' kamal-proxy").trim(), "true");
  });

  it("8. workers roll out after web; an unhealthy web keeps the workers on the old version", async function () {
    const roles = (web: string): AppServiceArgs => ({
      ...base(web),
      hosts: undefined,
      roles: {
        web: { hosts: [l.hosts[0].address] },
        jobs: { hosts: [l.hosts[1].address], cmd: ["/run.sh"], env: { clear: { PORT: "8080" } } },
      },
      image: images[web],
    });
    staging.args = roles("v2");
    await staging.up();
    assert.equal(sshRun(l, l.hosts[1].address, "docker ps --format '{{.Names}}' --filter label=role=jobs --filter label=service=shop").trim(), "shop-jobs-staging-v2");
    assert.match(staging.output, /shop-jobs-staging: waiting for shop-jobs-staging-v2 to be running/);

    staging.args = roles("v3");
    await assert.rejects(staging.up(), /shop-web-staging-v3/);
    assert.equal(sshRun(l, l.hosts[1].address, "docker ps --format '{{.Names}}' --filter label=role=jobs --filter label=service=shop").trim(), "shop-jobs-staging-v2");
    staging.args = roles("v4");
    await staging.up();
    const webLive = staging.output.indexOf("shop-web-staging: v4 is live");
    const jobsStart = staging.output.indexOf("shop-jobs-staging: pulling");
    assert.ok(webLive >= 0 && jobsStart > webLive, `jobs started before web was live:\n${staging.output}`);
    assert.equal(sshRun(l, l.hosts[1].address, "docker ps --format '{{.Names}}' --filter label=role=jobs --filter label=service=shop").trim(), "shop-jobs-staging-v4");
  });

  it("destroys the staging stack: containers, routes and env files gone", async function () {
    const d = await staging.stack.destroy();
    assert.equal(d.summary.result, "succeeded");
    for (const h of l.hosts) {
      assert.equal(sshRun(l, h.address, "docker ps -aq --filter label=service=shop").trim(), "");
      // The route is gone; kamal-proxy itself stays only while another stack still uses it.
      const proxyLeft = sshRun(l, h.address, "docker ps -q --filter name=^kamal-proxy$").trim() !== "";
      const owners = sshRun(l, h.address, "ls .berth/proxy/kamal-proxy/owners 2>/dev/null || true").trim();
      const routes = proxyLeft ? sshRun(l, h.address, "docker exec kamal-proxy kamal-proxy list").trim().split("\n").slice(1).filter((r) => r.trim() !== "") : [];
      // Kept only while another stack owns it or still routes a service through it (other tests share the lab).
      assert.equal(proxyLeft, owners !== "" || routes.length > 0, `kamal-proxy ${proxyLeft ? "kept" : "removed"} with owners: ${owners || "none"}, routes: ${routes.length}`);
      if (proxyLeft) assert.doesNotMatch(routes.join("\n"), /shop-web-staging/);
      assert.doesNotMatch(owners, /berth-real-app_staging/);
      assert.doesNotMatch(sshRun(l, h.address, "ls .kamal/apps 2>/dev/null || true"), /shop-staging/);
    }
  });
});
