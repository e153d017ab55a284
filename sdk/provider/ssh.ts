/**
 * Berth's one connection model: SSH to a host with a pinned host key, optionally through one jump
 * host, with connections pooled per process (a `pulumi up` opens one connection per host and runs
 * every command over it). Secrets travel only on stdin, never in the command text.
 */
import { createHash, createHmac } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
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

function open(config: ConnectConfig, verdict: { error?: string }, label: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on("ready", () => resolve(client))
      .on("error", (err) => reject(new Error(`${label}: cannot connect over SSH: ${verdict.error ?? err.message}`)))
      .connect(config);
  });
}

async function dial(conn: Connection): Promise<Client> {
  const verdict: { error?: string } = {};
  if (!conn.proxy) {
    return open(connectConfig(conn, conn.host, conn.port, conn.user, conn.hostKey, verdict), verdict, conn.host);
  }
  const p = conn.proxy;
  const jumpVerdict: { error?: string } = {};
  const jump = await open(connectConfig(conn, p.host, p.port, p.user, p.hostKey, jumpVerdict), jumpVerdict, `${conn.host} (via jump host ${p.host})`);
  const sock = await new Promise<ClientChannel>((resolve, reject) =>
    jump.forwardOut("127.0.0.1", 0, conn.host, conn.port, (err, stream) => (err ? reject(new Error(`${conn.host}: jump host ${p.host} cannot reach it: ${err.message}`)) : resolve(stream))),
  );
  const config = connectConfig(conn, conn.host, conn.port, conn.user, conn.hostKey, verdict);
  const client = await open({ ...config, sock }, verdict, conn.host);
  client.on("close", () => jump.end());
  return client;
}

const pool = new Map<string, Promise<Client>>();

function poolKey(conn: Connection): string {
  return JSON.stringify([conn.user, conn.host, conn.port, conn.proxy?.host ?? "", conn.proxy?.port ?? 0]);
}

/** The pooled client for `conn`, dialling it on first use. */
export function client(conn: Connection): Promise<Client> {
  const key = poolKey(conn);
  let c = pool.get(key);
  if (!c) {
    c = dial(conn);
    pool.set(key, c);
    c.then(
      (cl) => cl.on("close", () => pool.delete(key)).on("error", () => pool.delete(key)),
      () => pool.delete(key),
    );
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
 * Runs `command` (shell text, no secrets) on the host. `stdin`, when given, is written to the
 * command's standard input and closed: the one way secrets reach a host.
 */
export async function exec(conn: Connection, command: string, opts: { stdin?: string; onOutput?: (chunk: string) => void } = {}): Promise<ExecResult> {
  const cl = await client(conn);
  return new Promise((resolve, reject) => {
    cl.exec(command, (err, stream) => {
      if (err) return reject(new Error(`${conn.host}: cannot start a command over SSH: ${err.message}`));
      let stdout = "";
      let stderr = "";
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
      stream.on("close", (code: number | null, signal?: string) => resolve({ code: code ?? (signal ? 255 : 0), stdout, stderr }));
      if (opts.stdin !== undefined) stream.end(opts.stdin);
      else stream.end();
    });
  });
}

/** Runs `command` and throws a RemoteCommandError naming the host and `step` when it fails. */
export async function run(conn: Connection, step: string, command: string, opts: { stdin?: string; onOutput?: (chunk: string) => void } = {}): Promise<ExecResult> {
  const r = await exec(conn, command, opts);
  if (r.code !== 0) throw new RemoteCommandError(conn.host, step, r.code, `${r.stdout}\n${r.stderr}`);
  return r;
}
