/**
 * Real-tier helpers for the lab (scripts/lab.sh): its description, SSH to its hosts, HTTP to its
 * hosts, and the example app's images in its registry.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { REPO } from "./engine";

export interface LabHost {
  name: string;
  address: string;
  port: number;
  user: string;
  hostKey: string;
  dockerSocket: string;
}

export interface Lab {
  hosts: LabHost[];
  /** Host 3, for tests that break a host (its engine's data root is a small disk they may fill); never in `hosts`. */
  faultHost?: LabHost;
  ssh: { privateKeyPath: string; publicKeyPath: string; knownHostsPath: string };
  registry: { plain: string; tls: string; caPath: string };
  proxy: { url: string; logPath: string };
  images: { base: string; kamalProxy: string; buildkit: string };
  gateway: string;
}

const LAB_JSON = "/run/berth-lab/lab.json";

/** The running lab; brings it up when it is not (an error, never a skip, when it cannot). */
export function lab(): Lab {
  if (!fs.existsSync(LAB_JSON)) {
    const r = spawnSync("bash", [path.join(REPO, "scripts/lab.sh"), "up"], { encoding: "utf8", timeout: 3_600_000 });
    if (r.status !== 0) throw new Error(`the lab did not come up (bash scripts/lab.sh up):\n${r.stdout}\n${r.stderr}`);
  }
  return JSON.parse(fs.readFileSync(LAB_JSON, "utf8")) as Lab;
}

/** The lab's fault host; runs `scripts/lab.sh up` once when lab.json predates it (an error, never a skip). */
export function faultHost(l: Lab): LabHost {
  if (l.faultHost) return l.faultHost;
  const r = spawnSync("bash", [path.join(REPO, "scripts/lab.sh"), "up"], { encoding: "utf8", timeout: 3_600_000 });
  const again = JSON.parse(fs.readFileSync(LAB_JSON, "utf8")) as Lab;
  if (r.status !== 0 || !again.faultHost) throw new Error(`the lab's fault host did not come up (bash scripts/lab.sh up):\n${r.stdout}\n${r.stderr}`);
  l.faultHost = again.faultHost;
  return again.faultHost;
}

/** The Berth `ssh` settings that reach the lab's hosts with their host keys pinned. */
export function labSsh(l: Lab) {
  return {
    user: "root",
    privateKeyPath: l.ssh.privateKeyPath,
    hostKeys: Object.fromEntries(l.hosts.map((h) => [h.address, h.hostKey])),
  };
}

/** Runs a shell command on a lab host over the real ssh client; returns stdout. */
export function sshRun(l: Lab, host: string, command: string): string {
  return execFileSync(
    "ssh",
    ["-i", l.ssh.privateKeyPath, "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${host}`, command],
    { encoding: "utf8", timeout: 60_000 },
  );
}

/**
 * What a host's proxy and containers look like now, for a failed assertion's message: kamal-proxy's
 * routes, the containers (with their start times) and kamal-proxy's last log lines.
 */
export function hostReport(l: Lab, host: string): string {
  const script = [
    "echo '--- kamal-proxy list'; docker exec kamal-proxy kamal-proxy list 2>&1",
    "echo '--- docker ps -a'; docker ps -a --format '{{.Names}} {{.Status}} (created {{.CreatedAt}})' 2>&1",
    "echo '--- kamal-proxy logs (last 15)'; docker logs --tail 15 kamal-proxy 2>&1",
  ].join("; ");
  try {
    return `\n${host} now:\n${sshRun(l, host, script).replace(/\x1b\[[0-9;]*m/g, "")}`;
  } catch (e) {
    return `\n${host}: could not be inspected: ${(e as Error).message}`;
  }
}

/** GET http://<address>:<port><path> with a Host header; resolves status and body. */
export function get(address: string, hostHeader: string, urlPath = "/", port = 80, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path: urlPath, headers: { Host: hostHeader }, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Builds the example app at `version` (unhealthy: no `/up`) and pushes it to the lab registry. */
export function appImage(l: Lab, version: string, healthy = true): string {
  const ref = `${l.registry.plain}/berth/app:${version}`;
  execFileSync("docker", ["build", "-q", "--build-arg", `VERSION=${version}`, "--build-arg", `HEALTHY=${healthy}`, "--build-arg", `BASE=${l.images.base}`, "-t", ref, path.join(REPO, "examples/app")], { stdio: "pipe", timeout: 300_000 });
  execFileSync("docker", ["push", "-q", ref], { stdio: "pipe", timeout: 300_000 });
  return ref;
}

/** Load from another process (bench/load.ts); `stop()` ends it and returns its counts. */
export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
}

export function startLoad(targets: { address: string; host: string; port?: number }[], rps = 50, maxSeconds = 300) {
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const args = [path.join(REPO, "dist/bench/load.js"), "--rps", String(rps), "--seconds", String(maxSeconds)];
  for (const t of targets) args.push("--target", `${t.address}:${t.port ?? 80}=${t.host}`);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<LoadResult>((resolve, reject) =>
    child.on("exit", () => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? ""));
      } catch {
        reject(new Error(`the load process printed no result: ${out}`));
      }
    }),
  );
  return {
    stop(): Promise<LoadResult> {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
