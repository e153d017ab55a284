import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { argumentize, ensureNetworkScript, loggingArgs, optionize } from "../../sdk/commands/docker";

describe("commands/docker", () => {
  it("optionize: `--k v`, true as a bare flag, lists repeated, in the order given (Kamal's optionize)", () => {
    assert.deepEqual(optionize({ mount: "somewhere", "cap-add": true, "add-host": ["a:1.1.1.1", "b:2.2.2.2"] }), [
      "--mount", "somewhere", "--cap-add", "--add-host", "a:1.1.1.1", "--add-host", "b:2.2.2.2",
    ]);
    assert.deepEqual(optionize({}), []);
  });

  it("argumentize: `flag k=v`, undefined as a bare key, empty string kept as `k=`", () => {
    assert.deepEqual(argumentize("--label", { service: "app", destination: undefined }), ["--label", "service=app", "--label", "destination"]);
    assert.deepEqual(argumentize("--env", { EMPTY: "" }), ["--env", "EMPTY="]);
  });

  it("loggingArgs: driver first, then each option", () => {
    assert.deepEqual(loggingArgs({ driver: "local", options: { "max-size": "100m", "max-file": "3" } }), [
      "--log-driver", "local", "--log-opt", "max-size=100m", "--log-opt", "max-file=3",
    ]);
    assert.deepEqual(loggingArgs({ options: { "max-size": "10m" } }), ["--log-opt", "max-size=10m"]);
  });

});

/**
 * ensureNetworkScript in a real shell against a stand-in `docker` whose `network create` is not
 * atomic (it always adds a network, after a pause, as Docker 20.10's check-then-create can when two
 * deploys race on a fresh host).
 */
describe("commands: ensureNetworkScript in a real shell", function () {
  this.timeout(60_000);
  let dir: string;
  const state = () => path.join(dir, "networks");
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-net-"));
    fs.mkdirSync(path.join(dir, "home"));
    fs.writeFileSync(state(), "");
    fs.writeFileSync(path.join(dir, "inuse"), "");
    fs.writeFileSync(path.join(dir, "count"), "0");
    fs.writeFileSync(
      path.join(dir, "docker"),
      [
        "#!/bin/sh",
        `d=${dir}`,
        'case "$1 $2" in',
        '"network ls") cat "$d/networks" ;;',
        // Not atomic: no check of the name; the pause lets racers overlap.
        '"network create") sleep 0.3; c=$(($(cat "$d/count") + 1)); echo $c > "$d/count"; echo "2026-12-02 07:00:$(printf %02d $c).5 +0000 UTC net$c$(printf %058d 0)" >> "$d/networks"; echo "net$c" ;;',
        '"network rm") if grep -qx "$3" "$d/inuse"; then echo "error: network $3 has active endpoints" >&2; exit 1; fi; grep -v " $3\$" "$d/networks" > "$d/n.tmp"; mv "$d/n.tmp" "$d/networks" ;;',
        "*) exit 2 ;;",
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = () => ({ ...process.env, HOME: path.join(dir, "home"), PATH: `${dir}:${process.env.PATH}` });
  const ids = () => fs.readFileSync(state(), "utf8").split("\n").filter(Boolean).map((l) => l.split(" ").pop()!.slice(0, 4));
  const run = (script: string) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn("sh", ["-c", script], { env: env() });
    let stderr = "";
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code, stderr }));
  });

  it("creates the network when there is none, and leaves one that exists alone", async function () {
    assert.equal((await run(ensureNetworkScript("kamal"))).code, 0);
    assert.deepEqual(ids(), ["net1"]);
    assert.equal((await run(ensureNetworkScript("kamal"))).code, 0);
    assert.deepEqual(ids(), ["net1"], "no second network");
    assert.ok(!fs.existsSync(path.join(dir, "home/.kamal/berth-network-kamal.lock")), "the lock is released");
  });

  it("six deploys at once on a fresh host leave exactly one network (the old script left six)", async function () {
    const results = await Promise.all(Array.from({ length: 6 }, () => run(ensureNetworkScript("kamal"))));
    assert.deepEqual(results.map((r) => r.code), [0, 0, 0, 0, 0, 0], results.map((r) => r.stderr).join("\n"));
    assert.deepEqual(ids(), ["net1"]);
    // What it replaced: check, then create, with nothing in between.
    fs.writeFileSync(state(), "");
    const old = "[ -n \"$(docker network ls)\" ] || docker network create kamal >/dev/null";
    await Promise.all(Array.from({ length: 6 }, () => run(old)));
    assert.equal(ids().length, 6);
  });

  it("a name already doubled: the newer networks are removed and the oldest kept", async function () {
    await run("docker network create kamal; docker network create kamal; docker network create kamal");
    assert.deepEqual(ids(), ["net1", "net2", "net3"]);
    assert.equal((await run(ensureNetworkScript("kamal"))).code, 0);
    assert.deepEqual(ids(), ["net1"]);
  });

  it("a doubled name whose newer network is in use: exits 1 naming both, removes nothing in use", async function () {
    await run("docker network create kamal; docker network create kamal");
    fs.writeFileSync(path.join(dir, "inuse"), `net2${"0".repeat(58)}\n`);
    const r = await run(ensureNetworkScript("kamal"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /2 docker networks are named kamal \(net1\d+ net2\d+\): exactly one is needed; remove the ones no container uses/);
    assert.deepEqual(ids(), ["net1", "net2"]);
  });

  it("a lock left behind by a killed deploy is taken over after 15 s", async function () {
    fs.mkdirSync(path.join(dir, "home/.kamal/berth-network-kamal.lock"), { recursive: true });
    const t0 = Date.now();
    assert.equal((await run(ensureNetworkScript("kamal"))).code, 0);
    const waited = (Date.now() - t0) / 1000;
    assert.ok(waited >= 14 && waited < 25, `${waited} s`);
    assert.deepEqual(ids(), ["net1"]);
    assert.ok(!fs.existsSync(path.join(dir, "home/.kamal/berth-network-kamal.lock")));
  });
});
