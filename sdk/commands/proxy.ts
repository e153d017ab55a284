/**
 * What runs on a host for kamal-proxy: the proxy container itself, and the `kamal-proxy` client
 * commands (deploy, remove, maintenance) run inside it with `docker exec`. Pure: no I/O.
 */
import { type ProxyRunConfig, type RoleProxyConfig, proxyRunDefaults } from "../config/proxy";
import { type Argv, line, orElse, quote, waitWhileScript } from "./shell";
import { docker, optionize } from "./docker";

/** Where kamal-proxy keeps its state and certificates, inside its container. */
export const PROXY_CONFIG_DIR = "/home/kamal-proxy/.config/kamal-proxy";
/** Where the apps-config directory (TLS files, error pages) is mounted, inside the proxy container. */
export const PROXY_APPS_CONFIG_DIR = "/home/kamal-proxy/.apps-config";
/** The apps-config directory on the host, relative to the SSH user's home (Kamal's `.kamal/proxy/apps-config`). */
export const HOST_APPS_CONFIG_DIR = ".kamal/proxy/apps-config";

/** A duration as kamal-proxy reads it: `30s`. */
function duration(seconds: number): string {
  return `${seconds}s`;
}

/** `--flag=value` in Kamal's `optionize(with: "=")` shape: true → bare `--flag`, false → `--flag=false`. */
function flagged(name: string, value: string | number | boolean | undefined): string[] {
  if (value === undefined) return [];
  if (value === true) return [`--${name}`];
  return [`--${name}=${String(value)}`];
}

function publishArgs(run: ProxyRunConfig): string[] {
  if (!run.publish) return [];
  const ips = run.bindIps.length > 0 ? run.bindIps : [undefined];
  return ips.flatMap((ip) => {
    const prefix = ip === undefined ? "" : `${ip.includes(":") ? `[${ip}]` : ip}:`;
    return ["--publish", `${prefix}${run.httpPort}:80`, "--publish", `${prefix}${run.httpsPort}:443`];
  });
}

/**
 * Kamal's `docker run` for the kamal-proxy container (`proxy.run` mode). `appsConfigDir` is the
 * host's apps-config directory as an absolute path (docker needs one for a bind mount).
 */
export function proxyRunArgv(run: ProxyRunConfig, appsConfigDir: string): Argv {
  if (!appsConfigDir.startsWith("/")) throw new Error(`proxyRunArgv: appsConfigDir must be an absolute path; got ${JSON.stringify(appsConfigDir)}`);
  return docker(
    "run",
    "--name",
    run.containerName,
    "--network",
    run.network,
    "--detach",
    "--restart",
    "unless-stopped",
    "--volume",
    `${run.configVolume}:${PROXY_CONFIG_DIR}`,
    "--volume",
    `${appsConfigDir}:${PROXY_APPS_CONFIG_DIR}`,
    ...publishArgs(run),
    "--log-opt",
    `max-size=${run.logMaxSize}`,
    ...(run.metricsPort !== undefined ? [`--expose=${run.metricsPort}`] : []),
    ...optionize(run.options),
    run.imageRef,
    "kamal-proxy",
    "run",
    ...(run.debug ? ["--debug"] : []),
    ...(run.metricsPort !== undefined ? ["--metrics-port", String(run.metricsPort)] : []),
  );
}

/** Starts the existing proxy container, or runs a new one (Kamal's `start_or_run`). */
export function proxyStartOrRunScript(run: ProxyRunConfig, appsConfigDir: string): string {
  return orElse(docker("container", "start", run.containerName), proxyRunArgv(run, appsConfigDir));
}

/** Paths of a role's own TLS certificate and key: on the host (relative to home) and in the proxy container. */
export interface ProxyTlsPaths {
  /** Host directory to create and upload into. */
  hostDir: string;
  hostCertificate: string;
  hostPrivateKey: string;
  /** What `--tls-certificate-path` / `--tls-private-key-path` name. */
  certificate: string;
  privateKey: string;
}

