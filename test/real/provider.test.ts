/**
 * Berth's provider plugin through the real engine, from a user's repository checked out twice:
 * deploy from clone A, delete it, then preview/refresh/up/destroy from clone B at another path with
 * another HOME and the same backend (issue 8, must-show 1–3, 5). Also: a new Berth (same or newer
 * version, different code) previews 0 changes; hand-made drift shows by property name.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { berthPluginsDir, pulumiBinDir, REPO } from "../helpers/engine";
import { appImage, get, Lab, lab, sshRun } from "../helpers/lab";
import { summarize } from "../../sdk/cli/summary";

const FIXTURE = path.join(REPO, "test/real/fixtures/clone");
const STACK = "pr";
const TOKEN = `t0k-${randomBytes(6).toString("hex")}`;
const API_KEY = `ak-${randomBytes(6).toString("hex")}`;
const VERSION = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version as string;

/** A checkout of the user's repository: the program, its build context, Berth installed beside it. */
function makeClone(dir: string): void {
  fs.mkdirSync(path.join(dir, "dist"), { recursive: true });
  for (const f of ["Pulumi.yaml", "program.js"]) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  fs.cpSync(path.join(REPO, "examples/app"), path.join(dir, "app"), { recursive: true });
  fs.copyFileSync(path.join(REPO, "package.json"), path.join(dir, "package.json"));
  fs.cpSync(path.join(REPO, "dist/sdk"), path.join(dir, "dist/sdk"), { recursive: true });
  execFileSync("cp", ["-al", path.join(REPO, "node_modules"), path.join(dir, "node_modules")]);
}

/** A HOME with its own Pulumi home whose plugin cache holds the installed berth plugin. */
function makeHome(dir: string): string {
  const plugins = path.join(dir, ".pulumi", "plugins");
  fs.mkdirSync(plugins, { recursive: true });
  // Pulumi lists plugin directories, not symlinks: hard-link a copy of the installed one.
  execFileSync("cp", ["-al", path.join(berthPluginsDir(), `resource-berth-v${VERSION}`), path.join(plugins, `resource-berth-v${VERSION}`)]);
  return dir;
}

interface Checkout {
  dir: string;
  home: string;
  env: Record<string, string>;
  stack: Stack;
}

