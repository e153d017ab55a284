// Self-test of the lab (scripts/lab.sh): every part Berth's real tests rely on is
// exercised for real. The `before` hook brings the lab up itself, so this file works
// from a cold machine; if the lab cannot come up, the suite fails with the reason.
import * as assert from "node:assert/strict";
import * as cp from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { Lab, LabHost } from "../helpers/lab";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const MINUTE = 60_000;
const LAB_JSON = "/run/berth-lab/lab.json";

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "scripts", "lab.sh"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`scripts/lab.sh not found above ${__dirname}`);
    dir = up;
  }
  return dir;
}

const REPO = repoRoot();

function run(cmd: string, args: string[], timeoutMs: number, input?: string): RunResult {
  const t0 = Date.now();
  const r = cp.spawnSync(cmd, args, {
    cwd: REPO,
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
    input,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw r.error;
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms: Date.now() - t0 };
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function describeRun(what: string, r: RunResult): string {
  const how = r.code === null ? `timed out after ${r.ms} ms` : `exited ${r.code}`;
  return `${what} ${how}\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

function must(cmd: string, args: string[], timeoutMs: number, input?: string): string {
  const r = run(cmd, args, timeoutMs, input);
  if (r.code !== 0) throw new Error(describeRun(`${cmd} ${args.join(" ")}`, r));
  return r.stdout;
}

function lab(args: string[], timeoutMs: number): RunResult {
  return run("bash", [path.join(REPO, "scripts", "lab.sh"), ...args], timeoutMs);
}

function readLab(): Lab {
  return JSON.parse(fs.readFileSync(LAB_JSON, "utf8")) as Lab;
}

// Options shared by ssh and sftp: the lab's key, and only the lab's pinned host keys.
function sshOptions(l: Lab, knownHosts = l.ssh.knownHostsPath): string[] {
  return [
    "-i", l.ssh.privateKeyPath,
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
  ];
}

function sshArgs(l: Lab, host: LabHost): string[] {
  return [...sshOptions(l), "-p", String(host.port), `${host.user}@${host.address}`];
}

function ssh(l: Lab, host: LabHost, command: string, timeoutMs = 2 * MINUTE): RunResult {
  return run("ssh", [...sshArgs(l, host), command], timeoutMs);
}

function sshMust(l: Lab, host: LabHost, command: string, timeoutMs = 2 * MINUTE): string {
  const r = ssh(l, host, command, timeoutMs);
  if (r.code !== 0) throw new Error(describeRun(`ssh ${host.name} ${command}`, r));
  return r.stdout;
}

function rootDocker(args: string[], timeoutMs = 2 * MINUTE): string {
  return must("docker", args, timeoutMs);
}

const suffix = crypto.randomBytes(3).toString("hex");

// Removes a test tag's manifest from the TLS registry (its storage has deletes enabled).
function deleteFromRegistry(l: Lab, repo: string, tag: string): void {
  const base = `https://${l.registry.tls}/v2/${repo}/manifests`;
  const head = run("curl", ["-fsSI", "-m", "10", "--cacert", l.registry.caPath, "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json", `${base}/${tag}`], MINUTE);
  const digest = /^docker-content-digest:\s*(\S+)/im.exec(head.stdout)?.[1];
  if (digest) run("curl", ["-fsS", "-m", "10", "--cacert", l.registry.caPath, "-X", "DELETE", `${base}/${digest}`], MINUTE);
}

describe("lab (real tier self-test)", function () {
  let l: Lab;

  before(function () {
    this.timeout(60 * MINUTE);
    const r = lab(["up"], 55 * MINUTE);
    if (r.code !== 0) {
      throw new Error(`the lab could not come up, so no real test can run.\n${describeRun("scripts/lab.sh up", r)}`);
    }
    l = readLab();
  });

  it("writes lab.json in the agreed shape, and `lab.sh env` prints it", function () {
    assert.ok(l.hosts.length >= 2, `expected at least 2 hosts, got ${l.hosts.length}`);
    l.hosts.forEach((h, i) => {
      assert.deepEqual(Object.keys(h).sort(), ["address", "dockerSocket", "hostKey", "name", "port", "user"]);
      assert.equal(h.name, `berth-h${i + 1}`);
      assert.equal(h.address, `10.77.0.${11 + i}`);
      assert.equal(h.port, 22);
      assert.equal(h.user, "root");
      assert.match(h.hostKey, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
      assert.equal(h.dockerSocket, `/var/lib/berth-lab/hosts/${h.name}/docker.sock`);
    });
    // `faultHost` is there while N is below 3 (see docs/lab.md); `bareHost` always.
    assert.deepEqual(Object.keys(l).filter((k) => k !== "faultHost").sort(), ["bareHost", "gateway", "hosts", "images", "proxy", "registry", "ssh"]);
    const bare = (l as unknown as { bareHost: Record<string, unknown> }).bareHost;
    assert.deepEqual(Object.keys(bare).sort(), ["address", "hostKey", "name", "port", "user"]);
    assert.deepEqual([bare.name, bare.address, bare.port, bare.user], ["berth-h5", "10.77.0.15", 22, "root"]);
    assert.match(String(bare.hostKey), /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
    assert.equal(l.gateway, "10.77.0.1");
    assert.equal(l.registry.plain, "10.77.0.1:5000");
    assert.equal(l.registry.tls, "10.77.0.1:5443");
    assert.equal(l.proxy.url, "http://10.77.0.1:8888");
    assert.deepEqual(l.images, {
      base: "berth-lab/base:1",
      kamalProxy: "basecamp/kamal-proxy:v0.9.2",
      buildkit: "moby/buildkit:buildx-stable-1",
    });
    for (const p of [l.ssh.privateKeyPath, l.ssh.publicKeyPath, l.ssh.knownHostsPath, l.registry.caPath, l.proxy.logPath]) {
      assert.ok(fs.existsSync(p), `${p} should exist`);
    }
    const known = fs.readFileSync(l.ssh.knownHostsPath, "utf8");
    for (const h of l.hosts) assert.ok(known.includes(`${h.address} ${h.hostKey}`), `known_hosts pins ${h.name}`);
    const env = lab(["env"], MINUTE);
    assert.equal(env.code, 0, describeRun("lab.sh env", env));
    assert.deepEqual(JSON.parse(env.stdout), l);
  });

  it("reaches each host over SSH with its pinned key, and each host has its own engine", function () {
    this.timeout(3 * MINUTE);
    const rootId = rootDocker(["info", "--format", "{{.ID}}"]).trim();
    const ids = new Set<string>([rootId]);
    for (const h of l.hosts) {
      const [id, name, root] = sshMust(l, h, "docker info --format '{{.ID}} {{.Name}} {{.DockerRootDir}}'").trim().split(" ");
      assert.ok(!ids.has(id), `${h.name}'s engine ${id} must differ from the root engine and the other hosts`);
      ids.add(id);
      assert.equal(name, h.name, "the engine reports the host's own hostname");
      assert.equal(root, `/var/lib/berth-lab/hosts/${h.name}/docker`);
      // The socket in lab.json is the same engine the SSH session sees.
      const viaSocket = rootDocker(["-H", `unix://${h.dockerSocket}`, "info", "--format", "{{.ID}}"]).trim();
      assert.equal(viaSocket, id);
      // The host reports its own address, and the sftp subsystem is on.
      assert.ok(sshMust(l, h, "ip -4 -o addr show dev eth0").includes(`inet ${h.address}/24`), `${h.name} has ${h.address}`);
      const sftp = run("sftp", ["-b", "-", ...sshOptions(l), "-P", String(h.port), `${h.user}@${h.address}`], MINUTE, "pwd\n");
      assert.equal(sftp.code, 0, describeRun(`sftp ${h.name}`, sftp));
      assert.match(sftp.stdout, /Remote working directory: \/root/);
    }
    // A wrong host key is refused: pin host 1's key for host 2's address.
    const [h1, h2] = l.hosts;
    const badKnownHosts = path.join(os.tmpdir(), `berth-lab-bad-known-hosts-${suffix}`);
    fs.writeFileSync(badKnownHosts, `${h2.address} ${h1.hostKey}\n`);
    try {
      const r = run("ssh", [...sshOptions(l, badKnownHosts), "-p", String(h2.port), `${h2.user}@${h2.address}`, "true"], MINUTE);
      assert.notEqual(r.code, 0, "ssh must refuse a host whose key does not match the pinned one");
      assert.match(r.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    } finally {
      fs.rmSync(badKnownHosts, { force: true });
    }
  });

  it("keeps hosts apart: a container and a file on host 1 are invisible on host 2", function () {
    this.timeout(3 * MINUTE);
    const [h1, h2] = l.hosts;
    const name = `berth-lab-iso-${suffix}`;
    try {
      sshMust(l, h1, `docker run -d --name ${name} ${l.images.base} sleep 300 && echo hello > ~/${name}.txt`);
      assert.equal(sshMust(l, h1, `docker ps --filter name=^${name}$ --format '{{.Names}}'`).trim(), name);
      assert.equal(sshMust(l, h2, `docker ps -a --filter name=^${name}$ --format '{{.Names}}'`).trim(), "");
      assert.equal(sshMust(l, h1, `cat ~/${name}.txt`).trim(), "hello");
      assert.equal(sshMust(l, h2, `test -e ~/${name}.txt && echo present || echo absent`).trim(), "absent");
      assert.equal(run("test", ["-e", `/root/${name}.txt`], MINUTE).code, 1, "the file must not land in the machine's /root");
    } finally {
      ssh(l, h1, `docker rm -f ${name}; rm -f ~/${name}.txt`);
    }
  });

  it("pulls on a host from the TLS registry, trusting the lab's private CA", function () {
    this.timeout(5 * MINUTE);
    const h = l.hosts[0];
    const ref = `${l.registry.tls}/berth-lab/lab-test:${suffix}`;
    // Without the CA the registry's certificate is not trusted; with it, it is.
    const untrusted = run("curl", ["-sS", "-m", "10", "-o", "/dev/null", `https://${l.registry.tls}/v2/`], MINUTE);
    assert.notEqual(untrusted.code, 0, "curl without the lab CA must reject the registry certificate");
    must("curl", ["-fsS", "-m", "10", "--cacert", l.registry.caPath, "-o", "/dev/null", `https://${l.registry.tls}/v2/`], MINUTE);
    try {
      rootDocker(["tag", l.images.base, ref]);
      rootDocker(["push", "-q", ref], 3 * MINUTE);
      sshMust(l, h, `docker pull -q ${ref}`, 3 * MINUTE);
      const pulled = sshMust(l, h, `docker image inspect -f '{{.Id}}' ${ref}`).trim();
      assert.equal(pulled, rootDocker(["image", "inspect", "-f", "{{.Id}}", l.images.base]).trim());
      assert.equal(sshMust(l, h, `docker run --rm ${ref} echo pulled-over-tls`).trim(), "pulled-over-tls");
    } finally {
      ssh(l, h, `docker rmi -f ${ref}`);
      run("docker", ["rmi", "-f", ref], MINUTE);
      deleteFromRegistry(l, "berth-lab/lab-test", suffix);
    }
  });

  it("pulls on a host from the plain registry the lab's images", function () {
    this.timeout(3 * MINUTE);
    const h = l.hosts[l.hosts.length - 1];
    const ref = `${l.registry.plain}/${l.images.kamalProxy}`;
    try {
      sshMust(l, h, `docker pull -q ${ref}`, 2 * MINUTE);
      const labels = sshMust(l, h, `docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.title"}}' ${ref}`);
      assert.equal(labels.trim(), "kamal-proxy");
    } finally {
      ssh(l, h, `docker rmi ${ref}`);
    }
  });

  it("runs kamal-proxy on a host, which routes to an app after `kamal-proxy deploy`", function () {
    this.timeout(5 * MINUTE);
    const h = l.hosts[0];
    const net = `berth-lab-kp-${suffix}`;
    const app = `berth-lab-kp-app-${suffix}`;
    const proxy = `berth-lab-kp-proxy-${suffix}`;
    const port = 18080;
    try {
      sshMust(l, h, `docker network create ${net}`);
      sshMust(
        l,
        h,
        `docker run -d --name ${app} --network ${net} ${l.images.base} sh -c ` +
          `'mkdir -p /www && echo ok > /www/up && echo hello-from-${suffix} > /www/index.html && exec httpd -f -p 80 -h /www'`,
      );
      sshMust(l, h, `docker run -d --name ${proxy} --network ${net} -p ${port}:80 ${l.images.kamalProxy}`);
      // The proxy's control socket appears once it has started.
      sshMust(l, h, `for i in $(seq 1 100); do docker exec ${proxy} kamal-proxy list >/dev/null 2>&1 && exit 0; sleep 0.2; done; docker logs ${proxy}; exit 1`);
      assert.equal(sshMust(l, h, `docker exec ${proxy} id -u`).trim(), "1001", "kamal-proxy runs as its own user, like upstream");
      sshMust(l, h, `docker exec ${proxy} kamal-proxy deploy lab-test --target ${app}:80 --host lab.test --deploy-timeout 20s --drain-timeout 2s`, 2 * MINUTE);
      const body = must("curl", ["-fsS", "-m", "10", "-H", "Host: lab.test", `http://${h.address}:${port}/`], MINUTE);
      assert.equal(body.trim(), `hello-from-${suffix}`);
      const other = run("curl", ["-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: other.test", `http://${h.address}:${port}/`], MINUTE);
      assert.equal(other.stdout, "404", "a host with no service gets 404 from kamal-proxy");
      const state = sshMust(l, h, `docker exec ${proxy} cat /home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state`);
      assert.match(state, /"name":"lab-test"/);
    } finally {
      ssh(l, h, `docker rm -f ${proxy} ${app}; docker network rm ${net}`);
    }
  });

  it("builds with buildx on a docker-container builder from the local BuildKit image", function () {
    this.timeout(10 * MINUTE);
    const builder = `berth-lab-test-${suffix}`;
    const baseRef = `${l.registry.tls}/berth-lab/base:1`;
    const tag = `berth-lab/lab-build-test:${suffix}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-lab-build-"));
    // BuildKit resolves FROM against a registry: the TLS one, trusting the lab CA
    // through buildkitd.toml (buildx copies the CA file into the builder).
    fs.writeFileSync(
      path.join(dir, "buildkitd.toml"),
      `[registry."${l.registry.tls}"]\n  ca = ["${l.registry.caPath}"]\n[registry."${l.registry.plain}"]\n  http = true\n`,
    );
    fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${baseRef}\nRUN echo built-by-buildkit > /built.txt\nCMD ["cat", "/built.txt"]\n`);
    try {
      rootDocker(["tag", l.images.base, baseRef]);
      rootDocker(["push", "-q", baseRef], 3 * MINUTE);
      const create = run("docker", [
        "buildx", "create", "--name", builder, "--driver", "docker-container",
        "--driver-opt", `image=${l.images.buildkit}`, "--config", path.join(dir, "buildkitd.toml"), "--bootstrap",
      ], 5 * MINUTE);
      assert.equal(create.code, 0, describeRun("docker buildx create", create));
      const inspect = rootDocker(["buildx", "inspect", builder]);
      assert.match(inspect, /Driver:\s+docker-container/);
      assert.match(inspect, /Status:\s+running/);
      const build = run("docker", ["buildx", "build", "--builder", builder, "--load", "-t", tag, dir], 8 * MINUTE);
      assert.equal(build.code, 0, describeRun("docker buildx build", build));
      assert.equal(rootDocker(["run", "--rm", tag]).trim(), "built-by-buildkit");
    } finally {
      run("docker", ["buildx", "rm", "-f", builder], 2 * MINUTE);
      run("docker", ["rmi", "-f", tag, baseRef], MINUTE);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("proxies a host's request through tinyproxy, which logs it, and refuses non-lab destinations", function () {
    this.timeout(3 * MINUTE);
    const h = l.hosts[0];
    const marker = `berth-lab-proxy-${suffix}`;
    const out = sshMust(
      l,
      h,
      `docker run --rm -e http_proxy=${l.proxy.url} ${l.images.base} wget -q -O - 'http://${l.registry.plain}/v2/_catalog?marker=${marker}'`,
    );
    assert.match(out, /"repositories"/);
    const log = fs.readFileSync(l.proxy.logPath, "utf8");
    assert.ok(log.includes(`GET http://${l.registry.plain}/v2/_catalog?marker=${marker}`), `the access log ${l.proxy.logPath} has the request`);
    const outside = run("curl", ["-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "-x", l.proxy.url, "http://berth-lab-outside.invalid/"], MINUTE);
    assert.equal(outside.stdout, "403", "the proxy filters destinations outside the lab");
  });

  it("`lab up` a second time changes nothing and says so", function () {
    this.timeout(5 * MINUTE);
    const r = lab(["up"], 4 * MINUTE);
    assert.equal(r.code, 0, describeRun("scripts/lab.sh up", r));
    assert.match(r.stdout, /lab up: already up, nothing changed/);
    assert.doesNotMatch(r.stdout, /^\s+\S+\s+changed \(/m);
    assert.ok(r.ms < 60_000, `a warm no-op up took ${r.ms} ms`);
  });

  // Last, because it takes the lab down: other real-tier files that run after this one
  // find it up again, with the same number of hosts.
  it("`lab down` leaves nothing running, and `lab up` brings it back", function () {
    this.timeout(15 * MINUTE);
    const hosts = l.hosts.length;
    const down = lab(["down"], 5 * MINUTE);
    assert.equal(down.code, 0, describeRun("scripts/lab.sh down", down));
    const status = lab(["status"], MINUTE);
    assert.equal(status.code, 3, describeRun("scripts/lab.sh status after down", status));
    assert.match(status.stdout, /lab status: down, nothing left/);
    assert.equal(fs.existsSync(LAB_JSON), false);
    assert.equal(run("ip", ["link", "show", "berth0"], MINUTE).code === 0, false, "bridge berth0 is gone");
    assert.doesNotMatch(must("ip", ["netns", "list"], MINUTE), /berth-h/);
    const up = lab(["up", "--hosts", String(hosts)], 10 * MINUTE);
    assert.equal(up.code, 0, describeRun("scripts/lab.sh up after down", up));
    const again = lab(["status"], MINUTE);
    assert.equal(again.code, 0, describeRun("scripts/lab.sh status after up", again));
    assert.match(again.stdout, new RegExp(`lab status: up \\(${hosts} hosts\\)`));
    const l2 = readLab();
    assert.deepEqual(l2.hosts.map((h) => h.hostKey), l.hosts.map((h) => h.hostKey), "host keys survive down/up");
    for (const h of l2.hosts) sshMust(l2, h, "docker info --format '{{.ID}}'");
  });
});
