/**
 * Kamal's deploy lock (`lib/kamal/commands/lock.rb`): the directory `.kamal/lock-<service>[-<destination>]`
 * made with `mkdir` (atomic: one deploy wins), holding `details`, the base64 of
 * "Locked by: <user> at <iso8601>\nVersion: <version>\nMessage: <message>". A lock taken by
 * `kamal lock acquire`, or by a Kamal deploy, blocks a Berth deploy and the other way round. Pure: no I/O.
 */
import { escapeControl } from "./audit";
import { quote } from "./shell";

/** `.kamal/lock-<service>[-<destination>]`, relative to the SSH user's home. */
export function lockDir(service: string, destination: string): string {
  return `.kamal/${["lock", service, destination].filter((p) => p !== "").join("-")}`;
}

/** The base64 `details` of a lock, exactly as Kamal writes them (before its line wrapping). */
export function lockDetails(d: { lockedBy: string; at: string; version: string; message: string }): string {
  return Buffer.from(`Locked by: ${d.lockedBy} at ${d.at}\nVersion: ${d.version}\nMessage: ${d.message}`, "utf8").toString("base64");
}

/**
 * Prints `<now epoch> <lock dir mtime epoch>` on the first line, then the decoded details; exits 4
 * when there is no lock (Kamal's `stat <dir> && cat <dir>/details | base64 -d`).
 */
export function lockStatusScript(dir: string): string {
  const d = quote(dir);
  const details = quote(`${dir}/details`);
  return [
    `if [ ! -d ${d} ]; then exit 4; fi`,
    `printf '%s %s\\n' "$(date +%s)" "$(stat -c %Y ${d} 2>/dev/null || echo 0)"`,
    `base64 -d < ${details} 2>/dev/null || cat ${details} 2>/dev/null || true`,
  ].join("\n");
}

/**
 * Takes the lock: `mkdir .kamal/lock-…` and writes `details`; exits 0. When the directory exists
 * already (the lock is held), prints what `lockStatusScript` prints and exits 3.
 */
export function acquireLockScript(dir: string, details: string): string {
  const d = quote(dir);
  const file = quote(`${dir}/details`);
  return [
    `mkdir -p ${quote(dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : ".")}`,
    `if mkdir ${d} 2>/dev/null; then`,
    `  if printf '%s\\n' ${quote(details)} > ${file}; then exit 0; fi`,
    `  rm -rf ${d}; exit 1`,
    "fi",
    lockStatusScript(dir),
    "exit 3",
  ].join("\n");
}

/** Releases the lock if it is still the one with these `details` (a lock released by hand and taken by another deploy stays). */
export function releaseOwnLockScript(dir: string, details: string): string {
  return `if [ "$(cat ${quote(`${dir}/details`)} 2>/dev/null)" = ${quote(details)} ]; then rm -rf ${quote(dir)}; fi`;
}

/** Releases the lock whoever holds it (`kamal lock release`); exits 4 when there is none. */
export function forceReleaseLockScript(dir: string): string {
  return `if [ -d ${quote(dir)} ]; then rm -rf ${quote(dir)}; else exit 4; fi`;
}

/** A held lock as `lockStatusScript` printed it. */
export interface LockStatus {
  /** The decoded details, control characters escaped (one `Locked by/Version/Message` per line). */
  details: string;
  lockedBy?: string;
  at?: string;
  version?: string;
  message?: string;
  /** Seconds since the lock was taken, by the host's clock. */
  ageSeconds?: number;
}

/** Parses `lockStatusScript`'s output. */
export function parseLockStatus(stdout: string): LockStatus {
  const nl = stdout.indexOf("\n");
  const [first, rest] = nl < 0 ? [stdout, ""] : [stdout.slice(0, nl), stdout.slice(nl + 1)];
  const [now, mtime] = first.trim().split(/\s+/).map(Number);
  const lines = rest.replace(/\n+$/, "").split("\n");
  const field = (name: string) => {
    const l = lines.find((x) => x.startsWith(`${name}: `));
    return l === undefined ? undefined : escapeControl(l.slice(name.length + 2));
  };
  const lockedLine = field("Locked by");
  const m = lockedLine?.match(/^(.*) at (\S+)$/);
  let ageSeconds: number | undefined;
  if (Number.isFinite(now) && Number.isFinite(mtime) && mtime > 0) ageSeconds = Math.max(0, now - mtime);
  else if (m && Number.isFinite(now) && !Number.isNaN(Date.parse(m[2]))) ageSeconds = Math.max(0, Math.round(now - Date.parse(m[2]) / 1000));
  return {
    details: lines.map(escapeControl).join("\n"),
    lockedBy: m ? m[1] : lockedLine,
    at: m?.[2],
    version: field("Version"),
    message: field("Message"),
    ageSeconds,
  };
}

/** `1h 2m 3s`, `4m 5s`, `6s`. */
export function formatAge(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h > 0 ? `${h}h ${m}m ${s}s` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** The message of the lock Kamal takes for a deploy (`kamal deploy`, `kamal app boot`…). */
export const KAMAL_AUTOMATIC_LOCK_MESSAGE = "Automatic deploy lock";

/** The message of the lock Berth takes for a deploy or a removal of `<service>-<role>-<destination>`. */
export function berthLockMessage(what: "deploy" | "removal", serviceRole: string, owner?: string): string {
  return `Berth ${what} of ${serviceRole}${owner ? ` by ${owner}` : ""}`;
}

/**
 * Is the lock one a deploy takes and releases by itself (Kamal's or Berth's), rather than one taken
 * by hand (`kamal lock acquire -m …`)? Only those are worth waiting for (Kamal's `--lock-wait`).
 */
export function isAutomaticLock(l: LockStatus): boolean {
  const m = l.message ?? "";
  return m === KAMAL_AUTOMATIC_LOCK_MESSAGE || /^Berth (deploy|removal) of \S/.test(m);
}

/** "locked by X at T, version V, message M, held for 4m 5s". */
export function describeLock(l: LockStatus): string {
  const parts = [
    `locked by ${l.lockedBy ?? "unknown"}${l.at ? ` at ${l.at}` : ""}`,
    `version ${l.version ?? "unknown"}`,
    `message "${l.message ?? ""}"`,
    ...(l.ageSeconds !== undefined ? [`held for ${formatAge(l.ageSeconds)}`] : []),
  ];
  return parts.join(", ");
}