describe("real: Berth's provider plugin, from two checkouts", function () {
  let l: Lab;
  let root: string;
  let state: string;
  let a: Checkout;
  let b: Checkout;
  const service = `clone${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  let tag: string;

  async function checkout(name: string): Promise<Checkout> {
    const dir = path.join(root, `work-${name}`, "repo");
    const home = makeHome(path.join(root, `home-${name}`));
    makeClone(dir);
    const env = {
      HOME: home,
      PULUMI_HOME: path.join(home, ".pulumi"),
      PULUMI_BACKEND_URL: `file://${state}`,
      PULUMI_CONFIG_PASSPHRASE: "berth-test-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    const pulumi = await (await import("@pulumi/pulumi/automation")).PulumiCommand.get({ root: path.dirname(pulumiBinDir()) });
    const stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: dir }, { pulumiCommand: pulumi, envVars: env });
    return { dir, home, env, stack };
  }

  /** `pulumi <args> --json` in a checkout, parsed. */
  function cli(c: Checkout, args: string[]): any {
    const out = execFileSync(path.join(pulumiBinDir(), "pulumi"), [...args, "--json", "--non-interactive", "--stack", STACK], {
      cwd: c.dir,
      env: { ...process.env, ...c.env },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out);
  }

  function steps(preview: any, type: string): any[] {
    return (preview.steps ?? []).filter((s: any) => s.urn.split("::")[2].split("$").pop() === type);
  }

  async function answers(): Promise<string[]> {
    return Promise.all(l.hosts.map(async (h) => (await get(h.address, hostHeader)).body.trim()));
  }

  before(async function () {
    l = lab();
    root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-clones-"));
    state = path.join(root, "state");
    fs.mkdirSync(state);
    tag = `${l.registry.plain}/berth/${service}:build`;
    a = await checkout("a");
    await a.stack.setAllConfig({
      service: { value: service },
      hosts: { value: JSON.stringify(l.hosts.map((h) => h.address)) },
      hostKeys: { value: JSON.stringify(Object.fromEntries(l.hosts.map((h) => [h.address, h.hostKey]))) },
      key: { value: l.ssh.privateKeyPath },
      hostHeader: { value: hostHeader },
      image: { value: "unused-when-built:1" },
      build: { value: "true" },
      buildTag: { value: tag },
      appVersion: { value: "c1" },
      base: { value: l.images.base },
      token: { value: TOKEN, secret: true },
      apiKey: { value: API_KEY, secret: true },
    });
  });

  after(async function () {
    // Leave nothing on the shared lab hosts, whatever failed above.
    for (const c of [b, a]) {
      if (c && fs.existsSync(c.dir)) {
        await c.stack.destroy().catch(() => undefined);
        break;
      }
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("1. deploys from clone A (an Image built from its context, two roles on two hosts)", async function () {
    const r = await a.stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.deepEqual(await answers(), ["version c1", "version c1"]);
  });

  it("1. clone A deleted; from clone B at another path and HOME: preview shows 0 changes and runs no build; state holds neither path", async function () {
    b = await checkout("b");
    fs.copyFileSync(path.join(a.dir, `Pulumi.${STACK}.yaml`), path.join(b.dir, `Pulumi.${STACK}.yaml`));
    fs.rmSync(path.dirname(a.dir), { recursive: true, force: true });
    const p = cli(b, ["preview"]);
    assert.deepEqual(Object.keys(p.changeSummary ?? {}), ["same"], JSON.stringify(p.changeSummary));
    // The state file as it sits in the backend (`exportStack` would decrypt the secrets).
    const exported = fs.readFileSync(path.join(state, ".pulumi", "stacks", "berth-real-clone", `${STACK}.json`), "utf8");
    for (const where of [root, a.dir, b.dir, a.home, b.home, REPO]) assert.equal(exported.includes(where), false, `the state holds ${where}`);
    assert.equal(exported.includes("__provider"), false);
    assert.match(exported, /pulumi:providers:berth::default_/);
    for (const secret of [TOKEN, API_KEY]) {
      const at = exported.indexOf(secret);
      assert.equal(at, -1, `a secret is plaintext in state: …${exported.slice(Math.max(0, at - 300), at + 50)}…`);
    }
    // The secret given in `env.clear` went to the env file, not to `docker run --env`.
    const web = (await b.stack.exportStack()).deployment.resources.find((r: any) => r.type === "berth:index:AppHost" && r.urn.includes("app-web-"));
    assert.equal(web.inputs.container.env.API_KEY, undefined);
    assert.deepEqual(web.inputs.secretEnvNames, ["API_KEY", "TOKEN"]);
  });

  it("2. a new Berth that changes no host (log wording, version bump) previews 0 changes and applies none", async function () {
    // Build Berth 0.x.y+1 from clone B's copy with a reworded log line, install it into B's home.
    const file = path.join(b.dir, "dist/sdk/provider/app-host.js");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("is live", "is now live"));
    const next = VERSION.replace(/(\d+)$/, (n) => String(Number(n) + 1));
    const pkg = JSON.parse(fs.readFileSync(path.join(b.dir, "package.json"), "utf8"));
    fs.writeFileSync(path.join(b.dir, "package.json"), JSON.stringify({ ...pkg, version: next }, null, 2));
    const stage = path.join(root, "plugin");
    fs.mkdirSync(path.join(stage, "dist"), { recursive: true });
    fs.cpSync(path.join(b.dir, "dist/sdk"), path.join(stage, "dist/sdk"), { recursive: true });
    fs.copyFileSync(path.join(b.dir, "package.json"), path.join(stage, "package.json"));
    fs.copyFileSync(path.join(REPO, "scripts/plugin-wrapper.sh"), path.join(stage, "pulumi-resource-berth"));
    fs.chmodSync(path.join(stage, "pulumi-resource-berth"), 0o755);
    fs.symlinkSync(path.join(berthPluginsDir(), `resource-berth-v${VERSION}`, "node_modules"), path.join(stage, "node_modules"));
    execFileSync("tar", ["--hard-dereference", "-czhf", path.join(root, "plugin.tgz"), "-C", stage, "."]);
    execFileSync(path.join(pulumiBinDir(), "pulumi"), ["plugin", "install", "resource", "berth", next, "--file", path.join(root, "plugin.tgz")], { env: { ...process.env, ...b.env }, stdio: "pipe" });

    const p = cli(b, ["preview"]);
    assert.deepEqual(Object.keys(p.changeSummary ?? {}), ["same"], JSON.stringify(p.changeSummary));
    const up = await b.stack.up();
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"], JSON.stringify(up.summary.resourceChanges));
    assert.match(JSON.stringify(await b.stack.exportStack()), new RegExp(`pulumi:providers:berth::default_${next.replace(/\./g, "_")}`));
  });

  it("3. a changed source file: the preview shows the rebuild and each AppHost changes only image and version", async function () {
    fs.appendFileSync(path.join(b.dir, "app/www/cgi-bin/env"), "echo CHANGED=1\n");
    const p = cli(b, ["preview"]);
    const image = steps(p, "berth:index:Image");
    assert.equal(image.length, 1);
    assert.equal(image[0].op, "update");
    assert.deepEqual(Object.keys(image[0].detailedDiff ?? {}), ["contextHash"]);
    const hosts = steps(p, "berth:index:AppHost");
    assert.equal(hosts.length, 4);
    for (const s of hosts) {
      assert.equal(s.op, "update", s.urn);
      assert.deepEqual(Object.keys(s.detailedDiff ?? {}).sort(), ["image", "version"], `${s.urn}: ${JSON.stringify(s.detailedDiff)}`);
    }
    const r = await b.stack.up();
    assert.equal(r.summary.result, "succeeded");
    const env = await get(l.hosts[0].address, hostHeader, "/cgi-bin/env");
    assert.match(env.body, /CHANGED=1/);
  });

  it("5. drift: a kamal-proxy route and an env file changed by hand show by property name in preview --refresh; up restores them", async function () {
    const h = l.hosts[0].address;
    const svc = `${service}-web-${STACK}`;
    const target = sshRun(l, h, `docker ps --filter label=service=${service} --filter label=role=web --format '{{.ID}}'`).trim();
    sshRun(l, h, `docker exec kamal-proxy kamal-proxy deploy ${svc} --target=${target}:80 --host=other.test --health-check-path=/up`);
    sshRun(l, h, `sed -i 's/^TOKEN=.*/TOKEN=edited-by-hand/' .kamal/apps/${service}-${STACK}/env/roles/web.env`);
    const p = cli(b, ["preview", "--refresh"]);
    const web = steps(p, "berth:index:AppHost").find((s: any) => s.urn.endsWith(`app-web-${h}`) && s.op !== "refresh");
    assert.ok(web, JSON.stringify(p.steps.map((s: any) => s.urn)));
    assert.equal(web.op, "update");
    const paths = Object.keys(web.detailedDiff ?? {});
    assert.ok(paths.includes("proxy.hosts"), paths.join(", "));
    assert.ok(paths.includes("secrets.env.TOKEN"), paths.join(", "));
    assert.equal(JSON.stringify(p).includes("edited-by-hand"), false, "a secret value shows in the preview");
    const r = await b.stack.up({ refresh: true });
    assert.equal(r.summary.result, "succeeded");
    assert.equal((await get(h, hostHeader)).status, 200);
    assert.equal((await get(h, "other.test")).status, 404);
    assert.equal(sshRun(l, h, `cat .kamal/apps/${service}-${STACK}/env/roles/web.env`).trim(), `API_KEY=${API_KEY}\nTOKEN=${TOKEN}`);
    const again = cli(b, ["preview", "--refresh"]);
    const left = (again.steps ?? []).filter((s: any) => !["same", "refresh"].includes(s.op)).map((s: any) => `${s.urn} ${s.op} ${JSON.stringify(s.detailedDiff)}`);
    assert.deepEqual(left, []);
  });

  it("4. the PR summary of a real preview (version bump on 2 hosts × 2 roles, an env change, maintenance on) is the checked-in Markdown", async function () {
    const s1 = appImage(l, "s1");
    await b.stack.setAllConfig({ build: { value: "false" }, image: { value: s1 } });
    assert.equal((await b.stack.up()).summary.result, "succeeded");
    await b.stack.setAllConfig({ image: { value: appImage(l, "s2") }, greeting: { value: "hi" }, maintenance: { value: "true" }, maintenanceMessage: { value: "Back soon" } });
    const md = summarize(cli(b, ["preview"]));
    const expected = fs
      .readFileSync(path.join(FIXTURE, "summary.md"), "utf8")
      .replaceAll("{{service}}", service)
      .replaceAll("{{stack}}", STACK)
      .replaceAll("{{h1}}", l.hosts[0].address)
      .replaceAll("{{h2}}", l.hosts[1].address)
      .replaceAll("{{registry}}", l.registry.plain);
    assert.equal(md.trimEnd(), expected.trimEnd());
    for (const secret of [TOKEN, API_KEY]) assert.equal(md.includes(secret), false);
  });

  it("1. removing a host from the program, then destroy, work from clone B", async function () {
    await b.stack.setConfig("hosts", { value: JSON.stringify([l.hosts[0].address]) });
    const r = await b.stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.equal(sshRun(l, l.hosts[1].address, `docker ps -a --filter label=service=${service} --format '{{.Names}}'`).trim(), "");
    assert.match(sshRun(l, l.hosts[0].address, `docker ps --filter label=service=${service} --format '{{.Names}}'`), new RegExp(`${service}-web-${STACK}-`));
    const d = await b.stack.destroy();
    assert.equal(d.summary.result, "succeeded");
    for (const host of l.hosts) assert.equal(sshRun(l, host.address, `docker ps -a --filter label=service=${service} --format '{{.Names}}'`).trim(), "");
  });
});
