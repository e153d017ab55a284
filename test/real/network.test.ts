/**
 * One docker network per name on a real lab engine (Docker 20.10 from Debian), whatever races:
 * its `docker network create` does not refuse a name that is being created at the same moment, so
 * two deploys on a fresh host (kamal-proxy and an accessory) made two `kamal` networks, and every
 * `--network kamal` after that failed as ambiguous (a fresh-machine run of the real tier here).
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { ensureNetworkScript } from "../../sdk/commands/docker";
import { backend } from "../helpers/engine";
import { appImage, type Lab, lab, labSsh, sshRun } from "../helpers/lab";

/** Runs `command` on `host` with the real ssh client, concurrently with others. */
function sshAsync(l: Lab, host: string, command: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("ssh", ["-i", l.ssh.privateKeyPath, "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${host}`, command]);
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", (code) => resolve({ code, out }));
  });
}

describe("real: one docker network per name", function () {
  let l: Lab;
  let host: string;
  const name = `berth-net-${randomBytes(3).toString("hex")}`;
  const ids = () => sshRun(l, host, `docker network ls --no-trunc -q --filter name=^${name}$`).trim().split("\n").filter(Boolean);
  /** When the network was created, as text that sorts in time order (RFC 3339 with the fraction padded to 9 digits). */
  const created = (id: string) =>
    sshRun(l, host, `docker network inspect --format '{{.Created}}' ${id}`)
      .trim()
      .replace(/^(.*T[\d:]+)(?:\.(\d+))?(Z|[+-]\d.*)$/, (_, t: string, f: string | undefined, z: string) => `${t}.${(f ?? "").padEnd(9, "0")}${z}`);

  before(function () {
    l = lab();
    host = l.hosts[0].address;
  });
  afterEach(function () {
    sshRun(l, host, `for n in $(docker network ls -q --filter name=^${name}$); do docker network rm $n >/dev/null; done; true`);
  });

  it("six deploys ensuring the network at once leave exactly one", async function () {
    const results = await Promise.all(Array.from({ length: 6 }, () => sshAsync(l, host, ensureNetworkScript(name))));
    assert.deepEqual(results.map((r) => r.code), [0, 0, 0, 0, 0, 0], results.map((r) => r.out).join("\n"));
    assert.equal(ids().length, 1);
  });

  it("a name the engine let double (creates at once) is reduced to its oldest network", async function () {
    // The race is won or lost by timing: up to 10 rounds of four creates at once (about 2 in 3 rounds double the name here).
    let before: string[] = [];
    for (let round = 0; round < 10 && before.length < 2; round++) {
      sshRun(l, host, `for n in $(docker network ls -q --filter name=^${name}$); do docker network rm $n >/dev/null; done; true`);
      await Promise.all(Array.from({ length: 4 }, () => sshAsync(l, host, `docker network create ${name} >/dev/null`)));
      before = ids();
    }
    assert.ok(before.length >= 2, `the engine refused every round of concurrent creates (${before.length} network): the race this guards against did not happen`);
    const oldest = [...before].sort((a, b) => created(a).localeCompare(created(b)) || a.localeCompare(b))[0];
    const r = await sshAsync(l, host, ensureNetworkScript(name));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(ids(), [oldest]);
  });

  it("a host with only a role that is not proxied gets its network from the app's own deploy (Kamal makes it on every host)", async function () {
    const b = await backend("berth-net-");
    const h2 = l.hosts[1].address;
    const service = `netjobs${randomBytes(2).toString("hex")}`;
    const net = `${name}-jobs`;
    const image = appImage(l, "netjobs1");
    const s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "dev",
        projectName: "berth-real-network",
        program: async () => {
          new AppService("app", { service, image, roles: { web: { hosts: [h2], proxy: false } }, proxyRun: { network: net }, deployTimeoutSeconds: 30, ssh: labSsh(l) });
        },
      },
      { workDir: fs.mkdtempSync(path.join(b.dir, "work-")), pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    try {
      assert.equal(sshRun(l, h2, `docker network ls -q --filter name=^${net}$`).trim(), "", "the network exists before the deploy");
      const r = await s.up();
      assert.equal(r.summary.result, "succeeded");
      const joined = sshRun(l, h2, `docker inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' ${service}-web-dev-netjobs1`).trim();
      assert.equal(joined, net);
    } finally {
      await s.destroy().catch(() => undefined);
      sshRun(l, h2, `docker network rm ${net} >/dev/null 2>&1; true`);
      fs.rmSync(b.dir, { recursive: true, force: true });
    }
  });
});
