import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { auditLine, auditLineScript, auditLogPath } from "../../sdk/commands/audit";
import { acquireLockScript, describeLock, forceReleaseLockScript, lockDetails, lockDir, lockStatusScript, parseLockStatus, releaseOwnLockScript } from "../../sdk/commands/lock";
import { pruneImagesScript } from "../../sdk/commands/rollout";
import { parseLockArgs } from "../../sdk/cli/lock";

/** Runs `script` with /bin/sh in `home` (as the SSH user's home); returns code and output. */
function sh(home: string, script: string): { code: number; stdout: string } {
  const r = spawnSync("/bin/sh", ["-c", script], { cwd: home, encoding: "utf8", env: { PATH: process.env.PATH, HOME: home } });
  return { code: r.status ?? -1, stdout: r.stdout };
}

const LINE = /^\[[^\]]+\] \[[^\]]+\] .*$/;
const hostile = ["v1\n[2026-01-01T00:00:00Z] [root] forged", `a'b"c`, "\u001b[31mred\u001b[0m", "$(touch pwned)", "`id`", "back\\slash", "r\rn\u2028x", "]x[", "\u0000nul"];

describe("commands: audit log", function () {
  let home: string;
  beforeEach(() => (home = fs.mkdtempSync(path.join(os.tmpdir(), "berth-audit-"))));
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("Kamal's file name: .kamal/<service>[-<destination>]-audit.log", function () {
    assert.equal(auditLogPath("app", "production"), ".kamal/app-production-audit.log");
    assert.equal(auditLogPath("app", ""), ".kamal/app-audit.log");
  });

  it("Kamal's line: [recorded_at] [performer] [destination] [role] message", function () {
    assert.equal(auditLine({ recordedAt: "2026-01-02T03:04:05Z", performer: "alice", destination: "production", role: "web", message: "Booted app version 123" }), "[2026-01-02T03:04:05Z] [alice] [production] [web] Booted app version 123");
    assert.equal(auditLine({ recordedAt: "2026-01-02T03:04:05Z", performer: "alice", destination: "", message: "removed" }), "[2026-01-02T03:04:05Z] [alice] removed");
    assert.equal(auditLineScript(".kamal/app-audit.log", "[t] [u] it's"), `mkdir -p .kamal && printf '%s\\n' '[t] [u] it'\\''s' >> .kamal/app-audit.log`);
  });

  it("hostile versions, messages and performers through a real /bin/sh: one parseable line each, no control characters, nothing runs", function () {
    const file = auditLogPath("app", "prod");
    for (const h of hostile) {
      const l = auditLine({ recordedAt: "2026-01-02T03:04:05Z", performer: h, destination: "prod", role: h, message: `Booted app version ${h}` });
      assert.equal(sh(home, auditLineScript(file, l)).code, 0);
    }
    const lines = fs.readFileSync(path.join(home, file), "utf8").split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, hostile.length);
    for (const l of lines) {
      assert.match(l, LINE);
      assert.doesNotMatch(l, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      assert.equal(l.match(/^(\[[^\]]*\] ){4}/)?.[0].split("] [").length, 4, `four tags: ${l}`);
    }
    assert.equal(lines[0], "[2026-01-02T03:04:05Z] [v1\\n\\x5b2026-01-01T00:00:00Z\\x5d \\x5broot\\x5d forged] [prod] [v1\\n\\x5b2026-01-01T00:00:00Z\\x5d \\x5broot\\x5d forged] Booted app version v1\\n[2026-01-01T00:00:00Z] [root] forged");
    assert.ok(lines[2].endsWith("Booted app version \\x1b[31mred\\x1b[0m"));
    assert.ok(lines[3].endsWith("Booted app version $(touch pwned)"));
    assert.equal(fs.existsSync(path.join(home, "pwned")), false);
    assert.throws(() => auditLineScript(file, "a\nb"), /cannot contain a line break/);
  });
});

