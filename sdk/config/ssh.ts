/**
 * SSH connection settings: how Berth reaches each host. `normalizeSsh` validates `SshArgs` and
 * applies the defaults; the connection layer reads only the resulting `SshConfig`.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { dict, either, evenWithFieldErrors, flag, integer, isRecord, keyProblem, matching, mustBe, parse, port, problem, secret, show, strict, text, whenClean } from "./errors";

/** Every SSH default, in one place. */
export const sshDefaults = {
  user: "root",
  port: 22,
  allowUnknownHostKeys: false,
  connectTimeoutSeconds: 15,
  keepaliveSeconds: 30,
  bootstrap: false,
  jumpUser: "root",
  jumpPort: 22,
} as const;

/** A jump host (bastion) the connection goes through. */
export interface SshJumpHostArgs {
  /** Host name or IP address of the jump host. */
  host: string;
  /**
   * Login user on the jump host.
   * @default "root"
   */
  user?: string;
  /**
   * SSH port of the jump host.
   * @default 22
   */
  port?: number;
}

/** How Berth connects to hosts over SSH. */
export interface SshArgs {
  /**
   * Login user on every host. Remote paths such as `.kamal/apps/…` are relative to its home.
   * Equivalent to Kamal's `ssh.user`.
   * @default "root"
   */
  user?: string;
  /**
   * SSH port on every host. Equivalent to Kamal's `ssh.port`.
   * @default 22
   */
  port?: number;
  /**
   * Private key as PEM text (secret). Only one of `privateKey` or `privateKeyPath`.
   * Equivalent to Kamal's `ssh.key_data`.
   * @default - none
   */
  privateKey?: string;
  /**
   * Path of a private key file on the machine running Pulumi. Only one of `privateKey` or
   * `privateKeyPath`. Equivalent to Kamal's `ssh.keys`.
   * @default - none
   */
  privateKeyPath?: string;
  /**
   * Expected host public keys, by host, each one OpenSSH public key line.
   * @example { "10.0.0.5": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI…" }
   * @default {}
   */
  hostKeys?: Record<string, string>;
  /**
   * An OpenSSH `known_hosts` file to check host keys against.
   * @default - none
   */
  knownHostsPath?: string;
  /**
   * Accept a host whose key is in neither `hostKeys` nor `knownHostsPath`. Unknown host keys are
   * refused by default.
   * @default false
   */
  allowUnknownHostKeys?: boolean;
  /**
   * Jump host, as `[user@]host[:port]` or an object. Equivalent to Kamal's `ssh.proxy`.
   * @example "deploy@bastion.example.com"
   * @default - none: connect directly
   */
  proxy?: string | SshJumpHostArgs;
  /**
   * How long to wait for a connection to be established.
   * @default 15
   */
  connectTimeoutSeconds?: number;
  /**
   * Interval between keepalive messages; 0 turns them off. Kamal always uses 30.
   * @default 30
   */
  keepaliveSeconds?: number;
  /**
   * Install Docker on a host where it is missing, on the first deploy, from the host's own
   * distribution packages (Debian/Ubuntu `docker.io` with apt-get; see docs/deploy.md, "Bootstrap"),
   * then start it and add a non-root user to the `docker` group. Needs root or passwordless sudo.
   * Kamal's `kamal server bootstrap` does this with get.docker.com instead. A plain value: it
   * decides whether Berth registers a `DockerHost` resource per host.
   * @default false - a host without Docker fails pre-flight, naming the host
   */
  bootstrap?: boolean;
}

/** A normalized jump host. */
export interface SshJumpHost {
  host: string;
  user: string;
  port: number;
}

/** Normalized SSH settings: every default applied. */
export interface SshConfig {
  user: string;
  port: number;
  /** Secret. */
  privateKey?: string;
  privateKeyPath?: string;
  hostKeys: Record<string, string>;
  knownHostsPath?: string;
  allowUnknownHostKeys: boolean;
  proxy?: SshJumpHost;
  connectTimeoutSeconds: number;
  keepaliveSeconds: number;
  /** Install Docker from the distribution's packages where it is missing. */
  bootstrap: boolean;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** True for a host name, an IPv4 address or an IPv6 address (without brackets). */
export function isHost(value: string): boolean {
  return isIP(value) !== 0 || HOSTNAME.test(value);
}

const HOST_EXPECT = "a host name or IP address";

/** A host name or IP address. */
export function host(fix = "Write a bare host name or address, e.g. `10.0.0.1` or `app1.example.com`: no user, port, scheme or spaces.") {
  return text(HOST_EXPECT, fix).superRefine((v, ctx) => {
    if (!isHost(v)) problem(ctx, [], mustBe(HOST_EXPECT, v, fix));
  }, whenClean);
}

/** A path on this machine: one line, at most 4096 bytes (PATH_MAX). */
const filePath = () =>
  matching(/\S/, "a file path", "For example `~/.ssh/id_ed25519`.", { maxBytes: 4096, why: "Linux paths are at most 4096 bytes (PATH_MAX)." });

/** A login name: Linux's `useradd` takes at most 32 characters. */
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const userName = () => matching(USER, "a user name (letters, digits, `_`, `.`, `-`; at most 32)", 'For example "deploy".');

const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
];
const KEY_LINE = new RegExp(`^(${KEY_TYPES.map((t) => t.replace(/[.]/g, "\\.")).join("|")}) [A-Za-z0-9+/]+={0,3}( .*)?$`);
const KEY_LINE_EXPECT = "an OpenSSH public key line like `ssh-ed25519 AAAA…`";

