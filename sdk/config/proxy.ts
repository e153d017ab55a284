/**
 * kamal-proxy settings, in two parts:
 * - `ProxyRunArgs` → `ProxyRunConfig`: how the host's kamal-proxy container is run (Kamal's `proxy.run`);
 * - `ProxyArgs` → `RoleProxyConfig`: how one service is routed through it (Kamal's `proxy:` deploy
 *   options, at the root and per role; the role's settings are deep-merged over the root's).
 * Also the docker `options` schema shared by the proxy and app containers.
 */
import { isIP } from "node:net";
import { z } from "zod";
import {
  either,
  evenWithFieldErrors,
  evenWithItemErrors,
  flag,
  integer,
  isRecord,
  keyProblem,
  list,
  matching,
  mustBe,
  parse,
  port,
  problem,
  problemsOf,
  BerthConfigError,
  type Problem,
  says,
  secret,
  show,
  strict,
  text,
  textProblem,
  whenClean,
} from "./errors";
import { localRegistryPort } from "./registry";
import { host, sshSchema, type SshArgs, type SshConfig } from "./ssh";

// ---------------------------------------------------------------------------------------------
// docker run options

/**
 * Extra `docker run` options: `{ cpus: "2" }` → `--cpus 2`; `true` → a bare flag (`--init`);
 * a list repeats the option (`{ "add-host": ["a:1.2.3.4", "b:1.2.3.5"] }`). Names are written
 * without the leading dashes (`[a-z][a-z0-9-]*`). Flags such as `init`, `privileged`,
 * `read-only`, `rm`, `tty` and `interactive` take only `true`; a value never starts with `-`
 * unless it is a negative number (`memory-swap: "-1"`, passed as `--memory-swap=-1`).
 * Equivalent to Kamal's `options`.
 */
export type DockerOptions = Record<string, string | true | string[]>;

const OPTION_NAME = /^[a-z][a-z0-9-]*$/;
const OPTION_VALUE_EXPECT = "a string, true, or a list of strings";

/**
 * `docker run` options that are flags (they take no value): only `true` is allowed, since a
 * string after a flag would be read as the next option or as the image (`init: "--privileged"`
 * would render `--init --privileged`).
 */
export const DOCKER_FLAG_OPTIONS = [
  "detach",
  "disable-content-trust",
  "help",
  "init",
  "interactive",
  "no-healthcheck",
  "oom-kill-disable",
  "privileged",
  "publish-all",
  "quiet",
  "read-only",
  "rm",
  "sig-proxy",
  "tty",
  "use-api-socket",
];

/** A docker option value that does not look like an option itself (a negative number is fine: `memory-swap: "-1"`). */
const LOOKS_LIKE_OPTION = /^-(?![0-9.])/;

function optionValue(flagOption: boolean) {
  const one = text("a string").superRefine((v, ctx) => {
    if (LOOKS_LIKE_OPTION.test(v)) {
      problem(ctx, [], mustBe("a value that does not start with `-`", v, "It would be read as another docker option: give each option its own key, e.g. `{ init: true, privileged: true }`."));
    }
  }, whenClean);
  return either<string | true | string[]>(
    OPTION_VALUE_EXPECT,
    (v) =>
      flagOption && v !== true
        ? z.unknown().transform((x, ctx): true => {
            problem(ctx, [], mustBe("true (this docker option is a flag)", x, "Set it to true to pass the flag, or omit it; a flag takes no value."));
            return z.NEVER;
          })
        : v === true
          ? z.literal(true)
          : typeof v === "number" && Number.isFinite(v)
            ? z.unknown().transform((x, ctx): string => {
                problem(ctx, [], mustBe(OPTION_VALUE_EXPECT, x, `Write it as a string: "${String(x)}".`));
                return z.NEVER;
              })
          : typeof v === "string"
            ? one
            : Array.isArray(v)
              ? list(one, "a list of strings")
              : undefined,
    "Omit an option instead of setting it to false.",
  );
}

/**
 * The schema of `DockerOptions`. `reserved` maps option names Berth sets itself to the way to
 * change them instead. Names are `[a-z][a-z0-9-]*`; flags (`DOCKER_FLAG_OPTIONS`) take only
 * `true`; no value starts with `-` unless it is a negative number; a `label` option may not set
 * Berth's own labels.
 */
