/**
 * BuildxBuilder configuration, in two parts:
 * - `BuildkitdConfigArgs` → `BuildkitdConfig`: a typed model of BuildKit's `buildkitd.toml`, with
 *   the presets `development`, `test` and `production` (seed 001's table) overridden field by field;
 * - `BuilderArgs` → `BuilderConfig`: a `docker buildx create` builder (driver, nodes, platforms,
 *   proxy, driver options), with every default applied.
 * Secrets (proxy URLs with credentials, `secretEnv`, TLS keys) are never shown in messages.
 */
import * as path from "node:path";
import { z } from "zod";
import {
  envNameProblem,
  dict,
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
  problem,
  secret,
  show,
  strict,
  text,
  textProblem,
  whenClean,
} from "./errors";
import { REGISTRY_HOST } from "./proxy";

// ---------------------------------------------------------------------------------------------
// Shared leaves

/** Platforms Berth accepts, as BuildKit spells them. */
export const KNOWN_PLATFORMS = [
  "linux/amd64",
  "linux/amd64/v2",
  "linux/amd64/v3",
  "linux/amd64/v4",
  "linux/arm64",
  "linux/arm64/v8",
  "linux/arm/v5",
  "linux/arm/v6",
  "linux/arm/v7",
  "linux/386",
  "linux/ppc64le",
  "linux/s390x",
  "linux/riscv64",
  "linux/mips64le",
  "linux/mips64",
  "linux/loong64",
  "windows/amd64",
  "windows/arm64",
] as const;

const PLATFORM_EXPECT = "a platform like `linux/amd64`, `linux/arm64` or `linux/arm/v7`";

/** One platform, checked against `KNOWN_PLATFORMS`. */
export function platform() {
  return text(PLATFORM_EXPECT).superRefine((v, ctx) => {
    if (!(KNOWN_PLATFORMS as readonly string[]).includes(v)) {
      const near = KNOWN_PLATFORMS.find((p) => p.endsWith(`/${v}`) || p.replace(/\/v\d$/, "") === v.toLowerCase());
      problem(ctx, [], mustBe(PLATFORM_EXPECT, v, near ? `Write it as \`${near}\`.` : `Known platforms: ${KNOWN_PLATFORMS.join(", ")}.`));
    }
  }, whenClean);
}

/** A list of platforms, each once. */
export function platformList() {
  return uniqueList(platform(), "a list of platforms");
}

/** A list whose entries are unique strings. */
export function uniqueList<T extends z.ZodType<string>>(item: T, expect: string) {
  return list(item, expect).superRefine(
    (items, ctx) => {
      if (!Array.isArray(items)) return;
      items.forEach((x, i) => {
        if (typeof x === "string" && items.indexOf(x) !== i) problem(ctx, [i], `must not repeat an earlier entry; got ${show(x)} again. Remove the duplicate.`);
      });
    },
    evenWithItemErrors,
  );
}

/** BuildKit's disk sizes: bytes with an optional binary unit (`10GB`, `512MiB`, `1g`), or a percentage of the disk (`10%`). */
export const SIZE = /^(?:\d+(?:\.\d+)?\s?[kKmMgGtTpP]?[iI]?[bB]?|\d{1,3}%)$/;
const SIZE_EXPECT = "a size like `10GB`, `512MB` or `20%`";
const size = () => matching(SIZE, SIZE_EXPECT, "Units are B, KB, MB, GB, TB or PB (powers of 1024), or a percentage of the disk.");

const absolutePath = (what: string) =>
  text(`an absolute path to ${what}`, undefined, { maxBytes: 4096, why: "Linux paths are at most 4096 bytes (PATH_MAX)." }).superRefine((v, ctx) => {
    if (!path.isAbsolute(v)) problem(ctx, [], mustBe(`an absolute path to ${what}`, v, "buildkitd and buildx do not resolve relative paths the same way; write the full path."));
  }, whenClean);

// ---------------------------------------------------------------------------------------------
// buildkitd.toml

/** BuildKit's log settings (`[log]`). */
export interface BuildkitdLogArgs {
  /**
   * Log format. Equivalent to buildkitd.toml's `[log] format`.
   * @default - buildkitd's default, "text"
   */
  format?: "text" | "json";
  /**
   * Log level. Equivalent to buildkitd.toml's `[log] level`.
   * @default - buildkitd's default, "info"
   */
  level?: "trace" | "debug" | "info" | "warn" | "error";
}

/** TLS of buildkitd's gRPC listener (`[grpc.tls]`): paths on the machine buildkitd runs on. */
export interface BuildkitdGrpcTlsArgs {
  /** Server certificate. Equivalent to `[grpc.tls] cert`. */
  cert: string;
  /** Server key. Equivalent to `[grpc.tls] key`. */
  key: string;
  /**
   * CA that client certificates must be signed by (mutual TLS). Equivalent to `[grpc.tls] ca`.
   * @default - no client certificate required
   */
  ca?: string;
}

/** buildkitd's gRPC API (`[grpc]`). */
export interface BuildkitdGrpcArgs {
  /**
   * Addresses to listen on: `unix:///run/buildkit/buildkitd.sock`, `tcp://0.0.0.0:1234`. Equivalent to `[grpc] address`.
   * @default - buildkitd's default, its unix socket
   */
  address?: string[];
  /**
   * Address of the debug (pprof) listener. Equivalent to `[grpc] debugAddress`.
   * @default - none
   */
  debugAddress?: string;
  /**
   * Owner of the unix socket. Equivalent to `[grpc] uid`.
   * @default - buildkitd's user
   */
  uid?: number;
  /**
   * Group of the unix socket. Equivalent to `[grpc] gid`.
   * @default - buildkitd's group
   */
  gid?: number;
  /**
   * TLS for tcp listeners.
   * @default - none
   */
  tls?: BuildkitdGrpcTlsArgs;
}

