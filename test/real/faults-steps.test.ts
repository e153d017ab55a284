/**
 * Faults at each step of a 2-host rollout under load (issue 11): the SSH session of one host killed
 * on the host during the pull, the `docker run`, the `kamal-proxy deploy` and the stop of the old
 * containers; that host's disk full before the pull. Each time: 0 failed requests, `up` fails naming
 * the host and the step, every host serves one version, and the next `up` converges.
 *
 * The hosts are lab host 1 and the lab's fault host (host 3, whose engine's data root is a small
 * loop-mounted disk). Faults are made on the fault host only, which no other test uses. There the
 * app is slow on purpose (healthy 3 s after start, 4 s to stop) and its images carry a 32 MB layer,
 * so each step lasts long enough to be caught.
 */
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { faultHost, get, Lab, lab, LabHost, labSsh, LoadResult, sshRun, startLoad } from "../helpers/lab";

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The example app at `version` plus a 32 MB layer of random bytes (so a pull takes a moment), pushed as `repo:version`. */
function bigAppImage(l: Lab, repo: string, version: string): string {
  const ref = `${l.registry.plain}/${repo}:${version}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-faults-app-"));
  try {
    fs.cpSync(path.join(REPO, "examples/app"), dir, { recursive: true });
    // Named after the repository too, so no build cache (nor a host) has this layer from another run.
    fs.appendFileSync(path.join(dir, "Dockerfile"), `RUN head -c 33554432 /dev/urandom > /blob-${repo.replace(/\W/g, "-")}-${version}\n`);
    execFileSync("docker", ["build", "-q", "--build-arg", `VERSION=${version}`, "--build-arg", `BASE=${l.images.base}`, "-t", ref, dir], { stdio: "pipe", timeout: 300_000 });
    execFileSync("docker", ["push", "-q", ref], { stdio: "pipe", timeout: 300_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return ref;
}

/**
 * On `host`, waits for a process whose command line holds both `a` and `b` and kills (SIGKILL) the
 * `sshd:` session process it runs under: the connection Berth runs that step over. The patterns
 * travel base64-encoded and reach awk through its environment, so neither this script nor awk ever
 * matches itself. Resolves once the watcher runs; `stop()` ends it and resolves with what it killed.
 */
async function killSessionWhen(l: Lab, host: string, a: string, b: string, timeoutSeconds = 240, holdSeconds = 0): Promise<{ result: Promise<string>; stop(): Promise<string> }> {
  // With `holdSeconds`, the matched process is frozen (SIGSTOP) before its session is killed and
  // thawed that long after: it then certainly goes on after Berth has reconnected.
  const freeze = holdSeconds > 0 ? 'kill -STOP "$pid"; ' : "";
  const thaw = holdSeconds > 0 ? `(sleep ${holdSeconds}; kill -CONT "$pid") </dev/null >/dev/null 2>&1 & ` : "";
  const b64 = (t: string) => Buffer.from(t).toString("base64");
  const script = [
    `A=$(printf %s ${b64(a)} | base64 -d); B=$(printf %s ${b64(b)} | base64 -d); export A B`,
    // The lab's hosts share the machine's process table: only this host's processes count (its mount namespace).
    `me=$(readlink /proc/$$/ns/mnt); end=$(($(date +%s) + ${timeoutSeconds})); echo watching`,
    // Ends with its own session ($PPID, the sshd serving this watcher) as well: `stop()` closes it.
    `while [ "$(date +%s)" -lt "$end" ] && kill -0 $PPID 2>/dev/null; do`,
    // With a hold, only a process whose command line starts with `a` (the command itself, not the shell running it).
    `  for pid in $(ps -eo pid=,args= | awk '{ c = $0; sub(/^ *[0-9]+ /, "", c) } index(c, ENVIRON["A"]) && index(c, ENVIRON["B"]) && (${holdSeconds > 0 ? 1 : 0} == 0 || index(c, ENVIRON["A"]) == 1) { print $1 }'); do`,
    `    [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$me" ] || continue`,
    `    p=$pid`,
    `    while [ -n "$p" ] && [ "$p" -gt 1 ]; do`,
    `      args=$(tr '\\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)`,
    `      # Still running (not exited, not a zombie), else its exit status may already be on its way.
      case $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) in "" | Z) continue 2 ;; esac
      case $args in "sshd: "*) ${freeze}kill -9 "$p" && echo "killed $p ($args) running: $(tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-300)"; ${thaw}exit 0 ;; esac`,
    `      p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)`,
    `    done`,
    `  done`,
    `  sleep 0.02`,
    `done`,
    `echo "nothing matched in ${timeoutSeconds} s"; exit 3`,
  ].join("\n");
  const child = spawn("ssh", ["-i", l.ssh.privateKeyPath, "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${host}`, script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let ready: () => void = () => undefined;
  const watching = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("watching")) ready();
  });
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const result = new Promise<string>((resolve) => child.on("exit", () => resolve(out)));
  await Promise.race([watching, result]);
  return {
    result,
    stop() {
      child.kill("SIGTERM");
      return result;
    },
  };
}