export function dockerOptionsSchema(reserved: Record<string, string>, reservedLabels: readonly string[] = []) {
  const values = Object.fromEntries(DOCKER_FLAG_OPTIONS.map((f) => [f, optionValue(true)]));
  const value = optionValue(false);
  const nameProblem = (name: string): string | undefined => {
    if (OPTION_NAME.test(name)) return undefined;
    const bare = name.replace(/^-+/, "");
    const fix = bare !== name && OPTION_NAME.test(bare) ? ` Write it as \`${bare}\`.` : " Write the long option name in lowercase, e.g. `cpus` or `add-host`.";
    return `must be named like a docker run option without dashes (e.g. \`cpus\`); got ${show(name)}.${fix}`;
  };
  const schema = z.record(z.string(), z.unknown(), { error: says("an object of docker run options") }).superRefine(
    (options, ctx) => {
      // Values first, then names, as a user reads a problem list top-down.
      for (const [name, v] of Object.entries(options)) {
        const r = (values[name] ?? value).safeParse(v);
        if (!r.success) for (const issue of r.error.issues) problem(ctx, [name, ...(issue.path as PropertyKey[])], issue.message);
      }
      for (const [name, v] of Object.entries(options)) {
        const m = keyProblem(name, nameProblem);
        if (m) problem(ctx, [name], m);
        else if (name in reserved) problem(ctx, [name], `is set by Berth; got ${show(v)}. ${reserved[name]}`);
        else if (name === "label") {
          for (const label of Array.isArray(v) ? v : [v]) {
            const key = typeof label === "string" ? label.split("=")[0] : "";
            if (reservedLabels.includes(key)) {
              problem(ctx, [name], `must not set Berth's own \`${key}\` label; got ${show(label)}. Berth sets ${reservedLabels.map((l) => `\`${l}\``).join(", ")} itself: use another label name.`);
            }
          }
        }
      }
    },
    { when: (payload: { value: unknown }) => isRecord(payload.value) },
  );
  return schema as unknown as z.ZodType<DockerOptions, unknown>;
}

// ---------------------------------------------------------------------------------------------
// The kamal-proxy container (Kamal's `proxy.run`)

/** Every default of the kamal-proxy container, in one place. */
export const proxyRunDefaults = {
  repository: "basecamp/kamal-proxy",
  version: "v0.9.2",
  /** Older kamal-proxy releases are refused (Kamal 2.6 requires v0.9.0). */
  minimumVersion: "v0.9.0",
  httpPort: 80,
  httpsPort: 443,
  publish: true,
  logMaxSize: "10m",
  debug: false,
  network: "kamal",
  containerName: "kamal-proxy",
  configVolume: "kamal-proxy-config",
} as const;

/** Which kamal-proxy image to run. */
export interface ProxyImageArgs {
  /**
   * Registry host, e.g. `registry.example.com:5000`. Equivalent to Kamal's `proxy.run.registry`.
   * @default - none: Docker Hub
   */
  registry?: string;
  /**
   * Repository. Equivalent to Kamal's `proxy.run.repository`.
   * @default "basecamp/kamal-proxy"
   */
  repository?: string;
  /**
   * Release tag, at least v0.9.0. Equivalent to Kamal's `proxy.run.version`.
   * @default "v0.9.2"
   */
  version?: string;
}

/** How the host's kamal-proxy container is run. Equivalent to Kamal's `proxy.run`. */
export interface ProxyRunArgs {
  /**
   * The kamal-proxy image.
   * @default { repository: "basecamp/kamal-proxy", version: "v0.9.2" }
   */
  image?: ProxyImageArgs;
  /**
   * Host port published to kamal-proxy's HTTP port 80. Equivalent to Kamal's `proxy.run.http_port`.
   * @default 80
   */
  httpPort?: number;
  /**
   * Host port published to kamal-proxy's HTTPS port 443. Equivalent to Kamal's `proxy.run.https_port`.
   * @default 443
   */
  httpsPort?: number;
  /**
   * Host IPs to publish on, one pair of `--publish` flags each. Equivalent to Kamal's `proxy.run.bind_ips`.
   * @default - all interfaces
   */
  bindIps?: string[];
  /**
   * Publish the ports at all; with false, `httpPort`, `httpsPort` and `bindIps` cannot be set.
   * Equivalent to Kamal's `proxy.run.publish`.
   * @default true
   */
  publish?: boolean;
  /**
   * Size at which the container's json-file log rotates (`--log-opt max-size=`).
   * Equivalent to Kamal's `proxy.run.log_max_size`.
   * @default "10m"
   */
  logMaxSize?: string;
  /**
   * Serve Prometheus metrics on this port inside the container (`--expose` plus kamal-proxy's
   * `--metrics-port`). Equivalent to Kamal's `proxy.run.metrics_port`.
   * @default - no metrics
   */
  metricsPort?: number;
  /**
   * Debug-level logs. Equivalent to kamal-proxy's `run --debug`.
   * @default false
   */
  debug?: boolean;
  /**
   * Extra `docker run` options. Equivalent to Kamal's `proxy.run.options`.
   * @default {}
   */
  options?: DockerOptions;
  /**
   * Docker network shared by kamal-proxy and the app containers.
   * @default "kamal"
   */
  network?: string;
  /**
   * Name of the kamal-proxy container.
   * @default "kamal-proxy"
   */
  containerName?: string;
  /**
   * Named volume holding kamal-proxy's state and certificates.
   * @default "kamal-proxy-config"
   */
  configVolume?: string;
}

/** Normalized kamal-proxy container settings. */
export interface ProxyRunConfig {
  image: { registry?: string; repository: string; version: string };
  /** `[registry/]repository:version`. */
  imageRef: string;
  httpPort: number;
  httpsPort: number;
  /** Empty: all interfaces. IPv6 addresses are stored without brackets. */
  bindIps: string[];
  publish: boolean;
  logMaxSize: string;
  metricsPort?: number;
  debug: boolean;
  options: DockerOptions;
  network: string;
  containerName: string;
  configVolume: string;
}

/**
 * A docker object name, at most 255 characters: a volume is a directory
 * `/var/lib/docker/volumes/<name>` on the host, and a file name is at most 255 bytes.
 */
const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const dockerName = () => matching(DOCKER_NAME, "a docker name (letters, digits, `_`, `.`, `-`; at most 255)", 'For example "kamal".');

/** A registry host, `host[:port]`, as in an image reference. */
export const REGISTRY_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$/;
/** A repository path (lowercase components separated by `/`), as in an image reference. */
export const REPOSITORY_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const RELEASE = /^v(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.-]+)?$/;

function release(version: string): [number, number, number] | undefined {
  const m = RELEASE.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function olderThan(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

const VERSION_EXPECT = "a kamal-proxy release tag like `v0.9.2`";
const proxyVersion = text(VERSION_EXPECT, `Use ${proxyRunDefaults.version}, the default.`).superRefine((v, ctx) => {
  const r = release(v);
  if (!r) {
    problem(
      ctx,
      [],
      mustBe(VERSION_EXPECT, v, "Berth checks the version is at least v0.9.0; tag a custom build with the release it is based on."),
    );
  } else if (olderThan(r, release(proxyRunDefaults.minimumVersion)!)) {
    problem(
      ctx,
      [],
      mustBe(`${proxyRunDefaults.minimumVersion} or newer`, v, `Use ${proxyRunDefaults.version}, the default.`),
    );
  }
}, whenClean);

const LOG_SIZE = /^[1-9][0-9]*[kmg]$/;
const BIND_IP_EXPECT = "an IPv4 or IPv6 address";

function unbracket(ip: string): string {
  return /^\[.*\]$/.test(ip) ? ip.slice(1, -1) : ip;
}

/** The schema of `ProxyRunArgs`; its output is the normalized `ProxyRunConfig`. */
export const proxyRunSchema = strict({
  image: strict({
    registry: matching(REGISTRY_HOST, "a registry host like `registry.example.com:5000`")
      .superRefine((v, ctx) => {
        if (localRegistryPort(v) !== undefined) {
          problem(ctx, [], mustBe("a registry the hosts can reach", v, "kamal-proxy's image is not pulled through the local registry's SSH tunnel (only app and accessory images are): push it to a registry the hosts reach, or leave `registry` out for Docker Hub."));
        }
      }, whenClean)
      .optional(),
    repository: matching(REPOSITORY_PATH, "a repository like `basecamp/kamal-proxy`").optional(),
    version: proxyVersion.optional(),
  }).optional(),
  httpPort: port().optional(),
  httpsPort: port().optional(),
  bindIps: list(
    text(BIND_IP_EXPECT).superRefine((v, ctx) => {
      if (isIP(unbracket(v)) === 0) problem(ctx, [], mustBe(BIND_IP_EXPECT, v));
    }, whenClean),
    "a list of IP addresses",
  ).optional(),
  publish: flag().optional(),
  logMaxSize: matching(LOG_SIZE, "a size like `10m`, `1g` or `500k`", "Docker's `max-size` log option takes a number followed by k, m or g.").optional(),
  metricsPort: port().optional(),
  debug: flag().optional(),
  options: dockerOptionsSchema({
    name: "Set `containerName` instead.",
    network: "Set `network` instead.",
    detach: "kamal-proxy always runs detached.",
  }).optional(),
  network: dockerName().optional(),
  containerName: dockerName().optional(),
  configVolume: dockerName().optional(),
})
  .superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      if (v.publish === false) {
        for (const key of ["httpPort", "httpsPort", "bindIps"]) {
          if (v[key] !== undefined) {
            problem(ctx, [key], `cannot be set when \`publish\` is false; got ${show(v[key])}. Remove it, or set \`publish\` to true.`);
          }
        }
      }
      const http = v.httpPort ?? proxyRunDefaults.httpPort;
      const https = v.httpsPort ?? proxyRunDefaults.httpsPort;
      if (v.publish !== false && http === https) {
        problem(ctx, ["httpsPort"], `must differ from \`httpPort\`; got ${show(https)} for both. Publish HTTP and HTTPS on different host ports.`);
      }
      if (v.metricsPort === 80 || v.metricsPort === 443) {
        problem(ctx, ["metricsPort"], `must not be 80 or 443; got ${v.metricsPort}. kamal-proxy already listens on 80 and 443 inside its container; pick another port, e.g. 9090.`);
      }
    },
    evenWithFieldErrors,
  )
  .transform((v): ProxyRunConfig => {
    const image = {
      ...(v.image?.registry !== undefined ? { registry: v.image.registry } : {}),
      repository: v.image?.repository ?? proxyRunDefaults.repository,
      version: v.image?.version ?? proxyRunDefaults.version,
    };
    return {
      image,
      imageRef: `${image.registry !== undefined ? `${image.registry}/` : ""}${image.repository}:${image.version}`,
      httpPort: v.httpPort ?? proxyRunDefaults.httpPort,
      httpsPort: v.httpsPort ?? proxyRunDefaults.httpsPort,
      bindIps: (v.bindIps ?? []).map(unbracket),
      publish: v.publish ?? proxyRunDefaults.publish,
      logMaxSize: v.logMaxSize ?? proxyRunDefaults.logMaxSize,
      ...(v.metricsPort !== undefined ? { metricsPort: v.metricsPort } : {}),
      debug: v.debug ?? proxyRunDefaults.debug,
      options: v.options ?? {},
      network: v.network ?? proxyRunDefaults.network,
      containerName: v.containerName ?? proxyRunDefaults.containerName,
      configVolume: v.configVolume ?? proxyRunDefaults.configVolume,
    };
  });

