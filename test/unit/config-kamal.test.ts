import * as assert from "node:assert/strict";
import { fromKamalConfig } from "../../sdk/config/kamal";
import { normalizeApp } from "../../sdk/config/app";

// A deploy.yml in the shape Kamal's own `kamal init` writes, plus roles, tags, proxy.run and secrets.
const deploy = {
  service: "hey",
  image: "dhh/hey",
  servers: {
    web: ["192.168.0.1", { "192.168.0.2": "eu" }],
    job: { hosts: ["192.168.0.3"], cmd: "bin/jobs", env: { clear: { QUEUE: "default" } }, options: { memory: "2g" } },
  },
  proxy: { ssl: false, host: "app.example.com", app_port: 3000, healthcheck: { path: "/up", interval: 2 }, run: { http_port: 8080, metrics_port: 9090 } },
  registry: { server: "registry.example.com", username: "deploy", password: ["KAMAL_REGISTRY_PASSWORD"] },
  env: { clear: { DB_HOST: "192.168.0.9" }, secret: ["RAILS_MASTER_KEY", "DB_PASSWORD:MAIN_DB_PASSWORD"], tags: { eu: { clear: { REGION: "eu" } } } },
  builder: { arch: "amd64" },
  ssh: { user: "app", keys: ["~/.ssh/deploy"], proxy: "jump@bastion.example.com" },
  boot: { limit: "25%", wait: 2 },
  retain_containers: 3,
  drain_timeout: 10,
  aliases: { console: "app exec -i bin/rails console" },
  "x-anchor": { any: "thing" },
};
const secrets = { KAMAL_REGISTRY_PASSWORD: "rp", RAILS_MASTER_KEY: "mk", MAIN_DB_PASSWORD: "dbp" };

describe("config: Kamal deploy.yml import", function () {
  it("translates a typical deploy.yml into AppService args that validate", function () {
    const { args, ignored } = fromKamalConfig(deploy, { version: "abc123", secrets });
    assert.equal(args.image, "registry.example.com/dhh/hey:abc123");
    assert.deepEqual(args.roles.web.hosts, ["192.168.0.1", { host: "192.168.0.2", tags: ["eu"] }]);
    assert.equal(args.roles.job.cmd, "bin/jobs");
    assert.deepEqual(args.proxy, { hosts: ["app.example.com"], ssl: false, appPort: 3000, healthcheck: { path: "/up", intervalSeconds: 2 } });
    assert.deepEqual(args.proxyRun, { httpPort: 8080, metricsPort: 9090 });
    assert.deepEqual(args.env.secret, { RAILS_MASTER_KEY: "mk", DB_PASSWORD: "dbp" });
    assert.deepEqual(args.registry, { server: "registry.example.com", username: "deploy", password: "rp" });
    assert.deepEqual(args.ssh, { user: "app", privateKeyPath: "~/.ssh/deploy", proxy: "jump@bastion.example.com" });
    assert.deepEqual(args.boot, { limit: "25%", waitSeconds: 2 });
    assert.deepEqual(ignored.sort(), ["aliases: aliases are CLI conveniences; use `pulumi` commands", "builder: builds are the `Image` and `BuildxBuilder` components"]);
    const cfg = normalizeApp({ ...args, destination: "production" } as any);
    assert.equal(cfg.roles.web.proxy?.appPort, 3000);
    assert.equal(cfg.roles.job.proxy, undefined);
    assert.equal(cfg.version, "abc123");
  });

  it("takes `hooks_path` as the hooks directory, with every secret for the hooks Kamal exports them to; `hooks_output` is ignored with its reason", function () {
    const { args, ignored } = fromKamalConfig({ ...deploy, hooks_path: ".kamal/hooks", hooks_output: { "pre-deploy": "verbose" } }, { version: "abc123", secrets });
    assert.deepEqual(args.hooks, { path: ".kamal/hooks", secrets });
    assert.deepEqual(fromKamalConfig({ service: "app", image: "me/app", servers: ["1.1.1.1"], hooks_path: ".kamal/hooks" }, { version: "abc123", secrets: {} }).args.hooks, { path: ".kamal/hooks" });
    assert.ok(ignored.includes("hooks_output: hook output always goes to the `pulumi up` log"), ignored.join("\n"));
    assert.ok(!ignored.some((i) => i.startsWith("hooks_path")), ignored.join("\n"));
  });

  it("deep-merges the destination file as Kamal does", function () {
    const { args } = fromKamalConfig(deploy, { version: "v1", secrets, destinationConfig: { servers: { web: ["10.0.0.1"] }, proxy: { host: "staging.example.com" } } });
    assert.deepEqual(args.roles.web.hosts, ["10.0.0.1"]);
    assert.deepEqual(args.roles.job.hosts, ["192.168.0.3"]);
    assert.deepEqual(args.proxy.hosts, ["staging.example.com"]);
    assert.equal(args.proxy.appPort, 3000);
  });

  it("names each missing secret and each unknown key, all at once", function () {
    assert.throws(
      () => fromKamalConfig({ ...deploy, servise: "typo" }, { version: "v1", secrets: { RAILS_MASTER_KEY: "mk" } }),
      (e: Error) =>
        e.message ===
        [
          "Invalid Kamal configuration (3 problems):",
          '  - `env.secret[1]`: needs the secret "MAIN_DB_PASSWORD"; got none. Pass it in `secrets` (e.g. from `config.requireSecret`).',
          '  - `registry.password`: needs the secret "KAMAL_REGISTRY_PASSWORD"; got none. Pass it in `secrets` (e.g. from `config.requireSecret`).',
          "  - `servise`: is not a Kamal 2 configuration key Berth knows; remove it or check its spelling.",
        ].join("\n"),
    );
  });

  it("keeps a boolean root proxy so validation rejects it, as Kamal 2.6 does", function () {
    const { args } = fromKamalConfig({ service: "a", image: "a", servers: ["h1"], proxy: true }, { version: "v1" });
    assert.throws(() => normalizeApp({ ...args, destination: "" } as any), /`proxy`/);
  });
});
