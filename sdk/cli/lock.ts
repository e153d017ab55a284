/**
 * `berth lock status|release`: the host's deploy lock (Kamal's `.kamal/lock-<service>[-<destination>]`),
 * over SSH with the host key checked against a known_hosts file. `status` prints the holder, when,
 * the version, the message and the age; `release` removes the lock whoever holds it
 * (`kamal lock release`), for a deploy that died holding it.
 */
import { describeLock, forceReleaseLockScript, lockDir, lockStatusScript, parseLockStatus } from "../commands/lock";
import { closeAll, type Connection, exec } from "../provider/ssh";

export const LOCK_USAGE =
  "berth lock status|release --host <h> --service <s> [--destination <d>] [--user <u>] [--port <n>] [--ssh-key <path>] [--known-hosts <path>]";

/** Bad usage: the handler prints it with the usage and exits 2. */
export class LockUsageError extends Error {}

interface LockArgs {
  action: "status" | "release";
  connection: Connection;
  service: string;
  destination: string;
}

const FLAGS = ["--host", "--service", "--destination", "--user", "--port", "--ssh-key", "--known-hosts"];

/** Parses `status|release --flag value ...`. */
export function parseLockArgs(args: string[]): LockArgs {
  const [action, ...rest] = args;
  if (action !== "status" && action !== "release") throw new LockUsageError(action === undefined ? "expected `status` or `release`" : `unknown action \`${action}\`: expected \`status\` or \`release\``);
  const v: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (!FLAGS.includes(flag)) throw new LockUsageError(`unknown option \`${flag}\``);
    if (value === undefined || value.startsWith("--")) throw new LockUsageError(`\`${flag}\` needs a value`);
    v[flag] = value;
  }
  for (const required of ["--host", "--service"]) if (!v[required]) throw new LockUsageError(`\`${required}\` is required`);
  const port = v["--port"] === undefined ? 22 : Number(v["--port"]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LockUsageError(`\`--port\` must be a port number (1-65535); got \`${v["--port"]}\``);
  return {
    action,
    service: v["--service"],
    destination: v["--destination"] ?? "",
    connection: {
      host: v["--host"],
      port,
      user: v["--user"] ?? "root",
      privateKeyPath: v["--ssh-key"] ?? "~/.ssh/id_ed25519",
      knownHostsPath: v["--known-hosts"] ?? "~/.ssh/known_hosts",
    },
  };
}

/** Runs the action; returns the exit code (0 done, 1 failed). `status` exits 0 whether or not a lock is held. */
export async function lockCommand(a: LockArgs, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const dir = lockDir(a.service, a.destination);
  const where = `${a.connection.host}:~/${dir}`;
  try {
    const st = await exec(a.connection, lockStatusScript(dir), { step: "reading the deploy lock" });
    if (st.code === 4) {
      out(`${where}: there is no deploy lock\n`);
      return 0;
    }
    if (st.code !== 0) {
      err(`${where}: reading the deploy lock failed (exit ${st.code}): ${st.stderr.trim()}\n`);
      return 1;
    }
    const status = parseLockStatus(st.stdout);
    if (a.action === "status") {
      out(`${where}: ${describeLock(status)}\n${status.details}\n`);
      return 0;
    }
    const r = await exec(a.connection, forceReleaseLockScript(dir), { step: "releasing the deploy lock" });
    if (r.code === 4) {
      out(`${where}: there is no deploy lock\n`);
      return 0;
    }
    if (r.code !== 0) {
      err(`${where}: releasing the deploy lock failed (exit ${r.code}): ${r.stderr.trim()}\n`);
      return 1;
    }
    out(`${where}: released the deploy lock (${describeLock(status)})\n`);
    return 0;
  } catch (e) {
    err(`${(e as Error).message}\n`);
    return 1;
  } finally {
    await closeAll();
  }
}
