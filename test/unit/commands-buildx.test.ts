import { strict as assert } from "node:assert";
import { normalizeBuilder, normalizeBuildkitdConfig } from "../../sdk/config/builder";
import { normalizeImage } from "../../sdk/config/image";
import {
  buildArgv,
  buildkitContainersArgv,
  buildxBootstrapArgv,
  buildxCreateArgv,
  buildxRmArgv,
  csvField,
  removeBuildkitContainerArgv,
  renderBuildkitdToml,
} from "../../sdk/commands/buildx";
import { line } from "../../sdk/commands/shell";

const run = { metadataFile: "/tmp/m.json", secretEnv: {}, envBuildArgs: [] };

describe("commands/buildx builder", () => {
  it("seed 000's builder: one merged NO_PROXY, credentialed proxies as placeholders, flags, config", () => {
    const b = normalizeBuilder({
      name: "kamal-local-docker-container",
      image: "moby/buildkit:latest",
      network: "host",
      buildkitdFlags: ["--allow-insecure-entitlement", "security.insecure"],
      proxy: { http: "http://user:password@10.0.0.9:8080", https: "http://user:password@10.0.0.9:8080", noProxy: ["172.25.136.0/24", "127.0.0.1", "localhost", "registry.mycompany.com"] },
    });
    const argv = buildxCreateArgv(b, 0, { secretEnvNames: Object.keys(b.secretEnv), files: { configPath: "/tmp/b/buildkitd.toml" } });
    assert.equal(
      line(argv),
      "docker buildx create --name kamal-local-docker-container --node kamal-local-docker-container0 --driver docker-container " +
        "--driver-opt image=moby/buildkit:latest --driver-opt network=host " +
        "--driver-opt '\"env.NO_PROXY=172.25.136.0/24,127.0.0.1,localhost,registry.mycompany.com\"' " +
        "--driver-opt env.HTTP_PROXY=berth-secret:HTTP_PROXY --driver-opt env.HTTPS_PROXY=berth-secret:HTTPS_PROXY " +
        "--buildkitd-flags '--allow-insecure-entitlement security.insecure' --buildkitd-config /tmp/b/buildkitd.toml",
    );
    assert.equal(argv.join(" ").includes("password"), false);
    assert.equal(argv.filter((a) => a.includes("NO_PROXY")).length, 1);
  });

  it("appends a node with --append, its own platforms, config and endpoint, and no --driver", () => {
    const b = normalizeBuilder({ name: "hy", platforms: ["linux/amd64"], appendNodes: [{ endpoint: "unix:///var/lib/h2/docker.sock", platforms: ["linux/arm64"] }] });
    assert.deepEqual(buildxCreateArgv(b, 0, { bootstrap: true }), ["docker", "buildx", "create", "--name", "hy", "--node", "hy0", "--driver", "docker-container", "--platform", "linux/amd64", "--bootstrap"]);
    assert.deepEqual(buildxCreateArgv(b, 1, { files: { configPath: "/t/hy1.toml" } }), [
      "docker", "buildx", "create", "--append", "--name", "hy", "--node", "hy1", "--buildkitd-config", "/t/hy1.toml", "--platform", "linux/arm64", "unix:///var/lib/h2/docker.sock",
    ]);
  });

  it("remote: TLS files as cacert/cert/key driver options and the tcp endpoint last", () => {
    const b = normalizeBuilder({ name: "rb", driver: "remote", endpoint: "tcp://10.77.0.11:1234", platforms: ["linux/amd64"], tls: { serverName: "buildkitd" } });
    assert.equal(
      line(buildxCreateArgv(b, 0, { files: { tls: { cacert: "/s/ca.pem", cert: "/s/cert.pem", key: "/s/key.pem" } } })),
      "docker buildx create --name rb --node rb0 --driver remote --driver-opt cacert=/s/ca.pem --driver-opt cert=/s/cert.pem --driver-opt key=/s/key.pem --driver-opt servername=buildkitd --platform linux/amd64 tcp://10.77.0.11:1234",
    );
  });

  it("kubernetes: every setting as a driver option; values with commas CSV-quoted", () => {
    const b = normalizeBuilder({
      name: "kb",
      driver: "kubernetes",
      kubernetes: { namespace: "ci", replicas: 3, nodeSelector: { arch: "arm64", pool: "b" }, tolerations: [{ key: "k", operator: "Exists" }], rootless: true, loadbalance: "sticky" },
      platforms: ["linux/arm64", "linux/amd64"],
      config: { preset: "test" },
    });
    assert.equal(
      line(buildxCreateArgv(b, 0, { files: { configPath: "/t/kb0.toml" }, bootstrap: true })),
      "docker buildx create --name kb --node kb0 --driver kubernetes --driver-opt namespace=ci --driver-opt replicas=3 " +
        "--driver-opt '\"nodeselector=arch=arm64,pool=b\"' --driver-opt '\"tolerations=key=k,operator=Exists\"' --driver-opt rootless=true --driver-opt loadbalance=sticky " +
        "--buildkitd-config /t/kb0.toml --platform linux/arm64,linux/amd64 --bootstrap",
    );
  });

  it("bootstrap, rm and the orphan check", () => {
    assert.deepEqual(buildxBootstrapArgv("b"), ["docker", "buildx", "inspect", "--bootstrap", "b"]);
    assert.deepEqual(buildxRmArgv("b"), ["docker", "buildx", "rm", "b"]);
    assert.deepEqual(buildkitContainersArgv(undefined, "b0"), ["docker", "ps", "-a", "--filter", "name=buildx_buildkit_b0", "--format", "{{.Names}}"]);
    assert.deepEqual(buildkitContainersArgv("unix:///h.sock", "b1").slice(0, 3), ["docker", "-H", "unix:///h.sock"]);
    assert.deepEqual(buildkitContainersArgv("h2ctx", "b1").slice(0, 3), ["docker", "--context", "h2ctx"]);
    assert.deepEqual(removeBuildkitContainerArgv(undefined, "b0"), [
      ["docker", "rm", "-f", "buildx_buildkit_b0"],
      ["docker", "volume", "rm", "-f", "buildx_buildkit_b0_state"],
    ]);
  });

  it("csvField quotes fields with commas or quotes", () => {
    assert.equal(csvField("a=b"), "a=b");
    assert.equal(csvField("env.NO_PROXY=a,b"), '"env.NO_PROXY=a,b"');
    assert.equal(csvField('x="y"'), '"x=""y"""');
  });
});