describe("real: a fault at each step of a 2-host rollout under load", function () {
  let l: Lab;
  let fault: LabHost;
  let b: TestBackend;
  let s: Stack;
  const service = `fst${randomBytes(2).toString("hex")}`;
  const svc = `${service}-web-staging`;
  const repo = `berth/faults-${service}`;
  let version = "s1";
  const images: Record<string, string> = {};

  before(async function () {
    this.timeout(15 * 60_000);
    l = lab();
    fault = faultHost(l);
    b = await backend("berth-faults-steps-");
    for (const v of ["s1", "s2", "s3", "s4", "s5", "s6"]) images[v] = bigAppImage(l, repo, v);
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "staging",
        projectName: "berth-real-faults-steps",
        program: async () => {
          const ssh = labSsh(l);
          ssh.hostKeys = { ...ssh.hostKeys, [fault.address]: fault.hostKey };
          new AppService("app", {
            service,
            image: images[version],
            hosts: [l.hosts[0].address, { host: fault.address, tags: ["slow"] }],
            env: { tags: { slow: { clear: { BERTH_HEALTHY_AFTER: "3", BERTH_STOP_DELAY: "4" } } } },
            proxy: { hosts: [`${service}.test`], healthcheck: { intervalSeconds: 1 } },
            deployTimeoutSeconds: 30,
            drainTimeoutSeconds: 1,
            ssh,
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    assert.equal((await s.up()).summary.result, "succeeded");
    await servesEverywhere("s1");
  });

  after(async function () {
    this.timeout(5 * 60_000);
    if (fault) sshRun(l, fault.address, `rm -f ${fillFile()} ${fillFile()}-rest`);
    await s?.destroy().catch(() => undefined);
    // The images too: the fault host's disk is small.
    for (const h of l && fault ? hosts() : []) sshRun(l, h, `docker images --format '{{.Repository}}:{{.Tag}}' | grep -F '/${repo}:' | xargs -r docker rmi >/dev/null 2>&1 || true`);
  });

  const hosts = () => [l.hosts[0].address, fault.address];
  const fillFile = () => `/var/lib/berth-lab/hosts/${fault.name}/docker/berth-fill-${service}`;

  /** Every host serves `v` through kamal-proxy. */
  async function servesEverywhere(v: string): Promise<void> {
    for (const h of hosts()) assert.equal((await get(h, `${service}.test`)).body.trim(), `version ${v}`, `${h} serves ${v}`);
  }

  /** The names of the role's running containers on `host`. */
  const running = (host: string) =>
    sshRun(l, host, `docker ps --filter label=service=${service} --format '{{.Names}}'`)
      .split("\n")
      .filter((x) => x !== "")
      .sort();

  /** `up` to `next` under load; the error it fails with and the load's counts. */
  async function failingUp(next: string): Promise<{ message: string; counts: LoadResult }> {
    const load = startLoad(hosts().map((address) => ({ address, host: `${service}.test` })), 40, 240);
    version = next;
    let message = "";
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    }
    const counts = await load.stop();
    assert.notEqual(message, "", "`up` must fail");
    return { message, counts };
  }

  /** The next `up` converges: it succeeds and every host serves `v`, one container each. */
  async function converges(v: string): Promise<void> {
    const load = startLoad(hosts().map((address) => ({ address, host: `${service}.test` })), 40, 240);
    const up = await s.up();
    const counts = await load.stop();
    assert.equal(up.summary.result, "succeeded");
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    await servesEverywhere(v);
    for (const h of hosts()) assert.deepEqual(running(h), [`${svc}-${v}`], h);
  }

  /** After a fault on the fault host before its switch: host 1 switched back, both serve `old`, `next` runs nowhere. */
  async function switchedBack(message: string, counts: LoadResult, old: string, next: string): Promise<void> {
    assert.match(message, new RegExp(`${esc(l.hosts[0].address)}: ${esc(svc)} switched back to its previous version because ${esc(fault.address)} failed`));
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    await servesEverywhere(old);
    for (const h of hosts()) assert.deepEqual(running(h), [`${svc}-${old}`], `${h}: only ${old} runs`);
  }

  const lostOn = (step: string) => new RegExp(`${esc(fault.address)}: ${esc(step)} failed: the SSH connection was lost before the command reported an exit status`);

  it("the SSH session killed during the pull: up fails naming the host and `pulling`; host 1 switches back; 0 failed requests", async function () {
    this.timeout(10 * 60_000);
    // The pull lasts a few seconds: what reaches the fault host is slowed to 40 Mbit/s meanwhile
    // (its veth's root-namespace end, the lab's `vb-<name>`).
    const veth = `vb-${fault.name}`;
    execFileSync("tc", ["qdisc", "replace", "dev", veth, "root", "tbf", "rate", "40mbit", "burst", "256kb", "latency", "500ms"]);
    let result: { message: string; counts: LoadResult };
    let killed: string;
    try {
      const killer = await killSessionWhen(l, fault.address, `docker pull ${images.s2}`, images.s2);
      result = await failingUp("s2");
      killed = await killer.stop();
    } finally {
      execFileSync("tc", ["qdisc", "del", "dev", veth, "root"]);
    }
    const { message, counts } = result;
    assert.match(killed, /^killed \d+ \(sshd: /m, killed);
    assert.match(message, lostOn(`pulling ${images.s2}`));
    await switchedBack(message, counts, "s1", "s2");
    await converges("s2");
  });

  it("the SSH session killed during `docker run`, which then goes on: Berth waits for it to end, stops the new container; host 1 switches back; 0 failed requests", async function () {
    this.timeout(10 * 60_000);
    // The `docker run` goes on 5 s after its session died, well after Berth reconnected to undo it.
    const killer = await killSessionWhen(l, fault.address, "docker run", `--name ${svc}-s3`, 240, 5);
    const { message, counts } = await failingUp("s3");
    const killed = await killer.stop();
    assert.match(killed, /^killed \d+ \(sshd: [^\n]*\) running: docker run /m, killed);
    // Past the thaw (had the up not waited for the start, its container would start now).
    await new Promise((r) => setTimeout(r, 7000));
    assert.match(message, lostOn(`starting ${svc}-s3`));
    assert.match(message, new RegExp(`${esc(fault.address)}: reconnected and undid the switch: stopped ${esc(svc)}-s3`));
    await switchedBack(message, counts, "s2", "s3");
    await converges("s3");
  });

  it("the SSH session killed during `kamal-proxy deploy`, which then switches the host anyway: Berth reconnects and switches it back; 0 failed requests", async function () {
    this.timeout(10 * 60_000);
    const killer = await killSessionWhen(l, fault.address, `kamal-proxy deploy ${svc} `, `kamal-proxy deploy ${svc} `);
    const { message, counts } = await failingUp("s4");
    const killed = await killer.stop();
    assert.match(killed, /^killed \d+ \(sshd: /m, killed);
    assert.match(message, lostOn(`kamal-proxy deploy of ${svc}-s4`));
    // The orphaned deploy finished on the host (the app is healthy after 3 s) and switched it to s4.
    assert.match(message, new RegExp(`${esc(fault.address)}: reconnected and undid the switch: the route had switched to ${esc(svc)}-s4: switched it back to \\S+; stopped ${esc(svc)}-s4`));
    await switchedBack(message, counts, "s3", "s4");
    await converges("s4");
  });

  it("the SSH session killed while the old containers stop: up fails naming the host and the step; both hosts serve the new version; the next up converges", async function () {
    this.timeout(10 * 60_000);
    const killer = await killSessionWhen(l, fault.address, "xargs -r docker stop", `label=service=${service} `);
    const { message, counts } = await failingUp("s5");
    const killed = await killer.stop();
    assert.match(killed, /^killed \d+ \(sshd: /m, killed);
    assert.match(message, lostOn("stopping old containers"));
    assert.doesNotMatch(message, /switched back/);
    assert.equal(counts.failed, 0, JSON.stringify(counts));
    await servesEverywhere("s5");
    await converges("s5");
  });

  it("the fault host's disk full before the pull: up fails naming the host, `pulling` and `no space left on device`; host 1 switches back; the next up converges once there is room", async function () {
    this.timeout(10 * 60_000);
    const dir = `/var/lib/berth-lab/hosts/${fault.name}/docker`;
    // Most of it with fallocate, the last 8 MB written until the disk refuses.
    sshRun(l, fault.address, `fallocate -l "$(($(df --output=avail -B1 ${dir} | tail -n 1) - 8388608))" ${fillFile()}; dd if=/dev/zero of=${fillFile()}-rest bs=64k 2>/dev/null; sync`);
    const avail = Number(sshRun(l, fault.address, `df --output=avail -B1 ${dir} | tail -n 1`).trim());
    assert.ok(avail < 1_000_000, `the data root is full (${avail} bytes left)`);
    let result: { message: string; counts: LoadResult };
    try {
      result = await failingUp("s6");
    } finally {
      sshRun(l, fault.address, `rm -f ${fillFile()} ${fillFile()}-rest`);
    }
    const { message, counts } = result;
    assert.match(message, new RegExp(`${esc(fault.address)}: pulling ${esc(images.s6)} failed \\(exit \\d+\\)`));
    assert.match(message, /no space left on device/);
    await switchedBack(message, counts, "s5", "s6");
    await converges("s6");
  });
});