/** Validates the kamal-proxy container settings and applies the defaults. Throws one `BerthConfigError`. */
export function normalizeProxyRun(input: ProxyRunArgs | undefined, component = "Proxy", prefix = ""): ProxyRunConfig {
  return parse(component, proxyRunSchema, input ?? {}, prefix);
}

/** What the `Proxy` component takes: the hosts, how to reach them, and the container settings. */
export interface ProxyHostsArgs extends ProxyRunArgs {
  hosts: string[];
  ssh?: SshArgs;
}

/** The hosts kamal-proxy runs on: at least one, each once. */
export const proxyHostsSchema = list(host('Write a bare host name or address, e.g. "10.0.0.1": no user, port or spaces.'), "a list of hosts").superRefine(
  (hosts, ctx) => {
    if (hosts.length === 0) problem(ctx, [], 'must list at least one host; got []. Add a host, e.g. ["10.0.0.1"].');
    hosts.forEach((h, i) => {
      if (typeof h === "string" && hosts.indexOf(h) !== i) problem(ctx, [i], `must not repeat an earlier host; got ${show(h)} again. List each host once.`);
    });
  },
  { when: (payload: { value: unknown }) => Array.isArray(payload.value) },
);

/**
 * Validates everything the `Proxy` component takes (`hosts`, `ssh` and the container settings)
 * and applies the defaults. Throws one `BerthConfigError` listing every problem.
 */
