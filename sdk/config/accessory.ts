/**
 * Accessory configuration (Kamal's `accessories.<name>`): `normalizeAccessory` turns
 * `PlainAccessoryArgs` (plain values, secrets included) into a validated `AccessoryConfig` with every
 * default applied and its hosts resolved, or throws one `BerthConfigError` listing every problem
 * with its path (`roles[1]`, `files[0].remote`, `port`). Also `accessoryHostSpec` and
 * `accessoryHostSecrets`: from a config to the inputs of one `AccessoryHost`.
 */
import { z } from "zod";
import {
  envNameProblem,
  dict,
  either,
  evenWithFieldErrors,
  flag,
  integer,
  isRecord,
  list,
  matching,
  mustBe,
  parse,
  port,
  problem,
  secret,
  show,
  strict,
  text,
} from "./errors";
import { imageLocalRegistryPort, parseImage, type EnvArgs, type HostArgs, type LoggingArgs, type RegistryArgs, type RoleHost } from "./app";
import { type DockerOptions, type ProxyArgs, type RoleProxyConfig, REGISTRY_HOST, dockerOptionsSchema, mergedProxyProblems, proxyRunDefaults, proxySchema, resolveProxy } from "./proxy";
import { REGISTRY_PASSWORD_EXPECT, registryLoginCheck } from "./registry";
import { host, type SshArgs, type SshConfig, sshSchema } from "./ssh";
import type { AccessoryHostSecrets, AccessoryHostSpec } from "./resources";

/** Every Accessory default, in one place. */
export const accessoryDefaults = {
  network: "kamal",
  restartPolicy: "unless-stopped",
  logOptions: { "max-size": "10m" } as Record<string, string>,
  fileMode: "0755",
  secretFileMode: "0600",
  healthcheck: { intervalSeconds: 1, timeoutSeconds: 30 },
  deleteDataOnDestroy: false,
} as const;

// ---------------------------------------------------------------------------------------------
// Args

/** A file written on the host and mounted into the container. Equivalent to Kamal's `files` (hash form). */
export interface AccessoryFileArgs {
  /**
   * A file on the machine running Pulumi, relative to the project directory. Only one of `local`
   * or `content`. Unlike Kamal, `.erb` files are not rendered.
   */
  local?: string;
  /** The file's content, inline (a Pulumi secret stays one). Only one of `local` or `content`. */
  content?: string;
  /** Absolute path in the container; the file is written on the host at `~/<service><remote>`. */
  remote: string;
  /**
   * Its mode, octal.
   * @default "0755" (Kamal's), or "0600" when `content` is a Pulumi secret
   */
  mode?: string;
  /**
   * `user[:group]` (names or ids) given the file with `chown`, e.g. the container's user.
   * @default - the SSH user
   */
  owner?: string;
  /**
   * Mount options, e.g. `ro`.
   * @default - none
   */
  options?: string;
}

/** A directory created on the host and mounted into the container. Equivalent to Kamal's `directories` (hash form). */
export interface AccessoryDirectoryArgs {
  /** Host path: relative ones are under `~/<service>/` (Kamal's layout); absolute ones are used as written. */
  local: string;
  /** Absolute path in the container. */
  remote: string;
  /**
   * Its mode, octal (`chmod`).
   * @default - left as `mkdir -p` makes it
   */
  mode?: string;
  /**
   * `user[:group]` (names or ids) given the directory with `chown`.
   * @default - the SSH user
   */
  owner?: string;
  /**
   * Mount options, e.g. `ro`.
   * @default - none
   */
  options?: string;
}

/** What must pass before an accessory counts as booted (and things that depend on it start). */
export interface AccessoryHealthcheckArgs {
  /**
   * A command run in the container with `docker exec`; exit 0 is healthy. Only one of `cmd` or `port`.
   * @example ["pg_isready", "-U", "postgres"]
   */
  cmd?: string | string[];
  /** A TCP port of the container that must accept a connection (tried from the host). Only one of `cmd` or `port`. */
  port?: number;
  /**
   * Time between checks.
   * @default 1
   */
  intervalSeconds?: number;
  /**
   * Time the accessory has to become healthy before the boot fails (and the previous container is put back).
   * @default 30
   */
  timeoutSeconds?: number;
}

