/**
 * A bounded HTTP load generator (a separate process): GETs `/` on each target in turn at a fixed
 * rate, counting answers. Stops at SIGTERM/SIGINT, after `--seconds`, or after `--max` requests,
 * then prints one JSON line: {sent, ok, failed, statuses, errors, latencyMsP50, latencyMsMax}.
 *
 *   node dist/bench/load.js --rps 50 --seconds 60 --target 10.77.0.11=app.test --target 10.77.0.12=app.test
 *
 * Targets must be loopback or the lab's own hosts.
 */
import * as http from "node:http";

interface Target {
  address: string;
  host: string;
  port: number;
}

function parseArgs(argv: string[]) {
  const out = { rps: 50, seconds: 60, max: 100_000, path: "/", targets: [] as Target[] };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === "--rps") out.rps = Number(v);
    else if (k === "--seconds") out.seconds = Number(v);
    else if (k === "--max") out.max = Number(v);
    else if (k === "--path") out.path = v;
    else if (k === "--target") {
      const [addr, host] = v.split("=");
      const [address, port] = addr.split(":");
      out.targets.push({ address, host: host ?? address, port: Number(port ?? 80) });
    } else throw new Error(`unknown option ${k}`);
  }
  if (out.targets.length === 0) throw new Error("at least one --target address[:port]=host is required");
  return out;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const agent = new http.Agent({ keepAlive: false });
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const latencies: number[] = [];
  let stopping = false;

  const finish = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    const wait = setInterval(() => {
      if (inFlight > 0) return;
      clearInterval(wait);
      latencies.sort((a, b) => a - b);
      const p50 = latencies.length ? latencies[Math.floor(latencies.length / 2)] : 0;
      const max = latencies.length ? latencies[latencies.length - 1] : 0;
      process.stdout.write(JSON.stringify({ sent, ok, failed, statuses, errors, latencyMsP50: p50, latencyMsMax: max }) + "\n");
      process.exit(0);
    }, 20);
  };

  const fire = () => {
    if (stopping || sent >= o.max) return finish();
    const t = o.targets[sent % o.targets.length];
    sent += 1;
    inFlight += 1;
    const start = Date.now();
    const done = (status: number | undefined, error?: string) => {
      inFlight -= 1;
      latencies.push(Date.now() - start);
      if (status === 200) ok += 1;
      else {
        failed += 1;
        if (status !== undefined) statuses[status] = (statuses[status] ?? 0) + 1;
        if (error) errors[error] = (errors[error] ?? 0) + 1;
      }
    };
    const req = http.get({ host: t.address, port: t.port, path: o.path, headers: { Host: t.host }, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode));
      res.on("error", (e) => done(undefined, e.message));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => done(undefined, (e as NodeJS.ErrnoException).code ?? e.message));
  };

  const timer = setInterval(fire, 1000 / o.rps);
  setTimeout(finish, o.seconds * 1000);
  process.on("SIGTERM", finish);
  process.on("SIGINT", finish);
}

main();
