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
import { acquireLockScript, describeLock, lockDetails, lockDir, parseLockStatus, releaseOwnLockScript } from "../commands/lock";
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
}

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
    const details = lockDetails({ lockedBy: localUser(), at: now(), version: l.version, message: l.message });
    const ready = (async () => {
      const r = await exec(c, acquireLockScript(dir, details), { step: "taking the deploy lock" });
      if (r.code === 3) {
        const status = parseLockStatus(r.stdout);
        const flags = `--host ${c.host} --service ${l.service}${l.destination ? ` --destination ${l.destination}` : ""}`;
        throw new Error(
          `${c.host}: deploy lock found (~/${dir}): ${describeLock(status)}. Another deploy (Kamal's or Berth's) holds it; nothing was changed here. ` +
            `Wait for it to finish; if it is stale, see it with \`berth lock status ${flags}\` and remove it with \`berth lock release ${flags}\` (or \`kamal lock release\`).`,
        );
      }
      if (r.code !== 0) throw new RemoteCommandError(c.host, "taking the deploy lock", r.code, `${r.stdout}${r.stderr}`);
    })();
    entry = { holders: 1, details, ready };
    held.set(key, entry);
    ready.catch(() => {
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

/** Runs `fn` holding the host's deploy lock; releases it afterwards, also when `fn` fails. */
export async function withHostLock<T>(c: Connection, l: LockRequest, fn: () => Promise<T>): Promise<T> {
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
