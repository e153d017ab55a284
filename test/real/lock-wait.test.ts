/**
 * `lockWaitSeconds` (Kamal's `--lock-wait`): a deploy that finds the host's deploy lock held by
 * another deploy (here Kamal's "Automatic deploy lock", as `kamal deploy` leaves it while it runs)
 * waits for it, bounded; a lock taken by hand (`kamal lock acquire -m …`) fails the deploy at once,
 * naming the holder, with nothing changed.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { lockDetails, lockDir } from "../../sdk/commands/lock";
import { quote } from "../../sdk/commands/shell";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

describe("real: lockWaitSeconds waits for another deploy's lock, never for one taken by hand", function () {
  let l: Lab;
  let b: TestBackend;
  let s: Stack;
  let h1: string;
  const service = `lw${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const dir = lockDir(service, "staging");
  const images: Record<string, string> = {};
  let version = "lw1";
  let lockWaitSeconds = 0;

  /** A lock as Kamal writes it (`mkdir` + base64 details), with this message. */
  const takeLock = (message: string) =>
    sshRun(l, h1, `mkdir -p .kamal && mkdir ${quote(dir)} && echo ${quote(lockDetails({ lockedBy: "kamal-user", at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), version: "k9", message }))} > ${quote(`${dir}/details`)}`);
  const dropLock = () => sshRun(l, h1, `rm -rf ${quote(dir)}`);
  const ids = () => sshRun(l, h1, `docker ps --filter label=service=${service} --format '{{.ID}} {{.Names}}'`).trim();

  before(async function () {
    l = lab();
    h1 = l.hosts[0].address;
    b = await backend("berth-lockwait-");
    for (const v of ["lw1", "lw2", "lw3"]) images[v] = appImage(l, v);
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "staging",
        projectName: "berth-real-lockwait",
        program: async () => {
          new AppService("app", {
            service,
            image: images[version],
            hosts: [h1],
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 20,
            drainTimeoutSeconds: 1,
            ...(lockWaitSeconds > 0 ? { lockWaitSeconds } : {}),
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    assert.equal((await s.up()).summary.result, "succeeded");
  });

  after(async function () {
    if (h1) dropLock();
    await s?.destroy().catch(() => undefined);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("waits while Kamal's automatic deploy lock is held, and deploys once it is released", async function () {
    takeLock("Automatic deploy lock");
    version = "lw2";
    lockWaitSeconds = 60;
    // Released 5 s after the deploy reported that it waits for it (as a finishing Kamal deploy would).
    let waitingSince = 0;
    let release: NodeJS.Timeout | undefined;
    let out = "";
    const onOutput = (o: string) => {
      out += o;
      if (!release && /deploy lock held/.test(out)) {
        waitingSince = Date.now();
        release = setTimeout(dropLock, 5000);
      }
    };
    try {
      const r = await s.up({ onOutput });
      assert.equal(r.summary.result, "succeeded");
    } finally {
      clearTimeout(release);
      dropLock();
    }
    assert.ok(waitingSince > 0, `the up did not wait:\n${out}`);
    const seconds = (Date.now() - waitingSince) / 1000;
    assert.ok(seconds >= 5, `the up went on while the lock was held (${seconds} s)`);
    assert.match(out, new RegExp(`${h1.replace(/\./g, "\\.")}: deploy lock held \\(~/${dir.replace(/\./g, "\\.")}\\): locked by kamal-user at \\S+, version k9, message "Automatic deploy lock".*; waiting up to 60 s for it \\(lockWaitSeconds\\)`));
    assert.equal((await get(h1, hostHeader)).body.trim(), "version lw2");
    assert.equal(sshRun(l, h1, `test -e ${quote(dir)} && echo held || echo free`).trim(), "free", "the deploy released its lock");
  });

  it("fails at once on a lock taken by hand, naming the holder, with nothing changed", async function () {
    const before = ids();
    takeLock("Integration Tests");
    version = "lw3";
    lockWaitSeconds = 60;
    const started = Date.now();
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    } finally {
      dropLock();
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 30, `it waited for a manual lock (${seconds} s)`);
    assert.match(message, /deploy lock found .*: locked by kamal-user at \S+, version k9, message "Integration Tests".* It was taken by hand, not by a deploy, so the deploy did not wait for it/);
    assert.equal(ids(), before);
    assert.equal((await get(h1, hostHeader)).body.trim(), "version lw2");
  });

  it("gives up after lockWaitSeconds when the deploy holding the lock does not finish; the next up converges", async function () {
    const before = ids();
    takeLock("Automatic deploy lock");
    version = "lw3";
    lockWaitSeconds = 5;
    const started = Date.now();
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    } finally {
      dropLock();
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds >= 4 && seconds < 60, `${seconds} s`);
    assert.match(message, /deploy lock found .*message "Automatic deploy lock".* Waited \d+ s for it \(lockWaitSeconds: 5\)/);
    assert.equal(ids(), before);
    assert.equal((await s.up()).summary.result, "succeeded");
    assert.equal((await get(h1, hostHeader)).body.trim(), "version lw3");
  });
});