/** The OCI worker (`[worker.oci]`). */
export interface BuildkitdOciWorkerArgs {
  /**
   * Run the OCI (runc) worker. Equivalent to `[worker.oci] enabled`.
   * @default - buildkitd's default, true
   */
  enabled?: boolean;
  /**
   * Platforms the worker builds for; BuildKit routes a platform to a worker listing it. Equivalent to `[worker.oci] platforms`.
   * @default - the machine's platform and those its emulators support
   */
  platforms?: string[];
  /**
   * Build steps run at once. Equivalent to `[worker.oci] max-parallelism`.
   * @default - unlimited
   */
  maxParallelism?: number;
  /**
   * Garbage-collect the build cache. Equivalent to `[worker.oci] gc`.
   * @default - buildkitd's default, true
   */
  gc?: boolean;
  /**
   * Cache kept whatever the GC. Equivalent to `[worker.oci] reservedSpace`.
   * @default - buildkitd's default, 10% of the disk
   * @example "10GB"
   */
  reservedSpace?: string;
  /**
   * Cache size above which the GC deletes. Equivalent to `[worker.oci] maxUsedSpace`.
   * @default - buildkitd's default, 60% of the disk
   */
  maxUsedSpace?: string;
  /**
   * Free disk the GC tries to leave. Equivalent to `[worker.oci] minFreeSpace`.
   * @default - buildkitd's default, 20% of the disk
   */
  minFreeSpace?: string;
  /**
   * Network of `RUN` steps: `auto`, `host`, `cni` or `bridge`. Equivalent to `[worker.oci] networkMode`
   * (buildkitd ignores a key named `network`, the spelling some guides use).
   * @default - buildkitd's default, "auto"
   */
  networkMode?: "auto" | "host" | "cni" | "bridge";
  /**
   * Labels of the worker, shown by `buildctl debug workers -v`. Equivalent to `[worker.oci.labels]`.
   * @default - none, or `{ environment: <preset> }` with a preset
   */
  labels?: Record<string, string>;
  /**
   * Snapshotter. Equivalent to `[worker.oci] snapshotter`.
   * @default - buildkitd's default, "auto"
   */
  snapshotter?: "auto" | "overlayfs" | "native" | "fuse-overlayfs" | "stargz";
  /**
   * AppArmor profile of build containers (loaded on the machine). Equivalent to `[worker.oci] apparmor-profile`.
   * @default - none
   */
  apparmorProfile?: string;
}

/** How buildkitd reaches one registry (`[registry."host"]`). */
export interface BuildkitdRegistryArgs {
  /**
   * Mirrors tried before the registry, `host[:port]`. Equivalent to `mirrors`.
   * @default []
   */
  mirrors?: string[];
  /**
   * Skip TLS verification. Equivalent to `insecure`.
   * @default false
   */
  insecure?: boolean;
  /**
   * Use plain HTTP. Equivalent to `http`.
   * @default false
   */
  http?: boolean;
  /**
   * CA certificates (absolute paths) to trust for this registry, e.g. a private CA. With the
   * `docker-container` driver buildx copies them into the builder. Equivalent to `ca`.
   * @default []
   */
  ca?: string[];
  /**
   * Client certificates (absolute paths). Equivalent to `[[registry."host".keypair]]`.
   * @default []
   */
  keypairs?: { key: string; cert: string }[];
}

/** Build history kept by buildkitd (`[history]`). */
export interface BuildkitdHistoryArgs {
  /**
   * Drop records older than this. Equivalent to `[history] maxAge`.
   * @default - buildkitd's default, 48 hours
   */
  maxAgeSeconds?: number;
  /**
   * Keep at most this many records. Equivalent to `[history] maxEntries`.
   * @default - buildkitd's default, 50
   */
  maxEntries?: number;
}

/** The buildkitd.toml presets, after seed 001's table. */
export type BuildkitdPreset = "development" | "test" | "production";

/**
 * A typed `buildkitd.toml`. Berth renders it (`renderBuildkitdToml`); every key maps to one
 * BuildKit setting, and a preset fills in whatever is not set.
 */
export interface BuildkitdConfigArgs {
  /**
   * Start from a preset (seed 001's table): `development` (debug logs, 4 parallel steps, small GC
   * limits, loose entitlements, one platform), `test` (info logs, 6 steps, 7-day history, two
   * platforms), `production` (JSON warn logs, 12 steps, no insecure entitlements, three platforms).
   * Every other field overrides the preset's value.
   * @default - no preset: only the fields set are rendered
   */
  preset?: BuildkitdPreset;
  /**
   * Debug logging. Equivalent to `debug`.
   * @default - false
   */
  debug?: boolean;
  /**
   * Trace logging. Equivalent to `trace`.
   * @default - false
   */
  trace?: boolean;
  /**
   * State directory. With the `docker-container` driver, buildx keeps `/var/lib/buildkit` on a
   * volume; another root puts the cache in the container's own file system. Equivalent to `root`.
   * @default - buildkitd's default, /var/lib/buildkit
   */
  root?: string;
  /**
   * Entitlements builds may ask for: `network.host`, `security.insecure`, `device`. Equivalent to
   * `insecure-entitlements`. Note: buildx adds `network.host` to `docker-container` and
   * `kubernetes` builders unless flags or this list name an entitlement.
   * @default []
   */
  insecureEntitlements?: ("network.host" | "security.insecure" | "device")[];
  /** The gRPC API. Equivalent to `[grpc]`. */
  grpc?: BuildkitdGrpcArgs;
  /** Workers. Equivalent to `[worker]`. */
  worker?: { oci?: BuildkitdOciWorkerArgs };
  /**
   * Registries by host (`host[:port]`, or `docker.io`). Equivalent to `[registry."host"]`.
   * @default {}
   */
  registry?: Record<string, BuildkitdRegistryArgs>;
  /** Build history. Equivalent to `[history]`. */
  history?: BuildkitdHistoryArgs;
  /** Logs. Equivalent to `[log]`. */
  log?: BuildkitdLogArgs;
  /**
   * OpenTelemetry. Equivalent to `[otel]`.
   * @default - none
   */
  otel?: { socketPath?: string };
}

/** A `buildkitd.toml` model with a preset applied (what is rendered). */
export type BuildkitdConfig = Omit<BuildkitdConfigArgs, "preset">;

