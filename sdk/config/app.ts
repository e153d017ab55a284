/**
 * AppService configuration: `normalizeApp` turns `AppArgs` (plain values, secrets included) into
 * a validated `AppConfig` with every default applied, or throws one `BerthConfigError` listing
 * every problem with its path (`roles.web.hosts[1]`, `proxy.healthcheck.intervalSeconds`).
 * Also the pure helpers the commands and components need: `roleHosts`, `resolveEnv`,
 * `isProxied`, `bootGroups`, `parseImage`.
 */
import { z } from "zod";
import {
  envNameProblem,
  dict,
  either,
  evenWithFieldErrors,
  evenWithItemErrors,
  flag,
  integer,
  isRecord,
  keyProblem,
  list,
  matching,
  MAX_SECRET_BYTES,
  mustBe,
  MAX_VALUE_BYTES,
  parse,
  problem,
  secret,
  show,
  strict,
  text,
  textProblem,
  whenClean,
} from "./errors";
import {
  DockerOptions,
  ProxyArgs,
  ProxyRunArgs,
  ProxyRunConfig,
  REGISTRY_HOST,
  REPOSITORY_PATH,
  RoleProxyConfig,
  dockerOptionsSchema,
  mergedProxyProblems,
  proxyRunSchema,
  proxySchema,
  resolveProxy,
} from "./proxy";
import { isPortlessLoopback, LOCAL_REGISTRY_EXPECT, localRegistryPort, REGISTRY_PASSWORD_EXPECT, registryLoginCheck } from "./registry";
import { SshArgs, SshConfig, host, sshSchema } from "./ssh";

/** Every AppService default, in one place. */
export const appDefaults = {
  primaryRole: "web",
  restartPolicy: "unless-stopped",
  logOptions: { "max-size": "10m" } as Record<string, string>,
  bootWaitSeconds: 0,
  retainContainers: 5,
  drainTimeoutSeconds: 30,
  deployTimeoutSeconds: 30,
  readinessDelaySeconds: 7,
  maintenanceEnabled: false,
  lockWaitSeconds: 0,
} as const;

// ---------------------------------------------------------------------------------------------
// Args

/** A host, or a host with tags (tags select `env.tags` entries for it). */
export type HostArgs = string | { host: string; tags: string[] };

/** Environment variables of one scope. */
export interface EnvArgs {
  /**
   * Plain variables, passed as `--env K=V`. Equivalent to Kamal's `env.clear`.
   * @default {}
   */
  clear?: Record<string, string>;
  /**
   * Secret variables, written to a mode-0600 env file on the host and passed with `--env-file`.
   * Values must be single lines. Equivalent to Kamal's `env.secret`.
   * @default {}
   */
  secret?: Record<string, string>;
}

/** Root environment: applies to every role, plus per-host-tag additions. */
export interface RootEnvArgs extends EnvArgs {
  /**
   * Variables for hosts carrying a tag; merged over the root and role env. Equivalent to Kamal's `env.tags`.
   * @default {}
   */
  tags?: Record<string, EnvArgs>;
}

/** Container logging. Equivalent to Kamal's `logging`. */
export interface LoggingArgs {
  /**
   * Docker log driver (`--log-driver`).
   * @default - docker's default (json-file)
   */
  driver?: string;
  /**
   * Log driver options (`--log-opt k=v`).
   * @default { "max-size": "10m" } when neither `driver` nor `options` is set anywhere
   */
  options?: Record<string, string>;
}

/** One role: a set of hosts running the same container with the same command. */
export interface RoleArgs {
  /** Hosts of this role; at least one, each once. Equivalent to Kamal's `servers.<role>.hosts`. */
  hosts: HostArgs[];
  /**
   * Command run in the container, as a list of arguments (or one string split on spaces).
   * Equivalent to Kamal's `servers.<role>.cmd`.
   * @default - the image's CMD
   */
  cmd?: string | string[];
  /**
   * Environment of this role, merged over the root `env`.
   * @default {}
   */
  env?: EnvArgs;
  /**
   * Extra container labels, merged over the root `labels`. `service`, `role` and `destination`
   * are reserved. Equivalent to Kamal's `servers.<role>.labels`.
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * Extra `docker run` options; `restart` sets the restart policy (`no`, `always`,
   * `unless-stopped`, `on-failure[:N]`). Equivalent to Kamal's `servers.<role>.options`.
   * @default {}
   */
  options?: DockerOptions;
  /**
   * Logging, merged over the root `logging`.
   * @default - the root `logging`
   */
  logging?: LoggingArgs;
  /**
   * Extra volumes, after the root `volumes`.
   * @default []
   */
  volumes?: string[];
  /**
   * This role's asset path, over the root `assetPath`; only for a role behind kamal-proxy.
   * Equivalent to Kamal's `servers.<role>.asset_path`.
   * @default - the root `assetPath`
   * @example "/rails/public/assets:ro"
   */
  assetPath?: string;
  /**
   * Route this role through kamal-proxy: `false` turns it off, `true` uses the root `proxy`, an
   * object is merged over the root `proxy`. Equivalent to Kamal's `servers.<role>.proxy`.
   * @default - true for the primary role, false for the others
   */
  proxy?: boolean | ProxyArgs;
  /**
   * Time `docker stop` waits before killing an old container. Equivalent to Kamal's `stop_timeout`.
   * @default - none for proxied roles (kamal-proxy already drained them), `drainTimeoutSeconds` otherwise
   */
  stopTimeoutSeconds?: number;
}

/** Registry credentials for pulling the image. Equivalent to Kamal's `registry`. */
export interface RegistryArgs {
  /**
   * Registry host, e.g. `ghcr.io` (`docker.io` for Docker Hub). `localhost:<port>` or
   * `127.0.0.1:<port>` is Kamal's local registry: one on the deploying machine, which the hosts
   * pull from through an SSH reverse tunnel (the image must name it, e.g. `localhost:5555/app:1`).
   */
  server: string;
  /**
   * User name.
   * @default - none: only a local registry (`localhost:<port>`) may be used without a login
   */
  username?: string;
  /**
   * Password or token (secret). Sent to `docker login --password-stdin`, never in argv.
   * @default - none: only a local registry (`localhost:<port>`) may be used without a login
   */
  password?: string;
}

/** Rolling boot. Equivalent to Kamal's `boot`. */
export interface BootArgs {
  /**
   * Boot this many hosts at a time: a number, or a percentage of the hosts (`"25%"`, rounded
   * down, at least 1). Equivalent to Kamal's `boot.limit`.
   * @default - all hosts at once
   */
  limit?: number | `${number}%`;
  /**
   * Pause between groups. Equivalent to Kamal's `boot.wait`.
   * @default 0
   */
  waitSeconds?: number;
}

