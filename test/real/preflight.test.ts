/**
 * Pre-flight of kamal-proxy and accessories (issue 11): before a `Proxy` or an `Accessory` changes
 * anything on a host, every one of its hosts is connected, its host key verified and its Docker
 * asked. A wrong pinned host key for one of two hosts stops the `up` with both hosts untouched —
 * on the first deploy and on a change — and the error names that host, without a stack trace.
 *
 * Its own kamal-proxy container (not the lab's shared one: no published ports, its own network and
 * config volume) and its own accessory service, removed at the end.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Accessory, Proxy } from "../../sdk";
import { accessoryEnvFilePath } from "../../sdk/commands/accessory";
import { proxyOwnersDir } from "../../sdk/commands/proxy";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The error of an `up` that must fail (bounded in time). */
async function failedUp(s: Stack): Promise<string> {
  try {
    await s.up();
  } catch (e) {
    return String((e as Error).message);
  }
  assert.fail("the up succeeded");
}

/** The first "Diagnostics:" section of an `up`'s output (each resource's error, once). */
function diagnostics(out: string): string {
  const i = out.indexOf("Diagnostics:");
  assert.ok(i >= 0, `no diagnostics in:\n${out}`);
  const end = out.indexOf("\nResources:", i);
  return out.slice(i, end < 0 ? undefined : end);
}

describe("real: pre-flight of Proxy and Accessory hosts", function () {
  let l: Lab;
  let b: TestBackend;
  let h1: string;
  let h2: string;
  const id = randomBytes(2).toString("hex");
  const stacks: Stack[] = [];
  /** Host 2 "replaced": its pinned key is now host 1's. */
  let wrongKey = false;
  const ssh = () => {
    const s = labSsh(l);
    if (wrongKey) s.hostKeys = { ...s.hostKeys, [h2]: l.hosts[0].hostKey };
    return s;
  };

  function inline(project: string, program: () => Promise<void>): Promise<Stack> {
    return LocalWorkspace.createOrSelectStack({ stackName: "staging", projectName: project, program }, { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" }).then((s) => {
      stacks.push(s);
      return s;
    });
  }

  function assertNamesHost(message: string, step: string) {
    const keyError = new RegExp(`the host key of ${esc(h2)}:22 \\(SHA256:[^)]+\\) does not match the pinned key`, "g");
    assert.match(message, keyError, step);
    assert.equal((diagnostics(message).match(keyError) ?? []).length, 1, `${step}: the host key error more than once in the diagnostics:\n${diagnostics(message)}`);
    assert.match(message, new RegExp(`${esc(h1)}: not deployed: pre-flight failed on ${esc(h2)}`), step);
    assert.doesNotMatch(message, /^\s+at .*\.js:\d+/m, `${step}: a stack trace in the output`);
  }

  before(async function () {
    l = lab();
    b = await backend("berth-preflight-");
    [h1, h2] = l.hosts.map((h) => h.address);
  });

  after(async function () {
    wrongKey = false;
    for (const s of stacks.reverse()) await s.destroy().catch(() => undefined);
    // What a Proxy leaves by design (the network and the config volume): this test's own, removed.
    for (const h of l.hosts) sshRun(l, h.address, `docker network rm pf${id} >/dev/null 2>&1; docker volume rm kamal-proxy-pf${id}-config >/dev/null 2>&1; true`);
    fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("Proxy: a wrong host key for one of two hosts changes nothing on either host, on create and on a change", async function () {
    const container = `kamal-proxy-pf${id}`;
    const network = `pf${id}`;
    let debug = false;
    const s = await inline("berth-real-preflight-proxy", async () => {
      new Proxy("edge", {
        hosts: [h1, h2],
        ssh: ssh(),
        image: { registry: l.registry.plain, repository: "basecamp/kamal-proxy", version: "v0.9.2" },
        containerName: container,
        network,
        configVolume: `${container}-config`,
        publish: false,
        debug,
      });
    });
    const state = () =>
      l.hosts.map((h) =>
        sshRun(
          l,
          h.address,
          `docker inspect --format '{{.Id}} {{.State.Status}} {{json .Config.Cmd}}' ${container} 2>/dev/null; docker network ls -q --filter name=^${network}$ | wc -l; ls ${proxyOwnersDir(container)} 2>/dev/null | wc -l`,
        ).trim(),
      );

    wrongKey = true;
    const created = await failedUp(s);
    assertNamesHost(created, "create");
    assert.deepEqual(state(), ["0\n0", "0\n0"], "something changed on a host");

    wrongKey = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    const before = state();
    for (const x of before) assert.match(x, /^\w+ running .*\n1\n1$/, x);

    wrongKey = true;
    debug = true;
    const changed = await failedUp(s);
    assertNamesHost(changed, "change");
    assert.deepEqual(state(), before, "something changed on a host");

    wrongKey = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const x of state()) assert.match(x, /--debug/, x);
  });

  it("Accessory: a wrong host key for one of two hosts changes nothing on either host, on create and on an image change", async function () {
    const service = `pfa${id}`;
    const svc = `${service}-kv`;
    const images = { a: appImage(l, `pf${id}a`), b: appImage(l, `pf${id}b`) };
    let image = images.a;
    const s = await inline("berth-real-preflight-accessory", async () => {
      new Accessory("kv", { service, hosts: [h1, h2], image, directories: ["data:/data"], deleteDataOnDestroy: true, env: { clear: { A: "1" } }, ssh: ssh() });
    });
    const state = () =>
      l.hosts.map((h) =>
        sshRun(l, h.address, `docker ps -a --filter name=^${svc} --format '{{.ID}} {{.Names}} {{.State}} {{.Image}}'; test -e ${svc} && echo dir; test -e ${accessoryEnvFilePath(service, "kv")} && echo env-file; true`).trim(),
      );

    wrongKey = true;
    const created = await failedUp(s);
    assertNamesHost(created, "create");
    assert.deepEqual(state(), ["", ""], "something changed on a host");

    wrongKey = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    const before = state();
    for (const x of before) assert.match(x, new RegExp(`^\\w+ ${svc} running ${esc(images.a)}\\ndir\\nenv-file$`), x);

    wrongKey = true;
    image = images.b;
    const changed = await failedUp(s);
    assertNamesHost(changed, "image change");
    assert.deepEqual(state(), before, "something changed on a host");

    wrongKey = false;
    assert.equal((await s.up()).summary.result, "succeeded");
    for (const x of state()) assert.match(x, new RegExp(` ${svc} running ${esc(images.b)}\\n`), x);
  });
});