/** Seed 001's table as presets. Parallelism, GC limits, log level, entitlements and platforms follow it. */
export const buildkitdPresets: Record<BuildkitdPreset, BuildkitdConfig> = {
  development: {
    debug: true,
    insecureEntitlements: ["network.host", "security.insecure"],
    worker: {
      oci: {
        enabled: true,
        platforms: ["linux/amd64"],
        maxParallelism: 4,
        gc: true,
        reservedSpace: "10GB",
        maxUsedSpace: "30GB",
        labels: { environment: "development" },
      },
    },
    log: { format: "text", level: "debug" },
  },
  test: {
    debug: false,
    trace: false,
    insecureEntitlements: ["network.host"],
    worker: {
      oci: {
        enabled: true,
        platforms: ["linux/amd64", "linux/arm64"],
        maxParallelism: 6,
        gc: true,
        reservedSpace: "20GB",
        maxUsedSpace: "50GB",
        labels: { environment: "test" },
      },
    },
    history: { maxAgeSeconds: 604800, maxEntries: 100 },
    log: { format: "text", level: "info" },
  },
  production: {
    debug: false,
    trace: false,
    insecureEntitlements: [],
    worker: {
      oci: {
        enabled: true,
        platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"],
        maxParallelism: 12,
        gc: true,
        reservedSpace: "50GB",
        maxUsedSpace: "80GB",
        labels: { environment: "production" },
      },
    },
    history: { maxAgeSeconds: 2592000, maxEntries: 500 },
    log: { format: "json", level: "warn" },
  },
};

const GRPC_ADDRESS = /^(?:unix:\/\/\/\S+|tcp:\/\/\S+:\d+|fd:\/\/\S*|npipe:\/\/\S+)$/;
const GRPC_ADDRESS_EXPECT = "an address like `unix:///run/buildkit/buildkitd.sock` or `tcp://0.0.0.0:1234`";
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const REGISTRY_KEY_EXPECT = "a registry host like `registry.example.com`, `10.0.0.1:5000` or `docker.io`";

/** A key that buildkitd silently ignores: a problem that says where the setting really lives. */
function notAKey(message: string) {
  return z.unknown().superRefine((_, ctx) => problem(ctx, [], message));
}

const ociWorkerSchema = strict({
  enabled: flag().optional(),
  platforms: platformList().optional(),
  maxParallelism: integer(1, 1024, "Omit it for no limit.").optional(),
  gc: flag().optional(),
  reservedSpace: size().optional(),
  maxUsedSpace: size().optional(),
  minFreeSpace: size().optional(),
  networkMode: z.enum(["auto", "host", "cni", "bridge"], { error: (iss) => mustBe("one of `auto`, `host`, `cni`, `bridge`", iss.input) }).optional(),
  labels: dict(text(), "an object of label → value")
    .superRefine((labels, ctx) => {
      for (const key of Object.keys(labels ?? {})) if (keyProblem(key) === undefined && !LABEL_KEY.test(key)) problem(ctx, [key], mustBe("a label name (letters, digits, `.`, `_`, `/`, `-`)", key, 'For example "team" or "org.example.owner".'));
    })
    .optional(),
  snapshotter: z
    .enum(["auto", "overlayfs", "native", "fuse-overlayfs", "stargz"], { error: (iss) => mustBe("one of `auto`, `overlayfs`, `native`, `fuse-overlayfs`, `stargz`", iss.input) })
    .optional(),
  apparmorProfile: text().optional(),
  network: notAKey(
    "is not a buildkitd setting: buildkitd reads `networkMode` and silently ignores `network`. Write `networkMode` (`auto`, `host`, `cni` or `bridge`); for the builder container's own network set the builder's `network`.",
  ).optional(),
  env: notAKey(
    "is not a buildkitd setting: buildkitd.toml has no environment (buildkitd silently ignores `env`, so a proxy set there is never used). Set the builder's `proxy`, `env` or `secretEnv`: Berth passes them to the buildkitd process (secret values outside argv).",
  ).optional(),
});

const registrySchema = strict({
  mirrors: uniqueList(matching(REGISTRY_HOST, "a registry host like `mirror.example.com:5000`", "Write the host and port only: no scheme or path."), "a list of registry hosts").optional(),
  insecure: flag().optional(),
  http: flag().optional(),
  ca: list(absolutePath("a PEM CA certificate"), "a list of paths").optional(),
  keypairs: list(strict({ key: absolutePath("a PEM key"), cert: absolutePath("a PEM certificate") }), "a list of `{ key, cert }`").optional(),
});

const configShape = {
  debug: flag().optional(),
  trace: flag().optional(),
  root: absolutePath("a directory").optional(),
  insecureEntitlements: uniqueList(
    z.enum(["network.host", "security.insecure", "device"], { error: (iss) => mustBe("one of `network.host`, `security.insecure`, `device`", iss.input) }),
    "a list of entitlements",
  ).optional(),
  grpc: strict({
    address: uniqueList(matching(GRPC_ADDRESS, GRPC_ADDRESS_EXPECT), "a list of addresses").optional(),
    debugAddress: matching(/^\S+:\d+$/, "an address like `0.0.0.0:6060`").optional(),
    uid: integer(0).optional(),
    gid: integer(0).optional(),
    tls: strict({ cert: absolutePath("a PEM certificate"), key: absolutePath("a PEM key"), ca: absolutePath("a PEM CA certificate").optional() }).optional(),
  }).optional(),
  worker: strict({ oci: ociWorkerSchema.optional() }).optional(),
  registry: dict(registrySchema, "an object of registry host → settings")
    .superRefine((regs, ctx) => {
      for (const host of Object.keys(regs ?? {})) if (keyProblem(host) === undefined && !REGISTRY_HOST.test(host)) problem(ctx, [host], mustBe(REGISTRY_KEY_EXPECT, host, "Write the host (and port) only: no scheme or path."));
    })
    .optional(),
  history: strict({ maxAgeSeconds: integer(1).optional(), maxEntries: integer(1).optional() }).optional(),
  log: strict({
    format: z.enum(["text", "json"], { error: (iss) => mustBe("`text` or `json`", iss.input) }).optional(),
    level: z.enum(["trace", "debug", "info", "warn", "error"], { error: (iss) => mustBe("one of `trace`, `debug`, `info`, `warn`, `error`", iss.input) }).optional(),
  }).optional(),
  otel: strict({ socketPath: absolutePath("a socket").optional() }).optional(),
};