/** Maintenance mode: kamal-proxy answers 503 instead of forwarding. Equivalent to `kamal app maintenance`. */
export interface MaintenanceArgs {
  /**
   * Serve the maintenance page.
   * @default false
   */
  enabled?: boolean;
  /**
   * Message on the 503 page. Equivalent to kamal-proxy's `stop --message`.
   * @default - kamal-proxy's default text
   */
  message?: string;
  /**
   * Time in-flight requests get to finish. Equivalent to kamal-proxy's `stop --drain-timeout`.
   * @default - `drainTimeoutSeconds`
   */
  drainTimeoutSeconds?: number;
}

/** An app deployed as containers on your hosts behind kamal-proxy, with plain (resolved) values. */
export interface AppArgs {
  /**
   * Name of the app: prefixes container names and the kamal-proxy service name. Lowercase
   * letters, digits, `-` and `_`, starting with a letter. Equivalent to Kamal's `service`.
   */
  service: string;
  /**
   * Image reference, `[registry/]repository[:tag][@sha256:<digest>]`. Equivalent to Kamal's `image`.
   * @example "ghcr.io/acme/app@sha256:3b1f…"
   */
  image: string;
  /**
   * Version in container names (`<service>-<role>-<version>`) and `KAMAL_VERSION`.
   * @default - the image's tag, or `sha256-<first 12 hex of the digest>`
   */
  version?: string;
  /**
   * Destination (environment) name, part of container names, the kamal-proxy service name and
   * the `destination` label; `""` for none. Equivalent to Kamal's `-d/--destination`.
   */
  destination: string;
  /**
   * Hosts of the single `web` role. Only one of `hosts` or `roles`. Equivalent to Kamal's `servers: [...]`.
   */
  hosts?: HostArgs[];
  /**
   * Roles by name. Only one of `hosts` or `roles`. Equivalent to Kamal's `servers: {role: …}`.
   */
  roles?: Record<string, RoleArgs>;
  /**
   * The role booted first and proxied by default.
   * @default - "web" if there is such a role, else the first role
   */
  primaryRole?: string;
  /**
   * Environment of every role. Merge order: root < role < host tags. Equivalent to Kamal's `env`.
   * @default {}
   */
  env?: RootEnvArgs;
  /**
   * Extra labels on every container. Equivalent to Kamal's `labels`.
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * Volumes on every container (`--volume`). Equivalent to Kamal's `volumes`.
   * @default []
   */
  volumes?: string[];
  /**
   * A directory of the image (`/path`, or `/path:ro` with mount options) whose files both the old
   * and the new version serve during a switch, for the roles behind kamal-proxy: before the new
   * container runs, its files are merged with the running version's on the host and mounted there
   * (`.kamal/apps/<service>[-<destination>]/assets/volumes/<role>-<version>`), so a page of either
   * version finds every asset it names. Equivalent to Kamal's `asset_path`.
   * @default - no asset bridging
   * @example "/rails/public/assets"
   */
  assetPath?: string;
  /**
   * A local directory (relative to the program's directory) of kamal-proxy error pages:
   * `4xx.html`/`5xx.html` files named by status (`404.html`, `503.html`), Go templates; `503.html`
   * shows the maintenance message as `{{ .Message }}`. Their content is part of each proxied
   * host's inputs, so editing a page previews as a change. Equivalent to Kamal's `error_pages_path`
   * and kamal-proxy's `--error-pages`.
   * @default - kamal-proxy's own pages
   * @example "error_pages"
   */
  errorPagesPath?: string;
  /**
   * Logging of every container. Equivalent to Kamal's `logging`.
   * @default { options: { "max-size": "10m" } }
   */
  logging?: LoggingArgs;
  /**
   * Routing through kamal-proxy for every proxied role. Must be an object: to turn the proxy off
   * for a role, set `roles.<role>.proxy` to false. Equivalent to Kamal's `proxy`.
   * @default {}
   */
  proxy?: ProxyArgs;
  /**
   * Registry login before pulling.
   * @default - no login
   */
  registry?: RegistryArgs;
  /**
   * Rolling boot.
   * @default { waitSeconds: 0 }
   */
  boot?: BootArgs;
  /**
   * Old containers kept for rollback. Equivalent to Kamal's `retain_containers`.
   * @default 5
   */
  retainContainers?: number;
  /**
   * Time old containers get to finish in-flight requests. Equivalent to Kamal's `drain_timeout`
   * and kamal-proxy's `--drain-timeout`.
   * @default 30
   */
  drainTimeoutSeconds?: number;
  /**
   * Time a new container has to become healthy. Equivalent to Kamal's `deploy_timeout` and
   * kamal-proxy's `--deploy-timeout`.
   * @default 30
   */
  deployTimeoutSeconds?: number;
  /**
   * For roles without the proxy: wait this long after a container is running, then check again.
   * Equivalent to Kamal's `readiness_delay`.
   * @default 7
   */
  readinessDelaySeconds?: number;
  /**
   * How long a deploy waits for a host's deploy lock held by another *automatic* deploy (Kamal's
   * `Automatic deploy lock`, or another Berth deploy or removal) before it fails, checking every
   * 2 seconds. A lock taken by hand (`kamal lock acquire -m …`) fails the deploy at once, whatever
   * this says. Equivalent to Kamal's `--lock-wait --lock-wait-timeout` (a flag of `kamal deploy`
   * there).
   * @default 0 (fail at once, naming the holder)
   */
  lockWaitSeconds?: number;
  /**
   * Maintenance mode.
   * @default { enabled: false }
   */
  maintenance?: MaintenanceArgs;
  /**
   * How to reach the hosts.
   * @default - see `SshArgs`
   */
  ssh?: SshArgs;
  /**
   * How the host's kamal-proxy container is run when this service boots it; also names the
   * network and proxy container the app uses.
   * @default - see `ProxyRunArgs`
   */
  proxyRun?: ProxyRunArgs;
}

// ---------------------------------------------------------------------------------------------
// Normalized config

/** Variables of one scope. `secret` values are secrets. */
export interface Env {
  clear: Record<string, string>;
  secret: Record<string, string>;
}

/** One host of a role. */
export interface RoleHost {
  host: string;
  tags: string[];
}