/** The app an accessory belongs to, as far as the accessory needs it (see `PlainAccessoryArgs.app`). */
export interface AccessoryAppRef {
  /** The app's `service`. */
  service: string;
  /** The app's destination (`""` for none). */
  destination: string;
  /** The app's roles and their hosts with tags. */
  roles: Record<string, RoleHost[]>;
  /** The app's registry, the default for the accessory's. */
  registry?: RegistryArgs;
  /** The app's SSH settings, the default for the accessory's. */
  ssh?: SshArgs;
}

/**
 * The roles of an app's args (its `roles`, else its `hosts` as the `web` role), each host with its
 * tags: what an accessory's `role`/`roles`/`tag`/`tags` resolve against (`AccessoryAppRef.roles`).
 */
export function appRoleHosts(app: { hosts?: readonly HostArgs[]; roles?: Record<string, { hosts?: readonly HostArgs[] }> }): Record<string, RoleHost[]> {
  const roles: Record<string, RoleHost[]> = {};
  for (const [role, r] of Object.entries(app.roles ?? { web: { hosts: app.hosts ?? [] } })) {
    roles[role] = (r.hosts ?? []).map((h) => (typeof h === "string" ? { host: h, tags: [] } : { host: h.host, tags: [...(h.tags ?? [])] }));
  }
  return roles;
}

/** One accessory (Kamal's `accessories.<name>`), with plain (resolved) values. */
export interface PlainAccessoryArgs {
  /** The accessory's name (the key under Kamal's `accessories`). Lowercase letters, digits, `-` and `_`. */
  name: string;
  /**
   * The service the accessory belongs to (Kamal's root `service`): with `name` it makes the
   * accessory's service name `<service>-<name>`. Required without `app`.
   * @default - the app's `service`
   */
  service?: string;
  /**
   * The accessory's own service name: container name, `service` label, kamal-proxy service, and
   * `~/<serviceName>/` for its files and directories. Equivalent to Kamal's `accessories.<name>.service`.
   * @default - `<service>-<name>`
   */
  serviceName?: string;
  /**
   * The destination whose `.kamal/apps/<service>-<destination>` holds the env file (the container
   * name has none, as in Kamal).
   * @default - the app's destination, else none
   */
  destination?: string;
  /** The app whose roles and host tags `role`/`roles`/`tag`/`tags` name. */
  app?: AccessoryAppRef;
  /**
   * Image reference. With the accessory's own `registry`, its server is put in front unless the
   * image already starts with it (Kamal always puts it in front).
   * @example "postgres:16.4"
   */
  image: string;
  /** One host. Exactly one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`. Equivalent to Kamal's `host`. */
  host?: string;
  /** Hosts. Equivalent to Kamal's `hosts`. */
  hosts?: string[];
  /** The hosts of one role of `app`. Equivalent to Kamal's `role`. */
  role?: string;
  /** The hosts of these roles of `app`. Equivalent to Kamal's `roles`. */
  roles?: string[];
  /** The hosts of `app` carrying this tag. Equivalent to Kamal's `tag`. */
  tag?: string;
  /** The hosts of `app` carrying any of these tags. Equivalent to Kamal's `tags`. */
  tags?: string[];
  /**
   * Published port: `"5432"` (→ `5432:5432`), `"8080:80"`, or bound to one address,
   * `"127.0.0.1:5432:5432"`. Equivalent to Kamal's `port` and docker's `--publish`.
   * @default - nothing published (reach it on the docker network by its service name)
   */
  port?: string | number;
  /**
   * Command run in the container, as a list of arguments (or one string split on spaces).
   * @default - the image's CMD
   */
  cmd?: string | string[];
  /**
   * Environment: `clear` as `--env`, `secret` in the 0600 env file
   * `.kamal/apps/<app>/env/accessories/<name>.env`. Equivalent to Kamal's `env`.
   * @default {}
   */
  env?: EnvArgs;
  /**
   * Extra container labels; `service` is reserved. Equivalent to Kamal's `labels`.
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * Extra `docker run` options; `restart` sets the restart policy. Equivalent to Kamal's `options`.
   * @default {}
   */
  options?: DockerOptions;
  /**
   * The docker network. Equivalent to Kamal's `network`.
   * @default "kamal"
   */
  network?: string;
  /**
   * Raw `--volume` values; nothing is created. A named volume (`pgdata:/var/lib/…`) counts as the
   * accessory's data (see `deleteDataOnDestroy`). Equivalent to Kamal's `volumes`.
   * @default []
   */
  volumes?: string[];
  /**
   * Files written on the host (over stdin, never argv) and mounted: `"local:remote[:options]"`
   * or an object. Equivalent to Kamal's `files`.
   * @default []
   */
  files?: (string | AccessoryFileArgs)[];
  /**
   * Directories created on the host and mounted: `"local:remote[:options]"` or an object.
   * Equivalent to Kamal's `directories`.
   * @default []
   */
  directories?: (string | AccessoryDirectoryArgs)[];
  /**
   * Registry login before pulling.
   * @default - the app's registry, else no login
   */
  registry?: RegistryArgs;
  /**
   * Route to the accessory through kamal-proxy (Kamal 2's accessory `proxy`). TLS with your own
   * certificate is not supported for accessories yet.
   * @default - not proxied
   */
  proxy?: ProxyArgs;
  /**
   * What must pass before the accessory counts as booted.
   * @default - the container is running
   */
  healthcheck?: AccessoryHealthcheckArgs;
  /**
   * Logging. Equivalent to Kamal's root `logging`.
   * @default { options: { "max-size": "10m" } }
   */
  logging?: LoggingArgs;
  /**
   * Time `docker stop` gives the old container when it is replaced.
   * @default - docker's default (10)
   */
  stopTimeoutSeconds?: number;
  /**
   * Let `destroy` delete the accessory's data: `~/<serviceName>` (its files and relative
   * directories), its absolute directories, and its named volumes. Set it and run `up` before
   * the `destroy`: the preview of that `up` lists what will be deleted (`dataDeletedOnDestroy`).
   * @default false: `destroy` removes the container and env file and keeps the data
   */
  deleteDataOnDestroy?: boolean;
  /**
   * How to reach the hosts.
   * @default - the app's `ssh`, else see `SshArgs`
   */
  ssh?: SshArgs;
}

