/**
 * Kamal's `config/deploy.yml` → AppService args, so a Kamal user brings the file they have.
 *
 *   const { args, ignored } = fromKamalConfig(yaml.load(fs.readFileSync("config/deploy.yml", "utf8")), {
 *     destinationConfig: yaml.load(fs.readFileSync("config/deploy.staging.yml", "utf8")),
 *     version: "v42",
 *     secrets: { RAILS_MASTER_KEY: config.requireSecret("railsMasterKey") },
 *   });
 *   new AppService("app", args);
 *
 * Pure: the caller reads the files (ERB is not rendered) and supplies secret values (Kamal reads them
 * from `.kamal/secrets`; Berth takes them from Pulumi config secrets). Keys Berth does not act on are
 * returned in `ignored` with the reason, never dropped silently.
 */
import { BerthConfigError, type Problem } from "./errors";

type Obj = Record<string, any>;

/** What `fromKamalConfig` needs besides the YAML. */
export interface KamalImportOptions {
  /** Kamal's `config/deploy.<destination>.yml`, deep-merged over the base file as Kamal does. */
  destinationConfig?: Obj;
  /** The version to deploy (Kamal's `--version`). */
  version: string;
  /** Secret values by name (Kamal's `.kamal/secrets` keys). Values may be Pulumi secrets. */
  secrets?: Record<string, unknown>;
}

export interface KamalImport {
  /** AppService args (without `destination`: the stack name is the destination). */
  args: Obj;
  /** Keys present in the file that Berth does not act on, each with the reason. */
  ignored: string[];
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Kamal's deep merge of a destination file over the base file. */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

const IGNORED: Record<string, string> = {
  builder: "builds are the `Image` and `BuildxBuilder` components",
  accessories: "accessories are not imported; declare them as their own resources",
  hooks_output: "hook output always goes to the `pulumi up` log",
  aliases: "aliases are CLI conveniences; use `pulumi` commands",
  minimum_version: "there is no Kamal version to check",
  require_destination: "every Pulumi stack is a destination",
  secrets_path: "secrets come from `secrets` (Pulumi config secrets)",
  sshkit: "Berth keeps one SSH connection per host",
  allow_empty_roles: "a role must list hosts",
  output: "`pulumi up` prints the progress",
  run_directory: "Berth keeps Kamal's `.kamal` directory",
};

function camelTimeouts(src: Obj, out: Obj) {
  if (src.deploy_timeout !== undefined) out.deployTimeoutSeconds = src.deploy_timeout;
  if (src.drain_timeout !== undefined) out.drainTimeoutSeconds = src.drain_timeout;
  if (src.readiness_delay !== undefined) out.readinessDelaySeconds = src.readiness_delay;
}

/** `proxy:` (root or role) → Berth's proxy settings. */
function proxy(p: unknown, path: string, problems: Problem[], secret: (name: string, at: string) => unknown): unknown {
  if (typeof p === "boolean" || !isObj(p)) return p;
  const out: Obj = {};
  if (p.host !== undefined) out.hosts = String(p.host).split(",").map((h) => h.trim()).filter(Boolean);
  if (p.hosts !== undefined) out.hosts = p.hosts;
  if (p.host !== undefined && p.hosts !== undefined) problems.push({ path: `${path}.hosts`, message: "Only one of `host` or `hosts` can be provided." });
  if (p.app_port !== undefined) out.appPort = p.app_port;
  if (p.ssl !== undefined) {
    if (isObj(p.ssl)) {
      out.ssl = { certificatePem: secret(p.ssl.certificate_pem, `${path}.ssl.certificate_pem`), privateKeyPem: secret(p.ssl.private_key_pem, `${path}.ssl.private_key_pem`) };
    } else out.ssl = p.ssl;
  }
  if (p.ssl_redirect !== undefined) out.sslRedirect = p.ssl_redirect;
  if (p.forward_headers !== undefined) out.forwardHeaders = p.forward_headers;
  if (p.response_timeout !== undefined) out.responseTimeoutSeconds = p.response_timeout;
  if (isObj(p.healthcheck)) {
    out.healthcheck = {};
    if (p.healthcheck.path !== undefined) out.healthcheck.path = p.healthcheck.path;
    if (p.healthcheck.interval !== undefined) out.healthcheck.intervalSeconds = p.healthcheck.interval;
    if (p.healthcheck.timeout !== undefined) out.healthcheck.timeoutSeconds = p.healthcheck.timeout;
  }
  if (isObj(p.buffering)) {
    const b = p.buffering;
    out.buffering = {};
    if (b.requests !== undefined) out.buffering.requests = b.requests;
    if (b.responses !== undefined) out.buffering.responses = b.responses;
    if (b.memory !== undefined) out.buffering.memoryBytes = b.memory;
    if (b.max_request_body !== undefined) out.buffering.maxRequestBodyBytes = b.max_request_body;
    if (b.max_response_body !== undefined) out.buffering.maxResponseBodyBytes = b.max_response_body;
  }
  if (isObj(p.logging)) {
    out.logging = {};
    if (p.logging.request_headers !== undefined) out.logging.requestHeaders = p.logging.request_headers;
    if (p.logging.response_headers !== undefined) out.logging.responseHeaders = p.logging.response_headers;
  }
  if (p.path_prefix !== undefined) out.pathPrefixes = String(p.path_prefix).split(",").map((x) => x.trim());
  if (p.path_prefixes !== undefined) out.pathPrefixes = p.path_prefixes;
  if (p.strip_path_prefix !== undefined) out.stripPathPrefix = p.strip_path_prefix;
  return out;
}

function proxyRun(r: Obj): Obj {
  const out: Obj = {};
  if (r.http_port !== undefined) out.httpPort = r.http_port;
  if (r.https_port !== undefined) out.httpsPort = r.https_port;
  if (r.bind_ips !== undefined) out.bindIps = r.bind_ips;
  if (r.publish !== undefined) out.publish = r.publish;
  if (r.log_max_size !== undefined) out.logMaxSize = r.log_max_size;
  if (r.metrics_port !== undefined) out.metricsPort = r.metrics_port;
  if (r.debug !== undefined) out.debug = r.debug;
  if (r.options !== undefined) out.options = r.options;
  if (r.registry !== undefined || r.repository !== undefined || r.version !== undefined) {
    out.image = {};
    if (r.registry !== undefined) out.image.registry = r.registry;
    if (r.repository !== undefined) out.image.repository = r.repository;
    if (r.version !== undefined) out.image.version = r.version;
  }
  return out;
}

/** `env:` (Kamal's flat hash, or clear/secret/tags) → Berth's env. */
function env(e: unknown, path: string, secret: (name: string, at: string) => unknown, allowTags: boolean): Obj | undefined {
  if (!isObj(e)) return undefined;
  const structured = "clear" in e || "secret" in e || "tags" in e;
  if (!structured) return { clear: Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)])) };
  const out: Obj = {};
  if (isObj(e.clear)) out.clear = Object.fromEntries(Object.entries(e.clear).map(([k, v]) => [k, String(v)]));
  if (Array.isArray(e.secret)) {
    out.secret = {};
    e.secret.forEach((entry: unknown, i: number) => {
      const [name, key] = String(entry).split(":");
      out.secret[name] = secret(key ?? name, `${path}.secret[${i}]`);
    });
  }
  if (allowTags && isObj(e.tags)) {
    out.tags = Object.fromEntries(Object.entries(e.tags).map(([t, v]) => [t, env(v, `${path}.tags.${t}`, secret, false)]));
  }
  return out;
}

