/**
 * Faults (issue 11): before the first change of an `up`, every host of the deploy is connected,
 * its host key verified and its Docker asked; a host whose key changed stops the deploy with every
 * host untouched, and the error names the host without a stack trace.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun, startLoad } from "../helpers/lab";

describe("real: faults stop a deploy before it changes anything", function () {
  let l: Lab;
  let b: TestBackend;
  let s: Stack;
  const service = `flt${randomBytes(2).toString("hex")}`;
  let version = "f1";
  let wrongKey = false;
  let sickHost = false;
  const images: Record<string, string> = {};

  before(async function () {
    l = lab();
    b = await backend("berth-faults-");
    for (const v of ["f1", "f2", "f3", "f4"]) images[v] = appImage(l, v);
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "staging",
        projectName: "berth-real-faults",
        program: async () => {
          const ssh = labSsh(l);
          // Host 2 "replaced": its pinned key is now host 1's.
          if (wrongKey) ssh.hostKeys = { ...ssh.hostKeys, [l.hosts[1].address]: l.hosts[0].hostKey };
          new AppService("app", {
            service,
            image: images[version],
            hosts: [l.hosts[0].address, { host: l.hosts[1].address, tags: ["sick"] }],
            // The example app fails its health check when BERTH_FAIL_HEALTH is set: on host 2 only.
            env: { tags: { sick: { clear: sickHost ? { BERTH_FAIL_HEALTH: "1" } : {} } } },
            proxy: { hosts: [`${service}.test`], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 20,
            drainTimeoutSeconds: 1,
            ssh,
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    wrongKey = false;
    await s?.destroy().catch(() => undefined);
  });

  const ids = () => l.hosts.map((h) => sshRun(l, h.address, `docker ps --filter label=service=${service} --format '{{.ID}} {{.Names}}'`).trim());

  it("a changed host key on one of two hosts: nothing changes on either host; the error names the host, without a stack trace", async function () {
    assert.equal((await s.up()).summary.result, "succeeded");
    const before = ids();
    assert.ok(before.every((x) => x.endsWith(`${service}-web-staging-f1`)), before.join(" | "));
    version = "f2";
    wrongKey = true;
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, new RegExp(`the host key of ${l.hosts[1].address.replace(/\./g, "\\.")}:22 \\(SHA256:[^)]+\\) does not match the pinned key`));
    assert.match(message, new RegExp(`${l.hosts[0].address.replace(/\./g, "\\.")}: not deployed: pre-flight failed on ${l.hosts[1].address.replace(/\./g, "\\.")}`));
    assert.doesNotMatch(message, /^\s+at .*\.js:\d+/m, "a stack trace in the output");
    assert.deepEqual(ids(), before);
    wrongKey = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.ok(ids().every((x) => x.endsWith(`${service}-web-staging-f2`)));
  });

  it("a health check failing on one host only: up fails naming that host and step; the other host switches back; 0 failed requests", async function () {
    const before = ids();
    assert.ok(before.every((x) => x.endsWith(`${service}-web-staging-f2`)), before.join(" | "));
    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: `${service}.test` })), 40);
    version = "f3";
    sickHost = true;
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    }
    const counts = await load.stop();
    const [h1, h2] = l.hosts.map((h) => h.address.replace(/\./g, "\\."));
    assert.match(message, new RegExp(`${h2}: kamal-proxy deploy of ${service}-web-staging-f3 \\(the previous version keeps serving\\) failed`));
    assert.match(message, new RegExp(`${h1}: ${service}-web-staging switched back to its previous version because ${h2} failed`));
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version f2", h.address);
    sickHost = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version f3", h.address);
  });

  it("a pull denied on one host: up fails naming that host and step; the other host switches back; the next up converges", async function () {
    const before = ids();
    assert.ok(before.every((x) => x.endsWith(`${service}-web-staging-f3`)), before.join(" | "));
    const h2 = l.hosts[1].address;
    // Host 2 can no longer reach the registry (its own network namespace).
    const [registryHost, registryPort] = l.registry.plain.split(":");
    const rule = `OUTPUT -d ${registryHost} -p tcp --dport ${registryPort} -j REJECT`;
    sshRun(l, h2, `iptables -A ${rule}`);
    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: `${service}.test` })), 40);
    version = "f4";
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    } finally {
      sshRun(l, h2, `iptables -D ${rule}`);
    }
    const counts = await load.stop();
    const esc = (h: string) => h.replace(/\./g, "\\.");
    assert.match(message, new RegExp(`${esc(h2)}: pulling ${images.f4.replace(/[.:/]/g, "\\$&")} failed`));
    assert.match(message, new RegExp(`${esc(l.hosts[0].address)}: ${service}-web-staging switched back to its previous version because ${esc(h2)} failed`));
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version f3", h.address);
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version f4", h.address);
  });
});

describe("real: one version across boot groups", function () {
  let l: Lab;
  let b: TestBackend;
  let s: Stack;
  const service = `grp${randomBytes(2).toString("hex")}`;
  let version = "g1";
  let sickHost = false;
  const images: Record<string, string> = {};

  before(async function () {
    l = lab();
    b = await backend("berth-groups-");
    for (const v of ["g1", "g2", "g3"]) images[v] = appImage(l, v);
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "staging",
        projectName: "berth-real-groups",
        program: async () => {
          new AppService("app", {
            service,
            image: images[version],
            // One host per boot group: host 1 boots first, host 2 (sick when asked) second.
            hosts: [l.hosts[0].address, { host: l.hosts[1].address, tags: ["sick"] }],
            boot: { limit: 1, waitSeconds: 1 },
            env: { tags: { sick: { clear: sickHost ? { BERTH_FAIL_HEALTH: "1" } : {} } } },
            proxy: { hosts: [`${service}.test`], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 15,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    await s?.destroy().catch(() => undefined);
  });

  it("a health check failing in the second boot group switches the first group back: up fails naming both; 0 failed requests; the next up converges", async function () {
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version g1", h.address);
    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: `${service}.test` })), 40);
    version = "g2";
    sickHost = true;
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    }
    const counts = await load.stop();
    const [h1, h2] = l.hosts.map((h) => h.address.replace(/\./g, "\\."));
    assert.match(message, new RegExp(`${h2}: kamal-proxy deploy of ${service}-web-staging-g2 \\(the previous version keeps serving\\) failed`));
    assert.match(message, new RegExp(`${h1}: ${service}-web-staging switched back to its previous version because ${h2} failed`));
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    // Host 1 (the first group) had switched to g2 before host 2 booted: its audit log says so.
    const audit = sshRun(l, l.hosts[0].address, `cat .kamal/${service}-staging-audit.log`);
    assert.match(audit, /Booted app version g2/);
    assert.match(audit, /Switched back from app version g2/);
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version g1", h.address);
    sickHost = false;
    version = "g3";
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const h of l.hosts) assert.equal((await get(h.address, `${service}.test`)).body.trim(), "version g3", h.address);
  });
});