// ---------------------------------------------------------------------------------------------
// Normalized config

/** A normalized file: where it goes, and where its content comes from. */
export interface AccessoryFile {
  hostPath: string;
  remote: string;
  mode: string;
  owner?: string;
  options?: string;
  /** The content (inline), or a local path the component reads. */
  source: { content: string } | { local: string };
}

export interface AccessoryDirectory {
  hostPath: string;
  remote: string;
  mode?: string;
  owner?: string;
  options?: string;
}

/** A normalized accessory. */
export interface AccessoryConfig {
  name: string;
  /** The service name: container name, `service` label, kamal-proxy service. */
  service: string;
  /** `.kamal/apps/<app>`: `<service>[-<destination>]` of the app. */
  app: string;
  /** The hosts, resolved from the placement, in order. */
  hosts: string[];
  image: string;
  port?: string;
  cmd: string[];
  env: { clear: Record<string, string>; secret: Record<string, string> };
  labels: Record<string, string>;
  restartPolicy: string;
  options: DockerOptions;
  logging: { driver?: string; options: Record<string, string> };
  network: string;
  volumes: string[];
  files: AccessoryFile[];
  directories: AccessoryDirectory[];
  /** `password` is a secret. */
  registry?: RegistryArgs;
  proxy?: RoleProxyConfig;
  healthcheck?: { cmd?: string[]; port?: number; intervalSeconds: number; timeoutSeconds: number };
  stopTimeoutSeconds?: number;
  deleteDataOnDestroy: boolean;
  /** What holds the data: `~/<dir>`, `/<dir>`, `volume:<name>`. */
  data: string[];
  ssh: SshConfig;
}

// ---------------------------------------------------------------------------------------------
// Schemas