/** A normalized role. */
export interface RoleConfig {
  name: string;
  hosts: RoleHost[];
  /** Empty: the image's CMD. */
  cmd: string[];
  /** This role's own variables (see `resolveEnv` for the merged set). */
  env: Env;
  /** Custom labels: root merged with role. */
  labels: Record<string, string>;
  /** `--restart` value. */
  restartPolicy: string;
  /** Docker options, without `restart`. */
  options: DockerOptions;
  /** Root and role logging merged, with the default applied. */
  logging: { driver?: string; options: Record<string, string> };
  /** Root volumes, then role volumes. */
  volumes: string[];
  /** Kamal's `asset_path` (`/path[:options]`): set only for a proxied role. */
  assetPath?: string;
  /** Set when the role is proxied: root and role settings merged, defaults applied. */
  proxy?: RoleProxyConfig;
  /** `docker stop -t`; unset means docker's default. */
  stopTimeoutSeconds?: number;
}

/** A parsed image reference. */
export interface ImageRef {
  registry?: string;
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

/** A normalized AppService. */
export interface AppConfig {
  service: string;
  /** The image as written. */
  image: string;
  /** The reference to pull and run: `image`, or `image:version` when it has neither tag nor digest. */
  imageRef: string;
  version: string;
  destination: string;
  /** Roles in the order given. */
  roles: Record<string, RoleConfig>;
  primaryRole: string;
  env: Env & { tags: Record<string, Env> };
  /** `password` is a secret. */
  registry?: RegistryArgs;
  boot: { limit?: number | `${number}%`; waitSeconds: number };
  retainContainers: number;
  drainTimeoutSeconds: number;
  deployTimeoutSeconds: number;
  readinessDelaySeconds: number;
  lockWaitSeconds: number;
  maintenance: { enabled: boolean; message?: string; drainTimeoutSeconds: number };
  /** The error pages directory as written (the component reads it). */
  errorPagesPath?: string;
  ssh: SshConfig;
  proxyRun: ProxyRunConfig;
}

// ---------------------------------------------------------------------------------------------
// Image references

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Parses `[registry/]repository[:tag][@sha256:<64 hex>]`; undefined when it is not one. */
export function parseImage(ref: string): ImageRef | undefined {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  const parts = rest.split("/");
  let registry: string | undefined;
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === "localhost")) {
    registry = parts.shift();
    if (!REGISTRY_HOST.test(registry!)) return undefined;
  }
  const repository = parts.join("/");
  if (!REPOSITORY_PATH.test(repository)) return undefined;
  return {
    ...(registry !== undefined ? { registry } : {}),
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Schemas

const NAME = /^[a-z][a-z0-9_-]*$/;
const TAG_NAME = /^[A-Za-z0-9_.-]+$/;
const TAG_EXPECT = "a tag name (letters, digits, `_`, `.`, `-`)";
const NAME_EXPECT = "lowercase letters, digits, `-` or `_`, starting with a letter";
const DESTINATION = /^(?:[A-Za-z0-9][A-Za-z0-9_.-]*)?$/;
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const RESERVED_ENV = ["KAMAL_CONTAINER_NAME", "KAMAL_VERSION", "KAMAL_HOST", "KAMAL_DESTINATION"];
const RESERVED_LABELS = ["service", "role", "destination"];
const RESTART = /^(?:no|always|unless-stopped|on-failure(?::\d+)?)$/;
const IMAGE_EXPECT = "an image reference like `registry.example.com/app:1.2.3` or `app@sha256:<64 hex>`";
/** docker reads env files with a 64 KiB line buffer. */
const ENV_FILE_LINE_BYTES = 65535;
/**
 * Longest service, destination and role name. `<service>[-<destination>]` names a directory on
 * each host (`.kamal/apps/<service>-<destination>`, and kamal-proxy's TLS directory), `<role>.env` a
 * file, and a file name is at most 255 bytes (NAME_MAX): 127 + `-` + 127 fits.
 */
const NAME_MAX_CHARS = 127;
const NAME_WHY = "`<service>-<destination>` names a directory on each host (`.kamal/apps/…`) and a file name is at most 255 bytes: shorten it.";
/**
 * Longest `docker run` command line Berth renders for a role's container (the user's env, labels,
 * volumes, options, logging and cmd, quoted for the shell). The whole command reaches the host as
 * one `sh -c` string, which Linux caps at 128 KiB (MAX_ARG_STRLEN); 96 KiB leaves room for
 * Berth's own flags and the script around the command.
 */
const MAX_RUN_BYTES = 96 * 1024;

/** A name (service, destination, role) of at most `NAME_MAX_CHARS`: the problem, or undefined. */
function nameLengthProblem(name: string): string | undefined {
  return name.length > NAME_MAX_CHARS ? `must be at most ${NAME_MAX_CHARS} characters; got ${name.length} characters (${show(name)}). ${NAME_WHY}` : undefined;
}

/** A string that passed `re` is then checked for length. */
function shortName(re: RegExp, expect: string, fix: string) {
  return matching(re, expect, fix).superRefine((v, ctx) => {
    const m = nameLengthProblem(v);
    if (m) problem(ctx, [], m);
  }, whenClean);
}

const LABEL_KEY_EXPECT = "a label name without `=`, spaces or control characters";
/**
 * A container label name. Docker splits `--label k=v` at the first `=`, so a name holding `=`
 * would set another label (`role=evil` sets `role`).
 */
function labelKey(key: string): string | undefined {
  if (key.includes("=")) return mustBe(LABEL_KEY_EXPECT, key, `Docker splits \`--label name=value\` at the first \`=\`, so this would set the label ${show(key.slice(0, key.indexOf("=")))}: rename it.`);
  if (/\s/.test(key)) return mustBe(LABEL_KEY_EXPECT, key, "Remove the spaces, e.g. use `-` or `.` instead.");
  return undefined;
}

const LOG_OPTION = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
function logOptionKey(key: string): string | undefined {
  return LOG_OPTION.test(key)
    ? undefined
    : mustBe("a log option name like `max-size` (letters, digits, `.`, `_`, `-`)", key, "Docker splits `--log-opt name=value` at the first `=`: write the name alone as the key.");
}

const nonEmpty = (expect: string, fix?: string) => matching(/\S/, expect, fix);
/** A value passed on as it is (env value, label value, argument): any character but NUL. */
const data = () => text("a string", undefined, { chars: "data" });

/** An env scope; `tags` is the schema of its `tags` key (only the root env may have them). */
function envSchema<T extends z.ZodType>(tags: T, allowTags: boolean) {
  const scope = strict({
    clear: dict(data(), "an object of variable → value").optional(),
    secret: dict(secret("a string"), "an object of variable → secret value", undefined, true).optional(),
    tags: tags.optional(),
  });
  return scope.superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      if (!allowTags && v.tags !== undefined) {
        problem(ctx, ["tags"], "is only allowed in the root `env`; got `tags` here. Move them to `env.tags.<tag>`.");
      }
      const clear = isRecord(v.clear) ? v.clear : {};
      const secrets = isRecord(v.secret) ? v.secret : {};
      for (const [kind, vars] of [["clear", clear], ["secret", secrets]] as const) {
        for (const name of Object.keys(vars)) {
          if (keyProblem(name) !== undefined) continue; // reported by the map itself
          if (envNameProblem(name)) {
            problem(ctx, [kind, name], envNameProblem(name)!);
          } else if (RESERVED_ENV.includes(name)) {
            problem(ctx, [kind, name], `is set by Berth on every container; got ${show(name)} in \`${kind}\`. Use another name.`);
          }
        }
      }
      for (const name of Object.keys(secrets)) {
        if (name in clear) {
          problem(ctx, ["secret", name], `is also set in \`clear\`; a variable is either clear or secret. Remove one of them.`);
        }
        const value = secrets[name];
        if (typeof value !== "string" || Buffer.byteLength(value, "utf8") > MAX_SECRET_BYTES) continue;
        if (/[\r\n]/.test(value)) {
          problem(
            ctx,
            ["secret", name],
            "must be a single line; got a value with a line break (not shown because it is secret). Docker env files hold one `KEY=value` per line, so a secret cannot span lines: encode it (e.g. base64) and decode it in the app.",
          );
        } else if (Buffer.byteLength(`${name}=${value}`, "utf8") > ENV_FILE_LINE_BYTES) {
          problem(
            ctx,
            ["secret", name],
            `must fit one docker env file line of ${ENV_FILE_LINE_BYTES} bytes; got a longer value (not shown because it is secret). Mount large secrets as files instead.`,
          );
        }
      }
    },
    evenWithFieldErrors,
  );
}

