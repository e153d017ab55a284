import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { ProxyArgs, ProxyRunArgs, normalizeProxy, normalizeProxyRun, resolveProxy } from "../../sdk/config/proxy";

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError);
    return e.problems.map((p) => `\`${p.path}\`: ${p.message}`);
  }
  assert.fail("expected a BerthConfigError");
}

const run = (input: unknown) => problems(() => normalizeProxyRun(input as ProxyRunArgs, "Proxy", "proxyRun"));
const route = (input: unknown) => problems(() => normalizeProxy(input as ProxyArgs, "Proxy", "proxy"));

describe("config/proxy normalizeProxyRun", () => {
  it("applies Kamal's proxy.run defaults", () => {
    assert.deepEqual(normalizeProxyRun(undefined), {
      image: { repository: "basecamp/kamal-proxy", version: "v0.9.2" },
      imageRef: "basecamp/kamal-proxy:v0.9.2",
      httpPort: 80,
      httpsPort: 443,
      bindIps: [],
      publish: true,
      logMaxSize: "10m",
      debug: false,
      options: {},
      network: "kamal",
      containerName: "kamal-proxy",
      configVolume: "kamal-proxy-config",
    });
  });

  it("builds imageRef from registry, repository and version; accepts v0.9.0 and bracketed IPv6", () => {
    const cfg = normalizeProxyRun({ image: { registry: "registry:4443", version: "v0.9.0" }, bindIps: ["127.0.0.1", "[::1]"] });
    assert.equal(cfg.imageRef, "registry:4443/basecamp/kamal-proxy:v0.9.0");
    assert.deepEqual(cfg.bindIps, ["127.0.0.1", "::1"]);
  });

  it("rejects a version older than v0.9.0, and one that is no release tag", () => {
    assert.deepEqual(run({ image: { version: "v0.8.7" } }), ['`proxyRun.image.version`: must be v0.9.0 or newer; got "v0.8.7". Use v0.9.2, the default.']);
    assert.deepEqual(run({ image: { version: "latest" } }), [
      '`proxyRun.image.version`: must be a kamal-proxy release tag like `v0.9.2`; got "latest". Berth checks the version is at least v0.9.0; tag a custom build with the release it is based on.',
    ]);
  });

  it("rejects ports and bind IPs when publish is false (Kamal's rule)", () => {
    assert.deepEqual(run({ publish: false, httpPort: 8080, bindIps: ["127.0.0.1"] }), [
      "`proxyRun.httpPort`: cannot be set when `publish` is false; got 8080. Remove it, or set `publish` to true.",
      '`proxyRun.bindIps`: cannot be set when `publish` is false; got ["127.0.0.1"]. Remove it, or set `publish` to true.',
    ]);
  });

  it("rejects bad IPs, sizes, ports, option names and reserved options at once", () => {
    assert.deepEqual(
      run({ bindIps: ["localhost"], logMaxSize: "1 GB", metricsPort: 443, httpPort: 0, options: { "--cpus": "2", name: "x", ok: false } }),
      [
        '`proxyRun.httpPort`: must be an integer from 1 to 65535; got 0.',
        '`proxyRun.bindIps[0]`: must be an IPv4 or IPv6 address; got "localhost".',
        '`proxyRun.logMaxSize`: must be a size like `10m`, `1g` or `500k`; got "1 GB". Docker\'s `max-size` log option takes a number followed by k, m or g.',
        "`proxyRun.options.ok`: must be a string, true, or a list of strings; got false. Omit an option instead of setting it to false.",
        '`proxyRun.options.--cpus`: must be named like a docker run option without dashes (e.g. `cpus`); got "--cpus". Write it as `cpus`.',
        '`proxyRun.options.name`: is set by Berth; got "x". Set `containerName` instead.',
        "`proxyRun.metricsPort`: must not be 80 or 443; got 443. kamal-proxy already listens on 80 and 443 inside its container; pick another port, e.g. 9090.",
      ],
    );
  });

  it("rejects the same host port for HTTP and HTTPS", () => {
    assert.deepEqual(run({ httpPort: 443 }), ["`proxyRun.httpsPort`: must differ from `httpPort`; got 443 for both. Publish HTTP and HTTPS on different host ports."]);
  });
});