describe("commands/buildx renderBuildkitdToml", () => {
  it("renders seed 000's registry CA and a development preset with BuildKit's key names", () => {
    const toml = renderBuildkitdToml(
      normalizeBuildkitdConfig({
        preset: "development",
        root: "/var/lib/buildkit-dev",
        worker: { oci: { networkMode: "host", labels: { "com.example/team": "devops" } } },
        grpc: { address: ["unix:///run/buildkit/buildkitd.sock"] },
        registry: { "registry.mycompany.com": { ca: ["/etc/pki/registry-ca.crt"], mirrors: ["mirror.mycompany.com"] }, "10.77.0.1:5000": { http: true, keypairs: [{ key: "/k.pem", cert: "/c.pem" }] } },
        otel: { socketPath: "/run/buildkit/otel-grpc.sock" },
      }),
    );
    assert.equal(
      toml,
      [
        "debug = true",
        'root = "/var/lib/buildkit-dev"',
        'insecure-entitlements = ["network.host", "security.insecure"]',
        "",
        "[log]",
        '  format = "text"',
        '  level = "debug"',
        "",
        "[grpc]",
        '  address = ["unix:///run/buildkit/buildkitd.sock"]',
        "",
        "[otel]",
        '  socketPath = "/run/buildkit/otel-grpc.sock"',
        "",
        "[worker.oci]",
        "  enabled = true",
        '  platforms = ["linux/amd64"]',
        "  max-parallelism = 4",
        "  gc = true",
        '  reservedSpace = "10GB"',
        '  maxUsedSpace = "30GB"',
        '  networkMode = "host"',
        "",
        "  [worker.oci.labels]",
        '    "com.example/team" = "devops"',
        "",
        '[registry."registry.mycompany.com"]',
        '  mirrors = ["mirror.mycompany.com"]',
        '  ca = ["/etc/pki/registry-ca.crt"]',
        "",
        '[registry."10.77.0.1:5000"]',
        "  http = true",
        "",
        '  [[registry."10.77.0.1:5000".keypair]]',
        '    key = "/k.pem"',
        '    cert = "/c.pem"',
        "",
      ].join("\n"),
    );
  });

  it("renders gRPC TLS and history as a Go duration", () => {
    const toml = renderBuildkitdToml(normalizeBuildkitdConfig({ grpc: { address: ["tcp://0.0.0.0:1234"], tls: { cert: "/etc/buildkit/tls.crt", key: "/etc/buildkit/tls.key", ca: "/etc/buildkit/tlsca.crt" } }, history: { maxAgeSeconds: 604800 } }));
    assert.equal(
      toml,
      '[grpc]\n  address = ["tcp://0.0.0.0:1234"]\n\n  [grpc.tls]\n    cert = "/etc/buildkit/tls.crt"\n    key = "/etc/buildkit/tls.key"\n    ca = "/etc/buildkit/tlsca.crt"\n\n[history]\n  maxAge = "604800s"\n',
    );
    assert.equal(renderBuildkitdToml({}), "");
  });
});

