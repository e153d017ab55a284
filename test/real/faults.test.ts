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
import { appImage, Lab, lab, labSsh, sshRun } from "../helpers/lab";

describe("real: faults stop a deploy before it changes anything", function () {
  let l: Lab;
  let b: TestBackend;
  let s: Stack;
  const service = `flt${randomBytes(2).toString("hex")}`;
  let version = "f1";
  let wrongKey = false;
  const images: Record<string, string> = {};

  before(async function () {
    l = lab();
    b = await backend("berth-faults-");
    for (const v of ["f1", "f2"]) images[v] = appImage(l, v);
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
            hosts: l.hosts.map((h) => h.address),
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
});