const scopedEnvSchema = envSchema(z.unknown(), false);
const rootEnvSchema = envSchema(
  dict(scopedEnvSchema, "an object of host tag → env", (tag) => (TAG_NAME.test(tag) ? undefined : mustBe(TAG_EXPECT, tag, "Use the tag as written in a host's `tags`."))),
  true,
);

function labelsSchema() {
  return dict(data(), "an object of label → value", labelKey).superRefine(
    (labels, ctx) => {
      if (!isRecord(labels)) return;
      for (const key of Object.keys(labels)) {
        if (RESERVED_LABELS.includes(key)) {
          problem(ctx, [key], `is reserved: Berth sets the \`service\`, \`role\` and \`destination\` labels itself; got ${show(labels[key])}. Use another label name.`);
        }
      }
    },
    evenWithFieldErrors,
  );
}

const loggingSchema = strict({
  driver: nonEmpty("a docker log driver like `json-file` or `journald`").optional(),
  options: dict(text(), "an object of log option → value", logOptionKey).optional(),
});

const volumesSchema = list(nonEmpty("a volume like `/data:/app/data` or `data:/app/data`"), "a list of volumes");

const ASSET_PATH = /^\/[^:\s]*[^:\s/][^:\s]*(?::[a-z]+(?:,[a-z]+)*)?$/;
/** Kamal's `asset_path`: an absolute directory in the container other than `/`, with optional mount options. */
function assetPathSchema() {
  return matching(
    ASSET_PATH,
    "an absolute directory in the container other than `/`, optionally with mount options (`/app/public/assets` or `/app/public/assets:ro`)",
    "It is mounted over that directory: no spaces or `:` in the path.",
  );
}

const roleOptionsSchema = dockerOptionsSchema({
  name: "Container names are `<service>-<role>[-<destination>]-<version>`.",
  network: "Set `proxyRun.network` instead.",
  detach: "App containers always run detached.",
}, RESERVED_LABELS).superRefine(
  (options, ctx) => {
    const restart = isRecord(options) ? options.restart : undefined;
    if (restart !== undefined && (typeof restart !== "string" || !RESTART.test(restart))) {
      problem(ctx, ["restart"], mustBe("one of `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`", restart, 'Use "no" to turn restarts off.'));
    }
  },
  evenWithFieldErrors,
);

const hostEntry = either<RoleHost>(
  "a host, or `{ host, tags }`",
  (v) =>
    typeof v === "string"
      ? host().transform((h): RoleHost => ({ host: h, tags: [] }))
      : isRecord(v)
        ? strict({ host: host(), tags: list(matching(TAG_NAME, TAG_EXPECT), "a list of tags") })
        : undefined,
  'Write a host name or address, e.g. "10.0.0.1", or `{ host: "10.0.0.1", tags: ["eu"] }`.',
);

const hostsSchema = list(hostEntry, "a list of hosts").superRefine((hosts, ctx) => {
  if (hosts.length === 0) problem(ctx, [], "must list at least one host; got []. Add a host.");
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    const name = isRecord(h) ? h.host : undefined;
    if (typeof name !== "string") return;
    if (seen.has(name)) problem(ctx, [i], `must not repeat an earlier host; got ${show(name)} again. List each host once, with all its tags.`);
    seen.add(name);
  });
}, evenWithItemErrors);