export function normalizeProxyHosts(input: ProxyHostsArgs, component = "Proxy"): { hosts: string[]; ssh: SshConfig; run: ProxyRunConfig } {
  if (!isRecord(input)) {
    throw new BerthConfigError(component, [{ path: "(root)", message: mustBe("an object of Proxy settings", input, 'Pass `{ hosts: ["10.0.0.1"], … }`.') }]);
  }
  const { hosts, ssh, ...run } = input;
  const problems: Problem[] = [];
  const h = proxyHostsSchema.safeParse(hosts);
  if (!h.success) problems.push(...problemsOf(h.error, "hosts"));
  const s = sshSchema.optional().safeParse(ssh);
  if (!s.success) problems.push(...problemsOf(s.error, "ssh"));
  const r = proxyRunSchema.safeParse(run);
  if (!r.success) problems.push(...problemsOf(r.error));
  if (problems.length > 0 || !h.success || !s.success || !r.success) throw new BerthConfigError(component, problems);
  return { hosts: h.data, ssh: s.data ?? sshSchema.parse({}), run: r.data };
}

// ---------------------------------------------------------------------------------------------
// Routing one service through kamal-proxy (Kamal's `proxy:` deploy options)

/** Every default of a proxied service's routing, in one place. */
export const proxyDefaults = {
  appPort: 80,
  healthcheck: { path: "/up", intervalSeconds: 1, timeoutSeconds: 5 },
  responseTimeoutSeconds: 30,
  buffering: { requests: true, responses: true },
  logging: { requestHeaders: ["Cache-Control", "Last-Modified", "User-Agent"], responseHeaders: [] as string[] },
} as const;