const NAME = /^[a-z][a-z0-9_-]*$/;
const NAME_EXPECT = "a name of lowercase letters, digits, `-` or `_`, starting with a letter";
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const RESTART = /^(?:no|always|unless-stopped|on-failure(?::\d+)?)$/;
const MODE = /^0?[0-7]{3,4}$/;
const OWNER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const MOUNT_OPTIONS = /^[a-z0-9=,_-]+$/;
/** `[ip:]hostPort:containerPort[/proto]`, `ip` v4 or `[v6]`. */
const PUBLISH = /^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]):)?\d{1,5}:\d{1,5}(?:\/(?:tcp|udp|sctp))?$/;
const PORT_EXPECT = 'a port like "5432", "8080:80" or "127.0.0.1:5432:5432"';
const IMAGE_EXPECT = "an image reference like `postgres:16.4` or `registry.example.com/db@sha256:<64 hex>`";
const ENV_FILE_LINE_BYTES = 65535;
const PLACEMENT = ["host", "hosts", "role", "roles", "tag", "tags"] as const;
const SHELL_SPECIAL = /['"\\$`;&|<>(){}*?~#!]/;

const nonEmpty = (expect: string, fix?: string) => matching(/\S/, expect, fix);

const cmdSchema = either<string[]>("a list of arguments, or one string of space-separated words", (v) =>
  typeof v === "string"
    ? text().transform((s, ctx): string[] => {
        if (SHELL_SPECIAL.test(s)) {
          problem(ctx, [], mustBe("plain words separated by spaces", s, 'Quotes and shell characters are not interpreted: write the arguments as a list, e.g. ["sh", "-c", "…"].'));
          return z.NEVER;
        }
        return s.trim().split(/\s+/).filter((w) => w !== "");
      })
    : Array.isArray(v)
      ? list(text(), "a list of arguments")
      : undefined,
);

const envSchema = strict({
  clear: dict(text(), "an object of variable → value").optional(),
  secret: dict(secret("a string"), "an object of variable → secret value").optional(),
}).superRefine((raw, ctx) => {
  const v = raw as Record<string, unknown>;
  const clear = isRecord(v.clear) ? v.clear : {};
  const secrets = isRecord(v.secret) ? v.secret : {};
  for (const [kind, vars] of [["clear", clear], ["secret", secrets]] as const) {
    for (const name of Object.keys(vars)) {
      if (envNameProblem(name)) problem(ctx, [kind, name], envNameProblem(name)!);
      else if (name === "KAMAL_HOST") problem(ctx, [kind, name], "is set by Berth on every accessory container; got `KAMAL_HOST`. Use another name.");
    }
  }
  for (const name of Object.keys(secrets)) {
    if (name in clear) problem(ctx, ["secret", name], "is also set in `clear`; a variable is either clear or secret. Remove one of them.");
    const value = secrets[name];
    if (typeof value !== "string") continue;
    if (/[\r\n]/.test(value)) {
      problem(ctx, ["secret", name], "must be a single line; got a value with a line break (not shown because it is secret). Docker env files hold one `KEY=value` per line: put multi-line secrets in `files`.");
    } else if (Buffer.byteLength(`${name}=${value}`, "utf8") > ENV_FILE_LINE_BYTES) {
      problem(ctx, ["secret", name], `must fit one docker env file line of ${ENV_FILE_LINE_BYTES} bytes; got a longer value (not shown because it is secret). Put large secrets in \`files\`.`);
    }
  }
}, evenWithFieldErrors);

const remotePath = () => matching(/^\/\S*$/, "an absolute path in the container, like `/etc/mysql/my.cnf`");
const modeSchema = () => matching(MODE, 'an octal mode like "0644" or "0750"');
const ownerSchema = () => matching(OWNER, 'an owner like "999", "postgres" or "999:999"');
const mountOptions = () => matching(MOUNT_OPTIONS, 'mount options like "ro" or "ro,z"');

/** `local:remote[:options]` (Kamal's string form). */
function splitMount(s: string): { local: string; remote: string; options?: string } | undefined {
  const parts = s.split(":");
  if (parts.length < 2 || parts.length > 3 || parts[0] === "" || parts[1] === "") return undefined;
  return { local: parts[0], remote: parts[1], ...(parts[2] ? { options: parts[2] } : {}) };
}

const fileObject = strict({
  local: nonEmpty("a local file path").optional(),
  content: z.string({ error: () => "must be a string (the file's content)." }).optional(),
  remote: remotePath(),
  mode: modeSchema().optional(),
  owner: ownerSchema().optional(),
  options: mountOptions().optional(),
}).superRefine((raw, ctx) => {
  const v = raw as Record<string, unknown>;
  if (v.local !== undefined && v.content !== undefined) problem(ctx, ["content"], "Only one of `local` or `content` can be provided.");
  else if (v.local === undefined && v.content === undefined) problem(ctx, ["local"], "Either `local` or `content` must be provided.");
}, evenWithFieldErrors);

const MOUNT_EXPECT = (what: string) => `"local:remote[:options]" or an object with \`${what}\` and \`remote\``;

const fileEntry = either<AccessoryFileArgs>(MOUNT_EXPECT("local` or `content"), (v) =>
  typeof v === "string"
    ? text().transform((s, ctx): AccessoryFileArgs => {
        const m = splitMount(s);
        if (!m) {
          problem(ctx, [], mustBe('"local:remote[:options]"', s, 'e.g. "config/my.cnf:/etc/mysql/my.cnf:ro".'));
          return z.NEVER;
        }
        const r = fileObject.safeParse(m);
        if (!r.success) {
          for (const i of r.error.issues) problem(ctx, i.path as PropertyKey[], i.message);
          return z.NEVER;
        }
        return r.data as AccessoryFileArgs;
      })
    : isRecord(v)
      ? fileObject
      : undefined,
);

const directoryObject = strict({
  local: nonEmpty("a host directory path").superRefine((v, ctx) => {
    if (v.split("/").includes("..")) problem(ctx, [], mustBe("a path without `..`", v, "Write the path from `~/<serviceName>/`, or an absolute one."));
  }),
  remote: remotePath(),
  mode: modeSchema().optional(),
  owner: ownerSchema().optional(),
  options: mountOptions().optional(),
});

const directoryEntry = either<AccessoryDirectoryArgs>(MOUNT_EXPECT("local"), (v) =>
  typeof v === "string"
    ? text().transform((s, ctx): AccessoryDirectoryArgs => {
        const m = splitMount(s);
        if (!m) {
          problem(ctx, [], mustBe('"local:remote[:options]"', s, 'e.g. "data:/var/lib/postgresql/data".'));
          return z.NEVER;
        }
        const r = directoryObject.safeParse(m);
        if (!r.success) {
          for (const i of r.error.issues) problem(ctx, i.path as PropertyKey[], i.message);
          return z.NEVER;
        }
        return r.data;
      })
    : isRecord(v)
      ? directoryObject
      : undefined,
);

const portSchema = either<string>(PORT_EXPECT, (v) =>
  typeof v === "number"
    ? port().transform((p) => `${p}:${p}`)
    : typeof v === "string"
      ? text().transform((s, ctx): string => {
          if (/^\d{1,5}$/.test(s) && Number(s) >= 1 && Number(s) <= 65535) return `${s}:${s}`;
          if (!PUBLISH.test(s)) {
            problem(ctx, [], mustBe(PORT_EXPECT, s, "To publish several ports, add `options: { publish: [...] }`."));
            return z.NEVER;
          }
          return s;
        })
      : undefined,
);

const healthcheckSchema = strict({
  cmd: cmdSchema.optional(),
  port: port().optional(),
  intervalSeconds: integer(1).optional(),
  timeoutSeconds: integer(1).optional(),
}).superRefine((raw, ctx) => {
  const v = raw as Record<string, unknown>;
  if (v.cmd !== undefined && v.port !== undefined) problem(ctx, ["port"], "Only one of `cmd` or `port` can be provided.");
  else if (v.cmd === undefined && v.port === undefined) problem(ctx, ["cmd"], "Either `cmd` or `port` must be provided.");
}, evenWithFieldErrors);

const optionsSchema = dockerOptionsSchema({
  name: "Set `serviceName` instead.",
  network: "Set `network` instead.",
  detach: "Accessory containers always run detached.",
}).superRefine((options, ctx) => {
  const restart = isRecord(options) ? options.restart : undefined;
  if (restart !== undefined && (typeof restart !== "string" || !RESTART.test(restart))) {
    problem(ctx, ["restart"], mustBe("one of `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`", restart, 'Use "no" to turn restarts off.'));
  }
}, evenWithFieldErrors);

const labelsSchema = dict(text(), "an object of label → value").superRefine((labels, ctx) => {
  if (isRecord(labels) && "service" in labels) problem(ctx, ["service"], `is reserved: Berth sets the \`service\` label to the accessory's service name; got ${show(labels.service)}. Use another label name.`);
}, evenWithFieldErrors);

const hostList = list(host(), "a list of hosts");
const nameList = (what: string) => list(nonEmpty(`a ${what} name`), `a list of ${what} names`);

const appRefSchema = z.custom<AccessoryAppRef>((v) => isRecord(v) && typeof v.service === "string" && isRecord(v.roles), {
  message: "must be the app (`service`, `destination`, `roles`) the accessory belongs to.",
});

const accessorySchema = strict({
  name: matching(NAME, NAME_EXPECT, "It is part of the accessory's service name and env file."),
  service: matching(NAME, NAME_EXPECT, "It is the first part of the accessory's service name.").optional(),
  serviceName: matching(SERVICE_NAME, "a container name of letters, digits, `_`, `.` and `-`").optional(),
  destination: matching(/^(?:[A-Za-z0-9][A-Za-z0-9_.-]*)?$/, 'a destination name of letters, digits, `_`, `.` and `-`, or "" for none').optional(),
  app: appRefSchema.optional(),
  image: text(IMAGE_EXPECT).superRefine((v, ctx) => {
    if (!parseImage(v)) problem(ctx, [], mustBe(IMAGE_EXPECT, v, "Repository names are lowercase; a digest is `sha256:` and 64 hex digits."));
  }),
  host: host().optional(),
  hosts: hostList.optional(),
  role: nonEmpty("a role name").optional(),
  roles: nameList("role").optional(),
  tag: nonEmpty("a tag name").optional(),
  tags: nameList("tag").optional(),
  port: portSchema.optional(),
  cmd: cmdSchema.optional(),
  env: envSchema.optional(),
  labels: labelsSchema.optional(),
  options: optionsSchema.optional(),
  network: nonEmpty("a docker network name").optional(),
  volumes: list(nonEmpty("a volume like `/data:/var/lib/data` or `data:/var/lib/data`"), "a list of volumes").optional(),
  files: list(fileEntry, "a list of files").optional(),
  directories: list(directoryEntry, "a list of directories").optional(),
  registry: strict({
    server: matching(REGISTRY_HOST, "a registry host like `ghcr.io` or `registry.example.com:5000`", "Use `docker.io` for Docker Hub."),
    username: nonEmpty("a user name").optional(),
    password: secret(REGISTRY_PASSWORD_EXPECT, undefined, (p) => p !== "").optional(),
  })
    .superRefine((r, ctx) => registryLoginCheck(r, ctx, "a user name"), evenWithFieldErrors)
    .optional(),
  proxy: proxySchema.optional(),
  healthcheck: healthcheckSchema.optional(),
  logging: strict({
    driver: nonEmpty("a docker log driver like `json-file` or `journald`").optional(),
    options: dict(text(), "an object of log option → value").optional(),
  }).optional(),
  stopTimeoutSeconds: integer(0).optional(),
  deleteDataOnDestroy: flag().optional(),
  ssh: sshSchema.optional(),
});

type Parsed = z.output<typeof accessorySchema>;

type Report = (path: PropertyKey[], message: string) => void;

/** The hosts a placement names, in the app's order; `report` gets a problem for each name the app does not have. */
function resolveHosts(v: Partial<Parsed>, report: Report): string[] {
  const given = PLACEMENT.filter((k) => v[k] !== undefined);
  if (given.length === 0) {
    report(["host"], "Either `host`, `hosts`, `role`, `roles`, `tag` or `tags` must be provided (Kamal's accessory placement).");
    return [];
  }
  if (given.length > 1) {
    report([given[1]], `Only one of \`host\`, \`hosts\`, \`role\`, \`roles\`, \`tag\` or \`tags\` can be provided; got ${given.map((k) => `\`${k}\``).join(" and ")}.`);
    return [];
  }
  const key = given[0];
  if (key === "host") return typeof v.host === "string" ? [v.host] : [];
  if (key === "hosts") {
    const hosts = Array.isArray(v.hosts) ? v.hosts : [];
    if (hosts.length === 0) report(["hosts"], "must list at least one host; got []. Add a host.");
    const seen = new Set<string>();
    hosts.forEach((h, i) => {
      if (seen.has(h)) report(["hosts", i], `must not repeat an earlier host; got ${show(h)} again.`);
      seen.add(h);
    });
    return [...seen];
  }
  const app = v.app;
  if (!app || !isRecord(app.roles)) {
    report([key], `needs \`app\`: roles and tags are the app's. Pass the AppService's args as \`app\`, or place the accessory with \`host\` or \`hosts\`.`);
    return [];
  }
  const roleNames = Object.keys(app.roles);
  const names: string[] = key === "role" || key === "tag" ? [v[key] as string] : ((v[key] as string[] | undefined) ?? []);
  if (names.length === 0) report([key], `must list at least one ${key === "roles" ? "role" : "tag"}; got [].`);
  const at = (i: number): PropertyKey[] => (key === "role" || key === "tag" ? [key] : [key, i]);
  const out: string[] = [];
  const add = (h: string) => {
    if (!out.includes(h)) out.push(h);
  };
  if (key === "role" || key === "roles") {
    names.forEach((r, i) => {
      const role = app.roles[r];
      if (role === undefined) report(at(i), `must name a role of the app (${roleNames.map((n) => `\`${n}\``).join(", ")}); got ${show(r)}.`);
      else role.forEach((h) => add(h.host));
    });
  } else {
    const allTags = [...new Set(Object.values(app.roles).flatMap((hosts) => hosts.flatMap((h) => h.tags)))];
    names.forEach((t, i) => {
      if (!allTags.includes(t)) {
        const known = allTags.length > 0 ? `one of ${allTags.map((n) => `\`${n}\``).join(", ")}` : "a tag, but no host of the app has tags";
        report(at(i), `must name a tag of the app's hosts (${known}); got ${show(t)}. Tag hosts with \`{ host, tags: [...] }\` in the app's \`hosts\` or \`roles\`.`);
      }
    });
    for (const hosts of Object.values(app.roles)) for (const h of hosts) if (h.tags.some((t) => names.includes(t))) add(h.host);
  }
  return out;
}

