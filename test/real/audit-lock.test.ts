/**
 * Audit log, prune and deploy lock (issue 10), on the lab with the real engine:
 * - each mutating step appends one escaped line to Kamal's `~/.kamal/<service>-<destination>-audit.log`;
 * - after a release the service's dangling images go, another service's stay, and another
 *   destination's containers and images are untouched;
 * - a lock taken by hand the Kamal way blocks the deploy naming its holder; `berth lock release`
 *   removes it; a finished or failed deploy leaves no lock.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

describe("real: audit log, prune and deploy lock", function () {
  let l: Lab;
  let b: TestBackend;
  const service = `adt${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const images: Record<string, string> = {};
  const settings: Record<string, { image: string; version: string; maintenance?: { enabled: boolean; message?: string } }> = {};
  const stacks: Record<string, Stack> = {};
  let host: string;

  async function make(name: string): Promise<Stack> {
    const s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: name,
        projectName: "berth-real-audit",
        program: async () => {
          const x = settings[name];
          new AppService("app", {
            service,
            image: x.image,
            version: x.version,
            hosts: [host],
            proxy: { hosts: [`${name}.${hostHeader}`], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 15,
            drainTimeoutSeconds: 1,
            retainContainers: 1,
            ...(x.maintenance ? { maintenance: x.maintenance } : {}),
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    stacks[name] = s;
    return s;
  }

  async function failure(s: Stack): Promise<string> {
    try {
      await s.up();
    } catch (e) {
      return String((e as Error).message);
    }
    return "";
  }

  const on = (cmd: string) => sshRun(l, host, cmd);
  const lockDir = (dest: string) => `.kamal/lock-${service}-${dest}`;
  const berth = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(REPO, "dist/sdk/cli/main.js"), ...args], { encoding: "utf8", timeout: 60_000 });
  const lockFlags = (dest: string) => ["--host", host, "--service", service, "--destination", dest, "--ssh-key", l.ssh.privateKeyPath, "--known-hosts", l.ssh.knownHostsPath];

  before(async function () {
    l = lab();
    host = l.hosts[0].address;
    b = await backend("berth-audit-");
    for (const v of ["a1", "a2", "a3"]) images[v] = appImage(l, v);
    images.bad = appImage(l, "abad", false);
  });

  after(async function () {
    for (const s of Object.values(stacks)) await s.destroy().catch(() => undefined);
    on(`rm -rf ~/.kamal/lock-${service}-* ~/.kamal/${service}-*-audit.log; docker rmi berth-dangle-${service}:x berth-dangle-${service}x:x >/dev/null 2>&1 || true`);
  });

  it("each step appends one escaped line to ~/.kamal/<service>-<destination>-audit.log: hostile version characters and maintenance message cannot forge or break a line", async function () {
    const s = await make("prod");
    const version = "2.0.1_rc-A.b";
    const message = 'Back soon\n[2026-01-01T00:00:00Z] [root] forged "quoted" \'single\' \u001b[31mred\u001b[0m $(touch /tmp/berth-pwned) `id`';
    settings.prod = { image: images.a1, version };
    assert.equal((await s.up()).summary.result, "succeeded");
    settings.prod.maintenance = { enabled: true, message };
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.equal((await get(host, `prod.${hostHeader}`)).status, 503);
    settings.prod.maintenance = { enabled: false };
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.equal((await get(host, `prod.${hostHeader}`)).body.trim(), "version a1");

    const text = on(`cat ~/.kamal/${service}-prod-audit.log`);
    const lines = text.split("\n");
    assert.equal(lines.pop(), "", "the file ends with a line break");
    assert.equal(lines.length, 3, text);
    for (const x of lines) {
      assert.match(x, /^\[[^\]]+\] \[[^\]]+\] .*$/);
      assert.doesNotMatch(x, /[\u0000-\u001f\u007f-\u009f]/, "a raw control character");
    }
    const tags = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] \[([^\]]+)\] \[prod\] \[web\] (.*)$/;
    const parsed = lines.map((x) => x.match(tags));
    assert.ok(parsed.every((m) => m !== null), text);
    assert.equal(parsed[0]![3], `Booted app version ${version}`);
    assert.equal(parsed[1]![3], 'Maintenance mode on: Back soon\\n[2026-01-01T00:00:00Z] [root] forged "quoted" \'single\' \\x1b[31mred\\x1b[0m $(touch /tmp/berth-pwned) `id`');
    assert.equal(parsed[2]![3], "Maintenance mode off");
    const performer = process.env.USER || require("node:os").userInfo().username;
    assert.ok(parsed.every((m) => m![2] === performer), `performer ${performer}: ${text}`);
    assert.equal(on("ls /tmp/berth-pwned 2>/dev/null || echo none").trim(), "none");
  });

  it("prune: this service's dangling images go; another service's stay; another destination's containers and images are untouched; one stopped container retained", async function () {
    const other = await make("other");
    settings.other = { image: images.a1, version: "o1" };
    assert.equal((await other.up()).summary.result, "succeeded");
    settings.other = { image: images.a2, version: "o2" };
    assert.equal((await other.up()).summary.result, "succeeded");
    const otherContainers = () => on(`docker ps -a --filter label=service=${service} --filter label=destination=other --format '{{.ID}} {{.Names}} {{.Image}} {{.State}}' | sort`).trim();
    const before = otherContainers();
    assert.equal(before.split("\n").length, 2, before);

    // Dangling images: `docker commit` twice to one tag leaves the first untagged.
    const running = on(`docker ps -q --filter name=^${service}-web-prod-`).trim();
    const dangle = (svc: string) => {
      const first = on(`docker commit --change 'LABEL service=${svc}' ${running} berth-dangle-${svc}:x`).trim();
      on(`docker commit --change 'LABEL service=${svc}' ${running} berth-dangle-${svc}:x`);
      return first;
    };
    const mine = dangle(service);
    const theirs = dangle(`${service}x`);
    const exists = (id: string) => on(`docker image inspect ${id} >/dev/null 2>&1 && echo yes || echo no`).trim() === "yes";
    assert.ok(exists(mine) && exists(theirs));

    settings.prod = { image: images.a2, version: "p2" };
    assert.equal((await stacks.prod.up()).summary.result, "succeeded");
    assert.equal(exists(mine), false, "this service's dangling image was not pruned");
    assert.ok(exists(theirs), "another service's dangling image was pruned");
    assert.equal(otherContainers(), before);
    for (const img of [images.a1, images.a2]) assert.ok(exists(img), `${img} was removed`);
    const prod = on(`docker ps -a --filter label=service=${service} --filter label=destination=prod --format '{{.Names}} {{.State}}'`).trim().split("\n").sort();
    assert.deepEqual(prod, [`${service}-web-prod-2.0.1_rc-A.b exited`, `${service}-web-prod-p2 running`]);
    assert.equal((await get(host, `other.${hostHeader}`)).body.trim(), "version a2");
  });

  it("a lock taken by hand the Kamal way blocks the deploy naming its holder; `berth lock release` removes it; the deploy then succeeds; a failed deploy leaves no lock", async function () {
    const s = stacks.prod;
    const details = Buffer.from("Locked by: Deployer at 2026-01-02T03:04:05Z\nVersion: 7e1a\nMessage: Integration Tests").toString("base64");
    on(`mkdir -p .kamal && mkdir ${lockDir("prod")} && echo "${details}" > ${lockDir("prod")}/details`);
    settings.prod = { image: images.a3, version: "p3" };
    const started = Date.now();
    const err = await failure(s);
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
    assert.match(err, new RegExp(`${host.replace(/\./g, "\\.")}: deploy lock found \\(~/\\.kamal/lock-${service}-prod\\): locked by Deployer at 2026-01-02T03:04:05Z, version 7e1a, message "Integration Tests", held for \\d+s`));
    assert.match(err, /berth lock release --host/);
    assert.equal((await get(host, `prod.${hostHeader}`)).body.trim(), "version a2", "the deploy changed the host");

    const status = berth("lock", "status", ...lockFlags("prod"));
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /locked by Deployer at 2026-01-02T03:04:05Z, version 7e1a, message "Integration Tests", held for \d+s/);
    const released = berth("lock", "release", ...lockFlags("prod"));
    assert.equal(released.status, 0, released.stderr);
    assert.match(released.stdout, /released the deploy lock \(locked by Deployer/);
    assert.equal(on(`ls -d ${lockDir("prod")} 2>/dev/null || echo none`).trim(), "none");
    assert.match(berth("lock", "status", ...lockFlags("prod")).stdout, /there is no deploy lock/);

    assert.equal((await s.up()).summary.result, "succeeded");
    assert.equal((await get(host, `prod.${hostHeader}`)).body.trim(), "version a3");
    assert.equal(on(`ls -d ${lockDir("prod")} 2>/dev/null || echo none`).trim(), "none", "a finished deploy left its lock");

    settings.prod = { image: images.bad, version: "pbad" };
    assert.notEqual(await failure(s), "");
    assert.equal(on(`ls -d ${lockDir("prod")} 2>/dev/null || echo none`).trim(), "none", "a failed deploy left its lock");
    assert.equal((await get(host, `prod.${hostHeader}`)).body.trim(), "version a3");
    assert.match(on(`cat ~/.kamal/${service}-prod-audit.log`), /\[prod\] \[web\] Booted app version pbad\n$/);
  });

  it("two roles of the service on one host in one up share the lock: both deploy, each audits its own line, no lock is left", async function () {
    const s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "roles",
        projectName: "berth-real-audit",
        program: async () => {
          new AppService("app", {
            service,
            image: images.a1,
            version: "r1",
            roles: {
              web: { hosts: [host], proxy: { hosts: [`roles.${hostHeader}`], healthcheck: { intervalSeconds: 1 } } },
              jobs: { hosts: [host], cmd: ["/run.sh"], env: { clear: { PORT: "8080" } } },
            },
            deployTimeoutSeconds: 15,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    stacks.roles = s;
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.equal(on(`docker ps --filter label=service=${service} --filter label=destination=roles --format '{{.Names}}' | sort`).trim(), `${service}-jobs-roles-r1\n${service}-web-roles-r1`);
    assert.equal(on(`ls -d ${lockDir("roles")} 2>/dev/null || echo none`).trim(), "none");
    const audit = on(`cat ~/.kamal/${service}-roles-audit.log`);
    assert.match(audit, /^\[[^\]]+\] \[[^\]]+\] \[roles\] \[web\] Booted app version r1\n\[[^\]]+\] \[[^\]]+\] \[roles\] \[jobs\] Booted app version r1\n$/);
  });
});