/** The health check kamal-proxy runs against a new container before switching traffic to it. */
export interface HealthcheckArgs {
  /**
   * Path requested; any 2xx is healthy. Equivalent to kamal-proxy's `--health-check-path`.
   * @default "/up"
   */
  path?: string;
  /**
   * Time between checks. Equivalent to kamal-proxy's `--health-check-interval`.
   * @default 1
   */
  intervalSeconds?: number;
  /**
   * Time one check may take. Equivalent to kamal-proxy's `--health-check-timeout`.
   * @default 5
   */
  timeoutSeconds?: number;
}

/** Request and response buffering in kamal-proxy. Equivalent to Kamal's `proxy.buffering`. */
export interface BufferingArgs {
  /**
   * Buffer request bodies. Equivalent to kamal-proxy's `--buffer-requests`.
   * @default true
   */
  requests?: boolean;
  /**
   * Buffer response bodies. Equivalent to kamal-proxy's `--buffer-responses`.
   * @default true
   */
  responses?: boolean;
  /**
   * Bytes held in memory before spilling to disk. Equivalent to kamal-proxy's `--buffer-memory`.
   * @default - kamal-proxy's default, 1048576
   */
  memoryBytes?: number;
  /**
   * Largest request body accepted (413 above); needs `requests`. Equivalent to kamal-proxy's `--max-request-body`.
   * @default - unlimited
   */
  maxRequestBodyBytes?: number;
  /**
   * Largest response body passed on (500 above); needs `responses`. Equivalent to kamal-proxy's `--max-response-body`.
   * @default - unlimited
   */
  maxResponseBodyBytes?: number;
}

/** A certificate and key you supply instead of Let's Encrypt. */
export interface CustomCertificateArgs {
  /** Certificate chain, PEM (secret). Equivalent to Kamal's `proxy.ssl.certificate_pem`. */
  certificatePem: string;
  /** Private key, PEM (secret). Equivalent to Kamal's `proxy.ssl.private_key_pem`. */
  privateKeyPem: string;
}

