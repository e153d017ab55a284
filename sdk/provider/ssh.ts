/**
 * Berth's one connection model: SSH to a host with a pinned host key, optionally through one jump
 * host, with connections pooled per process (a `pulumi up` opens one connection per host and runs
 * every command over it). Secrets travel only on stdin, never in the command text.
 */
import { createHash, createHmac } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, ClientChannel, ConnectConfig } from "ssh2";

/** How to reach one host. Plain data so it can live in Pulumi state (as a secret). */
export interface Connection {
  host: string;
  port: number;
  user: string;
  /** PEM private key text. */
  privateKey?: string;
  /** Path to a private key file on the machine running Pulumi. */
  privateKeyPath?: string;
  /** Pinned host public key, `"<type> <base64>"`. */
  hostKey?: string;
  /** An OpenSSH known_hosts file to check the host key against. */
  knownHostsPath?: string;
  /** Accept any host key (insecure; off by default). */
  allowUnknownHostKeys?: boolean;
  /** One jump host, reached with the same key. */
  proxy?: { host: string; port: number; user: string; hostKey?: string };
  connectTimeoutSeconds?: number;
  keepaliveSeconds?: number;
}

/** The result of one remote command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A failed remote command: names the host, the step, the exit code and the last lines of output. */
export class RemoteCommandError extends Error {
  constructor(
    readonly host: string,
    readonly step: string,
    readonly code: number,
    readonly output: string,
  ) {
    super(`${host}: ${step} failed (exit ${code})${output ? `:\n${lastLines(output, 30)}` : ""}`);
    this.name = "RemoteCommandError";
  }
}

/**
 * A remote command whose outcome is unknown: the SSH connection (or the command's channel) went away
 * before the host reported an exit status. The command may or may not have finished on the host, so
 * it is never treated as a success. `code` is 255, what OpenSSH's `ssh` exits with when the
 * connection fails.
 */
export class ConnectionLostError extends RemoteCommandError {
  constructor(host: string, step: string, readonly reason: string, output: string) {
    super(host, step, 255, output);
    const tail = lastLines(output, 30);
    this.message = `${host}: ${step} failed: the SSH connection was lost before the command reported an exit status (${reason}); it may or may not have finished on the host${tail ? `. Output so far:\n${tail}` : ""}`;
    this.name = "ConnectionLostError";
  }
}

/** The last `n` non-empty lines of `text`. */
export function lastLines(text: string, n: number): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}

/** The base64 key blob of a `"<type> <base64> [comment]"` line. */
function keyBlob(line: string): string {
  const parts = line.trim().split(/\s+/);
  return parts.length >= 2 ? parts[1] : parts[0];
}

/** Does a known_hosts host pattern match `host` (plain, `[host]:port`, or hashed `|1|salt|hash`)? */
function knownHostMatches(pattern: string, host: string, port: number): boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  return pattern.split(",").some((p) => p === name);
}

/** Host keys for `host` listed in a known_hosts file. */
export function knownHostKeys(knownHosts: string, host: string, port: number): string[] {
  const keys: string[] = [];
  for (const raw of knownHosts.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("@revoked")) continue;
    const fields = line.replace(/^@cert-authority\s+/, "").split(/\s+/);
    if (fields.length < 3) continue;
    if (knownHostMatches(fields[0], host, port)) keys.push(fields[2]);
  }
  return keys;
}

function fingerprint(key: Buffer): string {
  return "SHA256:" + createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
}

/** The key blobs this connection trusts for `host`, or undefined when any key is accepted. */
function trustedKeys(conn: Connection, host: string, port: number, pinned?: string): string[] | undefined {
  if (conn.allowUnknownHostKeys) return undefined;
  const keys: string[] = [];
  if (pinned) keys.push(keyBlob(pinned));
  const known = conn.knownHostsPath?.startsWith("~/") ? path.join(os.homedir(), conn.knownHostsPath.slice(2)) : conn.knownHostsPath;
  if (known && fs.existsSync(known)) keys.push(...knownHostKeys(fs.readFileSync(known, "utf8"), host, port));
  return keys;
}

