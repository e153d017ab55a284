import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { BuilderArgs, BuildkitdConfigArgs, buildkitdPresets, normalizeBuilder, normalizeBuildkitdConfig } from "../../sdk/config/builder";

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, String(e));
    return e.problems.map((p) => `\`${p.path}\`: ${p.message}`);
  }
  assert.fail("expected a BerthConfigError");
}

const builder = (input: unknown) => problems(() => normalizeBuilder(input as BuilderArgs));
const config = (input: unknown) => problems(() => normalizeBuildkitdConfig(input as BuildkitdConfigArgs));

describe("config/builder normalizeBuildkitdConfig", () => {
  it("renders nothing without a preset or fields", () => {
    assert.deepEqual(normalizeBuildkitdConfig(undefined), {});
  });

  it("presets follow seed 001's table: parallelism 4/6/12, GC limits, log level, entitlements, platforms", () => {
    const rows = (["development", "test", "production"] as const).map((p) => {
      const c = normalizeBuildkitdConfig({ preset: p });
      const oci = c.worker!.oci!;
      return [p, oci.maxParallelism, oci.reservedSpace, oci.maxUsedSpace, c.log!.level, c.insecureEntitlements!.length, oci.platforms!.length];
    });
    assert.deepEqual(rows, [
      ["development", 4, "10GB", "30GB", "debug", 2, 1],
      ["test", 6, "20GB", "50GB", "info", 1, 2],
      ["production", 12, "50GB", "80GB", "warn", 0, 3],
    ]);
    assert.equal(normalizeBuildkitdConfig({ preset: "development" }).debug, true);
    assert.deepEqual(normalizeBuildkitdConfig({ preset: "test" }).history, { maxAgeSeconds: 604800, maxEntries: 100 });
  });

  it("overrides a preset field by field, keeping the preset's other fields", () => {
    const c = normalizeBuildkitdConfig({ preset: "production", worker: { oci: { maxParallelism: 16 } }, log: { level: "info" }, registry: { "10.0.0.1:5443": { ca: ["/ca.crt"] } } });
    assert.equal(c.worker!.oci!.maxParallelism, 16);
    assert.equal(c.worker!.oci!.maxUsedSpace, "80GB");
    assert.deepEqual(c.worker!.oci!.platforms, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    assert.deepEqual(c.log, { format: "json", level: "info" });
    assert.deepEqual(c.registry, { "10.0.0.1:5443": { ca: ["/ca.crt"] } });
    // The preset table itself is not changed by an override.
    assert.equal(buildkitdPresets.production.worker!.oci!.maxParallelism, 12);
  });

  it("fails with the field path for negative parallelism, a bad size and an unknown platform", () => {
    assert.deepEqual(config({ worker: { oci: { maxParallelism: -2, reservedSpace: "10QB", platforms: ["linux/amd64", "linux/sparc"] } } }), [
      "`config.worker.oci.platforms[1]`: must be a platform like `linux/amd64`, `linux/arm64` or `linux/arm/v7`; got \"linux/sparc\". Known platforms: linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, linux/arm64, linux/arm64/v8, linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/386, linux/ppc64le, linux/s390x, linux/riscv64, linux/mips64le, linux/mips64, linux/loong64, windows/amd64, windows/arm64.",
      "`config.worker.oci.maxParallelism`: must be an integer from 1 to 1024; got -2. Omit it for no limit.",
      "`config.worker.oci.reservedSpace`: must be a size like `10GB`, `512MB` or `20%`; got \"10QB\". Units are B, KB, MB, GB, TB or PB (powers of 1024), or a percentage of the disk.",
    ]);
  });

  it("suggests the spelling of a short platform", () => {
    assert.deepEqual(config({ worker: { oci: { platforms: ["arm64"] } } }), [
      "`config.worker.oci.platforms[0]`: must be a platform like `linux/amd64`, `linux/arm64` or `linux/arm/v7`; got \"arm64\". Write it as `linux/arm64`.",
    ]);
  });

  it("refuses seed 000's `[worker.oci] env` and `network`, which buildkitd silently ignores", () => {
    assert.deepEqual(config({ worker: { oci: { env: ["HTTP_PROXY=http://p:8080"], network: "host" } } }), [
      "`config.worker.oci.network`: is not a buildkitd setting: buildkitd reads `networkMode` and silently ignores `network`. Write `networkMode` (`auto`, `host`, `cni` or `bridge`); for the builder container's own network set the builder's `network`.",
      "`config.worker.oci.env`: is not a buildkitd setting: buildkitd.toml has no environment (buildkitd silently ignores `env`, so a proxy set there is never used). Set the builder's `proxy`, `env` or `secretEnv`: Berth passes them to the buildkitd process (secret values outside argv).",
    ]);
  });

  it("checks registries, gRPC TLS, preset names, relative paths, and GC limits without GC", () => {
    assert.deepEqual(
      config({
        preset: "staging",
        registry: { "https://reg.example": { ca: ["ca.crt"] } },
        grpc: { address: ["unix:///run/buildkit/buildkitd.sock"], tls: { cert: "/c", key: "/k" } },
        worker: { oci: { gc: false, maxUsedSpace: "10GB" } },
      }),
      [
        "`config.preset`: must be one of `development`, `test`, `production`; got \"staging\".",
        "`config.registry.https://reg.example.ca[0]`: must be an absolute path to a PEM CA certificate; got \"ca.crt\". buildkitd and buildx do not resolve relative paths the same way; write the full path.",
        "`config.registry.https://reg.example`: must be a registry host like `registry.example.com`, `10.0.0.1:5000` or `docker.io`; got \"https://reg.example\". Write the host (and port) only: no scheme or path.",
        "`config.grpc.tls`: needs a `tcp://` address in `grpc.address`; TLS only applies to tcp listeners. Add one, e.g. `tcp://0.0.0.0:1234`.",
        "`config.worker.oci.maxUsedSpace`: has no effect when `worker.oci.gc` is false; got \"10GB\". Remove it, or turn `gc` on.",
      ],
    );
  });

  it("names an unknown key and the allowed ones", () => {
    const p = config({ worker: { oci: { maxparallelism: 2 } } });
    assert.equal(p.length, 1);
    assert.match(p[0], /^`config.worker.oci`: has unknown key `maxparallelism`; allowed keys are `enabled`, `platforms`, `maxParallelism`/);
  });
});

describe("config/builder normalizeBuilder", () => {
  it("seed 000 as a builder: NO_PROXY merged into one value, credentialed proxy URLs kept out of driver options", () => {
    const b = normalizeBuilder({
      name: "corp",
      image: "moby/buildkit:latest",
      network: "host",
      buildkitdFlags: ["--allow-insecure-entitlement", "security.insecure"],
      proxy: {
        http: "http://user:password@10.0.0.9:8080",
        https: "http://user:password@10.0.0.9:8080",
        noProxy: ["172.25.136.0/24", "172.25.137.0/24", "172.25.143.0/26", "127.0.0.1", "localhost", "172.20.0.0/24", "registry.mycompany.com"],
      },
    });
    assert.deepEqual(b.driverOptions, {
      image: "moby/buildkit:latest",
      network: "host",
      "env.NO_PROXY": "172.25.136.0/24,172.25.137.0/24,172.25.143.0/26,127.0.0.1,localhost,172.20.0.0/24,registry.mycompany.com",
    });
    assert.deepEqual(b.secretEnv, { HTTP_PROXY: "http://user:password@10.0.0.9:8080", HTTPS_PROXY: "http://user:password@10.0.0.9:8080" });
    assert.equal(b.proxyEnv.NO_PROXY, b.driverOptions["env.NO_PROXY"]);
    assert.deepEqual(b.nodes, [{ name: "corp0", platforms: [], buildkitdFlags: ["--allow-insecure-entitlement", "security.insecure"] }]);
  });

  it("keeps a proxy URL without credentials a plain driver option", () => {
    const b = normalizeBuilder({ name: "b", proxy: { http: "http://10.77.0.1:8888" } });
    assert.deepEqual(b.driverOptions, { "env.HTTP_PROXY": "http://10.77.0.1:8888" });
    assert.deepEqual(b.secretEnv, {});
  });

  it("appends nodes with their own platforms and config, inheriting the builder's", () => {
    const b = normalizeBuilder({
      name: "hybrid",
      platforms: ["linux/amd64"],
      config: { preset: "test" },
      appendNodes: [{ endpoint: "unix:///var/run/other.sock", platforms: ["linux/arm64"], config: { worker: { oci: { platforms: ["linux/arm64"] } } } }, { name: "third" }],
    });
    assert.deepEqual(
      b.nodes.map((n) => [n.name, n.endpoint, n.platforms, n.config?.worker?.oci?.platforms]),
      [
        ["hybrid0", undefined, ["linux/amd64"], ["linux/amd64", "linux/arm64"]],
        ["hybrid1", "unix:///var/run/other.sock", ["linux/arm64"], ["linux/arm64"]],
        ["third", undefined, [], ["linux/amd64", "linux/arm64"]],
      ],
    );
  });

  it("a remote builder needs an endpoint, takes TLS, and refuses config, flags and proxy", () => {
    assert.deepEqual(
      builder({ name: "r", driver: "remote", config: { preset: "test" }, buildkitdFlags: ["--debug"], proxy: { noProxy: ["x"] }, tls: { certPem: "-----BEGIN CERTIFICATE-----" } }),
      [
        "`tls.keyPem`: must be set together with `certPem`: a client certificate needs its key. Set both, or neither.",
        "`proxy`: only applies to the `docker-container` or `kubernetes` driver; the driver is `remote`. Remove it, or change `driver`. A remote buildkitd's environment is set where it runs.",
        "`buildkitdFlags`: only applies to the `docker-container` or `kubernetes` driver; the driver is `remote`. Remove it, or change `driver`. buildx cannot configure a remote buildkitd; start that buildkitd with its own config (`buildkitdToml()` renders one).",
        "`config`: only applies to the `docker-container` or `kubernetes` driver; the driver is `remote`. Remove it, or change `driver`. buildx cannot configure a remote buildkitd; start that buildkitd with its own config (`buildkitdToml()` renders one).",
        "`endpoint`: must be set for the `remote` driver: the buildkitd address, e.g. `tcp://buildkitd.example:1234`.",
      ],
    );
    const ok = normalizeBuilder({ name: "r", driver: "remote", endpoint: "tcp://10.0.0.5:1234", tls: { caPem: "-----BEGIN CERTIFICATE-----x", certPem: "-----BEGIN CERTIFICATE-----y", keyPem: "-----BEGIN PRIVATE KEY-----z", serverName: "bk" } });
    assert.equal(ok.nodes[0].tls?.serverName, "bk");
    assert.deepEqual(ok.driverOptions, {});
  });

  it("never shows a proxy URL or a TLS key in a message", () => {
    const p = builder({ name: "b", proxy: { http: "ftp://u:hunter22@x" }, driver: "remote", endpoint: "tcp://h:1", tls: { keyPem: "hunter33", certPem: "nope" } });
    const all = p.join("\n");
    assert.equal(all.includes("hunter22"), false, all);
    assert.equal(all.includes("hunter33"), false, all);
    assert.match(all, /`tls.keyPem`: must be a PEM private key .*not shown because it is secret/);
  });

  it("routes NO_PROXY/HTTP_PROXY set in env, and driver options Berth sets, to their fields", () => {
    assert.deepEqual(builder({ name: "b", env: { NO_PROXY: "a", "1X": "y" }, driverOptions: { "env.HTTP_PROXY": "x", image: "y", memory: "2g", foo: "1" } }), [
      "`env.NO_PROXY`: is set from `proxy`; got \"NO_PROXY\" here. Set `proxy.noProxy` instead (NO_PROXY as a list, merged into one value).",
      "`env.1X`: must be named like an environment variable (letters, digits and `_`, not starting with a digit); got \"1X\".",
      "`driverOptions.env.HTTP_PROXY`: is set by Berth from `proxy`; got \"env.HTTP_PROXY\" here. Set `proxy` instead.",
      "`driverOptions.image`: is set by Berth from `image`; got \"image\" here. Set `image` instead.",
      "`driverOptions.foo`: is not a docker-container driver option Berth passes through; got \"foo\". Allowed: `memory`, `memory-swap`, `cpu-period`, `cpu-quota`, `cpu-shares`, `cpuset-cpus`, `cpuset-mems`, `cgroup-parent`, `restart-policy`, `default-load`, `provenance-add-gha`.",
    ]);
  });

  it("refuses the docker driver, a bad name, duplicate node names and a NO_PROXY entry with a comma", () => {
    assert.deepEqual(builder({ name: "-bad", driver: "docker", proxy: { noProxy: ["a,b"] }, appendNodes: [{ name: "x" }, { name: "x" }] }), [
      "`name`: must be letters, digits, `_`, `.` or `-`, starting with a letter or digit; got \"-bad\". buildx names its BuildKit container `buildx_buildkit_<name>0`, so the name must suit a container name.",
      "`driver`: must be one of `docker-container`, `remote`, `kubernetes`; got \"docker\". The `docker` driver cannot be configured (it is the engine's built-in BuildKit); use `docker-container`.",
      "`proxy.noProxy[0]`: must be a host, domain, IP, CIDR or `host:port` without commas or spaces; got \"a,b\". List each entry separately.",
      "`appendNodes[1].name`: must differ from the other nodes' names; got \"x\" again. Name each node once.",
    ]);
  });

  it("kubernetes settings become buildx driver options", () => {
    const b = normalizeBuilder({
      name: "k",
      driver: "kubernetes",
      image: "moby/buildkit:v0.33.1",
      kubernetes: {
        namespace: "builds",
        replicas: 2,
        requestsCpu: "500m",
        limitsMemory: "4Gi",
        nodeSelector: { "kubernetes.io/arch": "arm64", pool: "build" },
        tolerations: [{ key: "arch", operator: "Equal", value: "arm64", effect: "NoSchedule" }, { key: "spot", operator: "Exists" }],
        loadbalance: "random",
        qemuInstall: false,
        timeoutSeconds: 300,
      },
      proxy: { http: "http://10.0.0.9:3128", noProxy: ["10.0.0.0/8", ".cluster.local"] },
      platforms: ["linux/arm64"],
    });
    assert.deepEqual(b.driverOptions, {
      image: "moby/buildkit:v0.33.1",
      "env.HTTP_PROXY": "http://10.0.0.9:3128",
      "env.NO_PROXY": "10.0.0.0/8,.cluster.local",
      namespace: "builds",
      replicas: "2",
      "requests.cpu": "500m",
      "limits.memory": "4Gi",
      nodeselector: "kubernetes.io/arch=arm64,pool=build",
      tolerations: "key=arch,operator=Equal,value=arm64,effect=NoSchedule;key=spot,operator=Exists",
      loadbalance: "random",
      "qemu.install": "false",
      timeout: "300s",
    });
  });

  it("refuses kubernetes settings on another driver and TLS on a non-tcp endpoint", () => {
    assert.deepEqual(builder({ name: "b", kubernetes: { replicas: 0 } }), [
      "`kubernetes.replicas`: must be an integer from 1 to 100; got 0.",
      "`kubernetes`: only applies to the `kubernetes` driver; the driver is `docker-container`. Remove it, or change `driver`.",
    ]);
    assert.deepEqual(builder({ name: "b", driver: "remote", endpoint: "unix:///run/bk.sock", tls: { serverName: "x" } }), [
      "`tls`: only applies to a `tcp://` endpoint; got \"unix:///run/bk.sock\". Remove `tls`, or use a tcp endpoint.",
    ]);
  });
});
