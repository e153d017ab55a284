/**
 * scripts/install.sh for real: a warm second run installs nothing, and bad input fails at a named
 * step with nothing half-installed left in the cache.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { REPO } from "../helpers/engine";

function install(target: string, env: Record<string, string>) {
  const r = spawnSync("bash", [path.join(REPO, "scripts/install.sh"), target], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Everything under `dir` except the (empty) temp area. */
function leftovers(dir: string): string[] {
  const tmp = path.join(dir, ".tmp");
  const rest = fs.readdirSync(dir).filter((f) => f !== ".tmp");
  const tmpLeft = fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
  return [...rest, ...tmpLeft.map((f) => `.tmp/${f}`)];
}

describe("real: scripts/install.sh", function () {
  let cache: string;
  beforeEach(() => (cache = fs.mkdtempSync(path.join(os.tmpdir(), "berth-cache-"))));
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));

  it("a second run on a warm cache builds nothing", function () {
    const r = install("all", {});
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /pulumi v\d+\.\d+\.\d+ cached/);
    assert.match(r.out, /pulumi-language-nodejs \(Berth's\) cached/);
    assert.match(r.out, /node_modules up to date/);
    assert.match(r.out, /build up to date/);
    assert.match(r.out, /provider plugin berth v[\d.]+ installed/);
    // `pulumi plugin ls` lists it, at the package's version.
    const version = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version;
    const ls = spawnSync("pulumi", ["plugin", "ls", "--json"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
    const plugins = JSON.parse(ls.stdout) as { name: string; kind: string; version: string }[];
    assert.ok(plugins.some((p) => p.name === "berth" && p.kind === "resource" && p.version === version), ls.stdout);
    assert.doesNotMatch(r.out, /step '.*' \.\.\./);
  });

  it("an unknown Node version fails at the node step and leaves nothing in the cache", function () {
    const r = install("node", { BERTH_CACHE: cache, BERTH_FORCE_NODE: "1", BERTH_NODE_VERSION: "99.99.99" });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /step 'node 99\.99\.99' failed \(exit \d+\)\. Set BERTH_NODE_VERSION to a version/);
    assert.deepEqual(leftovers(cache), []);
  });

  it("a Pulumi version the Go module proxy lacks fails at the pulumi step and leaves nothing in the cache", function () {
    const r = install("pulumi", { BERTH_CACHE: cache, BERTH_PULUMI_VERSION: "3.0.0-berth-missing" });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /step 'pulumi CLI v3\.0\.0-berth-missing \(go build\)' failed/);
    assert.match(r.out, /the Go module proxy has no github\.com\/pulumi\/pulumi\/pkg\/v3@v3\.0\.0-berth-missing/);
    // (Node itself may have been installed first, complete, when the machine's node is older than 22.)
    assert.deepEqual(leftovers(cache).filter((f) => !f.startsWith("node-v")), []);
  });

  it("an unreachable registry fails at the node step with the registry named", function () {
    const r = install("node", { BERTH_CACHE: cache, BERTH_FORCE_NODE: "1", npm_config_registry: "http://127.0.0.1:9/" , npm_config_fetch_retries: "0" });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /step 'node [\d.]+' failed/);
    assert.match(r.out, /npm registry is reachable/);
    assert.deepEqual(leftovers(cache), []);
  });

  it("`source scripts/env.sh` leaves the caller's shell options and functions as they were", function () {
    const probe = [
      "set +e +u; set -o pipefail 2>/dev/null; set +o pipefail",
      "before=$(set -o; shopt -p; declare -F)",
      `source ${JSON.stringify(path.join(REPO, "scripts/env.sh"))} >/dev/null 2>&1 || echo "env.sh failed" >&2`,
      'after=$(set -o; shopt -p; declare -F)',
      '[ "$before" = "$after" ] && echo same || diff <(echo "$before") <(echo "$after")',
      'false; echo "still here after a failing command"',
    ].join("\n");
    const r = spawnSync("bash", ["-c", probe], { encoding: "utf8", timeout: 300_000 });
    assert.equal(r.stdout.trim(), "same\nstill here after a failing command", `${r.stdout}${r.stderr}`);
  });
});