/** Reads a key file; `~/` is the home of the user running Pulumi, as in Kamal's `ssh.keys`. */
function readKey(file: string, host: string): string {
  const full = file.startsWith("~/") ? path.join(os.homedir(), file.slice(2)) : file;
  try {
    return fs.readFileSync(full, "utf8");
  } catch (e) {
    throw new Error(`${host}: cannot read the SSH private key ${full}: ${(e as Error).message}`);
  }
}

function connectConfig(conn: Connection, host: string, port: number, user: string, pinned: string | undefined, verdict: { error?: string }): ConnectConfig {
  const trusted = trustedKeys(conn, host, port, pinned);
  const privateKey = conn.privateKey ?? (conn.privateKeyPath ? readKey(conn.privateKeyPath, host) : undefined);
  return {
    host,
    port,
    username: user,
    privateKey,
    agent: privateKey ? undefined : process.env.SSH_AUTH_SOCK,
    readyTimeout: (conn.connectTimeoutSeconds ?? 15) * 1000,
    keepaliveInterval: (conn.keepaliveSeconds ?? 30) * 1000,
    hostVerifier: (key: Buffer) => {
      if (trusted === undefined) return true;
      const blob = key.toString("base64");
      if (trusted.includes(blob)) return true;
      verdict.error =
        trusted.length === 0
          ? `the host key of ${host}:${port} (${fingerprint(key)}) is not pinned: set \`ssh.hostKeys["${host}"]\` or \`ssh.knownHostsPath\` (unknown host keys are refused by default)`
          : `the host key of ${host}:${port} (${fingerprint(key)}) does not match the pinned key: the host may have been replaced, or someone is in the middle`;
      return false;
    },
  };
}

/**
 * How many times `dial` tries to reach a host before it gives up: 4 attempts, waiting
 * `DIAL_BACKOFF_MS` (0.5 s, 1 s, then 2 s: 3.5 s in all) between them, each attempt bounded by
 * `connectTimeoutSeconds`. Only transient failures are retried: ECONNREFUSED, ETIMEDOUT,
 * EHOSTUNREACH, ECONNRESET, the handshake timeout ("Timed out while waiting for handshake"), and a
 * jump host that cannot connect onwards. A refused host key or a failed authentication fails at once.
 */
export const DIAL_ATTEMPTS = 4;

/** The waits between dial attempts, in milliseconds (see `DIAL_ATTEMPTS`); the last one repeats if there are more attempts. */
export const DIAL_BACKOFF_MS: readonly number[] = [500, 1000, 2000];

/** A dial retry policy; `dial` defaults to `DIAL_ATTEMPTS` and `DIAL_BACKOFF_MS`. */
export interface DialRetry {
  attempts: number;
  backoffMs: readonly number[];
}

const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET"]);
const HANDSHAKE_TIMEOUT = "Timed out while waiting for handshake";
/** SSH_OPEN_CONNECT_FAILED: the jump host could not open a TCP connection to the target. */
const OPEN_CONNECT_FAILED = 2;

/** One failed connection attempt; `transient` says whether trying again may help. */
class DialError extends Error {
  constructor(
    readonly label: string,
    readonly failure: string,
    readonly reason: string,
    readonly transient: boolean,
  ) {
    super(`${label}: ${failure}: ${reason}`);
    this.name = "DialError";
  }
}

function isTransient(err: Error & { code?: string; level?: string }): boolean {
  return (err.code !== undefined && TRANSIENT_CODES.has(err.code)) || (err.level === "client-timeout" && err.message === HANDSHAKE_TIMEOUT);
}

function open(config: ConnectConfig, verdict: { error?: string }, label: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const fail = (reason: string, transient: boolean) => reject(new DialError(label, "cannot connect over SSH", verdict.error ?? reason, transient && !verdict.error));
    client
      .on("ready", () => resolve(client))
      .on("error", (err) => fail(err.message, isTransient(err)))
      // An error, when there is one, came first and already settled the promise.
      .on("close", () => fail("the connection closed during the SSH handshake", false))
      .connect(config);
  });
}

/** Commands running on each pooled client, told when the client fails or closes under them. */
const inflight = new WeakMap<Client, Set<(reason: string) => void>>();

