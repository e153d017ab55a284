/**
 * Ownership under concurrency (issue 11, must-show 3): two stacks claiming the same service, role
 * and destination (`destination: "shared"` in both) on the same two hosts, run at the same time ten
 * times while the service is under load. The owner deploys a new version each round; the other
 * stack is refused every time, naming the owner, before it changes anything; no request fails; and
 * the refused stack's `destroy` leaves the owner's containers, route, owner files and proxy alone.
 *
 * Each stack is its own Automation API workspace (its own work directory), and every `up` is
 * bounded in time, as is the load and the number of rounds.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { ownerFilePath } from "../../sdk/commands/app";
import { lockDir } from "../../sdk/commands/lock";
import { parseProxyList, proxyListArgv, proxyOwnerFile } from "../../sdk/commands/proxy";
import { line } from "../../sdk/commands/shell";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, hostReport, Lab, lab, labSsh, sshRun, startLoad } from "../helpers/lab";

const ROUNDS = 10;
/** The longest one `up` (or `destroy`) may take before the test fails. */
const OP_TIMEOUT_MS = 240_000;
const PROJECT = "berth-real-race";

/** `p`, or a failure after `ms` naming `what`. */
async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("real: two stacks claiming one destination, run concurrently 10 times", function () {
  let l: Lab;
  let b: TestBackend;
  const service = `race${randomBytes(2).toString("hex")}`;
  const hostHeader = `${service}.test`;
  const svc = `${service}-web-shared`;
  const versions: Record<string, string> = { alpha: "r0", beta: "b0" };
  const images: Record<string, string> = {};
  const stacks: Record<string, Stack> = {};
  const workDirs: string[] = [];

  async function make(name: "alpha" | "beta"): Promise<Stack> {
    // Its own work directory: the two workspaces share nothing but the backend.
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-race-${name}-`));
    workDirs.push(workDir);
    return LocalWorkspace.createOrSelectStack(
      {
        stackName: name,
        projectName: PROJECT,
        program: async () => {
          const version = versions[name];
          new AppService("app", {
            service,
            destination: "shared",
            image: images[version] ?? images.b,
            version,
            hosts: l.hosts.map((h) => h.address),
            proxy: { hosts: [hostHeader], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 30,
            drainTimeoutSeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { workDir, pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  }

  /** "" when the `up` succeeded, else its error. */
  async function upOutcome(name: string): Promise<string> {
    try {
      const r = await within(`up of ${name}`, OP_TIMEOUT_MS, stacks[name].up());
      return r.summary.result === "succeeded" ? "" : `result ${r.summary.result}`;
    } catch (e) {
      return String((e as Error).message);
    }
  }

  /** Every container of the service on each host (running or not): `<id> <name> <state>`. */
  const containers = () =>
    l.hosts.map((h) => sshRun(l, h.address, `docker ps -a --filter label=service=${service} --format '{{.ID}} {{.Names}} {{.State}}'`).trim().split("\n").filter(Boolean).sort());
  const route = (address: string) => parseProxyList(sshRun(l, address, line(proxyListArgv()))).find((r) => r.service === svc);
  const ownerFile = ownerFilePath(service, "shared", "web");
  const proxyOwner = proxyOwnerFile("kamal-proxy", `${PROJECT}/alpha/app-proxy`);
  const filesOf = (address: string) => sshRun(l, address, `cat ${ownerFile}; echo; test -e ${proxyOwner} && echo proxy-owner-file; test -e ${lockDir(service, "shared")} && echo lock-held; true`).trim();

  before(async function () {
    l = lab();
    b = await backend("berth-race-");
    for (let i = 0; i <= ROUNDS; i++) images[`r${i}`] = appImage(l, `r${i}`);
    images.b = appImage(l, "race-b");
    stacks.alpha = await make("alpha");
    stacks.beta = await make("beta");
  });

  after(async function () {
    for (const name of ["beta", "alpha"]) await stacks[name]?.destroy().catch(() => undefined);
    for (const d of workDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("the owner deploys every round; the other stack is refused every time naming it; 0 failed requests; its destroy touches nothing of the owner", async function () {
    assert.equal(await upOutcome("alpha"), "", "the first deploy of alpha");
    for (const h of l.hosts) {
      const body = (await get(h.address, hostHeader)).body.trim();
      if (body !== "version r0") assert.fail(`${h.address} answers ${JSON.stringify(body.slice(0, 80))}, not "version r0", after alpha's first up${hostReport(l, h.address)}`);
    }

    const load = startLoad(l.hosts.map((h) => ({ address: h.address, host: hostHeader })), 40, Math.ceil((ROUNDS * 2 * OP_TIMEOUT_MS) / 1000));
    const refusals: string[] = [];
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        versions.alpha = `r${round}`;
        versions.beta = `b${round}`;
        const [a, beta] = await Promise.all([upOutcome("alpha"), upOutcome("beta")]);
        assert.equal(a, "", `round ${round}: alpha's up failed`);
        for (const h of l.hosts) {
          assert.match(beta, new RegExp(`${h.address.replace(/\./g, "\\.")}: ${svc} belongs to the stack ${PROJECT}/alpha, not ${PROJECT}/beta`), `round ${round}`);
        }
        refusals.push(beta);
        const now = containers();
        for (const [i, h] of l.hosts.entries()) {
          const body = (await get(h.address, hostHeader)).body.trim();
          if (body !== `version r${round}`) assert.fail(`round ${round}: ${h.address} answers ${JSON.stringify(body.slice(0, 80))}, not "version r${round}"${hostReport(l, h.address)}`);
          assert.ok(now[i].some((c) => c.endsWith(`${svc}-r${round} running`)), `round ${round}, ${h.address}: ${now[i].join(" | ")}`);
          assert.ok(!now[i].some((c) => / \S+-b\d+ /.test(c)), `round ${round}, ${h.address}: a container of beta: ${now[i].join(" | ")}`);
          assert.equal(now[i].filter((c) => c.endsWith(" running")).length, 1, `round ${round}, ${h.address}: ${now[i].join(" | ")}`);
        }
      }
    } finally {
      const counts = await load.stop();
      console.log(`      load over ${ROUNDS} rounds: ${counts.sent} requests, ${counts.ok} ok, ${counts.failed} failed`);
      assert.equal(counts.failed, 0, JSON.stringify(counts));
      assert.ok(counts.ok > ROUNDS * 40, `too few requests: ${JSON.stringify(counts)}`);
    }
    assert.equal(refusals.length, ROUNDS);

    // The refused stack's destroy: nothing of alpha's changes on either host.
    const before = { containers: containers(), routes: l.hosts.map((h) => route(h.address)), files: l.hosts.map((h) => filesOf(h.address)) };
    for (const f of before.files) assert.equal(f, `${PROJECT}/alpha\nproxy-owner-file`);
    const destroyed = await within("destroy of beta", OP_TIMEOUT_MS, stacks.beta.destroy());
    assert.equal(destroyed.summary.result, "succeeded");
    assert.deepEqual(containers(), before.containers);
    assert.deepEqual(
      l.hosts.map((h) => route(h.address)),
      before.routes,
    );
    assert.deepEqual(
      l.hosts.map((h) => filesOf(h.address)),
      before.files,
    );
    for (const h of l.hosts) assert.equal((await get(h.address, hostHeader)).body.trim(), `version r${ROUNDS}`, h.address);
  });
});