function crossCheck(v: Partial<Parsed>, ctx: z.core.$RefinementCtx<unknown>): void {
  if (v.service === undefined && v.app === undefined && v.serviceName === undefined) {
    problem(ctx, ["service"], "Either `service` or `app` must be provided: the accessory's service name is `<service>-<name>`.");
  }
  resolveHosts(v, (path, message) => problem(ctx, path, message));
  if (v.proxy !== undefined && isRecord(v.proxy)) {
    const p = v.proxy as ProxyArgs;
    if (typeof p.ssl === "object") problem(ctx, ["proxy", "ssl"], "must be true or false for an accessory; got your own certificate, which accessories do not support yet. Use `ssl: true` (Let's Encrypt) or route through an AppService role.");
    else for (const { key, message } of mergedProxyProblems(resolveProxy(undefined, p))) problem(ctx, ["proxy", ...key.split(".")], message);
  }
}

/** Kamal's per-accessory registry: its server goes in front of the image. */
function withRegistry(image: string, server: string | undefined): string {
  if (server === undefined || image.startsWith(`${server}/`)) return image;
  return `${server}/${image}`;
}

/** A named volume's name (`pgdata:/var/lib/…` → `pgdata`), or undefined for a bind mount. */
export function namedVolume(volume: string): string | undefined {
  const source = volume.split(":")[0];
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source) && volume.includes(":") ? source : undefined;
}