const SHELL_SPECIAL = /['"\\$`;&|<>(){}*?~#!]/;
const CMD_EXPECT = "a list of arguments, or one string of space-separated words";
const cmdSchema = either<string[]>(CMD_EXPECT, (v) =>
  typeof v === "string"
    ? text().transform((s, ctx): string[] => {
        if (SHELL_SPECIAL.test(s)) {
          problem(ctx, [], mustBe("plain words separated by spaces", s, 'Quotes and shell characters are not interpreted: write the arguments as a list, e.g. ["sh", "-c", "…"].'));
          return z.NEVER;
        }
        return s.trim().split(/\s+/).filter((w) => w !== "");
      })
    : Array.isArray(v)
      ? list(data(), "a list of arguments")
      : undefined,
  'Write the arguments as a list, e.g. ["bin/jobs", "--queue", "default"].',
);

const ROOT_PROXY_EXPECT = "an object of proxy settings";
const rootProxySchema = either<ProxyArgs>(ROOT_PROXY_EXPECT, (v) =>
  isRecord(v)
    ? proxySchema
    : typeof v === "boolean"
      ? z.boolean().transform((b, ctx): ProxyArgs => {
          problem(ctx, [], mustBe(ROOT_PROXY_EXPECT, b, "To turn the proxy off for a role, set `roles.<role>.proxy` to false; booleans are only allowed there."));
          return z.NEVER;
        })
      : undefined,
);

const roleProxySchema = either<boolean | ProxyArgs>(
  "true, false, or an object of proxy settings",
  (v) => (typeof v === "boolean" ? z.boolean() : isRecord(v) ? proxySchema : undefined),
  "For example `{ appPort: 3000 }`, or false to route nothing to this role.",
);

const roleSchema = strict({
  hosts: hostsSchema,
  cmd: cmdSchema.optional(),
  env: scopedEnvSchema.optional(),
  labels: labelsSchema().optional(),
  options: roleOptionsSchema.optional(),
  logging: loggingSchema.optional(),
  volumes: volumesSchema.optional(),
  assetPath: assetPathSchema().optional(),
  proxy: roleProxySchema.optional(),
  stopTimeoutSeconds: integer(0).optional(),
});

const REGISTRY_EXPECT = "a registry host like `ghcr.io` or `registry.example.com:5000`";
/** The registry host; a value with `user:password@` is refused without being shown. */
function registryServer() {
  return text(REGISTRY_EXPECT, "Use `docker.io` for Docker Hub.").superRefine((v, ctx) => {
    if (v.includes("@")) {
      problem(ctx, [], mustBe(REGISTRY_EXPECT, v, "It looks like it holds credentials: put the user in `username` and the password in `password`.", true));
    } else if (!REGISTRY_HOST.test(v)) {
      problem(ctx, [], mustBe(REGISTRY_EXPECT, v, "Use `docker.io` for Docker Hub."));
    } else if (isPortlessLoopback(v)) {
      problem(ctx, [], mustBe(`a registry host; a local registry is ${LOCAL_REGISTRY_EXPECT}`, v, "Add the port of the registry on this machine, e.g. `localhost:5555`."));
    }
  }, whenClean);
}

const REGISTRY_USER_EXPECT = "a user name without spaces or `:`";
const REGISTRY_USER_FIX = "Set the registry user alone; the password goes in `password`.";

const LIMIT_EXPECT = 'a number of hosts (e.g. 2) or a percentage of them (e.g. "25%")';
const limitSchema = either<number | `${number}%`>(LIMIT_EXPECT, (v) =>
  typeof v === "number"
    ? integer(1)
    : typeof v === "string"
      ? text().transform((s, ctx): `${number}%` => {
          const m = /^(\d+)%$/.exec(s);
          if (!m || Number(m[1]) < 1 || Number(m[1]) > 100) {
            problem(ctx, [], mustBe("a percentage from 1% to 100%", s));
            return z.NEVER;
          }
          return s as `${number}%`;
        })
      : undefined,
  'For example 2, or "25%" of the hosts.',
);

const appSchema = strict({
  service: shortName(NAME, `a name of ${NAME_EXPECT}`, "It prefixes container names and the kamal-proxy service name."),
  image: text(IMAGE_EXPECT).superRefine((v, ctx) => {
    if (!parseImage(v)) problem(ctx, [], mustBe(IMAGE_EXPECT, v, "Repository names are lowercase; a digest is `sha256:` and 64 hex digits."));
  }, whenClean),
  version: matching(VERSION, "a version of letters, digits, `_`, `.` and `-` (at most 128)", "It is part of container names.").optional(),
  destination: shortName(DESTINATION, 'a destination name of letters, digits, `_`, `.` and `-`, or "" for none', 'It is part of container names and the kamal-proxy service name, e.g. "staging".'),
  hosts: hostsSchema.optional(),
  roles: dict(roleSchema, "an object of role name → role").optional(),
  primaryRole: text("a role name", "Name one of the roles, e.g. \"web\".").optional(),
  env: rootEnvSchema.optional(),
  labels: labelsSchema().optional(),
  volumes: volumesSchema.optional(),
  assetPath: assetPathSchema().optional(),
  errorPagesPath: nonEmpty("a directory of error pages, relative to the program's directory", 'For example "error_pages", holding `503.html`.').optional(),
  logging: loggingSchema.optional(),
  proxy: rootProxySchema.optional(),
  registry: strict(
    {
      server: registryServer(),
      username: matching(/^[^\s:]+$/, REGISTRY_USER_EXPECT, REGISTRY_USER_FIX).optional(),
      password: secret(REGISTRY_PASSWORD_EXPECT, undefined, (p) => p !== "").optional(),
    },
    "an object `{ server, username, password }`",
    true,
  )
    .superRefine((r, ctx) => registryLoginCheck(r, ctx, REGISTRY_USER_EXPECT, REGISTRY_USER_FIX), evenWithFieldErrors)
    .optional(),
  boot: strict({ limit: limitSchema.optional(), waitSeconds: integer(0).optional() }).optional(),
  retainContainers: integer(1, Number.POSITIVE_INFINITY, "Keep at least 1 so there is a container to roll back to.").optional(),
  drainTimeoutSeconds: integer(1).optional(),
  deployTimeoutSeconds: integer(1).optional(),
  readinessDelaySeconds: integer(0).optional(),
  lockWaitSeconds: integer(0, 86_400).optional(),
  maintenance: strict({
    enabled: flag().optional(),
    message: text("a string", undefined, { chars: "data" }).optional(),
    drainTimeoutSeconds: integer(1).optional(),
  }).optional(),
  ssh: sshSchema.optional(),
  proxyRun: proxyRunSchema.optional(),
});

type ParsedApp = z.output<typeof appSchema>;
type ParsedRole = z.output<typeof roleSchema>;

/** The role arguments after parsing, with the `hosts` shortcut turned into a `web` role. */
function parsedRoles(v: Partial<ParsedApp>): Record<string, Partial<ParsedRole>> {
  if (isRecord(v.roles)) return v.roles;
  if (v.hosts !== undefined) return { [appDefaults.primaryRole]: { hosts: v.hosts } };
  return {};
}

/** Kamal's rule: `primaryRole` when set, else `web` when there is such a role, else the first role. */
export function primaryOf(roles: Record<string, unknown>, primaryRole: string | undefined): string | undefined {
  if (primaryRole !== undefined) return primaryRole;
  const names = Object.keys(roles);
  return names.includes(appDefaults.primaryRole) ? appDefaults.primaryRole : names[0];
}

/** Kamal's rule: the primary role is proxied unless `proxy: false`; others only with true or an object. */
export function proxiedRole(primary: boolean, proxy: boolean | ProxyArgs | undefined): boolean {
  return primary ? proxy !== false : proxy !== undefined && proxy !== false;
}

/**
 * Checks of what decides which resources exist (`hosts`, `roles` and their names, `primaryRole`).
 * Runs even when some fields are invalid or not known yet: it reads only those fields.
 */
function structureCheck(v: Partial<ParsedApp>, ctx: z.core.$RefinementCtx<unknown>): void {
  if (v.hosts !== undefined && v.roles !== undefined) {
    problem(ctx, ["roles"], "Only one of `hosts` or `roles` can be provided.");
  } else if (v.hosts === undefined && v.roles === undefined) {
    problem(ctx, ["hosts"], "Either `hosts` or `roles` must be provided.");
  } else if (isRecord(v.roles)) {
    if (Object.keys(v.roles).length === 0) {
      problem(ctx, ["roles"], "must name at least one role; got {}. Add a role, e.g. `{ web: { hosts: [\"10.0.0.1\"] } }`.");
    }
    for (const name of Object.keys(v.roles)) {
      if (keyProblem(name) !== undefined) continue; // reported by the map itself
      if (!NAME.test(name)) {
        problem(ctx, ["roles", name], `must be named with ${NAME_EXPECT}; got ${show(name)}. The role name is part of container names.`);
      } else if (nameLengthProblem(name) !== undefined) {
        problem(ctx, ["roles", name], `must be named with at most ${NAME_MAX_CHARS} characters; got ${name.length} characters (${show(name)}). The role name is part of container names and names its env file (\`<role>.env\`) on each host: shorten it.`);
      }
    }
  }

  const roles = parsedRoles(v);
  const names = Object.keys(roles);
  if (typeof v.primaryRole === "string" && textProblem(v.primaryRole) === undefined && names.length > 0 && !names.includes(v.primaryRole)) {
    problem(ctx, ["primaryRole"], `must name one of the roles (${names.map((n) => `\`${n}\``).join(", ")}); got ${show(v.primaryRole)}.`);
  }

  // Each host of each role is a resource named `<name>-<role>-<host>`: two pairs must not make the same name.
  const made = new Map<string, string>();
  for (const name of names) {
    const hosts = isRecord(roles[name]) && Array.isArray(roles[name].hosts) ? roles[name].hosts : [];
    hosts.forEach((h, i) => {
      const host = isRecord(h) ? h.host : undefined;
      if (typeof host !== "string") return;
      const id = `${name}-${host}`;
      const other = made.get(id);
      if (other !== undefined && other !== `${name}\u0000${host}`) {
        const [otherRole, otherHost] = other.split("\u0000");
        problem(
          ctx,
          [...(v.roles !== undefined ? ["roles", name] : []), "hosts", i],
          `must not give the same resource name as role \`${otherRole}\` with host ${show(otherHost)}; got ${show(host)} in role \`${name}\`, and both make \`…-${id}\`. Rename one of the roles.`,
        );
      } else made.set(id, `${name}\u0000${host}`);
    });
  }
}

