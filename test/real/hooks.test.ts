/**
 * Kamal's hooks (issue 10, must-show 1), on the lab with the real engine: a project with a
 * Kamal-style `.kamal/hooks/` directory holding all 9 hooks, each appending its name and its KAMAL_*
 * environment to a file.
 * - the first `up` runs pre-build, pre-connect, docker-setup, pre-deploy, pre-app-boot, post-app-boot
 *   and post-deploy once each, in that order, with KAMAL_ROLES/KAMAL_HOSTS/KAMAL_VERSION right, and
 *   the hooks' output reaches the `pulumi up` log;
 * - an unchanged second `up` runs no hook (and previews 0 changes);
 * - a kamal-proxy reboot (new run settings) runs pre-proxy-reboot and post-proxy-reboot only;
 * - a failing pre-deploy with a version bump leaves every host untouched (container ids unchanged)
 *   and the error names the hook and its output;
 * - with KAMAL_LOCK=true (a deploy started by a hook of a deploy holding the lock) the lock is
 *   inherited: not taken, not released, and the hooks see KAMAL_LOCK=true.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { backend, REPO, stateFile, TestBackend } from "../helpers/engine";
import { get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const HOOKS = ["docker-setup", "pre-connect", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy", "pre-proxy-reboot", "post-proxy-reboot"];
const PORT = 8097;

const PROGRAM = (repo: string) => `// Written by test/real/hooks.test.ts
const pulumi = require("@pulumi/pulumi");
const { AppService, BuildxBuilder, Image } = require(${JSON.stringify(path.join(repo, "dist/sdk"))});
const s = JSON.parse(new pulumi.Config().require("settings"));
const builder = new BuildxBuilder("builder", { name: s.builderName, image: s.buildkit, config: { registry: { [s.registry]: { http: true } } } });
const image = new Image("img", {
  context: "app",
  tags: [s.registry + "/berth-test/" + s.service + ":" + s.version],
  buildArgs: { VERSION: s.version, BASE: s.registry + "/berth-lab/base:1", SERVICE: s.service },
  builder,
  hooks: { path: ".kamal/hooks" },
});
const app = new AppService("app", {
  service: s.service,
  image: image.ref,
  version: s.version,
  hosts: s.hosts,
  proxy: { hosts: [s.hostHeader], healthcheck: { intervalSeconds: 1 } },
  proxyRun: {
    image: { registry: s.registry, repository: "basecamp/kamal-proxy", version: "v0.9.2" },
    containerName: s.service + "-proxy",
    configVolume: s.service + "-proxy-config",
    httpPort: s.port,
    httpsPort: s.port + 400,
    debug: s.proxyDebug,
  },
  deployTimeoutSeconds: 20,
  drainTimeoutSeconds: 1,
  ssh: s.ssh,
  hooks: { path: ".kamal/hooks" },
});
exports.version = app.version;
`;

describe("real: Kamal's hooks", function () {
  let l: Lab;
  let b: TestBackend;
  let proj: string;
  let s: Stack;
  const service = `hooks${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const stackName = "hk";
  let hosts: string[];
  let logFile: string;
  let failFlag: string;
  const settings: Record<string, unknown> = {};

  /** The hooks' lines so far: `[name, env]`. */
  function ran(): { name: string; env: Record<string, string> }[] {
    if (!fs.existsSync(logFile)) return [];
    return fs
      .readFileSync(logFile, "utf8")
      .split("\n")
      .filter((x) => x !== "")
      .map((line) => {
        const [name, ...vars] = line.split("\t");
        return { name, env: Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)])) };
      });
  }

  async function configure(extra: Record<string, unknown> = {}) {
    Object.assign(settings, extra);
    await s.setConfig("settings", { value: JSON.stringify(settings) });
  }

  async function stackWith(env: Record<string, string> = {}): Promise<Stack> {
    return LocalWorkspace.createOrSelectStack({ stackName, workDir: proj }, { pulumiCommand: b.pulumi, envVars: { ...b.envVars, ...env }, secretsProvider: "passphrase" });
  }

  /** Container ids (all states) of this service, and of its kamal-proxy, on every host. */
  const containers = () =>
    hosts
      .map((h) => `${h}: ${sshRun(l, h, `docker ps -a --no-trunc --filter label=service=${service} --format '{{.ID}} {{.Names}} {{.State}}' | sort; docker ps -a --no-trunc --filter name=^${service}-proxy$ --format '{{.ID}} {{.Names}} {{.State}}'`).trim()}`)
      .join("\n");

  before(async function () {
    l = lab();
    hosts = l.hosts.map((h) => h.address);
    b = await backend("berth-hooks-");
    proj = path.join(b.dir, "project");
    logFile = path.join(b.dir, "hooks.log");
    failFlag = path.join(b.dir, "fail-pre-deploy");
    fs.mkdirSync(path.join(proj, ".kamal/hooks"), { recursive: true });
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(proj, "node_modules"));
    fs.cpSync(path.join(REPO, "examples/app"), path.join(proj, "app"), { recursive: true });
    fs.writeFileSync(path.join(proj, "Pulumi.yaml"), "name: berth-real-hooks\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n");
    fs.writeFileSync(path.join(proj, "index.js"), PROGRAM(REPO));
    for (const h of HOOKS) {
      const fail = h === "pre-deploy" ? `if [ -f '${failFlag}' ]; then echo "pre-deploy refusing version $KAMAL_VERSION"; exit 1; fi\n` : "";
      // Each hook appends one line: its name, then its KAMAL_* variables, tab-separated.
      fs.writeFileSync(
        path.join(proj, ".kamal/hooks", h),
        `#!/bin/sh\n{ printf '%s' '${h}'; env | grep '^KAMAL_' | sort | while IFS= read -r v; do printf '\\t%s' "$v"; done; printf '\\n'; } >> '${logFile}'\necho "hello from ${h}"\n${fail}`,
        { mode: 0o755 },
      );
    }
    // Kamal's samples are not hooks.
    fs.writeFileSync(path.join(proj, ".kamal/hooks/pre-deploy.sample"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    s = await stackWith();
    await configure({
      service,
      hostHeader,
      hosts,
      port: PORT,
      version: "v1",
      proxyDebug: false,
      registry: l.registry.plain,
      buildkit: l.images.buildkit,
      builderName: `berth-${service}`,
      ssh: labSsh(l),
    });
  });

  after(async function () {
    if (s) await (await stackWith()).destroy().catch(() => undefined);
    for (const h of hosts ?? []) sshRun(l, h, `rm -rf ~/.kamal/lock-${service}-${stackName} ~/.kamal/${service}-${stackName}-audit.log; docker rm -f ${service}-proxy >/dev/null 2>&1; docker volume rm ${service}-proxy-config >/dev/null 2>&1; true`);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("first up: pre-build, pre-connect, docker-setup, pre-deploy, pre-app-boot, post-app-boot, post-deploy once each, in order, with Kamal's env; output in the up log", async function () {
    let out = "";
    const r = await s.up({ onOutput: (o) => (out += o) });
    assert.equal(r.summary.result, "succeeded");
    const lines = ran();
    assert.deepEqual(
      lines.map((x) => x.name),
      ["pre-build", "pre-connect", "docker-setup", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"],
    );
    for (const x of lines) {
      assert.match(x.env.KAMAL_RECORDED_AT, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, x.name);
      assert.ok(x.env.KAMAL_PERFORMER, x.name);
      assert.equal(x.env.KAMAL_LOCK, "false", x.name);
      assert.equal(x.env.KAMAL_COMMAND, "deploy", x.name);
      assert.equal(x.env.KAMAL_DESTINATION, stackName, x.name);
      assert.equal(x.env.KAMAL_SUBCOMMAND, undefined, x.name);
      assert.equal(x.env.KAMAL_RUNTIME !== undefined, x.name === "post-deploy", x.name);
      if (x.name === "pre-build") {
        assert.equal(x.env.KAMAL_VERSION, "v1");
        assert.equal(x.env.KAMAL_HOSTS, "");
        continue;
      }
      assert.equal(x.env.KAMAL_SERVICE, service, x.name);
      assert.equal(x.env.KAMAL_HOSTS, hosts.join(","), x.name);
      assert.equal(x.env.KAMAL_ROLES, x.name.endsWith("app-boot") ? "web" : undefined, x.name);
      if (x.name !== "docker-setup") {
        assert.equal(x.env.KAMAL_VERSION, "v1", x.name);
        assert.equal(x.env.KAMAL_SERVICE_VERSION, `${service}@v1`, x.name);
      }
    }
    assert.match(lines[6].env.KAMAL_RUNTIME, /^\d+$/);
    for (const h of ["pre-build", "pre-deploy", "post-deploy"]) assert.match(out, new RegExp(`${h}: hello from ${h}`), `the ${h} hook's output is not in the up log`);
    for (const h of hosts) assert.equal((await get(h, hostHeader, "/", PORT)).body.trim(), "version v1");
  });

  it("an unchanged program previews 0 changes and its up runs no hook", async function () {
    const p = await s.preview({ diff: true });
    assert.deepEqual(Object.keys(p.changeSummary), ["same"], p.stdout);
    const before = ran().length;
    const r = await s.up();
    assert.deepEqual(Object.keys(r.summary.resourceChanges ?? {}), ["same"]);
    assert.equal(ran().length, before);
    // State holds each hook file's relative path and hash, never the project's absolute path nor the hook's code.
    const state = stateFile(b, "berth-real-hooks", stackName);
    assert.match(state, /"path": ?"\.kamal\/hooks\/pre-deploy"/);
    assert.ok(!state.includes(proj), "an absolute path of the deploying machine in state");
    assert.ok(!state.includes("hello from"), "a hook's code in state");
    assert.match(state, /"secretsTrigger": ?\{\s*"4dabf18193072939515e22adb298388d": ?"1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/, "the hash of the secret settings is not stored as a secret");
  });

  it("a kamal-proxy reboot (new run settings) runs pre-proxy-reboot and post-proxy-reboot, and no deploy hook", async function () {
    const proxyId = () => hosts.map((h) => sshRun(l, h, `docker inspect --format '{{.Id}}' ${service}-proxy`).trim());
    const idsBefore = proxyId();
    const before = ran().length;
    await configure({ proxyDebug: true });
    const r = await s.up();
    assert.equal(r.summary.result, "succeeded");
    const lines = ran().slice(before);
    assert.deepEqual(lines.map((x) => x.name), ["pre-proxy-reboot", "post-proxy-reboot"]);
    for (const x of lines) {
      assert.equal(x.env.KAMAL_HOSTS, hosts.join(","));
      assert.equal(x.env.KAMAL_COMMAND, "proxy");
      assert.equal(x.env.KAMAL_SUBCOMMAND, "reboot");
    }
    const idsAfter = proxyId();
    hosts.forEach((_, i) => assert.notEqual(idsAfter[i], idsBefore[i], "kamal-proxy was not rebooted"));
    for (const h of hosts) assert.equal((await get(h, hostHeader, "/", PORT)).body.trim(), "version v1");
  });

  it("a failing pre-deploy with a version bump leaves every host untouched and the error names the hook and its output", async function () {
    const before = containers();
    const count = ran().length;
    fs.writeFileSync(failFlag, "");
    await configure({ version: "v2" });
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = String((e as Error).message);
    }
    assert.match(message, /Hook `pre-deploy` failed \(exit 1\)/);
    assert.match(message, /pre-deploy refusing version v2/);
    assert.equal(containers(), before, "a host was touched");
    assert.deepEqual(
      ran().slice(count).map((x) => x.name),
      ["pre-build", "pre-connect", "pre-deploy"],
    );
    for (const h of hosts) assert.equal((await get(h, hostHeader, "/", PORT)).body.trim(), "version v1");

    // Fixed: the next up deploys; the hooks that failed or had not run yet run now.
    fs.rmSync(failFlag);
    const next = ran().length;
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.deepEqual(
      ran().slice(next).map((x) => x.name),
      ["pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"],
    );
    for (const h of hosts) assert.equal((await get(h, hostHeader, "/", PORT)).body.trim(), "version v2");
  });

  it("with KAMAL_LOCK=true the deploy lock is inherited: not taken, not released, and hooks see KAMAL_LOCK=true", async function () {
    const dir = `.kamal/lock-${service}-${stackName}`;
    const details = Buffer.from("Locked by: kamal-parent at 2026-01-01T00:00:00Z\nVersion: v9\nMessage: outer deploy").toString("base64");
    sshRun(l, hosts[0], `mkdir -p ${dir} && echo ${details} > ${dir}/details`);
    const count = ran().length;
    await configure({ version: "v3" });
    let out = "";
    const r = await (await stackWith({ KAMAL_LOCK: "true" })).up({ onOutput: (o) => (out += o) });
    assert.equal(r.summary.result, "succeeded");
    assert.match(out, /KAMAL_LOCK=true: running under the inherited deploy lock/);
    assert.equal(sshRun(l, hosts[0], `cat ${dir}/details`).trim(), details, "the inherited lock was released or replaced");
    const lines = ran().slice(count);
    assert.deepEqual(lines.map((x) => x.name), ["pre-build", "pre-connect", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"]);
    for (const x of lines) assert.equal(x.env.KAMAL_LOCK, "true", x.name);
    for (const h of hosts) assert.equal((await get(h, hostHeader, "/", PORT)).body.trim(), "version v3");

    // Without KAMAL_LOCK the same lock blocks the deploy.
    await configure({ version: "v4" });
    await assert.rejects(s.up(), /deploy lock found/);
    sshRun(l, hosts[0], `rm -rf ${dir}`);
  });
});