const PRESET_EXPECT = "one of `development`, `test`, `production`";

/** The schema of `BuildkitdConfigArgs`; its output is the merged `BuildkitdConfig`. */
export const buildkitdConfigSchema = strict({
  preset: z.enum(["development", "test", "production"], { error: (iss) => mustBe(PRESET_EXPECT, iss.input) }).optional(),
  ...configShape,
})
  .superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      const grpc = isRecord(v.grpc) ? v.grpc : {};
      const addresses = Array.isArray(grpc.address) ? grpc.address : [];
      if (isRecord(grpc.tls) && !addresses.some((a) => typeof a === "string" && a.startsWith("tcp://"))) {
        problem(ctx, ["grpc", "tls"], "needs a `tcp://` address in `grpc.address`; TLS only applies to tcp listeners. Add one, e.g. `tcp://0.0.0.0:1234`.");
      }
      const oci = isRecord(v.worker) && isRecord(v.worker.oci) ? v.worker.oci : {};
      if (oci.gc === false) {
        for (const key of ["reservedSpace", "maxUsedSpace", "minFreeSpace"]) {
          if (oci[key] !== undefined) problem(ctx, ["worker", "oci", key], `has no effect when \`worker.oci.gc\` is false; got ${show(oci[key])}. Remove it, or turn \`gc\` on.`);
        }
      }
    },
    evenWithFieldErrors,
  )
  .transform((v): BuildkitdConfig => {
    const { preset, ...rest } = v;
    return preset ? mergeConfig(buildkitdPresets[preset], rest as BuildkitdConfig) : (rest as BuildkitdConfig);
  });

/** Deep-merges `over` onto `base`: objects field by field, lists and scalars replaced. */
export function mergeConfig<T extends object>(base: T, over: T): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isRecord(b) && isRecord(v) && k !== "labels" ? mergeConfig(b, v) : v;
  }
  return out as T;
}

/** Validates a buildkitd.toml model and applies its preset. Throws one `BerthConfigError`. */
export function normalizeBuildkitdConfig(input: BuildkitdConfigArgs | undefined, component = "BuildxBuilder", prefix = "config"): BuildkitdConfig {
  return parse(component, buildkitdConfigSchema, input ?? {}, prefix);
}

// ---------------------------------------------------------------------------------------------
// The builder

/** buildx drivers Berth manages. */
export type BuildxDriver = "docker-container" | "remote" | "kubernetes";

/** The proxy buildkitd uses for registries and `RUN` steps use for the network. */
export interface BuilderProxyArgs {
  /**
   * Proxy for http:// requests, `http://[user:password@]host:port`. A URL with credentials is a
   * secret: it never appears in argv, logs or plain state. Sets `HTTP_PROXY`.
   */
  http?: string;
  /**
   * Proxy for https:// requests. Sets `HTTPS_PROXY`.
   * @default - none
   */
  https?: string;
  /**
   * Hosts, domains (`.corp.example`), IPs, CIDRs and `host:port` reached directly. Berth passes
   * them as ONE `NO_PROXY` value: buildx keeps only the last of repeated `--driver-opt env.NO_PROXY=`.
   * @default []
   */
  noProxy?: string[];
}

/** Mutual TLS to a `remote` buildkitd: PEM text (secret), written to 0600 files for buildx. */
export interface BuilderTlsArgs {
  /**
   * CA that signed buildkitd's server certificate. Equivalent to buildx's `cacert` driver option.
   * @default - the system's trust store
   */
  caPem?: string;
  /**
   * Client certificate. Equivalent to buildx's `cert` driver option. Only with `keyPem`.
   * @default - no client certificate
   */
  certPem?: string;
  /**
   * Client key (secret). Equivalent to buildx's `key` driver option. Only with `certPem`.
   * @default - no client key
   */
  keyPem?: string;
  /**
   * Name expected in the server certificate. Equivalent to buildx's `servername` driver option.
   * @default - the endpoint's host
   */
  serverName?: string;
}