/** Checks that need several fields at once. Runs even when some fields are invalid, once every field is known. */
/**
 * A local registry (`registry.server: localhost:<port>`) is where the image comes from: the image
 * must name it. An image on `localhost` or `127.0.0.1` without a port names no local registry.
 */
function localRegistryCheck(v: Partial<ParsedApp>, ctx: z.core.$RefinementCtx<unknown>): void {
  if (typeof v.image !== "string") return;
  const ref = parseImage(v.image);
  if (!ref) return;
  if (isPortlessLoopback(ref.registry)) {
    problem(ctx, ["image"], mustBe(`an image on a local registry ${LOCAL_REGISTRY_EXPECT}`, v.image, "A local registry needs its port, e.g. `localhost:5555/app:1`."));
    return;
  }
  const server = isRecord(v.registry) && typeof v.registry.server === "string" ? v.registry.server : undefined;
  if (server !== undefined && localRegistryPort(server) !== undefined && ref.registry !== server) {
    problem(
      ctx,
      ["image"],
      `must be on the local registry \`${server}\` (\`registry.server\`); got ${show(v.image)}. Name it there, e.g. \`${server}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}\`.`,
    );
  }
}

/** The port of the local registry `image` is pulled from (`localhost:5555/app:1` → 5555), else undefined. */
export function imageLocalRegistryPort(image: string): number | undefined {
  return localRegistryPort(parseImage(image)?.registry);
}

function crossCheck(v: Partial<ParsedApp>, ctx: z.core.$RefinementCtx<unknown>): void {
  const roles = parsedRoles(v);
  const names = Object.keys(roles);
  const primary = primaryOf(roles, v.primaryRole);
  runSizeCheck(v, roles, ctx);

  if (typeof v.image === "string" && v.version === undefined) {
    const ref = parseImage(v.image);
    if (ref && ref.tag === undefined && ref.digest === undefined) {
      problem(ctx, ["version"], `must be set when \`image\` has neither tag nor digest; got nothing for ${show(v.image)}. Pin the image (\`app:1.2.3\` or \`app@sha256:…\`) or set \`version\`.`);
    }
  }

  localRegistryCheck(v, ctx);

  // Proxy settings once root and role are merged. Skipped for parts that are themselves invalid.
  const root = checked(proxySchema, v.proxy);
  if (v.proxy !== undefined && root === undefined) return;
  const acmeHosts = new Map<string, string>();
  for (const name of names) {
    const role = roles[name];
    if (!isRecord(role)) continue;
    const own = role.proxy;
    if (!proxiedRole(name === primary, own as boolean | ProxyArgs | undefined)) {
      if (role.assetPath !== undefined) {
        problem(
          ctx,
          [...(v.roles !== undefined ? ["roles", name] : []), "assetPath"],
          `is only used by a role behind kamal-proxy; got ${show(role.assetPath)} on role \`${name}\`, which is not proxied. Remove it, or route the role through kamal-proxy (\`roles.${name}.proxy\`).`,
        );
      }
      continue;
    }
    const roleProxy = isRecord(own) ? checked(proxySchema, own) : undefined;
    if (isRecord(own) && roleProxy === undefined) continue;
    const merged = resolveProxy(root, roleProxy);
    const base = v.roles !== undefined ? ["roles", name] : [];
    const where = (key: string): PropertyKey[] => {
      const top = key.split(".")[0];
      const fromRole = roleProxy !== undefined && (roleProxy as Record<string, unknown>)[top] !== undefined;
      return fromRole ? [...base, "proxy", ...key.split(".")] : ["proxy", ...key.split(".")];
    };
    for (const { key, message } of mergedProxyProblems(merged)) problem(ctx, where(key), message);

    const hostCount = Array.isArray(role.hosts) ? role.hosts.length : 0;
    if (merged.ssl && !merged.certificate) {
      if (hostCount > 1) {
        problem(
          ctx,
          [...base, "hosts"],
          `must list one host when \`ssl\` uses Let's Encrypt; got ${hostCount} hosts. Each would ask Let's Encrypt for the same certificate: supply your own with \`ssl: { certificatePem, privateKeyPem }\`, or use one host.`,
        );
      }
      for (const h of merged.hosts) {
        const other = acmeHosts.get(h);
        if (other !== undefined) {
          problem(ctx, where("hosts"), `must not repeat a host of role \`${other}\` when both use Let's Encrypt; got ${show(h)}. Give each role its own host names.`);
        } else {
          acmeHosts.set(h, name);
        }
      }
    }
  }
}

