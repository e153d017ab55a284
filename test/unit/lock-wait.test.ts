/**
 * `lockWaitSeconds` (Kamal's `--lock-wait`): which locks are worth waiting for, the setting's
 * validation and default, and how it reaches an AppHost (only when set, so an upgrade diffs nothing).
 */
import { strict as assert } from "node:assert";
import { appHostSpec } from "../../sdk/config/app-host";
import { AppArgs, normalizeApp } from "../../sdk/config/app";
import { BerthConfigError } from "../../sdk/config/errors";
import { berthLockMessage, isAutomaticLock, KAMAL_AUTOMATIC_LOCK_MESSAGE, lockDetails, parseLockStatus } from "../../sdk/commands/lock";

/** A held lock as `lockStatusScript` prints it, with this message. */
function held(message: string) {
  const details = Buffer.from(lockDetails({ lockedBy: "alice", at: "2026-01-02T03:04:05Z", version: "v1", message }), "base64").toString("utf8");
  return parseLockStatus(`1767322000 1767321845\n${details}\n`);
}

describe("lock wait: automatic locks", function () {
  it("Kamal's and Berth's deploy locks are automatic; a lock taken by hand is not", function () {
    assert.equal(KAMAL_AUTOMATIC_LOCK_MESSAGE, "Automatic deploy lock");
    assert.equal(berthLockMessage("deploy", "shop-web-production", "shop/production"), "Berth deploy of shop-web-production by shop/production");
    assert.equal(berthLockMessage("removal", "shop-web-production"), "Berth removal of shop-web-production");
    assert.equal(isAutomaticLock(held("Automatic deploy lock")), true);
    assert.equal(isAutomaticLock(held(berthLockMessage("deploy", "shop-web-production", "shop/production"))), true);
    assert.equal(isAutomaticLock(held(berthLockMessage("removal", "shop-web-production"))), true);
    for (const manual of ["Integration Tests", "Automatic deploy lock, do not touch", "Berth deploy of", "berth deploy of shop", ""]) {
      assert.equal(isAutomaticLock(held(manual)), false, JSON.stringify(manual));
    }
    assert.equal(isAutomaticLock(parseLockStatus("1 1\n")), false, "no details: not known to be automatic");
  });
});

describe("lock wait: lockWaitSeconds", function () {
  const base: AppArgs = { service: "app", image: "dhh/app:999", destination: "", hosts: ["1.1.1.1"] };

  it("defaults to 0 (fail at once) and reaches the AppHost spec only when set", function () {
    const none = normalizeApp(base);
    assert.equal(none.lockWaitSeconds, 0);
    assert.equal("lockWaitSeconds" in appHostSpec(none, "web", "1.1.1.1"), false);
    const set = normalizeApp({ ...base, lockWaitSeconds: 900 });
    assert.equal(set.lockWaitSeconds, 900);
    assert.equal(appHostSpec(set, "web", "1.1.1.1").lockWaitSeconds, 900);
  });

  it("is a whole number of seconds from 0 to 86400", function () {
    for (const bad of [-1, 1.5, 86_401, "30", Number.NaN, null]) {
      try {
        normalizeApp({ ...base, lockWaitSeconds: bad as unknown as number });
        assert.fail(`accepted ${String(bad)}`);
      } catch (e) {
        assert.ok(e instanceof BerthConfigError, String(e));
        assert.match(e.message, /`lockWaitSeconds`: must be an integer from 0 to 86400/, String(bad));
      }
    }
  });
});