/** The `kubernetes` driver's settings (buildx driver options). */
export interface KubernetesDriverArgs {
  /**
   * Namespace of the BuildKit deployment. Equivalent to buildx's `namespace` driver option.
   * @default - the kubeconfig's namespace
   */
  namespace?: string;
  /**
   * BuildKit pods. Equivalent to `replicas`.
   * @default 1
   */
  replicas?: number;
  /**
   * CPU request of each pod. Equivalent to `requests.cpu`.
   * @default - none
   * @example "500m"
   */
  requestsCpu?: string;
  /**
   * Memory request of each pod. Equivalent to `requests.memory`.
   * @default - none
   * @example "1Gi"
   */
  requestsMemory?: string;
  /**
   * CPU limit of each pod. Equivalent to `limits.cpu`.
   * @default - none
   */
  limitsCpu?: string;
  /**
   * Memory limit of each pod. Equivalent to `limits.memory`.
   * @default - none
   */
  limitsMemory?: string;
  /**
   * Node labels the pods must match. Equivalent to `nodeselector`.
   * @default {}
   * @example { "kubernetes.io/arch": "arm64" }
   */
  nodeSelector?: Record<string, string>;
  /**
   * Pod annotations. Equivalent to `annotations`.
   * @default {}
   */
  annotations?: Record<string, string>;
  /**
   * Pod labels. Equivalent to `labels`.
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * Taints the pods tolerate. Equivalent to `tolerations`.
   * @default []
   */
  tolerations?: { key?: string; operator?: "Equal" | "Exists"; value?: string; effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute"; tolerationSeconds?: number }[];
  /**
   * Service account of the pods. Equivalent to `serviceaccount`.
   * @default - the namespace's default
   */
  serviceAccount?: string;
  /**
   * Run BuildKit rootless. Equivalent to `rootless`.
   * @default false
   */
  rootless?: boolean;
  /**
   * How builds pick a pod: `sticky` (by context path) or `random`. Equivalent to `loadbalance`.
   * @default "sticky"
   */
  loadbalance?: "sticky" | "random";
  /**
   * Install QEMU emulators in the pods. Equivalent to `qemu.install`.
   * @default false
   */
  qemuInstall?: boolean;
  /**
   * Time to wait for the pods to be ready. Equivalent to `timeout`.
   * @default 120
   */
  timeoutSeconds?: number;
}

/** A further node of the builder (`docker buildx create --append`). */
export interface BuilderNodeArgs {
  /**
   * Node name. Equivalent to `--node`.
   * @default - `<builder name><index>`, buildx's own naming
   */
  name?: string;
  /**
   * Where the node runs: a docker context or docker host (`unix://`, `tcp://`, `ssh://`) for
   * `docker-container`; the buildkitd address (`tcp://host:1234`) for `remote`; a kube context for `kubernetes`.
   * @default - the current docker context (required for `remote`)
   */
  endpoint?: string;
  /**
   * Platforms this node builds; buildx sends each platform of a build to the node listing it. Equivalent to `--platform`.
   * @default - what the node's workers report
   */
  platforms?: string[];
  /**
   * This node's buildkitd.toml.
   * @default - the builder's `config`
   */
  config?: BuildkitdConfigArgs;
  /**
   * This node's buildkitd flags.
   * @default - the builder's `buildkitdFlags`
   */
  buildkitdFlags?: string[];
  /**
   * Mutual TLS to this node (`remote` only).
   * @default - none
   */
  tls?: BuilderTlsArgs;
}

/** A buildx builder, with plain (resolved) values. */
export interface BuilderArgs {
  /** Builder name (`docker buildx create --name`): letters, digits, `_`, `.`, `-`. */
  name: string;
  /**
   * Driver. Equivalent to `--driver`.
   * @default "docker-container"
   */
  driver?: BuildxDriver;
  /**
   * BuildKit image for `docker-container` and `kubernetes`. Equivalent to `--driver-opt image=`.
   * @default - buildx's default, moby/buildkit:buildx-stable-1
   */
  image?: string;
  /**
   * Network of the `docker-container` builder: `host`, `bridge` or a docker network. Equivalent to `--driver-opt network=`.
   * @default - docker's default bridge
   */
  network?: string;
  /**
   * Proxy for buildkitd (registry pulls and pushes) and for `RUN` steps of `Image`s built with
   * this builder (as build args). `docker-container` and `kubernetes` only.
   * @default - none
   */
  proxy?: BuilderProxyArgs;
  /**
   * Other environment of the buildkitd process (plain). Equivalent to `--driver-opt env.K=V`.
   * @default {}
   */
  env?: Record<string, string>;
  /**
   * Secret environment of the buildkitd process: never in argv; Berth writes it into buildx's
   * builder store (a 0600 file) before the builder boots.
   * @default {}
   */
  secretEnv?: Record<string, string>;
  /**
   * buildkitd flags, e.g. `["--allow-insecure-entitlement", "security.insecure"]`. Equivalent to `--buildkitd-flags`.
   * @default []
   */
  buildkitdFlags?: string[];
  /**
   * The buildkitd.toml of every node (rendered by Berth). Not for `remote` (configure that buildkitd itself; `buildkitdToml()` renders one).
   * @default - buildkitd's defaults
   */
  config?: BuildkitdConfigArgs;
  /**
   * Platforms of the first node. Equivalent to `--platform`.
   * @default - what the node's workers report
   */
  platforms?: string[];
  /**
   * Endpoint of the first node (see `BuilderNodeArgs.endpoint`). Required for `remote`.
   * @default - the current docker context
   */
  endpoint?: string;
  /**
   * Mutual TLS to the first node (`remote` only).
   * @default - none
   */
  tls?: BuilderTlsArgs;
  /**
   * `kubernetes` driver settings.
   * @default {}
   */
  kubernetes?: KubernetesDriverArgs;
  /**
   * Other driver options Berth has no field for (e.g. `memory`, `cpu-quota`, `restart-policy`).
   * Equivalent to `--driver-opt k=v`.
   * @default {}
   */
  driverOptions?: Record<string, string>;
  /**
   * Further nodes (`docker buildx create --append`), e.g. an arm64 node next to an amd64 one.
   * @default []
   */
  appendNodes?: BuilderNodeArgs[];
}

/** One normalized node. `tls` PEMs are secrets. */
export interface BuilderNodeConfig {
  name: string;
  endpoint?: string;
  platforms: string[];
  /** Unset: no `--buildkitd-config`. */
  config?: BuildkitdConfig;
  buildkitdFlags: string[];
  tls?: BuilderTlsArgs;
}

/** A normalized builder. */
export interface BuilderConfig {
  name: string;
  driver: BuildxDriver;
  /** Plain driver options, in argv order (image, network, env.*, kubernetes, your own). */
  driverOptions: Record<string, string>;
  /** Secret `env.*` values: never in argv. */
  secretEnv: Record<string, string>;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY as configured (secret when a URL holds credentials), for `RUN` steps. */
  proxyEnv: Record<string, string>;
  /** Node 0 is created, the others appended. */
  nodes: BuilderNodeConfig[];
}

export const builderDefaults = { driver: "docker-container" as BuildxDriver } as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const NAME_EXPECT = "letters, digits, `_`, `.` or `-`, starting with a letter or digit";
/**
 * Longest builder or node name: buildx keeps a node's state in the docker volume
 * `buildx_buildkit_<node>_state` (a directory `/var/lib/docker/volumes/<volume>`) and the builder in
 * the file `~/.docker/buildx/instances/<name>`; a file name is at most 255 bytes.
 */
const NAME_MAX = 200;
const builderName = (fix?: string) =>
  matching(NAME, NAME_EXPECT, fix).superRefine((v, ctx) => {
    if (v.length > NAME_MAX) {
      problem(ctx, [], `must be at most ${NAME_MAX} characters; got ${v.length} (${show(v)}). It names the docker volume \`buildx_buildkit_<node>_state\`, and a file name is at most 255 bytes: shorten it.`);
    }
  }, whenClean);
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"];
const PROXY_URL = /^(?:https?|socks5h?):\/\/(?:[^\s/@]+@)?[^\s/@:]+(?::\d+)?\/?$/;
const PROXY_URL_EXPECT = "a proxy URL like `http://proxy.example:3128` or `http://user:password@proxy.example:3128`";
const NO_PROXY_ENTRY = /^[^\s,]+$/;
const DOCKER_ENDPOINT = /^(?:(?:unix|npipe):\/\/\/?\S+|tcp:\/\/\S+|ssh:\/\/\S+|[A-Za-z0-9][A-Za-z0-9_.+-]*)$/;
const REMOTE_ENDPOINT = /^(?:tcp|unix|docker-container|kube-pod|podman-container|nerdctl-container|ssh):\/\/\S+$/;
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._\/:@-]*$/;