/** Bytes of one word of a command once quoted for a POSIX shell (each `'` becomes `'\''`), with its separating space. */
function quotedBytes(word: unknown): number {
  // A value too long on its own is reported by its own field.
  if (typeof word !== "string" || word.length > MAX_VALUE_BYTES) return 0;
  return Buffer.byteLength(word, "utf8") + 3 * (word.split("'").length - 1) + 3;
}

/** The words a map renders as (`flag k=v`), in bytes. */
function pairBytes(map: unknown, flagBytes: number): number {
  if (!isRecord(map)) return 0;
  let n = 0;
  for (const [k, val] of Object.entries(map)) n += flagBytes + quotedBytes(`${k}=${typeof val === "string" ? val : ""}`);
  return n;
}

/**
 * Each role's `docker run` must fit one `sh -c` string on the host (see `MAX_RUN_BYTES`). Counts
 * what the user adds (env of every scope and tag, labels, volumes, options, logging, cmd), quoted;
 * reports it at the part that weighs most.
 */
function runSizeCheck(v: Partial<ParsedApp>, roles: Record<string, Partial<ParsedRole>>, ctx: z.core.$RefinementCtx<unknown>): void {
  const env = isRecord(v.env) ? v.env : {};
  const tags = isRecord(env.tags) ? Object.values(env.tags) : [];
  const words = (list: unknown, flagBytes: number) => (Array.isArray(list) ? list.reduce((n: number, w) => n + flagBytes + quotedBytes(w), 0) : 0);
  const options = (o: unknown) => {
    if (!isRecord(o)) return 0;
    let n = 0;
    for (const [k, val] of Object.entries(o)) for (const x of Array.isArray(val) ? val : [val]) n += quotedBytes(`--${k}`) + quotedBytes(x);
    return n;
  };
  const logging = (l: unknown) => (isRecord(l) ? quotedBytes(l.driver) + pairBytes(l.options, 10) : 0);
  const root: [PropertyKey[], number][] = [
    [["env", "clear"], pairBytes(env.clear, 6) + tags.reduce((n: number, t) => n + (isRecord(t) ? pairBytes(t.clear, 6) : 0), 0)],
    [["labels"], pairBytes(v.labels, 8)],
    [["volumes"], words(v.volumes, 9)],
    [["logging"], logging(v.logging)],
  ];
  for (const [name, role] of Object.entries(roles)) {
    if (!isRecord(role)) continue;
    const base = v.roles !== undefined ? ["roles", name] : [];
    const parts: [PropertyKey[], number][] = [
      ...root,
      [[...base, "env", "clear"], pairBytes(isRecord(role.env) ? role.env.clear : undefined, 6)],
      [[...base, "labels"], pairBytes(role.labels, 8)],
      [[...base, "volumes"], words(role.volumes, 9)],
      [[...base, "options"], options(role.options)],
      [[...base, "logging"], logging(role.logging)],
      [[...base, "cmd"], words(role.cmd, 0)],
    ];
    const total = parts.reduce((n, [, b]) => n + b, 0);
    if (total <= MAX_RUN_BYTES) continue;
    const [where] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
    problem(
      ctx,
      where,
      `must keep the \`docker run\` command of role \`${name}\` within ${MAX_RUN_BYTES} bytes; got about ${total} bytes of env, labels, volumes, options, logging and cmd, most of them here. Each command reaches the host as one \`sh -c\` string, which Linux caps at 128 KiB: move large values into a file (a volume) or into \`env.secret\` (the env file).`,
    );
  }
}

function checked<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

function mergeLogging(root: ParsedApp["logging"], role: ParsedRole["logging"]): RoleConfig["logging"] {
  const driver = role?.driver ?? root?.driver;
  const options = { ...(root?.options ?? {}), ...(role?.options ?? {}) };
  if (driver === undefined && Object.keys(options).length === 0) return { options: { ...appDefaults.logOptions } };
  return { ...(driver !== undefined ? { driver } : {}), options };
}

function envOf(e: { clear?: Record<string, string>; secret?: Record<string, string> } | undefined): Env {
  return { clear: { ...(e?.clear ?? {}) }, secret: { ...(e?.secret ?? {}) } };
}

function build(v: ParsedApp): AppConfig {
  const image = parseImage(v.image)!;
  const version = v.version ?? image.tag ?? `sha256-${image.digest!.slice("sha256:".length, "sha256:".length + 12)}`;
  const roles = parsedRoles(v) as Record<string, ParsedRole>;
  const primaryRole = primaryOf(roles, v.primaryRole)!;
  const drainTimeoutSeconds = v.drainTimeoutSeconds ?? appDefaults.drainTimeoutSeconds;
  const rootProxy = v.proxy as ProxyArgs | undefined;

  const out: Record<string, RoleConfig> = {};
  for (const [name, r] of Object.entries(roles)) {
    const proxied = proxiedRole(name === primaryRole, r.proxy as boolean | ProxyArgs | undefined);
    const { restart, ...options } = r.options ?? {};
    const stop = r.stopTimeoutSeconds ?? (proxied ? undefined : drainTimeoutSeconds);
    out[name] = {
      name,
      hosts: r.hosts.map((h) => ({ host: h.host, tags: [...h.tags] })),
      cmd: r.cmd ?? [],
      env: envOf(r.env),
      labels: { ...(v.labels ?? {}), ...(r.labels ?? {}) },
      restartPolicy: typeof restart === "string" ? restart : appDefaults.restartPolicy,
      options,
      logging: mergeLogging(v.logging, r.logging),
      volumes: [...(v.volumes ?? []), ...(r.volumes ?? [])],
      ...(proxied && (r.assetPath ?? v.assetPath) !== undefined ? { assetPath: r.assetPath ?? v.assetPath } : {}),
      ...(proxied ? { proxy: resolveProxy(rootProxy, typeof r.proxy === "object" ? (r.proxy as ProxyArgs) : undefined) } : {}),
      ...(stop !== undefined ? { stopTimeoutSeconds: stop } : {}),
    };
  }

  const tags: Record<string, Env> = {};
  for (const [tag, e] of Object.entries((v.env?.tags ?? {}) as Record<string, EnvArgs>)) tags[tag] = envOf(e);

  return {
    service: v.service,
    image: v.image,
    imageRef: image.tag !== undefined || image.digest !== undefined ? v.image : `${v.image}:${version}`,
    version,
    destination: v.destination,
    roles: out,
    primaryRole,
    env: { ...envOf(v.env), tags },
    ...(v.registry !== undefined ? { registry: { ...v.registry } } : {}),
    boot: {
      ...(v.boot?.limit !== undefined ? { limit: v.boot.limit } : {}),
      waitSeconds: v.boot?.waitSeconds ?? appDefaults.bootWaitSeconds,
    },
    retainContainers: v.retainContainers ?? appDefaults.retainContainers,
    drainTimeoutSeconds,
    deployTimeoutSeconds: v.deployTimeoutSeconds ?? appDefaults.deployTimeoutSeconds,
    readinessDelaySeconds: v.readinessDelaySeconds ?? appDefaults.readinessDelaySeconds,
    lockWaitSeconds: v.lockWaitSeconds ?? appDefaults.lockWaitSeconds,
    maintenance: {
      enabled: v.maintenance?.enabled ?? appDefaults.maintenanceEnabled,
      ...(v.maintenance?.message !== undefined ? { message: v.maintenance.message } : {}),
      drainTimeoutSeconds: v.maintenance?.drainTimeoutSeconds ?? drainTimeoutSeconds,
    },
    ...(v.errorPagesPath !== undefined ? { errorPagesPath: v.errorPagesPath } : {}),
    ssh: v.ssh ?? sshSchema.parse({}),
    proxyRun: v.proxyRun ?? proxyRunSchema.parse({}),
  };
}