function watch(cl: Client): Client {
  const pending = new Set<(reason: string) => void>();
  inflight.set(cl, pending);
  let failure = "";
  cl.on("error", (err) => {
    failure = err.message;
    for (const lost of [...pending]) lost(`the connection failed: ${failure}`);
  }).on("close", () => {
    for (const lost of [...pending]) lost(failure ? `the connection failed: ${failure}` : "the connection closed");
  });
  return cl;
}

async function dialOnce(conn: Connection): Promise<Client> {
  const verdict: { error?: string } = {};
  if (!conn.proxy) {
    return open(connectConfig(conn, conn.host, conn.port, conn.user, conn.hostKey, verdict), verdict, conn.host);
  }
  const p = conn.proxy;
  const jumpVerdict: { error?: string } = {};
  const jump = await open(connectConfig(conn, p.host, p.port, p.user, p.hostKey, jumpVerdict), jumpVerdict, `${conn.host} (via jump host ${p.host})`);
  try {
    const sock = await new Promise<ClientChannel>((resolve, reject) =>
      jump.forwardOut("127.0.0.1", 0, conn.host, conn.port, (err, stream) =>
        err
          ? reject(new DialError(conn.host, `jump host ${p.host} cannot reach it`, err.message, (err as Error & { reason?: unknown }).reason === OPEN_CONNECT_FAILED))
          : resolve(stream),
      ),
    );
    const config = connectConfig(conn, conn.host, conn.port, conn.user, conn.hostKey, verdict);
    const client = await open({ ...config, sock }, verdict, conn.host);
    client.on("close", () => jump.end());
    return client;
  } catch (e) {
    jump.end();
    throw e;
  }
}

/**
 * Connects to `conn`, retrying transient failures as `retry` says (by default `DIAL_ATTEMPTS`
 * attempts with `DIAL_BACKOFF_MS` between them). Exported for tests; use `client` to share connections.
 */
export async function dial(conn: Connection, retry: DialRetry = { attempts: DIAL_ATTEMPTS, backoffMs: DIAL_BACKOFF_MS }): Promise<Client> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return watch(await dialOnce(conn));
    } catch (e) {
      if (!(e instanceof DialError)) throw e;
      if (!e.transient) throw new Error(e.message);
      if (attempt >= retry.attempts) {
        const over = ((Date.now() - started) / 1000).toFixed(1);
        throw new Error(`${e.label}: ${e.failure} after ${attempt} attempt${attempt === 1 ? "" : "s"} over ${over} s: ${e.reason}`);
      }
      await sleep(retry.backoffMs[Math.min(attempt - 1, retry.backoffMs.length - 1)] ?? 0);
    }
  }
}

const pool = new Map<string, Promise<Client>>();

/**
 * Connections are shared only between identical settings: the same endpoint, credentials and
 * host-key pins (two resources pinning different keys for one host never share a connection that
 * was verified against the other's key). Hashed, so no credential is kept as a map key.
 */
function poolKey(conn: Connection): string {
  return createHash("sha256").update(JSON.stringify(conn)).digest("hex");
}

/** The pooled client for `conn`, dialling it on first use. */
export function client(conn: Connection): Promise<Client> {
  const key = poolKey(conn);
  let c = pool.get(key);
  if (!c) {
    c = dial(conn);
    pool.set(key, c);
    const mine = c;
    const forget = () => {
      if (pool.get(key) === mine) pool.delete(key);
    };
    c.then((cl) => cl.on("close", forget).on("error", forget), forget);
  }
  return c;
}

/** Closes every pooled connection. */
export async function closeAll(): Promise<void> {
  const clients = [...pool.values()];
  pool.clear();
  for (const c of clients) {
    try {
      (await c).end();
    } catch {
      /* already failed */
    }
  }
}

/**
 * Ends the pooled connection to this host, so the next command logs in again (e.g. to pick up a
 * group membership just given to the login user: a session keeps the groups of its login).
 */
export async function reconnect(conn: Connection): Promise<void> {
  const key = poolKey(conn);
  const c = pool.get(key);
  if (!c) return;
  pool.delete(key);
  try {
    (await c).end();
  } catch {
    /* already failed */
  }
}