const hostKeyLine = text(KEY_LINE_EXPECT, "Get it with `ssh-keyscan -t ed25519 <host>`.").superRefine((v, ctx) => {
  if (KEY_LINE.test(v)) return;
  const words = v.trim().split(/\s+/);
  const fix =
    words.length >= 3 && KEY_TYPES.includes(words[1])
      ? "This looks like a known_hosts line: drop the leading host name."
      : "Get it with `ssh-keyscan -t ed25519 <host>` and keep the part after the host name.";
  problem(ctx, [], mustBe(KEY_LINE_EXPECT, v, fix));
}, whenClean);

const PEM_EXPECT = "PEM text starting with `-----BEGIN … PRIVATE KEY-----`";
const isPem = (v: string) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(v) && /-----END [A-Z0-9 ]*PRIVATE KEY-----/.test(v);

const JUMP = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:@\s[\]]+)(?::([0-9]+))?$/;
const JUMP_EXPECT = "`[user@]host[:port]` or an object `{ host, user?, port? }`";

const jumpObject = strict({ host: host(), user: userName().optional(), port: port().optional() });

/** Parses Kamal's `user@host[:port]` string form into the object form, or undefined if it does not fit. */
function parseJump(value: string): SshJumpHostArgs | undefined {
  const at = value.lastIndexOf("@");
  const rest = at >= 0 ? value.slice(at + 1) : value;
  if (isIP(rest) === 6) return { host: rest, ...(at >= 0 ? { user: value.slice(0, at) } : {}) };
  const m = JUMP.exec(value);
  if (!m) return undefined;
  const h = m[2].startsWith("[") ? m[2].slice(1, -1) : m[2];
  return { host: h, ...(m[1] ? { user: m[1] } : {}), ...(m[3] ? { port: Number(m[3]) } : {}) };
}

const jumpString = text(JUMP_EXPECT, "For example `deploy@bastion.example.com:2222`.").transform((v, ctx): SshJumpHostArgs => {
  const parsed = parseJump(v);
  const checked = parsed && jumpObject.safeParse(parsed);
  if (!checked || !checked.success) {
    problem(ctx, [], mustBe(JUMP_EXPECT, v, "For example `deploy@bastion.example.com:2222`."));
    return z.NEVER;
  }
  return checked.data;
});

const jumpHost = either<SshJumpHostArgs>(
  JUMP_EXPECT,
  (v) => (typeof v === "string" ? jumpString : isRecord(v) ? jumpObject : undefined),
  "For example `deploy@bastion.example.com:2222`.",
);

/** The schema of `SshArgs`; its output is the normalized `SshConfig`. */
export const sshSchema = strict(
  {
  user: userName().optional(),
  port: port().optional(),
  privateKey: secret(PEM_EXPECT, "Pass the key file's contents, or use `privateKeyPath` for a path.", isPem, { chars: "lines" }).optional(),
  privateKeyPath: filePath().optional(),
  hostKeys: dict(hostKeyLine, "an object of host → public key line")
    .superRefine(
      (keys, ctx) => {
        if (!isRecord(keys)) return;
        for (const h of Object.keys(keys)) {
          if (keyProblem(h) !== undefined) continue; // reported by the map itself
          if (!isHost(h)) {
            problem(ctx, [h], `must be keyed by ${HOST_EXPECT}; got the key ${show(h)}. Use the host as written in \`hosts\`.`);
          }
        }
      },
      evenWithFieldErrors,
    )
    .optional(),
  knownHostsPath: filePath().optional(),
  allowUnknownHostKeys: flag().optional(),
  proxy: jumpHost.optional(),
  connectTimeoutSeconds: integer(1).optional(),
  keepaliveSeconds: integer(0, Number.POSITIVE_INFINITY, "Use 0 to turn keepalives off.").optional(),
  bootstrap: flag().optional(),
  },
  "an object of SSH settings",
  true,
)
  .superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      if (v.privateKey !== undefined && v.privateKeyPath !== undefined) {
        problem(ctx, ["privateKeyPath"], "Only one of `privateKey` or `privateKeyPath` can be provided.");
      }
    },
    evenWithFieldErrors,
  )
  .transform(
    (v): SshConfig => ({
      user: v.user ?? sshDefaults.user,
      port: v.port ?? sshDefaults.port,
      ...(v.privateKey !== undefined ? { privateKey: v.privateKey } : {}),
      ...(v.privateKeyPath !== undefined ? { privateKeyPath: v.privateKeyPath } : {}),
      hostKeys: v.hostKeys ?? {},
      ...(v.knownHostsPath !== undefined ? { knownHostsPath: v.knownHostsPath } : {}),
      allowUnknownHostKeys: v.allowUnknownHostKeys ?? sshDefaults.allowUnknownHostKeys,
      ...(v.proxy !== undefined
        ? {
            proxy: {
              host: v.proxy.host,
              user: v.proxy.user ?? sshDefaults.jumpUser,
              port: v.proxy.port ?? sshDefaults.jumpPort,
            },
          }
        : {}),
      connectTimeoutSeconds: v.connectTimeoutSeconds ?? sshDefaults.connectTimeoutSeconds,
      keepaliveSeconds: v.keepaliveSeconds ?? sshDefaults.keepaliveSeconds,
      bootstrap: v.bootstrap ?? sshDefaults.bootstrap,
    }),
  );

/**
 * Validates SSH settings and applies the defaults. Throws one `BerthConfigError` listing every
 * problem; paths start with `prefix` (e.g. `ssh`).
 */
export function normalizeSsh(input: SshArgs | undefined, component = "SSH", prefix = ""): SshConfig {
  return parse(component, sshSchema, input ?? {}, prefix);
}