describe("commands/buildx buildArgv", () => {
  it("Kamal's order: outputs, platform, builder, tags, caches, labels, args, secrets, file, target, ssh, attestations", () => {
    const cfg = normalizeImage({
      context: "/src/app",
      tags: ["10.77.0.1:5443/shop:v1", "10.77.0.1:5443/shop:latest"],
      platforms: ["linux/amd64", "linux/arm64"],
      builder: "corp",
      cacheTo: [{ type: "registry", ref: "10.77.0.1:5443/shop:buildcache", mode: "max" }],
      cacheFrom: [{ type: "registry", ref: "10.77.0.1:5443/shop:buildcache" }],
      service: "shop",
      destination: "staging",
      labels: { "org.opencontainers.image.source": "https://example/shop" },
      buildArgs: { VERSION: "1.2.3" },
      secrets: { npm_token: "s3cret" },
      target: "prod",
      ssh: ["default"],
      provenance: "max",
      sbom: true,
      noCache: true,
      pull: true,
    });
    const { secrets: _s, ...rest } = cfg;
    assert.equal(
      line(buildArgv(rest, { metadataFile: "/tmp/m.json", secretEnv: { npm_token: "BERTH_BUILD_SECRET_0" }, envBuildArgs: ["HTTP_PROXY", "NO_PROXY"] })),
      "docker buildx build --output type=registry --platform linux/amd64,linux/arm64 --builder corp -t 10.77.0.1:5443/shop:v1 -t 10.77.0.1:5443/shop:latest " +
        "--cache-to type=registry,ref=10.77.0.1:5443/shop:buildcache,mode=max --cache-from type=registry,ref=10.77.0.1:5443/shop:buildcache " +
        "--label service=shop --label destination=staging --label org.opencontainers.image.source=https://example/shop " +
        "--build-arg VERSION=1.2.3 --build-arg HTTP_PROXY --build-arg NO_PROXY --secret id=npm_token,env=BERTH_BUILD_SECRET_0 " +
        "--file /src/app/Dockerfile --target prod --ssh default --provenance mode=max --sbom true --no-cache --pull --metadata-file /tmp/m.json --progress plain /src/app",
    );
  });

  it("seed 002: push and load export together; OCI and local caches", () => {
    const cfg = normalizeImage({ context: "/c", tags: ["r/app:1"], load: true, oci: { dest: "/out/app.tar" }, cacheTo: [{ type: "local", path: "/cache", mode: "max" }], cacheFrom: [{ type: "local", path: "/cache" }], platforms: ["linux/amd64"] });
    const { secrets: _s, ...rest } = cfg;
    assert.deepEqual(buildArgv(rest, run), [
      "docker", "buildx", "build", "--output", "type=registry", "--output", "type=docker", "--output", "type=oci,dest=/out/app.tar,tar=true", "--platform", "linux/amd64", "-t", "r/app:1",
      "--cache-to", "type=local,dest=/cache,mode=max", "--cache-from", "type=local,src=/cache", "--file", "/c/Dockerfile", "--metadata-file", "/tmp/m.json", "--progress", "plain", "/c",
    ]);
  });

  it("a secret's value is never in argv", () => {
    const cfg = normalizeImage({ context: "/c", tags: ["r/app:1"], secrets: { token: "hunter2-value" } });
    const { secrets: _s, ...rest } = cfg;
    assert.equal(buildArgv(rest, { ...run, secretEnv: { token: "BERTH_BUILD_SECRET_0" } }).join(" ").includes("hunter2-value"), false);
  });
});
