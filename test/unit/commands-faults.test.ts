/**
 * The scripts Berth runs to undo a switch after the SSH connection was lost mid-way (issue 11):
 * exact text, and the wait script run through a real shell against a stand-in `docker top`.
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { proxyDeployWaitScript } from "../../sdk/commands/proxy";
import { startScript, startWaitScript, stopStartedScript } from "../../sdk/commands/rollout";

describe("commands: undoing a switch after a lost connection", function () {
  it("waits for an orphaned `kamal-proxy deploy` of exactly this service in the proxy container, bounded", function () {
    assert.equal(
      proxyDeployWaitScript("shop-web-production", 61.5),
      "i=0; while docker top kamal-proxy 2>/dev/null | grep -F -q -e 'kamal-proxy deploy shop-web-production '; do i=$((i + 1)); if [ \"$i\" -ge 62 ]; then exit 1; fi; sleep 1; done",
    );
    assert.ok(proxyDeployWaitScript("shop-web-production", 5, "proxy-2").startsWith("i=0; while docker top proxy-2 2>/dev/null"));
  });

  it("stops the started container, or, when one of that name existed before, only once it was renamed away", function () {
    assert.equal(stopStartedScript("shop-web-production-v1", "ab12", false), "docker stop shop-web-production-v1 >/dev/null 2>&1 || true");
    assert.equal(
      stopStartedScript("shop-web-production-v1", "ab12", true),
      "if [ -n \"$(docker container ls --all --filter 'name=^shop-web-production-v1_replaced_ab12$' --quiet)\" ]; then docker stop shop-web-production-v1 >/dev/null 2>&1 || true; fi",
    );
  });

  it("in a real shell: the wait ends when the deploy ends, ignores other services, and gives up after its bound", function () {
    this.timeout(20_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-wait-"));
    try {
      // A stand-in `docker top`: lists the deploy for the first N calls (N in the file `left`).
      fs.writeFileSync(
        path.join(dir, "docker"),
        [
          "#!/bin/sh",
          `n=$(cat ${dir}/left); echo $((n - 1)) > ${dir}/left`,
          "echo 'UID PID PPID C STIME TTY TIME CMD'",
          "echo '1001 10 1 0 00:00 ? 00:00:00 kamal-proxy run'",
          "echo '1001 11 1 0 00:00 ? 00:00:00 kamal-proxy deploy shop-web-production-2 --target x:80'",
          "[ \"$n\" -gt 0 ] && echo '1001 12 1 0 00:00 ? 00:00:00 kamal-proxy deploy shop-web-production --target y:80'",
          "exit 0",
        ].join("\n"),
        { mode: 0o755 },
      );
      const wait = (left: number, bound: number) => {
        fs.writeFileSync(path.join(dir, "left"), String(left));
        const t0 = Date.now();
        const r = spawnSync("bash", ["-c", proxyDeployWaitScript("shop-web-production", bound)], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
        return { code: r.status, seconds: (Date.now() - t0) / 1000 };
      };
      const none = wait(0, 5);
      assert.equal(none.code, 0);
      assert.ok(none.seconds < 1, `no deploy running: no wait (${none.seconds} s)`);
      const two = wait(2, 5);
      assert.equal(two.code, 0);
      assert.ok(two.seconds >= 2 && two.seconds < 4, `a deploy seen twice: about 2 s (${two.seconds} s)`);
      const stuck = wait(100, 3);
      assert.equal(stuck.code, 1, "a deploy that never ends: exit 1 after the bound");
      assert.ok(stuck.seconds >= 2 && stuck.seconds < 5, `${stuck.seconds} s`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("in a real shell: the wait for an orphaned start ends when its shell ends, never matches itself, and gives up after its bound", function () {
    this.timeout(20_000);
    assert.throws(() => startWaitScript("ab;rm", 5), /suffix must be hex/);
    // A start script whose connection was lost: its shell still runs (here: sleeps where `docker run` would run).
    const orphan = (suffix: string, seconds: number) =>
      spawn("bash", ["-c", startScript("shop-web-production-v1", ["sleep", String(seconds)], suffix).split("\n").filter((l) => !l.includes("docker")).join("\n") + "\ntrue"], { stdio: "ignore", detached: true });
    const wait = (suffix: string, bound: number) => {
      const t0 = Date.now();
      const r = spawnSync("sh", ["-c", startWaitScript(suffix, bound)]);
      return { code: r.status, seconds: (Date.now() - t0) / 1000 };
    };
    const none = wait("0123456789abcdef", 5);
    assert.equal(none.code, 0);
    assert.ok(none.seconds < 1, `no start running: no wait (${none.seconds} s)`);
    const short = orphan("00aa00aa00aa00aa", 2);
    const other = orphan("00bb00bb00bb00bb", 8);
    try {
      const ended = wait("00aa00aa00aa00aa", 6);
      assert.equal(ended.code, 0);
      assert.ok(ended.seconds >= 1 && ended.seconds < 4, `waited for the start to end: about 2 s (${ended.seconds} s)`);
      const stuck = wait("00bb00bb00bb00bb", 2);
      assert.equal(stuck.code, 1, "still running after the bound");
      assert.ok(stuck.seconds >= 0.9 && stuck.seconds < 4, `${stuck.seconds} s`);
    } finally {
      for (const p of [short, other]) if (p.pid) try { process.kill(-p.pid, "SIGKILL"); } catch { /* ended */ }
    }
  });
});