function build(v: Parsed): AccessoryConfig {
  const app = v.app;
  const rootService = v.service ?? app?.service ?? "";
  const service = v.serviceName ?? `${rootService}-${v.name}`;
  const destination = v.destination ?? app?.destination ?? "";
  const dirOf = (local: string) => (local.startsWith("/") ? local : `${service}/${local.replace(/^\.\//, "")}`);
  const files: AccessoryFile[] = (v.files ?? []).map((f) => ({
    hostPath: `${service}${f.remote}`,
    remote: f.remote,
    mode: f.mode ?? accessoryDefaults.fileMode,
    ...(f.owner !== undefined ? { owner: f.owner } : {}),
    ...(f.options !== undefined ? { options: f.options } : {}),
    source: f.content !== undefined ? { content: f.content } : { local: f.local! },
  }));
  const directories: AccessoryDirectory[] = (v.directories ?? []).map((d) => ({
    hostPath: dirOf(d.local),
    remote: d.remote,
    ...(d.mode !== undefined ? { mode: d.mode } : {}),
    ...(d.owner !== undefined ? { owner: d.owner } : {}),
    ...(d.options !== undefined ? { options: d.options } : {}),
  }));
  const data: string[] = [];
  if (files.length > 0 || directories.some((d) => !d.hostPath.startsWith("/"))) data.push(`~/${service}`);
  for (const d of directories) if (d.hostPath.startsWith("/")) data.push(d.hostPath);
  for (const vol of v.volumes ?? []) {
    const name = namedVolume(vol);
    if (name !== undefined && !data.includes(`volume:${name}`)) data.push(`volume:${name}`);
  }
  const { restart, ...options } = v.options ?? {};
  const registry = v.registry ?? app?.registry;
  const hc = v.healthcheck;
  const logging = v.logging?.driver === undefined && Object.keys(v.logging?.options ?? {}).length === 0
    ? { options: { ...accessoryDefaults.logOptions } }
    : { ...(v.logging?.driver !== undefined ? { driver: v.logging.driver } : {}), options: { ...(v.logging?.options ?? {}) } };
  return {
    name: v.name,
    service,
    app: destination === "" ? rootService || service : `${rootService || service}-${destination}`,
    hosts: resolveHosts(v, () => undefined),
    image: withRegistry(v.image, v.registry?.server),
    ...(v.port !== undefined ? { port: v.port } : {}),
    cmd: v.cmd ?? [],
    env: { clear: { ...(v.env?.clear ?? {}) }, secret: { ...(v.env?.secret ?? {}) } },
    labels: { ...(v.labels ?? {}) },
    restartPolicy: typeof restart === "string" ? restart : accessoryDefaults.restartPolicy,
    options,
    logging,
    network: v.network ?? accessoryDefaults.network,
    volumes: [...(v.volumes ?? [])],
    files,
    directories,
    ...(registry !== undefined ? { registry: { ...registry } } : {}),
    ...(v.proxy !== undefined ? { proxy: resolveProxy(undefined, v.proxy as ProxyArgs) } : {}),
    ...(hc !== undefined
      ? {
          healthcheck: {
            ...(hc.cmd !== undefined ? { cmd: hc.cmd } : {}),
            ...(hc.port !== undefined ? { port: hc.port } : {}),
            intervalSeconds: hc.intervalSeconds ?? accessoryDefaults.healthcheck.intervalSeconds,
            timeoutSeconds: hc.timeoutSeconds ?? accessoryDefaults.healthcheck.timeoutSeconds,
          },
        }
      : {}),
    ...(v.stopTimeoutSeconds !== undefined ? { stopTimeoutSeconds: v.stopTimeoutSeconds } : {}),
    deleteDataOnDestroy: v.deleteDataOnDestroy ?? accessoryDefaults.deleteDataOnDestroy,
    data,
    ssh: v.ssh ?? parse("Accessory", sshSchema, app?.ssh ?? {}, "app.ssh"),
  };
}