/** Kamal's layout: `<apps-config>/<service>[-<destination>]/tls/<role>/{cert,key}.pem`. */
export function proxyTlsPaths(service: string, destination: string, role: string): ProxyTlsPaths {
  const app = destination === "" ? service : `${service}-${destination}`;
  const rel = `${app}/tls/${role}`;
  return {
    hostDir: `${HOST_APPS_CONFIG_DIR}/${rel}`,
    hostCertificate: `${HOST_APPS_CONFIG_DIR}/${rel}/cert.pem`,
    hostPrivateKey: `${HOST_APPS_CONFIG_DIR}/${rel}/key.pem`,
    certificate: `${PROXY_APPS_CONFIG_DIR}/${rel}/cert.pem`,
    privateKey: `${PROXY_APPS_CONFIG_DIR}/${rel}/key.pem`,
  };
}

/** `<container id>:<app port>`: the target kamal-proxy routes to. */
export function proxyTarget(containerId: string, proxy: RoleProxyConfig): string {
  return `${containerId}:${proxy.appPort}`;
}

function proxyExec(container: string, ...args: string[]): string[] {
  return docker("exec", container, "kamal-proxy", ...args);
}

/** Inputs of `proxyDeployArgv`. */
export interface ProxyDeployArgs {
  /** kamal-proxy service name, `serviceName(service, role, destination)`. */
  service: string;
  /** `<container id>:<port>`, see `proxyTarget`. */
  target: string;
  proxy: RoleProxyConfig;
  deployTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  /** Container-side certificate paths; required when `proxy.certificate` is set. */
  tlsPaths?: { certificate: string; privateKey: string };
  /** Container-side error pages directory. */
  errorPages?: string;
  /** @default "kamal-proxy" */
  container?: string;
}

/**
 * `docker exec kamal-proxy kamal-proxy deploy <service> --target=… …`, flags in Kamal's fixed
 * order. Berth always passes the health check and target timeout (Kamal leaves kamal-proxy's
 * defaults, which are the same values).
 */
export function proxyDeployArgv(a: ProxyDeployArgs): Argv {
  const p = a.proxy;
  if (p.certificate && !a.tlsPaths) throw new Error("proxyDeployArgv: tlsPaths is required when the role has its own certificate");
  const tls = p.certificate ? a.tlsPaths : undefined;
  return proxyExec(
    a.container ?? proxyRunDefaults.containerName,
    "deploy",
    a.service,
    `--target=${a.target}`,
    ...p.hosts.map((h) => `--host=${h}`),
    ...flagged("tls", p.ssl || undefined),
    ...flagged("tls-certificate-path", tls?.certificate),
    ...flagged("tls-private-key-path", tls?.privateKey),
    ...flagged("deploy-timeout", duration(a.deployTimeoutSeconds)),
    ...flagged("drain-timeout", duration(a.drainTimeoutSeconds)),
    ...flagged("health-check-interval", duration(p.healthcheck.intervalSeconds)),
    ...flagged("health-check-timeout", duration(p.healthcheck.timeoutSeconds)),
    ...flagged("health-check-path", p.healthcheck.path),
    ...flagged("target-timeout", duration(p.responseTimeoutSeconds)),
    ...flagged("buffer-requests", p.buffering.requests),
    ...flagged("buffer-responses", p.buffering.responses),
    ...flagged("buffer-memory", p.buffering.memoryBytes),
    ...flagged("max-request-body", p.buffering.maxRequestBodyBytes),
    ...flagged("max-response-body", p.buffering.maxResponseBodyBytes),
    ...p.pathPrefixes.map((x) => `--path-prefix=${x}`),
    ...flagged("strip-path-prefix", p.stripPathPrefix),
    ...flagged("forward-headers", p.forwardHeaders),
    ...flagged("tls-redirect", p.sslRedirect),
    ...p.logging.requestHeaders.map((h) => `--log-request-header=${h}`),
    ...p.logging.responseHeaders.map((h) => `--log-response-header=${h}`),
    ...flagged("error-pages", a.errorPages),
  );
}