/** True when a proxy URL carries credentials (`user:password@`): such a URL is a secret. */
export function hasCredentials(url: string): boolean {
  return /^[a-z0-9+.-]+:\/\/[^/]*@/i.test(url);
}

const proxyUrl = () => secret(PROXY_URL_EXPECT, "Write the scheme, optional credentials, host and port.", (v) => PROXY_URL.test(v));

const envDict = (secretValues: boolean) =>
  dict(secretValues ? secret("a string") : text(), secretValues ? "an object of variable → secret value" : "an object of variable → value", undefined, secretValues).superRefine((vars, ctx) => {
    for (const name of Object.keys(vars ?? {})) {
      if (keyProblem(name) !== undefined) continue; // reported by the map itself
      if (envNameProblem(name)) problem(ctx, [name], envNameProblem(name)!);
      else if (PROXY_ENV.includes(name.toUpperCase())) problem(ctx, [name], `is set from \`proxy\`; got ${show(name)} here. Set \`proxy.${name.toUpperCase() === "NO_PROXY" ? "noProxy" : name.toUpperCase() === "HTTPS_PROXY" ? "https" : "http"}\` instead (NO_PROXY as a list, merged into one value).`);
    }
  });

const PEM_LINES = { chars: "lines" } as const;
const tlsSchema = strict(
  {
    caPem: secret("a PEM CA certificate starting with `-----BEGIN CERTIFICATE-----`", undefined, (v) => v.includes("-----BEGIN CERTIFICATE-----"), PEM_LINES).optional(),
    certPem: secret("a PEM certificate starting with `-----BEGIN CERTIFICATE-----`", undefined, (v) => v.includes("-----BEGIN CERTIFICATE-----"), PEM_LINES).optional(),
    keyPem: secret("a PEM private key starting with `-----BEGIN … PRIVATE KEY-----`", undefined, (v) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(v), PEM_LINES).optional(),
    serverName: matching(/^[A-Za-z0-9.-]+$/, "a host name like `buildkitd.example.com`").optional(),
  },
  "an object `{ caPem?, certPem?, keyPem?, serverName? }`",
  true,
).superRefine(
  (raw, ctx) => {
    const v = raw as Record<string, unknown>;
    if ((v.certPem === undefined) !== (v.keyPem === undefined)) {
      problem(ctx, [v.certPem === undefined ? "certPem" : "keyPem"], "must be set together with `" + (v.certPem === undefined ? "keyPem" : "certPem") + "`: a client certificate needs its key. Set both, or neither.");
    }
  },
  evenWithFieldErrors,
);

const flagsSchema = list(text("a buildkitd flag or its value"), "a list of buildkitd flags and values").superRefine((flags, ctx) => {
  if (Array.isArray(flags) && typeof flags[0] === "string" && textProblem(flags[0]) === undefined && !flags[0].startsWith("-")) {
    problem(ctx, [0], mustBe("a flag starting with `-`", flags[0], "List flags and their values in order, e.g. `[\"--allow-insecure-entitlement\", \"security.insecure\"]`."));
  }
});

const nodeSchema = strict({
  name: builderName().optional(),
  endpoint: text("an endpoint", "For example `tcp://buildkitd.example:1234` or a docker context name.").optional(),
  platforms: platformList().optional(),
  config: buildkitdConfigSchema.optional(),
  buildkitdFlags: flagsSchema.optional(),
  tls: tlsSchema.optional(),
});

const k8sQuantity = () => matching(/^\d+(?:\.\d+)?(?:m|[KMGTPE]i?|[kMGTPE])?$/, "a Kubernetes quantity like `500m`, `2` or `4Gi`");
const k8sMap = () =>
  dict(matching(/^[^,=;\s]*$/, "a value without `,`, `=`, `;` or spaces"), "an object of key → value").superRefine((m, ctx) => {
    for (const key of Object.keys(m ?? {})) if (keyProblem(key) === undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(key)) problem(ctx, [key], mustBe("a Kubernetes label key", key, 'For example "kubernetes.io/arch".'));
  });