describe("config/proxy routing", () => {
  it("normalizeProxy applies kamal-proxy's defaults explicitly", () => {
    assert.deepEqual(normalizeProxy({ host: "example.com" }), {
      hosts: ["example.com"],
      appPort: 80,
      healthcheck: { path: "/up", intervalSeconds: 1, timeoutSeconds: 5 },
      responseTimeoutSeconds: 30,
      buffering: { requests: true, responses: true },
      pathPrefixes: [],
      ssl: false,
      logging: { requestHeaders: ["Cache-Control", "Last-Modified", "User-Agent"], responseHeaders: [] },
    });
  });

  it("resolveProxy merges objects key by key and replaces lists and ssl", () => {
    const merged = resolveProxy(
      { hosts: ["a.example.com"], buffering: { requests: false, memoryBytes: 1024 }, logging: { requestHeaders: ["X-A"] }, ssl: true },
      { buffering: { responses: false }, logging: { responseHeaders: ["X-B"] }, ssl: false },
    );
    assert.deepEqual(merged.buffering, { requests: false, responses: false, memoryBytes: 1024 });
    assert.deepEqual(merged.logging, { requestHeaders: ["X-A"], responseHeaders: ["X-B"] });
    assert.equal(merged.ssl, false);
    assert.deepEqual(merged.hosts, ["a.example.com"]);
  });

  it("rejects bad hosts, paths and header names", () => {
    assert.deepEqual(route({ hosts: ["https://example.com", "example.com", "example.com"], pathPrefixes: ["api"], logging: { requestHeaders: ["Bad Header"] } }), [
      '`proxy.hosts[0]`: must be a host name like `app.example.com` or `*.example.com`; got "https://example.com". Write the bare host name: no scheme, port or path.',
      '`proxy.hosts[2]`: must not repeat an earlier entry; got "example.com" again. Remove the duplicate.',
      '`proxy.pathPrefixes[0]`: must be a path starting with `/`; got "api".',
      '`proxy.logging.requestHeaders[0]`: must be an HTTP header name like `User-Agent`; got "Bad Header".',
    ]);
  });

  it("rejects a bad `host` list, a wildcard with Let's Encrypt, and limits without buffering", () => {
    assert.deepEqual(route({ host: "a.example.com,/x" }), [
      '`proxy.host`: must be a host name like `app.example.com` or `*.example.com`, or several separated by commas; got "a.example.com,/x". Write bare host names: no scheme, port or path.',
    ]);
    assert.deepEqual(route({ hosts: ["*.example.com"], ssl: true }), [
      "`proxy.hosts`: must not hold a wildcard with Let's Encrypt TLS; got \"*.example.com\". Let's Encrypt cannot issue wildcard certificates here: supply your own with `ssl: { certificatePem, privateKeyPem }`.",
    ]);
    assert.deepEqual(route({ buffering: { requests: false, maxRequestBodyBytes: 10 } }), [
      "`proxy.buffering.maxRequestBodyBytes`: needs `buffering.requests`; got 10 with request buffering off. Turn `buffering.requests` on, or remove the limit.",
    ]);
  });

  it("never shows certificate or key text", () => {
    const lines = route({ hosts: ["example.com"], ssl: { certificatePem: "not-a-cert-TOPSECRET", privateKeyPem: "nor-a-key-TOPSECRET" } });
    assert.deepEqual(lines, [
      "`proxy.ssl.certificatePem`: must be a PEM certificate starting with `-----BEGIN CERTIFICATE-----`; got a value that is not shown because it is secret.",
      "`proxy.ssl.privateKeyPem`: must be a PEM private key starting with `-----BEGIN … PRIVATE KEY-----`; got a value that is not shown because it is secret.",
    ]);
    assert.ok(!lines.join("\n").includes("TOPSECRET"));
    const pasted = route({ hosts: ["example.com"], ssl: "-----BEGIN PRIVATE KEY-----TOPSECRET" });
    assert.deepEqual(pasted, ["`proxy.ssl`: must be true, false, or `{ certificatePem, privateKeyPem }`; got a value that is not shown because it is secret."]);
  });
});
