/**
 * Ownership (issue 11): a service, role and destination on a host belong to one stack. A second
 * stack deploying the same ones (e.g. both set `destination: "shared"`) is refused before it
 * changes anything, naming the owner — also when both run at the same time — and its destroy never
 * removes the owner's containers.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

describe("real: one stack owns a service, role and destination on a host", function () {
  let l: Lab;
  let b: TestBackend;
  let image: string;
  const service = `own${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const stacks: Stack[] = [];

  async function make(name: string): Promise<Stack> {
    const s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: name,
        projectName: "berth-real-owner",
        program: async () => {
          new AppService("app", {
            service,
            destination: "shared",
            image,
            hosts: [l.hosts[0].address],
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 20,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    stacks.push(s);
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

  const names = () => sshRun(l, l.hosts[0].address, `docker ps --filter label=service=${service} --format '{{.ID}} {{.Names}}'`).trim();

  before(async function () {
    l = lab();
    b = await backend("berth-owner-");
    image = appImage(l, "own1");
  });

  after(async function () {
    for (const s of stacks.reverse()) await s.destroy().catch(() => undefined);
  });

  it("the second stack is refused naming the owner; nothing of the first changes; its destroy leaves the first alone", async function () {
    const first = await make("alpha");
    assert.equal((await first.up()).summary.result, "succeeded");
    const before = names();
    const second = await make("beta");
    const err = await failure(second);
    assert.match(err, new RegExp(`${service}-web-shared belongs to the stack berth-real-owner/alpha, not berth-real-owner/beta`));
    assert.equal(names(), before);
    assert.equal((await second.destroy()).summary.result, "succeeded");
    assert.equal(names(), before);
    assert.equal((await get(l.hosts[0].address, hostHeader)).body.trim(), "version own1");
  });

  it("two stacks racing for the same role: exactly one wins, the other is refused naming it", async function () {
    for (const s of stacks.splice(0)) await s.destroy();
    const [x, y] = [await make("gamma"), await make("delta")];
    const errs = await Promise.all([failure(x), failure(y)]);
    assert.equal(errs.filter((e) => e === "").length, 1, errs.join("\n---\n"));
    const loser = errs.find((e) => e !== "")!;
    assert.match(loser, /belongs to the stack berth-real-owner\/(gamma|delta)/);
    assert.equal(names().split("\n").length, 1);
    assert.equal((await get(l.hosts[0].address, hostHeader)).status, 200);
  });
});
