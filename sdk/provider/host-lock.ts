/**
 * The deploy lock and the audit log on a host, as Kamal keeps them (`.kamal/lock-<service>[-<destination>]`,
 * `.kamal/<service>[-<destination>]-audit.log`). The lock is taken before an AppHost's first change
 * and released when it finishes, also on failure. It is re-entrant within this provider process: the
 * roles of one service deploying to the same host in one `up` share it, and the last to finish
 * releases it. A lock held by anyone else (a Kamal deploy, `kamal lock acquire`, another stack) makes
 * the deploy fail at once, naming the holder, when, the version and the age.
 */
import * as os from "node:os";
import { auditLine, auditLineScript, auditLogPath } from "../commands/audit";
import { acquireLockScript, describeLock, isAutomaticLock, lockDetails, lockDir, lockStatusScript, parseLockStatus, releaseOwnLockScript } from "../commands/lock";
import { setTimeout as sleep } from "node:timers/promises";
import { progress } from "./log";
import { type Connection, exec, RemoteCommandError, run } from "./ssh";

/** The local user running Pulumi: the audit log's performer and the lock's holder. */
export function localUser(): string {
  try {
    const name = os.userInfo().username;
    if (name) return name;
  } catch {
    /* no passwd entry (a container): fall back to the environment */
  }
  return process.env.USER || process.env.LOGNAME || "unknown";
}

/** ISO 8601 without milliseconds, as Kamal writes it (`2026-01-02T03:04:05Z`). */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Appends one audit line for a step on the host. */
export async function audit(c: Connection, e: { service: string; destination: string; role?: string; message: string }): Promise<void> {
  const text = auditLine({ recordedAt: now(), performer: localUser(), destination: e.destination, role: e.role, message: e.message });
  await run(c, "writing the audit log", auditLineScript(auditLogPath(e.service, e.destination), text));
}

interface Held {
  holders: number;
  details: string;
  ready: Promise<void>;
}
const held = new Map<string, Held>();
const releasing = new Map<string, Promise<void>>();

/** What a lock is for: the host's service and destination, and what goes in its details. */
export interface LockRequest {
  service: string;
  destination: string;
  version: string;
  message: string;
  /** Holders with the same owner share the lock (re-entrant). */
  owner: string;
  /**
   * Seconds to wait while another automatic deploy (Kamal's or Berth's) holds the lock, checking
   * every `LOCK_WAIT_INTERVAL_MS`; a lock taken by hand fails at once (Kamal's `--lock-wait`).
   */
  waitSeconds?: number;
}

/** How often a waiting deploy checks the lock again. */
export const LOCK_WAIT_INTERVAL_MS = 2000;

function keyOf(c: Connection, l: LockRequest): string {
  return JSON.stringify([c.user, c.host, c.port, lockDir(l.service, l.destination), l.owner]);
}

async function acquire(c: Connection, l: LockRequest): Promise<{ key: string; entry: Held }> {
  const key = keyOf(c, l);
  await releasing.get(key);
  let entry = held.get(key);
  if (entry) {
    entry.holders += 1;
  } else {
    const dir = lockDir(l.service, l.destination);
    const mine: Held = { holders: 1, details: "", ready: Promise.resolve() };
    mine.ready = (async () => {
      const started = Date.now();
      const wait = (l.waitSeconds ?? 0) * 1000;
      for (let attempt = 0; ; attempt++) {
        // Written anew on each attempt, so the lock says when it was really taken.
        const details = lockDetails({ lockedBy: localUser(), at: now(), version: l.version, message: l.message });
        const r = await exec(c, acquireLockScript(dir, details), { step: "taking the deploy lock" });
        if (r.code === 0) {
          mine.details = details;
          return;
        }
        if (r.code !== 3) throw new RemoteCommandError(c.host, "taking the deploy lock", r.code, `${r.stdout}${r.stderr}`);
        const status = parseLockStatus(r.stdout);
        const automatic = isAutomaticLock(status);
        if (automatic && Date.now() - started + LOCK_WAIT_INTERVAL_MS <= wait) {
          if (attempt === 0) await progress(`${c.host}: deploy lock held (~/${dir}): ${describeLock(status)}; waiting up to ${l.waitSeconds} s for it (lockWaitSeconds)`);
          await sleep(LOCK_WAIT_INTERVAL_MS);
          continue;
        }
        const flags = `--host ${c.host} --service ${l.service}${l.destination ? ` --destination ${l.destination}` : ""}`;
        const waited = attempt > 0 ? ` Waited ${Math.round((Date.now() - started) / 1000)} s for it (lockWaitSeconds: ${l.waitSeconds}).` : "";
        const manual = !automatic && wait > 0 ? " It was taken by hand, not by a deploy, so the deploy did not wait for it (lockWaitSeconds waits for deploys only)." : "";
        throw new Error(
          `${c.host}: deploy lock found (~/${dir}): ${describeLock(status)}. Another deploy (Kamal's or Berth's) holds it; nothing was changed here.${waited}${manual} ` +
            `Wait for it to finish; if it is stale, see it with \`berth lock status ${flags}\` and remove it with \`berth lock release ${flags}\` (or \`kamal lock release\`).`,
        );
      }
    })();
    entry = mine;
    held.set(key, entry);
    mine.ready.catch(() => {
      if (held.get(key) === entry) held.delete(key);
    });
  }
  await entry.ready;
  return { key, entry };
}

async function release(c: Connection, l: LockRequest, key: string, entry: Held): Promise<void> {
  entry.holders -= 1;
  if (entry.holders > 0) return;
  if (held.get(key) === entry) held.delete(key);
  const done = run(c, "releasing the deploy lock", releaseOwnLockScript(lockDir(l.service, l.destination), entry.details)).then(() => undefined);
  releasing.set(key, done.catch(() => undefined));
  try {
    await done;
  } finally {
    if (releasing.get(key)) releasing.delete(key);
  }
}

/**
 * Kamal's lock inheritance: a deploy started by a hook of a deploy that holds the lock (Kamal exports
 * `KAMAL_LOCK=true` to its hooks; `kamal` then does not take the lock again) runs under that lock.
 */
export function lockInherited(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.KAMAL_LOCK === "true";
}

/**
 * Runs `fn` holding the host's deploy lock; releases it afterwards, also when `fn` fails. With
 * `KAMAL_LOCK=true` in this process's environment the lock is inherited: it is neither taken nor
 * released, only looked at and reported (Kamal holds it on its primary host only).
 */
export async function withHostLock<T>(c: Connection, l: LockRequest, fn: () => Promise<T>): Promise<T> {
  if (lockInherited()) {
    const dir = lockDir(l.service, l.destination);
    const st = await exec(c, lockStatusScript(dir), { step: "reading the deploy lock" });
    await progress(
      st.code === 0
        ? `${c.host}: KAMAL_LOCK=true: running under the inherited deploy lock (~/${dir}: ${describeLock(parseLockStatus(st.stdout))}); not taking it again`
        : `${c.host}: KAMAL_LOCK=true: the deploy lock is inherited from the calling deploy (not held on this host: Kamal locks its primary host only); not taking it`,
    );
    return fn();
  }
  const { key, entry } = await acquire(c, l);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    await release(c, l, key, entry).catch(() => undefined);
    throw e;
  }
  await release(c, l, key, entry);
  return result;
}