/** Options of `exec` and `run`. */
export interface ExecOptions {
  /** Written to the command's standard input, which is then closed. */
  stdin?: string;
  /** Called with each chunk of stdout and stderr as it arrives. */
  onOutput?: (chunk: string) => void;
  /**
   * What the command does, for error messages ("pulling nginx:1.27").
   * @default - the start of the command's first line
   */
  step?: string;
}

/** A short label for a command run without a step name (commands carry no secrets). */
function describeCommand(command: string): string {
  const first = command.trim().split("\n")[0];
  return `\`${first.length > 60 ? `${first.slice(0, 60)}…` : first}\``;
}

/**
 * Runs `command` (shell text, no secrets) on the host. `stdin`, when given, is written to the
 * command's standard input and closed: the one way secrets reach a host.
 *
 * Resolves with the exit code (255 when a signal killed the command, the signal named in `stderr`).
 * Rejects with a `ConnectionLostError` when the connection or the command's channel goes away before
 * the host reports an exit status: such a command never counts as a success. A command that could
 * not even start because the pooled connection had died (and nothing had noticed yet) is run once
 * on a new connection.
 */
export async function exec(conn: Connection, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const step = opts.step ?? describeCommand(command);
  const cl = await client(conn);
  try {
    return await execOn(cl, conn, command, opts, step);
  } catch (e) {
    if (!(e instanceof NotStartedError)) throw e;
    // The command never started: the pooled connection was already gone (killed, say) before its
    // close was seen. Running it on a new connection is safe; once (the dial retries apply).
    await dropPooled(conn, cl);
    return execOn(await client(conn), conn, command, opts, step);
  }
}

/** A command that never started on the host (the SSH channel could not be opened). */
class NotStartedError extends Error {}

/** Forgets `cl` as `conn`'s pooled client, so the next command dials again. */
async function dropPooled(conn: Connection, cl: Client): Promise<void> {
  const key = poolKey(conn);
  const pooled = pool.get(key);
  if (pooled && (await pooled.catch(() => undefined)) === cl && pool.get(key) === pooled) pool.delete(key);
}

