/**
 * Kamal's `config/deploy.yml` → AppService, Accessory and Image args, so a Kamal user brings the file
 * they have.
 *
 *   const { args, accessories, image, ignored } = fromKamalConfig(yaml.load(fs.readFileSync("config/deploy.yml", "utf8")), {
 *     destinationConfig: yaml.load(fs.readFileSync("config/deploy.staging.yml", "utf8")),
 *     version: "v42",
 *     secrets: { RAILS_MASTER_KEY: config.requireSecret("railsMasterKey"), POSTGRES_PASSWORD: config.requireSecret("dbPassword") },
 *   });
 *   const dbs = Object.entries(accessories).map(([name, a]) => new Accessory(name, a));
 *   const built = image && new Image("web", image);
 *   new AppService("app", { ...args, ...(built ? { image: built.ref } : {}) }, { dependsOn: dbs });
 *
 * - `accessories.<name>` → `accessories[name]`: Kamal's keys under Berth's names (`service` is
 *   `serviceName`), with `app` = `args` (the root `service`, roles and host tags for `role`/`tags`,
 *   `ssh`, the registry as the default) and the root `logging`, which Kamal gives accessories.
 * - `builder` → `image`: the build of `args.image` (its only tag), with Kamal's defaults for
 *   `context` (".") and `dockerfile` ("Dockerfile"), and its registry cache name
 *   (`<registry>/<image>-build-cache`). Kamal's own builders (`remote`, `local`, `driver`, `pack`)
 *   are `BuildxBuilder`s in Berth: listed in `ignored` with how to make one.
 *
 * Pure: the caller reads the files (ERB is not rendered, in the YAML nor in accessory `files`) and
 * supplies secret values (Kamal reads them from `.kamal/secrets`; Berth takes them from Pulumi config
 * secrets). Keys Berth does not act on are returned in `ignored` with the reason, never dropped
 * silently; a key that is not Kamal's, or a secret not supplied, is a problem naming its path.
 */
import { BerthConfigError, got, mustBe, show, type Problem } from "./errors";

type Obj = Record<string, any>;
/** A secret's value by its name in `secrets`; a missing one is a problem at `at`. */
type Secret = (name: unknown, at: string) => unknown;