const kubernetesSchema = strict({
  namespace: matching(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a Kubernetes namespace name").optional(),
  replicas: integer(1, 100).optional(),
  requestsCpu: k8sQuantity().optional(),
  requestsMemory: k8sQuantity().optional(),
  limitsCpu: k8sQuantity().optional(),
  limitsMemory: k8sQuantity().optional(),
  nodeSelector: k8sMap().optional(),
  annotations: k8sMap().optional(),
  labels: k8sMap().optional(),
  tolerations: list(
    strict({
      key: matching(/^[^,=;\s]+$/, "a taint key").optional(),
      operator: z.enum(["Equal", "Exists"], { error: (iss) => mustBe("`Equal` or `Exists`", iss.input) }).optional(),
      value: matching(/^[^,=;\s]*$/, "a value without `,`, `=`, `;` or spaces").optional(),
      effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"], { error: (iss) => mustBe("one of `NoSchedule`, `PreferNoSchedule`, `NoExecute`", iss.input) }).optional(),
      tolerationSeconds: integer(0).optional(),
    }),
    "a list of tolerations",
  ).optional(),
  serviceAccount: matching(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "a service account name").optional(),
  rootless: flag().optional(),
  loadbalance: z.enum(["sticky", "random"], { error: (iss) => mustBe("`sticky` or `random`", iss.input) }).optional(),
  qemuInstall: flag().optional(),
  timeoutSeconds: integer(1).optional(),
});

/** Driver options a user may pass through `driverOptions`, per driver. */
export const EXTRA_DRIVER_OPTIONS: Record<BuildxDriver, string[]> = {
  "docker-container": ["memory", "memory-swap", "cpu-period", "cpu-quota", "cpu-shares", "cpuset-cpus", "cpuset-mems", "cgroup-parent", "restart-policy", "default-load", "provenance-add-gha"],
  remote: ["default-load"],
  kubernetes: ["requests.ephemeral-storage", "limits.ephemeral-storage", "persistent-volume-claim.requests.storage", "schedulername", "qemu.image", "buildkit-root-volume-memory", "default-load"],
};

/** Where each Berth field sits for a driver; used to word "not for this driver" problems. */
const DRIVER_ONLY: Record<string, BuildxDriver[]> = {
  image: ["docker-container", "kubernetes"],
  network: ["docker-container"],
  proxy: ["docker-container", "kubernetes"],
  env: ["docker-container", "kubernetes"],
  secretEnv: ["docker-container", "kubernetes"],
  buildkitdFlags: ["docker-container", "kubernetes"],
  config: ["docker-container", "kubernetes"],
  tls: ["remote"],
  kubernetes: ["kubernetes"],
};

const DRIVER_EXPECT = "one of `docker-container`, `remote`, `kubernetes`";

/** The schema of `BuilderArgs`; its output is the normalized `BuilderConfig`. */
export const builderSchema = strict({
  name: builderName("buildx names its BuildKit container `buildx_buildkit_<name>0`, so the name must suit a container name."),
  driver: z
    .enum(["docker-container", "remote", "kubernetes"], {
      error: (iss) => mustBe(DRIVER_EXPECT, iss.input, iss.input === "docker" ? "The `docker` driver cannot be configured (it is the engine's built-in BuildKit); use `docker-container`." : undefined),
    })
    .optional(),
  image: matching(IMAGE_REF, "an image reference like `moby/buildkit:buildx-stable-1`").optional(),
  network: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "`host`, `bridge` or a docker network name").optional(),
  proxy: strict(
    {
      http: proxyUrl().optional(),
      https: proxyUrl().optional(),
      noProxy: uniqueList(matching(NO_PROXY_ENTRY, "a host, domain, IP, CIDR or `host:port` without commas or spaces", "List each entry separately."), "a list of hosts").optional(),
    },
    "an object `{ http?, https?, noProxy? }`",
    true,
  ).optional(),
  env: envDict(false).optional(),
  secretEnv: envDict(true).optional(),
  buildkitdFlags: flagsSchema.optional(),
  config: buildkitdConfigSchema.optional(),
  platforms: platformList().optional(),
  endpoint: text("an endpoint", "For example `tcp://buildkitd.example:1234` or a docker context name.").optional(),
  tls: tlsSchema.optional(),
  kubernetes: kubernetesSchema.optional(),
  driverOptions: dict(matching(/^[^\n]*$/, "a single-line string"), "an object of driver option → value").optional(),
  appendNodes: list(nodeSchema, "a list of nodes").optional(),
})
  .superRefine((raw, ctx) => {
    const v = raw as Record<string, unknown>;
    const driver = (v.driver === undefined ? builderDefaults.driver : v.driver) as BuildxDriver;
    const nodes: Record<string, unknown>[] = [v, ...(Array.isArray(v.appendNodes) ? v.appendNodes.filter(isRecord) : [])];
    const at = (i: number, key: string): PropertyKey[] => (i === 0 ? [key] : ["appendNodes", i - 1, key]);

    // Node names are unique.
    const name = typeof v.name === "string" ? v.name : "";
    const names = nodes.map((n, i) => (typeof n.name === "string" && i > 0 ? n.name : `${name}${i}`));
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) problem(ctx, at(i, "name"), `must differ from the other nodes' names; got ${show(n)} again. Name each node once.`);
    });

    // An unknown driver is reported by its own field; nothing else can be checked against it.
    if (!["docker-container", "remote", "kubernetes"].includes(driver)) return;

    // Fields that belong to another driver.
    for (const [key, drivers] of Object.entries(DRIVER_ONLY)) {
      nodes.forEach((n, i) => {
        if (i > 0 && !["config", "buildkitdFlags", "tls"].includes(key)) return;
        if (n[key] !== undefined && !drivers.includes(driver)) {
          const why =
            driver === "remote" && (key === "config" || key === "buildkitdFlags")
              ? " buildx cannot configure a remote buildkitd; start that buildkitd with its own config (`buildkitdToml()` renders one)."
              : driver === "remote" && ["proxy", "env", "secretEnv"].includes(key)
                ? " A remote buildkitd's environment is set where it runs."
                : "";
          problem(ctx, at(i, key), `only applies to the ${drivers.map((d) => `\`${d}\``).join(" or ")} driver; the driver is \`${driver}\`. Remove it, or change \`driver\`.${why}`);
        }
      });
    }

    // Endpoints.
    nodes.forEach((n, i) => {
      const ep = typeof n.endpoint === "string" && textProblem(n.endpoint) !== undefined ? null : n.endpoint; // null: reported by its field
      if (driver === "remote") {
        if (ep === undefined) problem(ctx, at(i, "endpoint"), "must be set for the `remote` driver: the buildkitd address, e.g. `tcp://buildkitd.example:1234`.");
        else if (typeof ep === "string" && !REMOTE_ENDPOINT.test(ep)) problem(ctx, at(i, "endpoint"), mustBe("a buildkitd address like `tcp://host:1234`, `unix:///path/buildkitd.sock` or `docker-container://name`", ep));
        else if (isRecord(n.tls) && typeof ep === "string" && !ep.startsWith("tcp://")) problem(ctx, at(i, "tls"), `only applies to a \`tcp://\` endpoint; got ${show(ep)}. Remove \`tls\`, or use a tcp endpoint.`);
      } else if (typeof ep === "string" && !DOCKER_ENDPOINT.test(ep)) {
        problem(ctx, at(i, "endpoint"), mustBe("a docker context name or a docker host like `unix:///var/run/docker.sock` or `ssh://user@host`", ep));
      }
    });

    // Extra driver options: only those Berth has no field for.
    if (isRecord(v.driverOptions)) {
      const allowed = EXTRA_DRIVER_OPTIONS[driver] ?? [];
      for (const key of Object.keys(v.driverOptions)) {
        if (keyProblem(key) !== undefined) continue; // reported by the map itself
        const field = key === "image" ? "image" : key === "network" ? "network" : key.startsWith("env.") ? (PROXY_ENV.includes(key.slice(4).toUpperCase()) ? "proxy" : "env") : ["cacert", "cert", "key", "servername"].includes(key) ? "tls" : undefined;
        if (field) problem(ctx, ["driverOptions", key], `is set by Berth from \`${field}\`; got ${show(key)} here. Set \`${field}\` instead.`);
        else if (!allowed.includes(key)) problem(ctx, ["driverOptions", key], `is not a ${driver} driver option Berth passes through; got ${show(key)}. Allowed: ${allowed.map((a) => `\`${a}\``).join(", ")}${driver === "kubernetes" ? "; the others are fields of `kubernetes`" : ""}.`);
      }
    }
  }, evenWithFieldErrors)
  .transform((v): BuilderConfig => {
    const driver = v.driver ?? builderDefaults.driver;
    const options: Record<string, string> = {};
    const secretEnv: Record<string, string> = { ...(v.secretEnv ?? {}) };
    const proxyEnv: Record<string, string> = {};
    if (v.image !== undefined) options.image = v.image;
    if (v.network !== undefined) options.network = v.network;
    const put = (key: string, value: string, isSecret: boolean) => {
      if (isSecret) secretEnv[key] = value;
      else options[`env.${key}`] = value;
    };
    if (v.proxy?.http !== undefined) put("HTTP_PROXY", (proxyEnv.HTTP_PROXY = v.proxy.http), hasCredentials(v.proxy.http));
    if (v.proxy?.https !== undefined) put("HTTPS_PROXY", (proxyEnv.HTTPS_PROXY = v.proxy.https), hasCredentials(v.proxy.https));
    if (v.proxy?.noProxy?.length) put("NO_PROXY", (proxyEnv.NO_PROXY = v.proxy.noProxy.join(",")), false);
    for (const [k, val] of Object.entries(v.env ?? {})) options[`env.${k}`] = val;
    if (driver === "kubernetes") Object.assign(options, kubernetesOptions(v.kubernetes ?? {}));
    Object.assign(options, v.driverOptions ?? {});

    const first: BuilderNodeConfig = { name: `${v.name}0`, platforms: v.platforms ?? [], buildkitdFlags: v.buildkitdFlags ?? [] };
    if (v.endpoint !== undefined) first.endpoint = v.endpoint;
    if (v.config !== undefined) first.config = v.config;
    if (v.tls !== undefined) first.tls = v.tls;
    const nodes = [first];
    (v.appendNodes ?? []).forEach((n, i) => {
      const node: BuilderNodeConfig = { name: n.name ?? `${v.name}${i + 1}`, platforms: n.platforms ?? [], buildkitdFlags: n.buildkitdFlags ?? v.buildkitdFlags ?? [] };
      if (n.endpoint !== undefined) node.endpoint = n.endpoint;
      const config = n.config ?? v.config;
      if (config !== undefined) node.config = config;
      if (n.tls !== undefined) node.tls = n.tls;
      nodes.push(node);
    });
    return { name: v.name, driver, driverOptions: options, secretEnv, proxyEnv, nodes };
  });

/** The kubernetes driver options of `KubernetesDriverArgs`, in a fixed order. */
export function kubernetesOptions(k: KubernetesDriverArgs): Record<string, string> {
  const o: Record<string, string> = {};
  const pairs = (m: Record<string, string>) =>
    Object.entries(m)
      .map(([a, b]) => `${a}=${b}`)
      .join(",");
  if (k.namespace !== undefined) o.namespace = k.namespace;
  if (k.replicas !== undefined) o.replicas = String(k.replicas);
  if (k.requestsCpu !== undefined) o["requests.cpu"] = k.requestsCpu;
  if (k.requestsMemory !== undefined) o["requests.memory"] = k.requestsMemory;
  if (k.limitsCpu !== undefined) o["limits.cpu"] = k.limitsCpu;
  if (k.limitsMemory !== undefined) o["limits.memory"] = k.limitsMemory;
  if (k.nodeSelector && Object.keys(k.nodeSelector).length) o.nodeselector = pairs(k.nodeSelector);
  if (k.annotations && Object.keys(k.annotations).length) o.annotations = pairs(k.annotations);
  if (k.labels && Object.keys(k.labels).length) o.labels = pairs(k.labels);
  if (k.tolerations?.length) {
    o.tolerations = k.tolerations
      .map((t) =>
        (["key", "operator", "value", "effect", "tolerationSeconds"] as const)
          .filter((f) => t[f] !== undefined)
          .map((f) => `${f}=${t[f]}`)
          .join(","),
      )
      .join(";");
  }
  if (k.serviceAccount !== undefined) o.serviceaccount = k.serviceAccount;
  if (k.rootless !== undefined) o.rootless = String(k.rootless);
  if (k.loadbalance !== undefined) o.loadbalance = k.loadbalance;
  if (k.qemuInstall !== undefined) o["qemu.install"] = String(k.qemuInstall);
  if (k.timeoutSeconds !== undefined) o.timeout = `${k.timeoutSeconds}s`;
  return o;
}

/** Validates a builder and applies the defaults. Throws one `BerthConfigError` listing every problem. */
export function normalizeBuilder(input: BuilderArgs, component = "BuildxBuilder", prefix = ""): BuilderConfig {
  return parse(component, builderSchema, input, prefix);
}