function execOn(cl: Client, conn: Connection, command: string, opts: ExecOptions, step: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const pending = inflight.get(cl);
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      pending?.delete(lost);
      finish();
    };
    const lost = (reason: string) => settle(() => reject(new ConnectionLostError(conn.host, step, reason, `${stdout}\n${stderr}`)));
    const cannotStart = (err: Error) => settle(() => reject(new NotStartedError(`${conn.host}: ${step} failed: cannot start the command over SSH: ${err.message}`)));
    pending?.add(lost);
    try {
      cl.exec(command, (err, stream) => {
        if (err) return cannotStart(err);
        if (settled) return stream.close();
        stream.on("data", (d: Buffer) => {
          const s = d.toString();
          stdout += s;
          opts.onOutput?.(s);
        });
        stream.stderr.on("data", (d: Buffer) => {
          const s = d.toString();
          stderr += s;
          opts.onOutput?.(s);
        });
        stream.on("error", (e: Error) => lost(`the command's channel failed: ${e.message}`));
        stream.on("close", (code?: number | null, signal?: string, coreDumped?: boolean, description?: string) => {
          if (typeof code === "number") return settle(() => resolve({ code, stdout, stderr }));
          if (signal) {
            const killed = `killed by ${signal}${coreDumped ? " (core dumped)" : ""}${description ? `: ${description}` : ""}`;
            return settle(() => resolve({ code: 255, stdout, stderr: `${stderr}${stderr && !stderr.endsWith("\n") ? "\n" : ""}${killed}\n` }));
          }
          lost("the command's channel closed without one");
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    } catch (e) {
      cannotStart(e as Error);
    }
  });
}

/** Runs `command` and throws a RemoteCommandError naming the host and `step` when it fails. */
export async function run(conn: Connection, step: string, command: string, opts: Omit<ExecOptions, "step"> = {}): Promise<ExecResult> {
  const r = await exec(conn, command, { ...opts, step });
  if (r.code !== 0) throw new RemoteCommandError(conn.host, step, r.code, `${r.stdout}\n${r.stderr}`);
  return r;
}

/** Options of `attach`. */
export interface AttachOptions {
  /** A terminal on the host (what `ssh -t` asks for): its size and `TERM`. */
  pty?: { rows: number; cols: number; term: string };
  /** Copied to the command's standard input while it runs (with a terminal, its end is not passed on: the command ends itself). */
  stdin?: NodeJS.ReadableStream;
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

/** A command attached to this process: its exit status to come, and what can be done while it runs. */
export interface Attached {
  /** The exit status; 255 when a signal killed it; rejects with a `ConnectionLostError` when the connection goes first. */
  done: Promise<number>;
  /** The local terminal's new size, for the host's terminal. */
  resize(rows: number, cols: number): void;
  /** Closes the command's channel: with a terminal, the host hangs up on it (SIGHUP), as when `ssh -t` ends. */
  stop(): void;
}

/**
 * Runs `command` (shell text, no secrets) on the host with its output streamed as it comes and,
 * optionally, a terminal and this process's input: Kamal's `exec ssh -t` for `logs --follow` and
 * `exec --interactive`. On the pooled connection, like `exec`.
 */
export async function attach(conn: Connection, command: string, step: string, o: AttachOptions): Promise<Attached> {
  const cl = await client(conn);
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    const opened = (err: Error | undefined, stream: ClientChannel) =>
      err ? reject(new RemoteCommandError(conn.host, step, 255, `cannot start the command over SSH: ${err.message}`)) : resolve(stream);
    if (o.pty) cl.exec(command, { pty: { rows: o.pty.rows, cols: o.pty.cols, term: o.pty.term } }, opened);
    else cl.exec(command, opened);
  });
  const feed = (d: Buffer | string) => channel.write(d);
  let stopped = false;
  const done = new Promise<number>((resolve, reject) => {
    const pending = inflight.get(cl);
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      pending?.delete(lost);
      o.stdin?.removeListener("data", feed);
      finish();
    };
    const lost = (reason: string) => settle(() => reject(new ConnectionLostError(conn.host, step, reason, "")));
    pending?.add(lost);
    channel.on("data", (d: Buffer) => o.onStdout(d));
    channel.stderr.on("data", (d: Buffer) => o.onStderr(d));
    channel.on("error", (e: Error) => lost(`the command's channel failed: ${e.message}`));
    channel.on("close", (code?: number | null, signal?: string) => {
      if (typeof code === "number") return settle(() => resolve(code));
      if (signal || stopped) return settle(() => resolve(255));
      lost("the command's channel closed without one");
    });
  });
  if (o.stdin) {
    o.stdin.on("data", feed);
    if (!o.pty) o.stdin.once("end", () => channel.end());
  } else if (!o.pty) channel.end();
  return {
    done,
    resize: (rows, cols) => channel.setWindow(rows, cols, 0, 0),
    stop: () => {
      stopped = true;
      channel.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reverse tunnels (Kamal's local registry)

/** One remote forward on a pooled client, shared by the commands that need it at the same time. */
interface RemoteForward {
  users: number;
  opened: Promise<void>;
  ok: boolean;
  /** The forwarded connections still open: closed with the tunnel. */
  streams: Set<{ destroy(): void }>;
}

/** The remote forwards open on each pooled client, by port. */
const forwards = new WeakMap<Client, Map<number, RemoteForward>>();

/** Connects each forwarded connection of `cl` to this machine's 127.0.0.1 on the same port. */
function acceptForwards(cl: Client, table: Map<number, RemoteForward>): void {
  cl.on("tcp connection", (info, accept, reject) => {
    const fwd = table.get(info.destPort);
    if (!fwd) return reject();
    const channel = accept();
    const local = net.connect({ host: "127.0.0.1", port: info.destPort });
    fwd.streams.add(channel).add(local);
    const done = () => {
      fwd.streams.delete(channel);
      fwd.streams.delete(local);
      channel.destroy();
      local.destroy();
    };
    local.on("error", done).on("close", done);
    channel.on("error", done).on("close", done);
    channel.pipe(local).pipe(channel);
  });
}

/** Why nothing answers on this machine's 127.0.0.1:`port`, or undefined when something does. */
function localProblem(port: number, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const finish = (problem?: string) => {
      sock.destroy();
      resolve(problem);
    };
    sock.setTimeout(timeoutMs, () => finish(`no answer within ${timeoutMs / 1000} s`));
    sock.on("connect", () => finish()).on("error", (e: Error & { code?: string }) => finish(e.code ?? e.message));
  });
}

/**
 * Runs `fn` while `conn`'s host forwards its own 127.0.0.1:`port` to this machine's 127.0.0.1:`port`
 * (an SSH remote port forward, `ssh -R 127.0.0.1:<port>:127.0.0.1:<port>`, on the pooled
 * connection), then closes the tunnel and every connection through it. How a host pulls from
 * Kamal's local registry. Commands on the same host that need the same port at the same time share
 * one tunnel; the last one out closes it. Errors name the host and `step`.
 */
export async function withReverseTunnel<T>(conn: Connection, port: number, step: string, fn: () => Promise<T>): Promise<T> {
  const tunnel = `the SSH reverse tunnel from the host's 127.0.0.1:${port} to this machine's 127.0.0.1:${port}`;
  const local = await localProblem(port);
  if (local !== undefined) {
    throw new Error(`${conn.host}: ${step} failed: nothing answers on this machine's 127.0.0.1:${port} (${local}), where ${tunnel} leads: start the local registry there first.`);
  }
  const cl = await client(conn);
  let table = forwards.get(cl);
  if (table === undefined) {
    table = new Map();
    forwards.set(cl, table);
    acceptForwards(cl, table);
  }
  let fwd = table.get(port);
  if (fwd === undefined) {
    const mine: RemoteForward = { users: 0, ok: false, streams: new Set(), opened: Promise.resolve() };
    mine.opened = new Promise<void>((resolve, reject) => {
      try {
        cl.forwardIn("127.0.0.1", port, (err) => {
          if (!err) {
            mine.ok = true;
            return resolve();
          }
          reject(
            new Error(
              `${conn.host}: ${step} failed: cannot open ${tunnel}: ${err.message}. Is something on the host already listening on its 127.0.0.1:${port}, or does its sshd forbid remote forwarding (\`AllowTcpForwarding\`)?`,
            ),
          );
        });
      } catch (e) {
        reject(new Error(`${conn.host}: ${step} failed: cannot open ${tunnel}: ${(e as Error).message}`));
      }
    });
    mine.opened.catch(() => {
      if (table!.get(port) === mine) table!.delete(port);
    });
    table.set(port, mine);
    fwd = mine;
  }
  fwd.users++;
  try {
    await fwd.opened;
    return await fn();
  } finally {
    fwd.users--;
    if (fwd.users === 0 && fwd.ok && table.get(port) === fwd) {
      table.delete(port);
      await new Promise<void>((resolve) => {
        // A connection that is gone took its forwards with it: never wait on it for long.
        const timer = setTimeout(resolve, 10_000);
        try {
          cl.unforwardIn("127.0.0.1", port, () => {
            clearTimeout(timer);
            resolve();
          });
        } catch {
          clearTimeout(timer);
          resolve();
        }
      });
      for (const s of fwd.streams) s.destroy();
    }
  }
}

/**
 * Runs the pull `script` as `step`, through a reverse tunnel of `localRegistryPort` when the image is
 * on the local registry. `present` (exit 0: the image is on the host and the pull would be skipped)
 * is asked first then, so a rollback to a retained image needs no tunnel and no running registry.
 */
export async function pullThrough(conn: Connection, localRegistryPort: number | undefined, step: string, script: string, present?: string): Promise<ExecResult> {
  if (localRegistryPort === undefined) return run(conn, step, script);
  if (present !== undefined) {
    const r = await exec(conn, present, { step });
    if (r.code === 0) return r;
  }
  return withReverseTunnel(conn, localRegistryPort, step, () => run(conn, step, script));
}

/** How a pull reaches the registry, for progress lines: "" or " through an SSH tunnel to this machine's 127.0.0.1:<port>". */
export function viaTunnel(localRegistryPort: number | undefined): string {
  return localRegistryPort === undefined ? "" : ` through an SSH tunnel to this machine's 127.0.0.1:${localRegistryPort}`;
}