/** Extra headers in kamal-proxy's request log. Equivalent to Kamal's `proxy.logging`. */
export interface ProxyLoggingArgs {
  /**
   * Request headers to log. Equivalent to kamal-proxy's `--log-request-header`.
   * @default ["Cache-Control", "Last-Modified", "User-Agent"]
   */
  requestHeaders?: string[];
  /**
   * Response headers to log. Equivalent to kamal-proxy's `--log-response-header`.
   * @default []
   */
  responseHeaders?: string[];
}

/**
 * How a service is routed through kamal-proxy. At the root it applies to every proxied role; a
 * role's own settings are deep-merged over it. Equivalent to Kamal's `proxy:`.
 */
export interface ProxyArgs {
  /**
   * Host names routed to the service (`*.example.com` matches one label). Only one of `host` or
   * `hosts`. Equivalent to kamal-proxy's `--host`.
   * @default - none: the service receives all traffic no other service claims
   */
  hosts?: string[];
  /**
   * One host name, or several separated by commas. Only one of `host` or `hosts`. Equivalent to Kamal's `proxy.host`.
   * @default - none
   */
  host?: string;
  /**
   * Port the app listens on inside its container. Equivalent to Kamal's `proxy.app_port`.
   * @default 80
   */
  appPort?: number;
  /**
   * Health check run before traffic is switched. Equivalent to Kamal's `proxy.healthcheck`.
   * @default { path: "/up", intervalSeconds: 1, timeoutSeconds: 5 }
   */
  healthcheck?: HealthcheckArgs;
  /**
   * Time the app has to send response headers (504 after). Equivalent to kamal-proxy's `--target-timeout`.
   * @default 30
   */
  responseTimeoutSeconds?: number;
  /**
   * Request and response buffering.
   * @default { requests: true, responses: true }
   */
  buffering?: BufferingArgs;
  /**
   * Trust and pass on incoming `X-Forwarded-*` headers. Equivalent to kamal-proxy's `--forward-headers`.
   * @default - kamal-proxy's default: true without `ssl`, false with it
   */
  forwardHeaders?: boolean;
  /**
   * Route only these path prefixes. Equivalent to kamal-proxy's `--path-prefix`.
   * @default - all paths
   */
  pathPrefixes?: string[];
  /**
   * Strip the matched prefix before forwarding. Equivalent to kamal-proxy's `--strip-path-prefix`.
   * @default - kamal-proxy's default, true
   */
  stripPathPrefix?: boolean;
  /**
   * TLS: `true` for Let's Encrypt (needs hosts, and one server per role), or your own certificate.
   * Equivalent to Kamal's `proxy.ssl` and kamal-proxy's `--tls`.
   * @default false
   */
  ssl?: boolean | CustomCertificateArgs;
  /**
   * Redirect HTTP to HTTPS when `ssl` is on. Equivalent to kamal-proxy's `--tls-redirect`.
   * @default - kamal-proxy's default, true
   */
  sslRedirect?: boolean;
  /**
   * Extra headers in the request log.
   * @default { requestHeaders: ["Cache-Control", "Last-Modified", "User-Agent"], responseHeaders: [] }
   */
  logging?: ProxyLoggingArgs;
}