/** Where the parts of the import report what they find. */
interface Report {
  problems: Problem[];
  ignored: string[];
  secret: Secret;
}

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
  /**
   * Accessory args by accessory name, for `new Accessory(name, accessories[name])`. Each has
   * `app: args`, so `role`/`roles`/`tag`/`tags`, the SSH settings and the registry are the app's.
   * Empty when the file has no `accessories`.
   */
  accessories: Record<string, Obj>;
  /**
   * Image args from `builder`, for `new Image(name, image)`: `tags` is `[args.image]` (give the
   * AppService the Image's `ref`, the pushed digest, so it deploys what was built). Paths are
   * Kamal's, relative to where Pulumi runs (put the Pulumi project next to `config/deploy.yml`).
   * Kamal's default builder is its own `docker-container` builder; without `builder` this builds
   * on buildx's current one, so pass a `BuildxBuilder` for several platforms or a registry cache.
   * Absent when the file has no `builder`.
   */
  image?: Obj;
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
function proxy(p: unknown, path: string, problems: Problem[], secret: Secret): unknown {
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

/** `logging:` (root or role) → Berth's logging. */
function logging(l: Obj): Obj {
  return { driver: l.driver, options: l.options };
}

/** `registry:` (root or accessory) → Berth's registry login; a one-item list names a secret, as in Kamal. */
function registry(r: Obj, path: string, secret: Secret): Obj {
  const value = (k: string) => (Array.isArray(r[k]) ? secret(r[k], `${path}.${k}`) : r[k]);
  const out: Obj = { server: r.server ?? "docker.io" };
  if (r.username !== undefined) out.username = value("username");
  if (r.password !== undefined) out.password = value("password");
  return out;
}

/** `env:` (Kamal's flat hash, or clear/secret/tags) → Berth's env. */
function env(e: unknown, path: string, secret: Secret, allowTags: boolean): Obj | undefined {
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
  const secret: Secret = (name, at) => {
    const key = String(Array.isArray(name) ? name[0] : name);
    if (opts.secrets && key in opts.secrets) return opts.secrets[key];
    problems.push({ path: at, message: `needs the secret ${JSON.stringify(key)}; got none. Pass it in \`secrets\` (e.g. from \`config.requireSecret\`).` });
    return undefined;
  };

  const out: Obj = { service: c.service };
  if (typeof c.image !== "string") problems.push({ path: "image", message: "must be the image repository, e.g. `me/app`; got none." });
  const server = isObj(c.registry) && typeof c.registry.server === "string" ? c.registry.server : undefined;
  /** A repository in the root registry (Kamal's `<server>/<name>`), its server written once. */
  const inRegistry = (name: string) => `${server && !name.startsWith(`${server}/`) ? `${server}/` : ""}${name}`;
  out.image = `${inRegistry(String(c.image))}:${opts.version}`;
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
        if (r.logging !== undefined) role.logging = logging(r.logging);
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
  if (isObj(c.logging)) out.logging = logging(c.logging);
  if (c.proxy !== undefined) {
    const { run, ...rest } = isObj(c.proxy) ? c.proxy : ({ run: undefined } as Obj);
    out.proxy = isObj(c.proxy) ? proxy(rest, "proxy", problems, secret) : c.proxy;
    if (isObj(run)) out.proxyRun = proxyRun(run);
  }
  if (isObj(c.registry) && c.registry.username !== undefined) out.registry = registry(c.registry, "registry", secret);
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
  const report: Report = { problems, ignored, secret };
  const accessories: Record<string, Obj> = {};
  if (isObj(c.accessories)) {
    for (const [name, a] of Object.entries(c.accessories)) {
      const imported = accessory(name, a, c, out, report);
      if (imported) accessories[name] = imported;
    }
  } else if (c.accessories !== undefined) problems.push({ path: "accessories", message: `must be a hash of accessory name → settings; got ${got(c.accessories)}.` });
  const image = c.builder === undefined ? undefined : builderImage(c.builder, c, out.image, inRegistry, report);
  const known = new Set(["service", "image", "servers", "primary_role", "env", "labels", "volumes", "logging", "proxy", "registry", "boot", "retain_containers", "deploy_timeout", "drain_timeout", "readiness_delay", "ssh", "stop_timeout", "asset_path", "error_pages_path", "hooks_path", "accessories", "builder", ...Object.keys(IGNORED)]);
  for (const k of Object.keys(c)) if (!known.has(k) && !k.startsWith("x-")) problems.push({ path: k, message: "is not a Kamal 2 configuration key Berth knows; remove it or check its spelling." });
  if (c.stop_timeout !== undefined && out.roles) for (const r of Object.values(out.roles) as Obj[]) r.stopTimeoutSeconds ??= c.stop_timeout;
  if (problems.length > 0) throw new BerthConfigError("Kamal", problems);
  return { args: out, accessories, ...(image ? { image } : {}), ignored };
}

// ---------------------------------------------------------------------------------------------
// accessories

/** Kamal 2's accessory keys (its `docs/accessory.yml`). */
const ACCESSORY_KEYS = new Set(["service", "image", "registry", "host", "hosts", "role", "roles", "tag", "tags", "cmd", "port", "labels", "options", "env", "files", "directories", "volumes", "network", "proxy"]);
/** Accessory keys whose Kamal value is Berth's, under the same name. */
const ACCESSORY_AS_IS = ["image", "host", "hosts", "role", "roles", "tag", "tags", "port", "cmd", "labels", "options", "network", "volumes", "directories"];

/** `accessories.<name>` → Accessory args (see `KamalImport.accessories`). */
function accessory(name: string, a: unknown, c: Obj, app: Obj, report: Report): Obj | undefined {
  const at = `accessories.${name}`;
  if (!isObj(a)) {
    report.problems.push({ path: at, message: `must be the accessory's settings (\`image\`, \`host\`, …); got ${got(a)}.` });
    return undefined;
  }
  const out: Obj = { name, service: c.service, app };
  for (const k of ACCESSORY_AS_IS) if (a[k] !== undefined) out[k] = a[k];
  if (a.service !== undefined) out.serviceName = a.service;
  if (a.env !== undefined) {
    out.env = env(a.env, `${at}.env`, report.secret, false);
    if (isObj(a.env) && a.env.tags !== undefined) report.problems.push({ path: `${at}.env.tags`, message: "is only allowed in the root `env` (Kamal refuses it here too); move the variables to `clear` or `secret`." });
  }
  if (Array.isArray(a.files)) {
    out.files = [];
    a.files.forEach((f: unknown, i: number) => {
      const local = isObj(f) ? f.local : typeof f === "string" ? f.split(":")[0] : undefined;
      // Kamal renders a file whose name ends in `erb` with the accessory's env loaded.
      if (typeof local === "string" && local.endsWith("erb")) {
        report.ignored.push(`${at}.files[${i}]: Kamal renders ${show(local)} as ERB with the accessory's env; Berth does not render ERB. Render it and add it as \`{ content, remote }\``);
      } else out.files.push(f);
    });
  } else if (a.files !== undefined) out.files = a.files;
  if (isObj(a.registry)) out.registry = registry(a.registry, `${at}.registry`, report.secret);
  else if (a.registry !== undefined) out.registry = a.registry;
  if (isObj(a.proxy)) {
    const { run, ...rest } = a.proxy;
    if (isObj(rest.ssl)) {
      report.problems.push({ path: `${at}.proxy.ssl`, message: "is your own certificate, which Berth's accessories do not support yet; use `ssl: true` (Let's Encrypt), or serve it through an app role." });
    } else out.proxy = proxy(rest, `${at}.proxy`, report.problems, report.secret);
    if (run !== undefined) report.ignored.push(`${at}.proxy.run: an Accessory starts kamal-proxy with Berth's defaults; to run it otherwise, pass a \`Proxy\` as its \`kamalProxy\``);
  } else if (a.proxy !== undefined) out.proxy = a.proxy;
  // Kamal gives accessories the root logging (`config.logging_args`).
  if (isObj(c.logging)) out.logging = logging(c.logging);
  for (const k of Object.keys(a)) {
    if (ACCESSORY_KEYS.has(k)) continue;
    const message = k === "logging" ? "is not a Kamal 2 accessory key: Kamal gives accessories the root `logging`. Move it there, or remove it." : "is not a Kamal 2 accessory key Berth knows; remove it or check its spelling.";
    report.problems.push({ path: `${at}.${k}`, message });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// builder

/** Kamal 2's builder keys (its `docs/builder.yml`). */
const BUILDER_KEYS = new Set(["arch", "remote", "local", "pack", "cache", "context", "dockerfile", "target", "args", "secrets", "ssh", "driver", "provenance", "sbom"]);
const CACHE_KEYS = new Set(["type", "options", "image"]);

/** Builder keys that choose how Kamal builds; in Berth that is a `BuildxBuilder`. */
const BUILDER_ELSEWHERE: Record<string, (v: unknown) => string> = {
  remote: (v) => `Kamal's remote builder is, in Berth, a \`BuildxBuilder\` with a node on that docker host (\`endpoint: ${show(v)}\` and its \`platforms\`), passed as the Image's \`builder\``,
  local: () => "which machine builds which platform is set by a `BuildxBuilder`'s nodes and their `platforms`, passed as the Image's `builder`",
  pack: () => "Berth builds with `docker buildx build` from a Dockerfile, not with Cloud Native Buildpacks' `pack`",
};

/**
 * Kamal's `provenance` or `sbom`: a boolean, or buildx's attestation text. Berth's value, or
 * undefined when Berth has none for it (`modes`: `mode=min|max` is one, for provenance).
 */
function attestation(v: unknown, modes: boolean): boolean | "min" | "max" | undefined {
  if (typeof v === "boolean") return v;
  const text = String(v).trim();
  if (text === "true" || text === "false") return text === "true";
  const mode = /^(?:mode=)?(min|max)$/.exec(text);
  return modes && mode ? (mode[1] as "min" | "max") : undefined;
}

/** `builder:` → Image args (see `KamalImport.image`). */
function builderImage(b: unknown, c: Obj, imageRef: string, inRegistry: (name: string) => string, report: Report): Obj | undefined {
  if (!isObj(b)) {
    report.problems.push({ path: "builder", message: `must be the build settings (\`arch\`, \`context\`, …); got ${got(b)}.` });
    return undefined;
  }
  const out: Obj = { context: b.context ?? ".", dockerfile: b.dockerfile ?? "Dockerfile", tags: [imageRef], service: c.service };
  if (b.target !== undefined) out.target = b.target;
  if (isObj(b.args)) out.buildArgs = Object.fromEntries(Object.entries(b.args).map(([k, v]) => [k, String(v)]));
  else if (b.args !== undefined) out.buildArgs = b.args;
  if (Array.isArray(b.secrets)) out.secrets = Object.fromEntries(b.secrets.map((n: unknown, i: number) => [String(n), report.secret(n, `builder.secrets[${i}]`)]));
  else if (b.secrets !== undefined) out.secrets = b.secrets;
  if (b.arch !== undefined) out.platforms = (Array.isArray(b.arch) ? b.arch : [b.arch]).map((a: unknown) => `linux/${a}`);
  if (typeof b.ssh === "string") {
    // Kamal's shell expands `$SSH_AUTH_SOCK`; to buildx an id alone means that socket.
    const ssh = b.ssh.trim().replace(/=\$\{?SSH_AUTH_SOCK\}?$/, "");
    if (ssh.includes("$")) report.ignored.push(`builder.ssh: ${show(b.ssh)} names a shell variable, which Kamal's shell expands and Berth (buildx run without a shell) does not; give the Image's \`ssh\` the path`);
    else out.ssh = [ssh];
  } else if (b.ssh !== undefined) out.ssh = b.ssh;
  if (isObj(b.cache)) {
    const cache = b.cache;
    for (const k of Object.keys(cache)) if (!CACHE_KEYS.has(k)) report.problems.push({ path: `builder.cache.${k}`, message: "is not a Kamal 2 builder cache key (`type`, `options`, `image`); remove it or check its spelling." });
    if (cache.type === "registry") {
      // Kamal's cache image: `<registry server>/<image>-build-cache` unless `image` names another.
      const ref = inRegistry(String(cache.image ?? `${c.image}-build-cache`));
      let mode: string | undefined;
      for (const option of String(cache.options ?? "").split(",").map((o) => o.trim()).filter(Boolean)) {
        const m = /^mode=(min|max)$/.exec(option);
        if (m) mode = m[1];
        else report.ignored.push(`builder.cache.options: ${show(option)}: Berth's registry cache takes \`mode=min\` or \`mode=max\` only`);
      }
      out.cacheTo = [{ type: "registry", ref, ...(mode ? { mode } : {}) }];
      out.cacheFrom = [{ type: "registry", ref }];
    } else if (cache.type === "gha") {
      report.ignored.push("builder.cache: `type: gha` (GitHub Actions' cache) is not a cache Berth's Image reads or writes; use `type: registry`, or a `local` cache directory in the Image's `cacheTo` and `cacheFrom`");
    } else report.problems.push({ path: "builder.cache.type", message: mustBe("`registry` or `gha`", cache.type, "Kamal has these two cache types.") });
  } else if (b.cache !== undefined) report.problems.push({ path: "builder.cache", message: mustBe("a hash with `type` (`registry` or `gha`)", b.cache) });
  for (const [k, modes] of [["provenance", true], ["sbom", false]] as const) {
    if (b[k] === undefined) continue;
    const v = attestation(b[k], modes);
    if (v !== undefined) out[k] = v;
    else report.ignored.push(`builder.${k}: ${show(b[k])}: Berth's Image takes ${modes ? "true, false, `min` or `max`" : "true or false"} here; set its \`${k}\``);
  }
  for (const [k, why] of Object.entries(BUILDER_ELSEWHERE)) if (b[k] !== undefined) report.ignored.push(`builder.${k}: ${why(b[k])}`);
  // The `docker` driver builds on buildx's current builder, as an Image without `builder` does.
  if (b.driver !== undefined && b.driver !== "docker") {
    const cloud = String(b.driver).startsWith("cloud");
    report.ignored.push(
      cloud
        ? `builder.driver: Berth does not create Docker Build Cloud builders; create it (\`docker buildx create --driver ${b.driver}\`) and pass its name as the Image's \`builder\``
        : `builder.driver: Kamal creates its own ${show(b.driver)} builder; in Berth that is a \`BuildxBuilder\`, passed as the Image's \`builder\` (without one, buildx's current builder builds)`,
    );
  }
  if (c.hooks_path !== undefined) out.hooks = { path: c.hooks_path };
  for (const k of Object.keys(b)) if (!BUILDER_KEYS.has(k)) report.problems.push({ path: `builder.${k}`, message: "is not a Kamal 2 builder key Berth knows; remove it or check its spelling." });
  return out;
}
