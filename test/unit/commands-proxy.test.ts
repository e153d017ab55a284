import { strict as assert } from "node:assert";
import { ProxyRunArgs, normalizeProxy, normalizeProxyRun } from "../../sdk/config/proxy";
import {
  proxyDeployArgv,
  proxyListArgv,
  proxyRemoveArgv,
  proxyResumeArgv,
  proxyRunArgv,
  proxyStartOrRunScript,
  proxyStopArgv,
  proxyTarget,
  proxyTlsPaths,
} from "../../sdk/commands/proxy";
import { line } from "../../sdk/commands/shell";

/** Kamal's line with its quoting taken out (no value in these lines needs quotes in Berth). */
function kamal(commandLine: string): string {
  return commandLine.replace(/"/g, "");
}

/** Kamal mounts `$PWD/.kamal/proxy/apps-config`; argv cannot expand `$PWD`, so Berth takes the absolute path. */
const APPS = "/home/deploy/.kamal/proxy/apps-config";
function kamalRun(commandLine: string): string {
  return kamal(commandLine).replace("$PWD/.kamal/proxy/apps-config", APPS);
}

const run = (args: ProxyRunArgs) => line(proxyRunArgv(normalizeProxyRun(args), APPS));

describe("commands/proxy proxyRunArgv (Kamal's test/commands/proxy_test.rb)", () => {
  it("default run config", () => {
    assert.equal(
      run({}),
      kamalRun(
        "docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=10m basecamp/kamal-proxy:v0.9.2 kamal-proxy run",
      ),
    );
  });

  it("registry run config", () => {
    assert.equal(
      run({ image: { registry: "registry:4443" } }),
      kamalRun(
        "docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=10m registry:4443/basecamp/kamal-proxy:v0.9.2 kamal-proxy run",
      ),
    );
  });

  it("repository and version run config", () => {
    assert.equal(
      run({ image: { repository: "custom/repo", version: "v1.2.3" } }),
      kamalRun(
        "docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=10m custom/repo:v1.2.3 kamal-proxy run",
      ),
    );
  });

  it("bind_ips run config, IPv6 bracketed", () => {
    assert.equal(
      run({ bindIps: ["0.0.0.0", "127.0.0.1"] }),
      kamalRun(
        "docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 0.0.0.0:80:80 --publish 0.0.0.0:443:443 --publish 127.0.0.1:80:80 --publish 127.0.0.1:443:443 --log-opt max-size=10m basecamp/kamal-proxy:v0.9.2 kamal-proxy run",
      ),
    );
    const argv = proxyRunArgv(normalizeProxyRun({ bindIps: ["::1"], httpPort: 8080, httpsPort: 8443 }), APPS);
    assert.deepEqual(argv.slice(argv.indexOf("--publish"), argv.indexOf("--publish") + 4), ["--publish", "[::1]:8080:80", "--publish", "[::1]:8443:443"]);
  });

  it("log_max_size, debug and metrics_port run config", () => {
    assert.equal(
      run({ logMaxSize: "50m", debug: true, metricsPort: 9090 }),
      kamalRun(
        'docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=50m --expose=9090 basecamp/kamal-proxy:v0.9.2 kamal-proxy run --debug --metrics-port "9090"',
      ),
    );
  });

  it("don't publish run config", () => {
    assert.equal(
      run({ publish: false }),
      kamalRun(
        "docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume $PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --log-opt max-size=10m basecamp/kamal-proxy:v0.9.2 kamal-proxy run",
      ),
    );
  });

  it("options after the log options, names and volume from config", () => {
    assert.equal(
      run({ options: { cpus: "2", init: true, "add-host": ["a:10.0.0.1", "b:10.0.0.2"] }, containerName: "edge", network: "web", configVolume: "edge-state" }),
      `docker run --name edge --network web --detach --restart unless-stopped --volume edge-state:/home/kamal-proxy/.config/kamal-proxy --volume ${APPS}:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=10m --cpus 2 --init --add-host a:10.0.0.1 --add-host b:10.0.0.2 basecamp/kamal-proxy:v0.9.2 kamal-proxy run`,
    );
  });

  it("refuses a relative apps-config directory", () => {
    assert.throws(() => proxyRunArgv(normalizeProxyRun({}), ".kamal/proxy/apps-config"), /appsConfigDir must be an absolute path/);
  });

  it("start or run (Kamal's boot wrapper)", () => {
    assert.equal(
      proxyStartOrRunScript(normalizeProxyRun({}), APPS),
      `docker container start kamal-proxy || ${run({})}`,
    );
  });
});

describe("commands/proxy proxyDeployArgv (Kamal's test/commands/app_test.rb)", () => {
  const deploy = (proxy: Parameters<typeof normalizeProxy>[0], extra: Partial<Parameters<typeof proxyDeployArgv>[0]> = {}) =>
    line(
      proxyDeployArgv({
        service: "app-web",
        target: "172.1.0.2:80",
        proxy: normalizeProxy(proxy),
        deployTimeoutSeconds: 30,
        drainTimeoutSeconds: 30,
        ...extra,
      }),
    );

  /** Berth always passes the health check and target timeout; with the defaults they are kamal-proxy's own defaults. */
  const HEALTH = "--health-check-interval=1s --health-check-timeout=5s --health-check-path=/up --target-timeout=30s";

  it("deploy with the defaults", () => {
    assert.equal(
      deploy({}),
      kamal(
        'docker exec kamal-proxy kamal-proxy deploy app-web --target="172.1.0.2:80" --deploy-timeout="30s" --drain-timeout="30s" --buffer-requests --buffer-responses --log-request-header="Cache-Control" --log-request-header="Last-Modified" --log-request-header="User-Agent"',
      ).replace("--drain-timeout=30s", `--drain-timeout=30s ${HEALTH}`),
    );
  });

  it("deploy with TLS and two hosts", () => {
    assert.equal(
      deploy({ hosts: ["example.com", "anotherexample.com"], ssl: true }),
      kamal(
        'docker exec kamal-proxy kamal-proxy deploy app-web --target="172.1.0.2:80" --host="example.com" --host="anotherexample.com" --tls --deploy-timeout="30s" --drain-timeout="30s" --buffer-requests --buffer-responses --log-request-header="Cache-Control" --log-request-header="Last-Modified" --log-request-header="User-Agent"',
      ).replace("--drain-timeout=30s", `--drain-timeout=30s ${HEALTH}`),
    );
  });

  it("deploy with every option, in Kamal's order", () => {
    const paths = proxyTlsPaths("app", "staging", "web");
    assert.equal(
      deploy(
        {
          host: "example.com",
          ssl: { certificatePem: "-----BEGIN CERTIFICATE-----", privateKeyPem: "-----BEGIN PRIVATE KEY-----" },
          sslRedirect: false,
          healthcheck: { path: "/health", intervalSeconds: 2, timeoutSeconds: 3 },
          responseTimeoutSeconds: 10,
          buffering: { requests: false, responses: true, memoryBytes: 2048, maxResponseBodyBytes: 4096 },
          pathPrefixes: ["/api", "/v2"],
          stripPathPrefix: false,
          forwardHeaders: true,
          logging: { requestHeaders: ["X-Request-Id"], responseHeaders: ["X-Runtime"] },
        },
        { deployTimeoutSeconds: 60, drainTimeoutSeconds: 10, tlsPaths: paths, errorPages: "/home/kamal-proxy/.apps-config/app/error_pages/999" },
      ),
      "docker exec kamal-proxy kamal-proxy deploy app-web --target=172.1.0.2:80 --host=example.com --tls" +
        " --tls-certificate-path=/home/kamal-proxy/.apps-config/app-staging/tls/web/cert.pem" +
        " --tls-private-key-path=/home/kamal-proxy/.apps-config/app-staging/tls/web/key.pem" +
        " --deploy-timeout=60s --drain-timeout=10s --health-check-interval=2s --health-check-timeout=3s --health-check-path=/health" +
        " --target-timeout=10s --buffer-requests=false --buffer-responses --buffer-memory=2048 --max-response-body=4096" +
        " --path-prefix=/api --path-prefix=/v2 --strip-path-prefix=false --forward-headers --tls-redirect=false" +
        " --log-request-header=X-Request-Id --log-response-header=X-Runtime --error-pages=/home/kamal-proxy/.apps-config/app/error_pages/999",
    );
  });

  it("never puts certificate text in argv, and needs the paths for a custom certificate", () => {
    const proxy = normalizeProxy({ hosts: ["example.com"], ssl: { certificatePem: "-----BEGIN CERTIFICATE-----TOPSECRET", privateKeyPem: "-----BEGIN PRIVATE KEY-----TOPSECRET" } });
    const argv = proxyDeployArgv({ service: "app-web", target: "abc:80", proxy, deployTimeoutSeconds: 30, drainTimeoutSeconds: 30, tlsPaths: proxyTlsPaths("app", "", "web") });
    assert.ok(!argv.some((a) => a.includes("TOPSECRET")));
    assert.throws(
      () => proxyDeployArgv({ service: "app-web", target: "abc:80", proxy, deployTimeoutSeconds: 30, drainTimeoutSeconds: 30 }),
      /tlsPaths is required/,
    );
  });

  it("proxyTarget and proxyTlsPaths", () => {
    assert.equal(proxyTarget("4f2a9c", normalizeProxy({ appPort: 3000 })), "4f2a9c:3000");
    assert.deepEqual(proxyTlsPaths("app", "", "web"), {
      hostDir: ".kamal/proxy/apps-config/app/tls/web",
      hostCertificate: ".kamal/proxy/apps-config/app/tls/web/cert.pem",
      hostPrivateKey: ".kamal/proxy/apps-config/app/tls/web/key.pem",
      certificate: "/home/kamal-proxy/.apps-config/app/tls/web/cert.pem",
      privateKey: "/home/kamal-proxy/.apps-config/app/tls/web/key.pem",
    });
  });
});

describe("commands/proxy client commands (Kamal's reference §2.4–2.5)", () => {
  it("remove, resume, list", () => {
    assert.equal(line(proxyRemoveArgv("app-web")), "docker exec kamal-proxy kamal-proxy remove app-web");
    assert.equal(line(proxyResumeArgv("app-web")), "docker exec kamal-proxy kamal-proxy resume app-web");
    assert.equal(line(proxyListArgv()), "docker exec kamal-proxy kamal-proxy list");
    assert.equal(line(proxyRemoveArgv("app-web", "edge")), "docker exec edge kamal-proxy remove app-web");
  });

  it("stop (maintenance), with and without a message", () => {
    assert.equal(line(proxyStopArgv("app-web", 30)), kamal('docker exec kamal-proxy kamal-proxy stop app-web --drain-timeout="30s"'));
    assert.equal(line(proxyStopArgv("app-web", 10, "Hello")), kamal('docker exec kamal-proxy kamal-proxy stop app-web --drain-timeout="10s" --message="Hello"'));
    assert.equal(line(proxyStopArgv("app-web", 10, "Back at 5 o'clock")), "docker exec kamal-proxy kamal-proxy stop app-web --drain-timeout=10s '--message=Back at 5 o'\\''clock'");
  });
});

describe("commands/proxy owner files and container steps", () => {
  const { proxyOwnerFile, proxyDirsArgv, proxyOwnerArgv, proxyContainerArgv } = require("../../sdk/commands/proxy") as typeof import("../../sdk/commands/proxy");
  const { line } = require("../../sdk/commands/shell") as typeof import("../../sdk/commands/shell");
  it("keeps owner names file-name safe and renders each step exactly", () => {
    const assert = require("node:assert/strict");
    assert.equal(proxyOwnerFile("kamal-proxy", "proj/stack/app-proxy; rm -rf ~"), ".berth/proxy/kamal-proxy/owners/proj_stack_app-proxy__rm_-rf__");
    assert.equal(line(proxyDirsArgv("kamal-proxy")), "mkdir -p .kamal/proxy/apps-config .berth/proxy/kamal-proxy/owners");
    assert.equal(line(proxyOwnerArgv("add", "kamal-proxy", "p/s/n")), "touch .berth/proxy/kamal-proxy/owners/p_s_n");
    assert.equal(line(proxyOwnerArgv("remove", "kamal-proxy", "p/s/n")), "rm -f .berth/proxy/kamal-proxy/owners/p_s_n");
    assert.equal(line(proxyContainerArgv("start", "kamal-proxy")), "docker start kamal-proxy");
    assert.equal(line(proxyContainerArgv("remove", "kamal-proxy")), "docker rm --force kamal-proxy");
  });
});