/** The schema of `PlainAccessoryArgs`; its output is the normalized `AccessoryConfig`. */
export const accessorySchemaNormalized = accessorySchema
  .superRefine((raw, ctx) => crossCheck(raw as Partial<Parsed>, ctx), evenWithFieldErrors)
  .transform(build);

/**
 * Validates an accessory's settings, resolves its hosts and applies every default. Throws one
 * `BerthConfigError` listing every problem with its path.
 */
export function normalizeAccessory(input: PlainAccessoryArgs, component = "Accessory"): AccessoryConfig {
  return parse(component, accessorySchemaNormalized, input);
}

// ---------------------------------------------------------------------------------------------
// From a config to one host's AccessoryHost inputs

/** The non-secret inputs of the accessory's `AccessoryHost` on `host`. */
export function accessoryHostSpec(c: AccessoryConfig, host: string, proxyContainer: string = proxyRunDefaults.containerName): AccessoryHostSpec {
  const spec: AccessoryHostSpec = {
    host,
    service: c.service,
    app: c.app,
    name: c.name,
    image: c.image,
    cmd: c.cmd,
    env: c.env.clear,
    labels: c.labels,
    restartPolicy: c.restartPolicy,
    options: c.options,
    logging: c.logging,
    network: c.network,
    volumes: c.volumes,
    files: c.files.map(({ source: _s, ...f }) => f),
    directories: c.directories,
    proxyContainer,
    dataDeletedOnDestroy: c.deleteDataOnDestroy ? [...c.data] : [],
    secretEnvNames: Object.keys(c.env.secret).sort(),
  };
  if (c.port !== undefined) spec.port = c.port;
  if (c.registry?.username !== undefined) spec.registry = { server: c.registry.server, username: c.registry.username };
  const localPort = imageLocalRegistryPort(c.image);
  if (localPort !== undefined) spec.localRegistryPort = localPort;
  if (c.proxy) {
    const { certificate: _c, ...rest } = c.proxy;
    spec.proxy = rest;
  }
  if (c.healthcheck) spec.healthcheck = c.healthcheck;
  if (c.stopTimeoutSeconds !== undefined) spec.stopTimeoutSeconds = c.stopTimeoutSeconds;
  return spec;
}

/** The secret inputs of the accessory's `AccessoryHost`: `contents[i]` is the content of `files[i]`. */
export function accessoryHostSecrets(c: AccessoryConfig, contents: string[]): AccessoryHostSecrets {
  const s: AccessoryHostSecrets = { env: { ...c.env.secret }, files: [...contents] };
  if (c.registry?.password !== undefined) s.registryPassword = c.registry.password;
  return s;
}