describe("commands: deploy lock", function () {
  let home: string;
  beforeEach(() => (home = fs.mkdtempSync(path.join(os.tmpdir(), "berth-lock-"))));
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("Kamal's directory and details", function () {
    assert.equal(lockDir("app", "production"), ".kamal/lock-app-production");
    assert.equal(lockDir("app", ""), ".kamal/lock-app");
    const d = lockDetails({ lockedBy: "alice", at: "2026-01-02T03:04:05Z", version: "v1", message: "hi" });
    assert.equal(Buffer.from(d, "base64").toString(), "Locked by: alice at 2026-01-02T03:04:05Z\nVersion: v1\nMessage: hi");
  });

  it("acquire (mkdir), held (exit 3 with the holder), status, release own only, force release — through a real /bin/sh", function () {
    const dir = lockDir("app", "prod");
    const mine = lockDetails({ lockedBy: "alice", at: "2026-01-02T03:04:05Z", version: "v1$(id)'", message: "deploy\n\u001b[31m" });
    assert.equal(sh(home, acquireLockScript(dir, mine)).code, 0);
    assert.equal(execFileSync("sh", ["-c", `base64 -d < ${dir}/details`], { cwd: home, encoding: "utf8" }), "Locked by: alice at 2026-01-02T03:04:05Z\nVersion: v1$(id)'\nMessage: deploy\n\u001b[31m");
    const held = sh(home, acquireLockScript(dir, lockDetails({ lockedBy: "bob", at: "x", version: "v2", message: "" })));
    assert.equal(held.code, 3);
    const st = parseLockStatus(held.stdout);
    assert.equal(st.lockedBy, "alice");
    assert.equal(st.at, "2026-01-02T03:04:05Z");
    assert.equal(st.version, "v1$(id)'");
    assert.equal(st.message, "deploy");
    assert.ok(st.ageSeconds !== undefined && st.ageSeconds < 60, String(st.ageSeconds));
    assert.match(describeLock(st), /^locked by alice at 2026-01-02T03:04:05Z, version v1\$\(id\)', message "deploy", held for \d+s$/);
    assert.doesNotMatch(st.details, /\u001b/);
    assert.equal(sh(home, lockStatusScript(dir)).code, 0);
    // Someone else's lock is not released by ours.
    assert.equal(sh(home, releaseOwnLockScript(dir, lockDetails({ lockedBy: "bob", at: "x", version: "v2", message: "" }))).code, 0);
    assert.ok(fs.existsSync(path.join(home, dir)));
    assert.equal(sh(home, releaseOwnLockScript(dir, mine)).code, 0);
    assert.equal(fs.existsSync(path.join(home, dir)), false);
    assert.equal(sh(home, lockStatusScript(dir)).code, 4);
    assert.equal(sh(home, forceReleaseLockScript(dir)).code, 4);
    assert.equal(sh(home, acquireLockScript(dir, mine)).code, 0);
    assert.equal(sh(home, forceReleaseLockScript(dir)).code, 0);
    assert.equal(fs.existsSync(path.join(home, dir)), false);
  });

  it("reads a lock written by Kamal (echo of wrapped base64)", function () {
    const dir = lockDir("app", "");
    const b64 = Buffer.from(`Locked by: Deployer at 2026-01-02T03:04:05Z\nVersion: ${"x".repeat(80)}\nMessage: Integration Tests`).toString("base64").replace(/(.{60})/g, "$1\n");
    execFileSync("sh", ["-c", `mkdir -p .kamal && mkdir ${dir} && echo "${b64}" > ${dir}/details`], { cwd: home });
    const held = sh(home, acquireLockScript(dir, "bWluZQ=="));
    assert.equal(held.code, 3);
    const st = parseLockStatus(held.stdout);
    assert.equal(st.lockedBy, "Deployer");
    assert.equal(st.message, "Integration Tests");
  });

  it("`berth lock` arguments", function () {
    const a = parseLockArgs(["status", "--host", "10.0.0.1", "--service", "app", "--destination", "prod", "--ssh-key", "/k", "--known-hosts", "/kh"]);
    assert.deepEqual(a, { action: "status", service: "app", destination: "prod", connection: { host: "10.0.0.1", port: 22, user: "root", privateKeyPath: "/k", knownHostsPath: "/kh" } });
    assert.throws(() => parseLockArgs(["grab", "--host", "h", "--service", "s"]), /unknown action `grab`/);
    assert.throws(() => parseLockArgs(["release", "--host", "h"]), /`--service` is required/);
    assert.throws(() => parseLockArgs(["release", "--host", "h", "--service", "s", "--port", "0"]), /`--port` must be a port number/);
  });
});

describe("commands: prune", function () {
  it("dangling images of this service only (Kamal's `prune images`)", function () {
    assert.equal(
      pruneImagesScript("app"),
      `out=$(docker image prune --force --filter label=service=app 2>&1) || { printf '%s\\n' "$out" | grep -q 'already running' || { printf '%s\\n' "$out" >&2; exit 1; }; }`,
    );
  });
});