/** Kamal's host list: `h1`, `{h2: tag}`, `{h3: [t1, t2]}`. */
function hosts(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((h) => {
    if (!isObj(h)) return h;
    const [host, tags] = Object.entries(h)[0];
    return { host, tags: Array.isArray(tags) ? tags : [tags] };
  });
}

/** Translates a Kamal config (already parsed from YAML) into AppService args. */
export function fromKamalConfig(base: Obj, opts: KamalImportOptions): KamalImport {
  const c = opts.destinationConfig ? deepMerge(base, opts.destinationConfig) : base;
  const problems: Problem[] = [];
  const ignored: string[] = [];
  const secret = (name: unknown, at: string): unknown => {
    const key = String(Array.isArray(name) ? name[0] : name);
    if (opts.secrets && key in opts.secrets) return opts.secrets[key];
    problems.push({ path: at, message: `needs the secret ${JSON.stringify(key)}; got none. Pass it in \`secrets\` (e.g. from \`config.requireSecret\`).` });
    return undefined;
  };

  const out: Obj = { service: c.service };
  if (typeof c.image !== "string") problems.push({ path: "image", message: "must be the image repository, e.g. `me/app`; got none." });
  const server = isObj(c.registry) && typeof c.registry.server === "string" ? c.registry.server : undefined;
  out.image = `${server && !String(c.image).startsWith(`${server}/`) ? `${server}/` : ""}${c.image}:${opts.version}`;
  out.version = opts.version;

  if (Array.isArray(c.servers)) out.hosts = hosts(c.servers);
  else if (isObj(c.servers)) {
    out.roles = {};
    for (const [name, r] of Object.entries(c.servers)) {
      const role: Obj = {};
      if (Array.isArray(r)) role.hosts = hosts(r);
      else if (isObj(r)) {
        role.hosts = hosts(r.hosts);
        if (r.cmd !== undefined) role.cmd = r.cmd;
        if (r.env !== undefined) role.env = env(r.env, `servers.${name}.env`, secret, false);
        if (r.labels !== undefined) role.labels = r.labels;
        if (r.options !== undefined) role.options = r.options;
        if (r.logging !== undefined) role.logging = { driver: r.logging.driver, options: r.logging.options };
        if (r.proxy !== undefined) role.proxy = proxy(r.proxy, `servers.${name}.proxy`, problems, secret);
        if (r.stop_timeout !== undefined) role.stopTimeoutSeconds = r.stop_timeout;
        if (r.asset_path !== undefined) role.assetPath = r.asset_path;
      }
      out.roles[name] = role;
    }
  }
  if (c.primary_role !== undefined) out.primaryRole = c.primary_role;
  if (c.env !== undefined) out.env = env(c.env, "env", secret, true);
  if (c.labels !== undefined) out.labels = c.labels;
  if (c.volumes !== undefined) out.volumes = c.volumes;
  if (c.asset_path !== undefined) out.assetPath = c.asset_path;
  if (c.error_pages_path !== undefined) out.errorPagesPath = c.error_pages_path;
  // Kamal exports every secret to the pre-connect, pre-deploy and post-deploy hooks.
  if (c.hooks_path !== undefined) out.hooks = { path: c.hooks_path, ...(opts.secrets && Object.keys(opts.secrets).length > 0 ? { secrets: opts.secrets } : {}) };
  if (isObj(c.logging)) out.logging = { driver: c.logging.driver, options: c.logging.options };
  if (c.proxy !== undefined) {
    const { run, ...rest } = isObj(c.proxy) ? c.proxy : ({ run: undefined } as Obj);
    out.proxy = isObj(c.proxy) ? proxy(rest, "proxy", problems, secret) : c.proxy;
    if (isObj(run)) out.proxyRun = proxyRun(run);
  }
  if (isObj(c.registry) && c.registry.username !== undefined) {
    const user = Array.isArray(c.registry.username) ? secret(c.registry.username, "registry.username") : c.registry.username;
    const password = Array.isArray(c.registry.password) ? secret(c.registry.password, "registry.password") : c.registry.password;
    out.registry = { server: server ?? "docker.io", username: user, password };
  }
  if (isObj(c.boot)) out.boot = { ...(c.boot.limit !== undefined ? { limit: c.boot.limit } : {}), ...(c.boot.wait !== undefined ? { waitSeconds: c.boot.wait } : {}) };
  if (c.retain_containers !== undefined) out.retainContainers = c.retain_containers;
  camelTimeouts(c, out);
  if (isObj(c.ssh)) {
    const s: Obj = {};
    if (c.ssh.user !== undefined) s.user = c.ssh.user;
    if (c.ssh.port !== undefined) s.port = c.ssh.port;
    if (c.ssh.proxy !== undefined) s.proxy = c.ssh.proxy;
    if (Array.isArray(c.ssh.keys) && c.ssh.keys.length > 0) s.privateKeyPath = c.ssh.keys[0];
    if (Array.isArray(c.ssh.key_data) && c.ssh.key_data.length > 0) s.privateKey = secret(c.ssh.key_data[0], "ssh.key_data[0]");
    out.ssh = s;
    for (const k of ["proxy_command", "log_level", "keys_only", "config", "forward_agent"]) if (c.ssh[k] !== undefined) ignored.push(`ssh.${k}: Berth connects with its own SSH client (keys, one jump host, pinned host keys)`);
  }
  for (const [k, why] of Object.entries(IGNORED)) if (c[k] !== undefined) ignored.push(`${k}: ${why}`);
  const known = new Set(["service", "image", "servers", "primary_role", "env", "labels", "volumes", "logging", "proxy", "registry", "boot", "retain_containers", "deploy_timeout", "drain_timeout", "readiness_delay", "ssh", "stop_timeout", "asset_path", "error_pages_path", "hooks_path", ...Object.keys(IGNORED)]);
  for (const k of Object.keys(c)) if (!known.has(k) && !k.startsWith("x-")) problems.push({ path: k, message: "is not a Kamal 2 configuration key Berth knows; remove it or check its spelling." });
  if (c.stop_timeout !== undefined && out.roles) for (const r of Object.values(out.roles) as Obj[]) r.stopTimeoutSeconds ??= c.stop_timeout;
  if (problems.length > 0) throw new BerthConfigError("Kamal", problems);
  return { args: out, ignored };
}
