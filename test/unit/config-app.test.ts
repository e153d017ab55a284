import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import {
  AppArgs,
  bootGroups,
  isProxied,
  normalizeApp,
  parallelismWarning,
  parseImage,
  resolveEnv,
  roleHosts,
} from "../../sdk/config/app";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const base: AppArgs = { service: "app", image: "dhh/app:999", destination: "", hosts: ["1.1.1.1"] };

/** The rendered problem lines ("`path`: message") of the error `fn` throws. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, `expected a BerthConfigError, got ${String(e)}`);
    const lines = e.message.split("\n");
    assert.match(lines[0], /^Invalid AppService configuration \(\d+ problems?\):$/);
    return lines.slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  assert.fail("expected normalizeApp to throw");
}

function invalid(args: Record<string, unknown>): string[] {
  return problems(() => normalizeApp({ ...base, ...args } as AppArgs));
}

describe("config/app normalizeApp", () => {
  it("applies every default to the smallest config", () => {
    const cfg = normalizeApp(base);
    assert.deepEqual(cfg, {
      service: "app",
      image: "dhh/app:999",
      imageRef: "dhh/app:999",
      version: "999",
      destination: "",
      roles: {
        web: {
          name: "web",
          hosts: [{ host: "1.1.1.1", tags: [] }],
          cmd: [],
          env: { clear: {}, secret: {} },
          labels: {},
          restartPolicy: "unless-stopped",
          options: {},
          logging: { options: { "max-size": "10m" } },
          volumes: [],
          proxy: {
            hosts: [],
            appPort: 80,
            healthcheck: { path: "/up", intervalSeconds: 1, timeoutSeconds: 5 },
            responseTimeoutSeconds: 30,
            buffering: { requests: true, responses: true },
            pathPrefixes: [],
            ssl: false,
            logging: { requestHeaders: ["Cache-Control", "Last-Modified", "User-Agent"], responseHeaders: [] },
          },
        },
      },
      primaryRole: "web",
      env: { clear: {}, secret: {}, tags: {} },
      boot: { waitSeconds: 0 },
      retainContainers: 5,
      drainTimeoutSeconds: 30,
      deployTimeoutSeconds: 30,
      readinessDelaySeconds: 7,
      lockWaitSeconds: 0,
      maintenance: { enabled: false, drainTimeoutSeconds: 30 },
      ssh: {
        user: "root",
        port: 22,
        hostKeys: {},
        allowUnknownHostKeys: false,
        connectTimeoutSeconds: 15,
        keepaliveSeconds: 30,
        bootstrap: false,
      },
      proxyRun: {
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
      },
    });
  });

  it("derives the version from a digest when the image has no tag", () => {
    const cfg = normalizeApp({ ...base, image: `ghcr.io/acme/app@${DIGEST}` });
    assert.equal(cfg.version, "sha256-0123456789ab");
    assert.equal(cfg.imageRef, `ghcr.io/acme/app@${DIGEST}`);
  });

  it("appends an explicit version to an untagged image, and keeps the tag of a tagged one", () => {
    assert.equal(normalizeApp({ ...base, image: "localhost:5000/app", version: "abc123" }).imageRef, "localhost:5000/app:abc123");
    const tagged = normalizeApp({ ...base, image: "dhh/app:999", version: "v7" });
    assert.deepEqual([tagged.imageRef, tagged.version], ["dhh/app:999", "v7"]);
  });

  it("picks `web` as the primary role when present, else the first role", () => {
    const roles = { workers: { hosts: ["h1"] }, web: { hosts: ["h2"] } };
    assert.equal(normalizeApp({ ...base, hosts: undefined, roles }).primaryRole, "web");
    const noWeb = normalizeApp({ ...base, hosts: undefined, roles: { jobs: { hosts: ["h1"] }, api: { hosts: ["h2"] } } });
    assert.equal(noWeb.primaryRole, "jobs");
  });

  it("proxies the primary role unless false, other roles only with true or an object (Kamal's rule)", () => {
    const cfg = normalizeApp({
      ...base,
      hosts: undefined,
      roles: {
        web: { hosts: ["h1"] },
        jobs: { hosts: ["h2"] },
        api: { hosts: ["h3"], proxy: true },
        admin: { hosts: ["h4"], proxy: { appPort: 3000 } },
      },
    });
    assert.deepEqual(
      Object.values(cfg.roles).map((r) => [r.name, isProxied(r)]),
      [["web", true], ["jobs", false], ["api", true], ["admin", true]],
    );
    const off = normalizeApp({ ...base, hosts: undefined, roles: { web: { hosts: ["h1"], proxy: false } } });
    assert.equal(isProxied(off.roles.web), false);
  });

  it("deep-merges a role's proxy over the root proxy; lists are replaced, host is split on commas", () => {
    const cfg = normalizeApp({
      ...base,
      hosts: undefined,
      proxy: { host: "a.example.com, b.example.com", healthcheck: { path: "/health", intervalSeconds: 3 }, appPort: 3000 },
      roles: { web: { hosts: ["h1"], proxy: { healthcheck: { timeoutSeconds: 9 }, hosts: ["c.example.com"] } } },
    });
    const p = cfg.roles.web.proxy!;
    assert.deepEqual(p.hosts, ["c.example.com"]);
    assert.deepEqual(p.healthcheck, { path: "/health", intervalSeconds: 3, timeoutSeconds: 9 });
    assert.equal(p.appPort, 3000);
  });

  it("gives non-proxied roles `drainTimeoutSeconds` as their stop timeout, proxied roles none", () => {
    const cfg = normalizeApp({
      ...base,
      hosts: undefined,
      drainTimeoutSeconds: 45,
      roles: { web: { hosts: ["h1"] }, jobs: { hosts: ["h2"] }, cron: { hosts: ["h3"], stopTimeoutSeconds: 5 } },
    });
    assert.deepEqual(
      Object.values(cfg.roles).map((r) => r.stopTimeoutSeconds),
      [undefined, 45, 5],
    );
    assert.equal(cfg.maintenance.drainTimeoutSeconds, 45);
  });

  it("takes the restart policy out of the role options and merges logging, labels and volumes", () => {
    const cfg = normalizeApp({
      ...base,
      hosts: undefined,
      labels: { team: "core", tier: "a" },
      volumes: ["/data:/data"],
      logging: { options: { "max-file": "3" } },
      roles: {
        web: {
          hosts: ["h1"],
          options: { restart: "on-failure:5", "cap-add": true },
          labels: { tier: "b" },
          volumes: ["/logs:/logs"],
          logging: { driver: "local" },
        },
      },
    });
    const web = cfg.roles.web;
    assert.equal(web.restartPolicy, "on-failure:5");
    assert.deepEqual(web.options, { "cap-add": true });
    assert.deepEqual(web.labels, { team: "core", tier: "b" });
    assert.deepEqual(web.volumes, ["/data:/data", "/logs:/logs"]);
    assert.deepEqual(web.logging, { driver: "local", options: { "max-file": "3" } });
  });

  it("splits a string cmd on spaces", () => {
    const cfg = normalizeApp({ ...base, hosts: undefined, roles: { web: { hosts: ["h1"], cmd: "bin/jobs  --queue default" } } });
    assert.deepEqual(cfg.roles.web.cmd, ["bin/jobs", "--queue", "default"]);
  });

  it("reads a custom certificate as a TLS role with `certificate` set", () => {
    const cfg = normalizeApp({
      ...base,
      hosts: ["h1", "h2"],
      proxy: { host: "example.com", ssl: { certificatePem: "-----BEGIN CERTIFICATE-----\nx", privateKeyPem: "-----BEGIN PRIVATE KEY-----\ny" } },
    });
    const p = cfg.roles.web.proxy!;
    assert.equal(p.ssl, true);
    assert.deepEqual(p.certificate, { certificatePem: "-----BEGIN CERTIFICATE-----\nx", privateKeyPem: "-----BEGIN PRIVATE KEY-----\ny" });
  });
});

describe("config/app invalid configs: exact messages", () => {
  it("rejects a boolean root proxy (Kamal 2.6)", () => {
    assert.deepEqual(invalid({ proxy: false }), [
      "`proxy`: must be an object of proxy settings; got false. To turn the proxy off for a role, set `roles.<role>.proxy` to false; booleans are only allowed there.",
    ]);
  });

  it("rejects a bad service name", () => {
    assert.deepEqual(invalid({ service: "My App" }), [
      '`service`: must be a name of lowercase letters, digits, `-` or `_`, starting with a letter; got "My App". It prefixes container names and the kamal-proxy service name.',
    ]);
  });

  it("rejects both `hosts` and `roles`, and neither", () => {
    assert.deepEqual(invalid({ roles: { web: { hosts: ["h1"] } } }), ["`roles`: Only one of `hosts` or `roles` can be provided."]);
    assert.deepEqual(invalid({ hosts: undefined }), ["`hosts`: Either `hosts` or `roles` must be provided."]);
  });

  it("rejects an empty host list", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: [] } } }), ["`roles.web.hosts`: must list at least one host; got []. Add a host."]);
  });

  it("rejects a duplicate host", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: ["h1", { host: "h1", tags: ["eu"] }] } } }), [
      '`roles.web.hosts[1]`: must not repeat an earlier host; got "h1" again. List each host once, with all its tags.',
    ]);
  });

  it("rejects a reserved label", () => {
    assert.deepEqual(invalid({ labels: { role: "db" } }), [
      '`labels.role`: is reserved: Berth sets the `service`, `role` and `destination` labels itself; got "db". Use another label name.',
    ]);
  });

  it("rejects a bad restart policy", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: ["h1"], options: { restart: "sometimes" } } } }), [
      '`roles.web.options.restart`: must be one of `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`; got "sometimes". Use "no" to turn restarts off.',
    ]);
  });

  it("rejects an env name that is not a POSIX name, and one Berth sets", () => {
    assert.deepEqual(invalid({ env: { clear: { "DATABASE-URL": "x", KAMAL_VERSION: "1" } } }), [
      '`env.clear.DATABASE-URL`: must be named like an environment variable (letters, digits and `_`, not starting with a digit); got "DATABASE-URL".',
      '`env.clear.KAMAL_VERSION`: is set by Berth on every container; got "KAMAL_VERSION" in `clear`. Use another name.',
    ]);
  });

  it("rejects a secret with a line break without showing it", () => {
    const value = "hunter2\nsecond-line-of-the-secret";
    const lines = invalid({ env: { secret: { DB_PASSWORD: value } } });
    assert.deepEqual(lines, [
      "`env.secret.DB_PASSWORD`: must be a single line; got a value with a line break (not shown because it is secret). Docker env files hold one `KEY=value` per line, so a secret cannot span lines: encode it (e.g. base64) and decode it in the app.",
    ]);
    assert.ok(!lines.join("\n").includes("hunter2"));
  });

  it("rejects a secret of the wrong type without showing it", () => {
    const lines = invalid({ registry: { server: "ghcr.io", username: "me", password: 12345678 } });
    assert.deepEqual(lines, ["`registry.password`: must be a password or token; got a value that is not shown because it is secret."]);
    assert.ok(!lines.join("\n").includes("12345678"));
  });

  it("rejects a variable set both clear and secret in one scope", () => {
    assert.deepEqual(invalid({ env: { clear: { TOKEN: "a" }, secret: { TOKEN: "b" } } }), [
      "`env.secret.TOKEN`: is also set in `clear`; a variable is either clear or secret. Remove one of them.",
    ]);
  });

  it("rejects `tags` in a role env", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: ["h1"], env: { tags: {} } } } }), [
      "`roles.web.env.tags`: is only allowed in the root `env`; got `tags` here. Move them to `env.tags.<tag>`.",
    ]);
  });

  it("rejects ssl without hosts, where ssl was set", () => {
    assert.deepEqual(invalid({ proxy: { ssl: true } }), [
      "`proxy.ssl`: needs `hosts`: kamal-proxy can only serve TLS for named hosts. Set `hosts` (or `host`), or turn `ssl` off.",
    ]);
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: ["h1"], proxy: { ssl: true } } } }), [
      "`roles.web.proxy.ssl`: needs `hosts`: kamal-proxy can only serve TLS for named hosts. Set `hosts` (or `host`), or turn `ssl` off.",
    ]);
  });

  it("rejects Let's Encrypt ssl on a role with two hosts", () => {
    assert.deepEqual(invalid({ hosts: ["h1", "h2"], proxy: { ssl: true, host: "example.com" } }), [
      "`hosts`: must list one host when `ssl` uses Let's Encrypt; got 2 hosts. Each would ask Let's Encrypt for the same certificate: supply your own with `ssl: { certificatePem, privateKeyPem }`, or use one host.",
    ]);
  });

  it("rejects `host` and `hosts` together", () => {
    assert.deepEqual(invalid({ proxy: { host: "a.example.com", hosts: ["b.example.com"] } }), [
      "`proxy.host`: Only one of `host` or `hosts` can be provided.",
    ]);
  });

  it("rejects a bad port", () => {
    assert.deepEqual(invalid({ proxy: { appPort: 70000 } }), ["`proxy.appPort`: must be an integer from 1 to 65535; got 70000."]);
  });

  it("rejects a bad log size", () => {
    assert.deepEqual(invalid({ proxyRun: { logMaxSize: "10MB" } }), [
      '`proxyRun.logMaxSize`: must be a size like `10m`, `1g` or `500k`; got "10MB". Docker\'s `max-size` log option takes a number followed by k, m or g.',
    ]);
  });

  it("rejects a boot limit over 100%", () => {
    assert.deepEqual(invalid({ boot: { limit: "150%" } }), ['`boot.limit`: must be a percentage from 1% to 100%; got "150%".']);
  });

  it("rejects retainContainers 0", () => {
    assert.deepEqual(invalid({ retainContainers: 0 }), [
      "`retainContainers`: must be an integer of at least 1; got 0. Keep at least 1 so there is a container to roll back to.",
    ]);
  });

  it("rejects a bad image reference", () => {
    assert.deepEqual(invalid({ image: "Dhh/App:latest" }), [
      '`image`: must be an image reference like `registry.example.com/app:1.2.3` or `app@sha256:<64 hex>`; got "Dhh/App:latest". Repository names are lowercase; a digest is `sha256:` and 64 hex digits.',
    ]);
  });

  it("rejects an image with neither tag, digest nor version", () => {
    assert.deepEqual(invalid({ image: "dhh/app" }), [
      '`version`: must be set when `image` has neither tag nor digest; got nothing for "dhh/app". Pin the image (`app:1.2.3` or `app@sha256:…`) or set `version`.',
    ]);
  });

  it("rejects a kamal-proxy older than v0.9.0", () => {
    assert.deepEqual(invalid({ proxyRun: { image: { version: "v0.8.7" } } }), [
      '`proxyRun.image.version`: must be v0.9.0 or newer; got "v0.8.7". Use v0.9.2, the default.',
    ]);
  });

  it("rejects a primaryRole that names no role", () => {
    assert.deepEqual(invalid({ primaryRole: "api" }), ['`primaryRole`: must name one of the roles (`web`); got "api".']);
  });

  it("names the camelCase spelling of a Kamal-style key", () => {
    assert.deepEqual(invalid({ drain_timeout: 10 }), [
      "`(root)`: has unknown key `drain_timeout`; allowed keys are `service`, `image`, `version`, `destination`, `hosts`, `roles`, `primaryRole`, `env`, `labels`, `volumes`, `assetPath`, `errorPagesPath`, `logging`, `proxy`, `registry`, `boot`, `retainContainers`, `drainTimeoutSeconds`, `deployTimeoutSeconds`, `readinessDelaySeconds`, `lockWaitSeconds`, `maintenance`, `ssh`, `proxyRun`. Remove it or check the spelling.",
    ]);
    assert.deepEqual(problems(() => normalizeApp({ ...base, proxy: { app_port: 3000 } } as unknown as AppArgs)).map((l) => l.split(";")[0]), [
      "`proxy`: has unknown key `app_port`",
    ]);
    assert.match(invalid({ proxy: { app_port: 3000 } })[0], /`app_port` is spelled `appPort` in Berth\.$/);
  });

  it("rejects shell syntax in a string cmd", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: { hosts: ["h1"], cmd: "sh -c 'echo $HOME'" } } }), [
      "`roles.web.cmd`: must be plain words separated by spaces; got \"sh -c 'echo $HOME'\". Quotes and shell characters are not interpreted: write the arguments as a list, e.g. [\"sh\", \"-c\", \"…\"].",
    ]);
  });

  it("reports a value of the wrong shape as a problem, not a TypeError", () => {
    assert.deepEqual(invalid({ hosts: undefined, roles: { web: null }, env: { tags: { eu: null } } }), [
      "`roles.web`: must be an object; got null.",
      "`env.tags.eu`: must be an object; got null.",
    ]);
    assert.deepEqual(problems(() => normalizeApp(null as unknown as AppArgs)), ["`(root)`: must be an object; got null."]);
  });

  it("reports every problem at once, each with its path", () => {
    const lines = problems(() =>
      normalizeApp({
        service: "app",
        image: "dhh/app:999",
        destination: "",
        roles: { web: { hosts: ["h1", "h1"] }, Workers: { hosts: ["h2"] } },
        proxy: { healthcheck: { intervalSeconds: 0 }, ssl: true },
        drainTimeoutSeconds: "30",
        boot: { limit: 0 },
      } as unknown as AppArgs),
    );
    assert.deepEqual(lines, [
      '`roles.web.hosts[1]`: must not repeat an earlier host; got "h1" again. List each host once, with all its tags.',
      "`proxy.healthcheck.intervalSeconds`: must be an integer of at least 1; got 0.",
      "`boot.limit`: must be an integer of at least 1; got 0.",
      '`drainTimeoutSeconds`: must be an integer of at least 1; got "30".',
      '`roles.Workers`: must be named with lowercase letters, digits, `-` or `_`, starting with a letter; got "Workers". The role name is part of container names.',
    ]);
  });
});

describe("config/app helpers", () => {
  const cfg = normalizeApp({
    ...base,
    hosts: undefined,
    roles: {
      jobs: { hosts: ["h3", "h1"], env: { clear: { QUEUE: "jobs" }, secret: { B: "role-secret" } } },
      web: { hosts: ["h1", { host: "h2", tags: ["eu", "big"] }] },
    },
    env: {
      clear: { A: "root", B: "root-clear" },
      secret: { S: "root-secret" },
      tags: { eu: { clear: { S: "eu-clear", REGION: "eu" } }, big: { secret: { A: "big-secret" } } },
    },
  });

  it("roleHosts: the primary role's hosts first, each host once", () => {
    assert.deepEqual(roleHosts(cfg), ["h1", "h2", "h3"]);
  });

  it("resolveEnv: root < role < tags, a later scope wins whether clear or secret", () => {
    assert.deepEqual(resolveEnv(cfg, "web", "h1"), { clear: { A: "root", B: "root-clear" }, secret: { S: "root-secret" } });
    assert.deepEqual(resolveEnv(cfg, "web", "h2"), {
      clear: { B: "root-clear", S: "eu-clear", REGION: "eu" },
      secret: { A: "big-secret" },
    });
    assert.deepEqual(resolveEnv(cfg, "jobs", "h3"), {
      clear: { A: "root", QUEUE: "jobs" },
      secret: { S: "root-secret", B: "role-secret" },
    });
  });

  it("bootGroups: Kamal's N% is rounded down, at least 1; no limit is one group", () => {
    const hosts = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    assert.deepEqual(bootGroups(hosts, "25%"), [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"], ["i", "j"]]);
    assert.deepEqual(bootGroups(["a", "b", "c"], "10%"), [["a"], ["b"], ["c"]]);
    assert.deepEqual(bootGroups(["a", "b", "c"], 2), [["a", "b"], ["c"]]);
    assert.deepEqual(bootGroups(["a", "b", "c"], undefined), [["a", "b", "c"]]);
    assert.deepEqual(bootGroups([], "50%"), []);
  });

  it("parseImage splits registry, repository, tag and digest", () => {
    assert.deepEqual(parseImage("localhost:5000/team/app:1.2@" + DIGEST), {
      registry: "localhost:5000",
      repository: "team/app",
      tag: "1.2",
      digest: DIGEST,
    });
    assert.deepEqual(parseImage("dhh/app"), { repository: "dhh/app" });
    assert.equal(parseImage("app@sha256:abc"), undefined);
  });
});

describe("config/app parallelismWarning", () => {
  const hosts = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`);
  it("says nothing while every role that deploys at once fits in the engine's parallelism, or when it is unknown", () => {
    assert.equal(parallelismWarning([["web", hosts(8)]], false, 8), undefined);
    assert.equal(parallelismWarning([["web", hosts(8)], ["jobs", hosts(4)], ["cron", hosts(4)]], true, 8), undefined);
    assert.equal(parallelismWarning([["web", hosts(100)]], false, undefined), undefined);
    assert.equal(parallelismWarning([["web", hosts(100)]], false, -1), undefined);
    assert.equal(parallelismWarning([], false, 1), undefined);
  });
  it("names the primary role's hosts, their count and the fix", () => {
    assert.equal(
      parallelismWarning([["web", hosts(9)]], false, 8),
      "`hosts`: the web role's 9 hosts deploy at once to stay on one version, but this run of pulumi does at most 8 operations at once (`--parallel`): " +
        "a failure on a host that starts late can leave the hosts that finished first on the new version. Run `pulumi up --parallel 9` or higher (Automation API: `up({ parallel: 9 })`).",
    );
    assert.match(parallelismWarning([["app", hosts(9)], ["jobs", hosts(1)]], true, 8)!, /^`roles\.app\.hosts`: the app role's 9 hosts deploy at once/);
  });
  it("counts the other roles together: they deploy at the same time, after the primary role", () => {
    assert.match(parallelismWarning([["web", hosts(2)], ["jobs", hosts(5)], ["cron", hosts(4)]], true, 8)!, /^`roles`: the jobs, cron roles' 9 hosts \(deployed together after web\) deploy at once.*--parallel 9`/);
  });
});
