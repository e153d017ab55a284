/**
 * Issue 10, must-show 7: a fresh lab host with no Docker — berth-h5, whose root is its own
 * debootstrapped Debian (the other lab hosts share the machine's root, where Docker is installed) —
 * is bootstrapped from Debian's packages (`ssh.bootstrap: true`) and then deployed to, through
 * kamal-proxy on that host. Without the opt-in, pre-flight fails naming the host and saying how to
 * opt in, and the host is left as it was.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

/** lab.json's `bareHost`: same shape as a `hosts` entry, no Docker. */
interface BareHost {
  name: string;
  address: string;
  port: number;
  user: string;
  hostKey: string;
}

async function inlineStack(b: TestBackend, project: string, name: string, program: () => Promise<Record<string, unknown> | void>): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack({ stackName: name, projectName: project, program }, { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" });
}

describe("real: bootstrap (ssh.bootstrap) of a host without Docker", function () {
  let l: Lab;
  let b: TestBackend;
  let bare: BareHost;
  let image: string;

  before(async function () {
    this.timeout(15 * 60_000);
    l = lab();
    bare = (l as unknown as { bareHost?: BareHost }).bareHost as BareHost;
    assert.ok(bare, "lab.json has a bareHost (scripts/lab.sh up makes berth-h5)");
    b = await backend();
    image = appImage(l, "v1");
    // The host as new: its Debian root unpacked again, so Docker is not there (also after an earlier run).
    const t0 = Date.now();
    const reset = spawnSync("bash", [path.join(REPO, "scripts/lab.sh"), "bare-host", "reset"], { encoding: "utf8", timeout: 10 * 60_000 });
    assert.equal(reset.status, 0, `scripts/lab.sh bare-host reset failed:\n${reset.stdout}\n${reset.stderr}`);
    console.log(`      (bare-host reset took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });
  after(() => b && fs.rmSync(b.dir, { recursive: true, force: true }));

  const ssh = (bootstrap: boolean) => ({ ...labSsh(l), hostKeys: { ...labSsh(l).hostKeys, [bare.address]: bare.hostKey }, ...(bootstrap ? { bootstrap: true } : {}) });
  const program = (bootstrap: boolean) => async () => {
    new AppService("app", {
      service: "boot-h5",
      image,
      hosts: [bare.address],
      proxy: { hosts: ["bootstrap.test"] },
      proxyRun: { image: { registry: l.registry.plain, repository: "basecamp/kamal-proxy", version: "v0.9.2" } },
      ssh: ssh(bootstrap),
    });
  };

  it("without the opt-in, pre-flight fails naming the host and how to opt in; nothing is installed", async function () {
    this.timeout(5 * 60_000);
    assert.equal(sshRun(l, bare.address, "command -v docker || echo absent").trim(), "absent", "the bare host starts without docker");
    const s = await inlineStack(b, "berth-real-bootstrap", "no-optin", program(false));
    try {
      await assert.rejects(s.up(), (e: Error) => {
        assert.match(e.message, /10\.77\.0\.15: pre-flight: asking Docker failed \(exit 127\)/);
        assert.match(e.message, /10\.77\.0\.15: Docker is not installed there .*set `ssh\.bootstrap: true`/);
        return true;
      });
    } finally {
      await s.destroy();
      await s.workspace.removeStack("no-optin");
    }
    assert.equal(sshRun(l, bare.address, "command -v docker || echo absent").trim(), "absent", "nothing was installed");
  });

  it("with `ssh.bootstrap: true`, installs Docker from Debian's packages, deploys through kamal-proxy there, and a second preview is empty", async function () {
    this.timeout(20 * 60_000);
    assert.equal(sshRun(l, bare.address, "command -v docker || echo absent").trim(), "absent");
    const s = await inlineStack(b, "berth-real-bootstrap", "optin", program(true));
    try {
      const t0 = Date.now();
      const up = await s.up();
      console.log(`      (first up with the bootstrap took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      assert.equal(up.summary.result, "succeeded");
      assert.match(up.stdout, /10\.77\.0\.15 bootstrap: installing Docker from Debian GNU\/Linux 12 \(bookworm\)'s packages: apt-get docker\.io/);
      // One DockerHost, created before kamal-proxy and the app, says what it did.
      const state = (await s.exportStack()).deployment as { resources: { type: string; outputs?: Record<string, unknown> }[] };
      const dockerHosts = state.resources.filter((r) => r.type === "berth:index:DockerHost");
      assert.equal(dockerHosts.length, 1);
      assert.equal(dockerHosts[0].outputs?.installed, true);
      assert.equal(dockerHosts[0].outputs?.packageManager, "apt-get");
      assert.equal(dockerHosts[0].outputs?.distribution, "Debian GNU/Linux 12 (bookworm)");
      // Docker is Debian's package, and it answers.
      assert.match(sshRun(l, bare.address, "dpkg-query -W -f '${Version}' docker.io"), /^20\.10\.\d+\+dfsg\d/);
      assert.match(sshRun(l, bare.address, "docker version --format '{{.Server.Version}}'").trim(), /^20\.10\./);
      // The app answers through kamal-proxy on that host.
      const res = await get(bare.address, "bootstrap.test", "/");
      assert.equal(res.status, 200);
      assert.equal(res.body.trim(), "version v1");
      assert.match(sshRun(l, bare.address, "docker ps --format '{{.Names}}'"), /^kamal-proxy$/m);
      // A second preview: nothing to do.
      const pv = await s.preview({ diff: true });
      const changes = Object.entries(pv.changeSummary).filter(([k, n]) => k !== "same" && (n ?? 0) > 0);
      assert.deepEqual(changes, [], pv.stdout);
    } finally {
      await s.destroy();
      await s.workspace.removeStack("optin");
    }
    // Destroy removes the app and kamal-proxy, and leaves Docker installed.
    assert.equal(sshRun(l, bare.address, "docker ps -a --format '{{.Names}}'").trim(), "");
    assert.match(sshRun(l, bare.address, "docker version --format '{{.Server.Version}}'").trim(), /^20\.10\./);
  });

  it("as a user with passwordless sudo: installs through `sudo -n`, adds the user to the docker group and deploys as that user", async function () {
    this.timeout(20 * 60_000);
    const reset = spawnSync("bash", [path.join(REPO, "scripts/lab.sh"), "bare-host", "reset"], { encoding: "utf8", timeout: 10 * 60_000 });
    assert.equal(reset.status, 0, `scripts/lab.sh bare-host reset failed:\n${reset.stdout}\n${reset.stderr}`);
    // The host's admin: a `deploy` user with the lab key and passwordless sudo (Debian's sudo package).
    sshRun(
      l,
      bare.address,
      "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q sudo >/dev/null && useradd -m -p '*' -s /bin/sh deploy && " +
        "install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh && install -m 0600 -o deploy -g deploy /root/.ssh/authorized_keys /home/deploy/.ssh/authorized_keys && " +
        "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy",
    );
    assert.equal(sshRun(l, bare.address, "command -v docker || echo absent").trim(), "absent");
    const s = await inlineStack(b, "berth-real-bootstrap", "sudo", async () => {
      new AppService("app", {
        service: "boot-h5-sudo",
        image,
        hosts: [bare.address],
        proxy: { hosts: ["bootstrap-sudo.test"] },
        proxyRun: { image: { registry: l.registry.plain, repository: "basecamp/kamal-proxy", version: "v0.9.2" } },
        ssh: { ...ssh(true), user: "deploy" },
      });
    });
    try {
      const up = await s.up();
      assert.equal(up.summary.result, "succeeded");
      assert.match(up.stdout, /10\.77\.0\.15 bootstrap: installing Docker from Debian GNU\/Linux 12 \(bookworm\)'s packages: apt-get docker\.io/);
      assert.match(sshRun(l, bare.address, "id -nG deploy"), /\bdocker\b/);
      // The containers and Kamal's files are the deploy user's.
      assert.match(sshRun(l, bare.address, "ls /home/deploy/.kamal/apps"), /boot-h5-sudo/);
      const res = await get(bare.address, "bootstrap-sudo.test", "/");
      assert.equal(res.body.trim(), "version v1");
      const pv = await s.preview({ diff: true });
      assert.deepEqual(Object.entries(pv.changeSummary).filter(([k, n]) => k !== "same" && (n ?? 0) > 0), [], pv.stdout);
    } finally {
      await s.destroy();
      await s.workspace.removeStack("sudo");
    }
    assert.equal(sshRun(l, bare.address, "docker ps -a --format '{{.Names}}'").trim(), "");
  });
});