/** `docker exec kamal-proxy kamal-proxy remove <service>`: routes go at once, without draining. */
export function proxyRemoveArgv(service: string, container: string = proxyRunDefaults.containerName): Argv {
  return proxyExec(container, "remove", service);
}

/** Maintenance on: `kamal-proxy stop <service> --drain-timeout=Ns [--message=…]`; requests get a 503 page. */
export function proxyStopArgv(
  service: string,
  drainTimeoutSeconds: number,
  message?: string,
  container: string = proxyRunDefaults.containerName,
): Argv {
  return proxyExec(container, "stop", service, `--drain-timeout=${duration(drainTimeoutSeconds)}`, ...flagged("message", message));
}

/** Maintenance off: `kamal-proxy resume <service>`. */
export function proxyResumeArgv(service: string, container: string = proxyRunDefaults.containerName): Argv {
  return proxyExec(container, "resume", service);
}

/** `kamal-proxy list`: a table of services, hosts, targets and states. */
export function proxyListArgv(container: string = proxyRunDefaults.containerName): Argv {
  return proxyExec(container, "list");
}

/**
 * Waits until no `kamal-proxy deploy <service>` runs in the proxy container (as `docker top` lists
 * it), for at most `timeoutSeconds`; exits 1 if one still runs then. A deploy whose client went
 * away (its SSH connection was lost) still finishes on the server, which may switch the route when
 * it does: net/rpc has no cancellation.
 */
export function proxyDeployWaitScript(service: string, timeoutSeconds: number, container: string = proxyRunDefaults.containerName): string {
  const running = `${line(docker("top", container))} 2>/dev/null | grep -F -q -e ${quote(`kamal-proxy deploy ${service} `)}`;
  return waitWhileScript(running, timeoutSeconds);
}

/** One route in `kamal-proxy list`. */
export interface ProxyRoute {
  service: string;
  /** Empty: every host (`*`). */
  hosts: string[];
  /** Empty: `/`. */
  pathPrefixes: string[];
  /** Active targets (`<container id>:<port>`). */
  targets: string[];
  state: string;
  tls: boolean;
}

/** Parses `kamal-proxy list` (a table with ANSI colours: Service Host Path Target State TLS). */
export function parseProxyList(text: string): ProxyRoute[] {
  // eslint-disable-next-line no-control-regex
  const rows = text.replace(/\u001b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const out: ProxyRoute[] = [];
  for (const row of rows.slice(1)) {
    const [service, host, path, target, state, tls] = row.split(/\s+/);
    if (!service || tls === undefined) continue;
    const list = (v: string, none: string) => (v === none ? [] : v.split(",").filter((x) => x !== ""));
    out.push({ service, hosts: list(host, "*"), pathPrefixes: list(path, "/"), targets: list(target, ""), state, tls: /^(yes|true)$/i.test(tls) });
  }
  return out;
}

/** `.berth/proxy/<container>/owners` (home-relative): one file per Proxy resource using the container. */
export function proxyOwnersDir(container: string): string {
  return `.berth/proxy/${container}/owners`;
}

/** The owner file of `owner` (`<project>/<stack>/<name>`, made file-name safe). */
export function proxyOwnerFile(container: string, owner: string): string {
  return `${proxyOwnersDir(container)}/${owner.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
}

/** `mkdir -p` the apps config dir kamal-proxy mounts and the owners dir. */
export function proxyDirsArgv(container: string): Argv {
  return ["mkdir", "-p", HOST_APPS_CONFIG_DIR, proxyOwnersDir(container)];
}

/** Records or forgets one owner of the proxy container. */
export function proxyOwnerArgv(action: "add" | "remove", container: string, owner: string): Argv {
  return action === "add" ? ["touch", proxyOwnerFile(container, owner)] : ["rm", "-f", proxyOwnerFile(container, owner)];
}

/** `docker start <container>` / `docker rm --force <container>`. */
export function proxyContainerArgv(action: "start" | "remove", container: string): Argv {
  return action === "start" ? docker("start", container) : docker("rm", "--force", container);
}