/** The schema of `AppArgs`; its output is the normalized `AppConfig`. */
export const appServiceSchema = appSchema
  .superRefine((raw, ctx) => structureCheck(raw as Partial<ParsedApp>, ctx), { when: (payload: { value: unknown }) => isRecord(payload.value) })
  .superRefine((raw, ctx) => crossCheck(raw as Partial<ParsedApp>, ctx), evenWithFieldErrors)
  .transform(build);

/**
 * Validates an AppService's settings and applies every default. Throws one `BerthConfigError`
 * listing every problem with its path.
 */
export function normalizeApp(input: AppArgs, component = "AppService", prefix = ""): AppConfig {
  return parse(component, appServiceSchema, input, prefix);
}

// ---------------------------------------------------------------------------------------------
// Helpers over a normalized config

/** Every app host once: the primary role's hosts first, then the other roles' in order (Kamal's `app_hosts`). */
export function roleHosts(cfg: AppConfig): string[] {
  const names = [cfg.primaryRole, ...Object.keys(cfg.roles).filter((n) => n !== cfg.primaryRole)];
  const out: string[] = [];
  for (const name of names) for (const h of cfg.roles[name].hosts) if (!out.includes(h.host)) out.push(h.host);
  return out;
}

/** True when the role is routed through kamal-proxy. */
export function isProxied(role: RoleConfig): role is RoleConfig & { proxy: RoleProxyConfig } {
  return role.proxy !== undefined;
}

/**
 * The variables of one role on one host: root, then role, then each of the host's tags in order;
 * a later scope wins, whether it sets the variable clear or secret.
 */
export function resolveEnv(cfg: AppConfig, roleName: string, hostName: string): Env {
  const role = cfg.roles[roleName];
  if (role === undefined) throw new Error(`resolveEnv: no role ${JSON.stringify(roleName)}`);
  const entry = role.hosts.find((h) => h.host === hostName);
  if (entry === undefined) throw new Error(`resolveEnv: host ${JSON.stringify(hostName)} is not in role ${JSON.stringify(roleName)}`);
  const scopes = [cfg.env, role.env, ...entry.tags.map((t) => cfg.env.tags[t]).filter((e): e is Env => e !== undefined)];
  const clear: Record<string, string> = {};
  const secretVars: Record<string, string> = {};
  for (const scope of scopes) {
    for (const [k, val] of Object.entries(scope.clear)) {
      delete secretVars[k];
      clear[k] = val;
    }
    for (const [k, val] of Object.entries(scope.secret)) {
      delete clear[k];
      secretVars[k] = val;
    }
  }
  return { clear, secret: secretVars };
}

/**
 * Splits hosts into boot groups of `limit` (Kamal's `boot.limit`): a number, or `"N%"` of the
 * hosts rounded down and at least 1. No limit: one group.
 */
export function bootGroups(hosts: readonly string[], limit: number | `${number}%` | undefined): string[][] {
  if (hosts.length === 0) return [];
  const size =
    limit === undefined
      ? hosts.length
      : typeof limit === "number"
        ? limit
        : Math.max(Math.floor((hosts.length * parseInt(limit, 10)) / 100), 1);
  // `normalizeApp` refuses such a limit; a caller that skipped it must not loop forever.
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`bootGroups: the limit must be an integer of at least 1 or a percentage; got ${show(limit)}`);
  const groups: string[][] = [];
  for (let i = 0; i < hosts.length; i += size) groups.push(hosts.slice(i, i + size));
  return groups;
}

/**
 * Why one version per role may not hold in this run, or `undefined` when it does. The provider
 * keeps a role's hosts on one version by holding each host's update until the role's others have
 * switched, which works only while the engine runs them all at once: `parallel` is the engine's
 * limit (`pulumi up --parallel`). The primary role deploys first; the other roles deploy together
 * after it. `roles` in deploy order (primary first), `usesRolesKey` when the program gave `roles`.
 */
export function parallelismWarning(roles: readonly (readonly [string, readonly string[]])[], usesRolesKey: boolean, parallel: number | undefined): string | undefined {
  if (parallel === undefined || !Number.isInteger(parallel) || parallel < 1 || roles.length === 0) return undefined;
  const [[primary, primaryHosts], ...others] = roles;
  const rest = others.reduce((n, [, hs]) => n + hs.length, 0);
  const [what, count] =
    primaryHosts.length >= rest
      ? [`\`${usesRolesKey ? `roles.${primary}.hosts` : "hosts"}\`: the ${primary} role's ${primaryHosts.length} hosts`, primaryHosts.length]
      : [`\`roles\`: the ${others.map(([r]) => r).join(", ")} roles' ${rest} hosts (deployed together after ${primary})`, rest];
  if (count <= parallel) return undefined;
  return (
    `${what} deploy at once to stay on one version, but this run of pulumi does at most ${parallel} operations at once (\`--parallel\`): ` +
    `a failure on a host that starts late can leave the hosts that finished first on the new version. ` +
    `Run \`pulumi up --parallel ${count}\` or higher (Automation API: \`up({ parallel: ${count} })\`).`
  );
}