/** The normalized routing of one role: root and role settings merged, every default applied. */
export interface RoleProxyConfig {
  hosts: string[];
  appPort: number;
  healthcheck: { path: string; intervalSeconds: number; timeoutSeconds: number };
  responseTimeoutSeconds: number;
  buffering: {
    requests: boolean;
    responses: boolean;
    memoryBytes?: number;
    maxRequestBodyBytes?: number;
    maxResponseBodyBytes?: number;
  };
  forwardHeaders?: boolean;
  pathPrefixes: string[];
  stripPathPrefix?: boolean;
  /** TLS on (Let's Encrypt unless `certificate` is set). */
  ssl: boolean;
  /** Your own certificate and key (secrets). */
  certificate?: CustomCertificateArgs;
  sslRedirect?: boolean;
  logging: { requestHeaders: string[]; responseHeaders: string[] };
}

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** A DNS name: labels of at most 63 characters, at most 253 in all. */
const PROXY_HOST = new RegExp(`^(?=.{1,253}$)(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
const PROXY_HOST_EXPECT = "a host name like `app.example.com` or `*.example.com`";
const proxyHost = () => matching(PROXY_HOST, PROXY_HOST_EXPECT, "Write the bare host name: no scheme, port or path.");

function uniqueList<T extends z.ZodType<string>>(item: T, expect: string) {
  return list(item, expect).superRefine(
    (items, ctx) => {
      if (!Array.isArray(items)) return;
      items.forEach((x, i) => {
        if (typeof x === "string" && items.indexOf(x) !== i) {
          problem(ctx, [i], `must not repeat an earlier entry; got ${show(x)} again. Remove the duplicate.`);
        }
      });
    },
    evenWithItemErrors,
  );
}

const PATH_EXPECT = "a path starting with `/`";
const urlPath = () => matching(/^\/\S*$/, PATH_EXPECT);
const HEADER = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const header = () => matching(HEADER, "an HTTP header name like `User-Agent`");

const PEM_CERT_EXPECT = "a PEM certificate starting with `-----BEGIN CERTIFICATE-----`";
const PEM_KEY_EXPECT = "a PEM private key starting with `-----BEGIN … PRIVATE KEY-----`";

const customCertificate = strict(
  {
    certificatePem: secret(PEM_CERT_EXPECT, undefined, (v) => v.includes("-----BEGIN CERTIFICATE-----"), { chars: "lines" }),
    privateKeyPem: secret(PEM_KEY_EXPECT, undefined, (v) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(v), { chars: "lines" }),
  },
  "an object `{ certificatePem, privateKeyPem }`",
  true,
);

const SSL_EXPECT = "true, false, or `{ certificatePem, privateKeyPem }`";
// A value of no known shape is not shown: it may be key text pasted in the wrong place.
const ssl = either<boolean | CustomCertificateArgs>(
  SSL_EXPECT,
  (v) => (typeof v === "boolean" ? z.boolean() : isRecord(v) ? customCertificate : undefined),
  undefined,
  true,
);

const bytes = () => integer(1);

/**
 * The schema of `ProxyArgs`. Its output keeps the user's settings (no defaults yet) with `host`
 * folded into `hosts`, so root and role settings can be merged before `resolveProxy`.
 */
export const proxySchema = strict({
  hosts: uniqueList(proxyHost(), "a list of host names").optional(),
  host: text(PROXY_HOST_EXPECT, "Write bare host names: no scheme, port or path.").optional(),
  appPort: port().optional(),
  healthcheck: strict({
    path: urlPath().optional(),
    intervalSeconds: integer(1).optional(),
    timeoutSeconds: integer(1).optional(),
  }).optional(),
  responseTimeoutSeconds: integer(1).optional(),
  buffering: strict({
    requests: flag().optional(),
    responses: flag().optional(),
    memoryBytes: bytes().optional(),
    maxRequestBodyBytes: bytes().optional(),
    maxResponseBodyBytes: bytes().optional(),
  }).optional(),
  forwardHeaders: flag().optional(),
  pathPrefixes: uniqueList(urlPath(), "a list of paths").optional(),
  stripPathPrefix: flag().optional(),
  ssl: ssl.optional(),
  sslRedirect: flag().optional(),
  logging: strict({
    requestHeaders: list(header(), "a list of header names").optional(),
    responseHeaders: list(header(), "a list of header names").optional(),
  }).optional(),
})
  .superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      if (v.host !== undefined && v.hosts !== undefined) {
        problem(ctx, ["host"], "Only one of `host` or `hosts` can be provided.");
      } else if (typeof v.host === "string" && textProblem(v.host) === undefined) {
        v.host.split(",").forEach((h) => {
          if (!PROXY_HOST.test(h.trim())) {
            problem(ctx, ["host"], mustBe(`${PROXY_HOST_EXPECT}, or several separated by commas`, v.host, "Write bare host names: no scheme, port or path."));
          }
        });
      }
    },
    evenWithFieldErrors,
  )
  .transform((v): ProxyArgs => {
    const { host, ...rest } = v;
    return host !== undefined ? { ...rest, hosts: host.split(",").map((h) => h.trim()) } : rest;
  });

function deepMerge<T extends object>(base: T, over: T): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isRecord(b) && isRecord(v) ? deepMerge(b, v) : v;
  }
  return out as T;
}

/**
 * Merges a role's proxy settings over the root's (objects merge key by key; lists and scalars
 * are replaced) and applies the defaults. Both inputs must have passed `proxySchema`.
 */
export function resolveProxy(root: ProxyArgs | undefined, role: ProxyArgs | undefined): RoleProxyConfig {
  const p = deepMerge(root ?? {}, role ?? {});
  const cert = typeof p.ssl === "object" ? p.ssl : undefined;
  const b = p.buffering ?? {};
  return {
    hosts: p.hosts ?? [],
    appPort: p.appPort ?? proxyDefaults.appPort,
    healthcheck: {
      path: p.healthcheck?.path ?? proxyDefaults.healthcheck.path,
      intervalSeconds: p.healthcheck?.intervalSeconds ?? proxyDefaults.healthcheck.intervalSeconds,
      timeoutSeconds: p.healthcheck?.timeoutSeconds ?? proxyDefaults.healthcheck.timeoutSeconds,
    },
    responseTimeoutSeconds: p.responseTimeoutSeconds ?? proxyDefaults.responseTimeoutSeconds,
    buffering: {
      requests: b.requests ?? proxyDefaults.buffering.requests,
      responses: b.responses ?? proxyDefaults.buffering.responses,
      ...(b.memoryBytes !== undefined ? { memoryBytes: b.memoryBytes } : {}),
      ...(b.maxRequestBodyBytes !== undefined ? { maxRequestBodyBytes: b.maxRequestBodyBytes } : {}),
      ...(b.maxResponseBodyBytes !== undefined ? { maxResponseBodyBytes: b.maxResponseBodyBytes } : {}),
    },
    ...(p.forwardHeaders !== undefined ? { forwardHeaders: p.forwardHeaders } : {}),
    pathPrefixes: p.pathPrefixes ?? [],
    ...(p.stripPathPrefix !== undefined ? { stripPathPrefix: p.stripPathPrefix } : {}),
    ssl: p.ssl !== undefined && p.ssl !== false,
    ...(cert ? { certificate: { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem } } : {}),
    ...(p.sslRedirect !== undefined ? { sslRedirect: p.sslRedirect } : {}),
    logging: {
      requestHeaders: p.logging?.requestHeaders ?? [...proxyDefaults.logging.requestHeaders],
      responseHeaders: p.logging?.responseHeaders ?? [...proxyDefaults.logging.responseHeaders],
    },
  };
}

/**
 * Problems that only show once root and role settings are merged. Each names the setting's key
 * path (e.g. `buffering.maxRequestBodyBytes`), so the caller can report it where it was written.
 */
export function mergedProxyProblems(p: RoleProxyConfig): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  if (p.ssl && p.hosts.length === 0) {
    out.push({ key: "ssl", message: "needs `hosts`: kamal-proxy can only serve TLS for named hosts. Set `hosts` (or `host`), or turn `ssl` off." });
  }
  if (p.ssl && !p.certificate) {
    const wild = p.hosts.find((h) => h.startsWith("*."));
    if (wild !== undefined) {
      out.push({ key: "hosts", message: `must not hold a wildcard with Let's Encrypt TLS; got ${show(wild)}. Let's Encrypt cannot issue wildcard certificates here: supply your own with \`ssl: { certificatePem, privateKeyPem }\`.` });
    }
  }
  if (p.buffering.maxRequestBodyBytes !== undefined && !p.buffering.requests) {
    out.push({ key: "buffering.maxRequestBodyBytes", message: `needs \`buffering.requests\`; got ${p.buffering.maxRequestBodyBytes} with request buffering off. Turn \`buffering.requests\` on, or remove the limit.` });
  }
  if (p.buffering.maxResponseBodyBytes !== undefined && !p.buffering.responses) {
    out.push({ key: "buffering.maxResponseBodyBytes", message: `needs \`buffering.responses\`; got ${p.buffering.maxResponseBodyBytes} with response buffering off. Turn \`buffering.responses\` on, or remove the limit.` });
  }
  return out;
}

/** Validates one service's routing (no root to merge with) and applies the defaults. */
export function normalizeProxy(input: ProxyArgs | undefined, component = "Proxy", prefix = ""): RoleProxyConfig {
  const schema = proxySchema.transform((v, ctx) => {
    const resolved = resolveProxy(undefined, v);
    for (const { key, message } of mergedProxyProblems(resolved)) problem(ctx, key.split("."), message);
    return resolved;
  });
  return parse(component, schema, input ?? {}, prefix);
}
