import * as assert from "node:assert/strict";
import * as path from "node:path";
import { fromKamalConfig } from "../../sdk/config/kamal";
import { normalizeApp } from "../../sdk/config/app";
import { appRoleHosts, normalizeAccessory, type PlainAccessoryArgs } from "../../sdk/config/accessory";
import { normalizeImage, writtenPathsSchema, type ImageArgs } from "../../sdk/config/image";

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
    assert.deepEqual(ignored, ["aliases: aliases are CLI conveniences; use `pulumi` commands"]);
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

type Obj = Record<string, any>;

/**
 * What `new Accessory(name, args)` normalizes (sdk/components/accessory.ts): the app's roles and
 * host tags, the stack as the destination, the app's ssh and registry as the defaults.
 */
function normalizeImported(a: Obj, stack = "production") {
  const { app, ...rest } = a;
  return normalizeAccessory({ ...rest, app: { service: app.service, destination: stack, roles: appRoleHosts(app), ssh: app.ssh, registry: app.registry } } as PlainAccessoryArgs);
}

/** What `new Image(name, image)` checks and normalizes (sdk/components/image.ts): the written paths, then resolved ones. */
function normalizeImportedImage(image: Obj, stack = "production") {
  const { hooks: _hooks, ...rest } = image;
  writtenPathsSchema.parse({ context: rest.context, dockerfile: rest.dockerfile });
  return normalizeImage({ ...rest, context: path.resolve(rest.context), dockerfile: path.resolve(rest.dockerfile), destination: stack } as ImageArgs);
}

/** The Kamal import's problems, one line each. */
function importProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    return (e as { problems: { path: string; message: string }[] }).problems.map((p) => `${p.path}: ${p.message}`);
  }
  return assert.fail("expected a BerthConfigError");
}

// A Rails app's deploy.yml: Postgres on the jobs host, Redis next to each web host, Metabase behind
// kamal-proxy, a multi-arch build with a remote arm64 builder and a registry cache.
const rails = {
  service: "ledger",
  image: "acme/ledger",
  servers: { web: ["10.1.0.11", "10.1.0.12"], jobs: { hosts: [{ "10.1.0.13": ["db"] }], cmd: "bin/jobs" } },
  proxy: { ssl: true, host: "ledger.acme.test", app_port: 3000 },
  registry: { server: "ghcr.io", username: "acme-bot", password: ["KAMAL_REGISTRY_PASSWORD"] },
  env: { clear: { DB_HOST: "ledger-db" }, secret: ["RAILS_MASTER_KEY", "DATABASE_PASSWORD:POSTGRES_PASSWORD"] },
  builder: {
    arch: ["amd64", "arm64"],
    remote: "ssh://builder@10.1.0.50",
    cache: { type: "registry", options: "mode=max" },
    args: { RUBY_VERSION: "3.3.5", NODE_MAJOR: 20 },
    secrets: ["GITHUB_TOKEN"],
    ssh: "default=$SSH_AUTH_SOCK",
  },
  accessories: {
    db: {
      image: "postgres:16.4",
      host: "10.1.0.13",
      port: "127.0.0.1:5432:5432",
      env: { clear: { POSTGRES_USER: "ledger", POSTGRES_DB: "ledger_production" }, secret: ["POSTGRES_PASSWORD"] },
      files: ["config/init.sql:/docker-entrypoint-initdb.d/setup.sql"],
      directories: ["data:/var/lib/postgresql/data"],
    },
    redis: { image: "redis:7.4", roles: ["web"], cmd: "redis-server --appendonly yes", volumes: ["redis_data:/data"] },
    metabase: {
      image: "metabase/metabase:v0.50.26",
      tag: "db",
      service: "metabase",
      env: { clear: { MB_DB_TYPE: "postgres", MB_DB_HOST: "ledger-db" }, secret: ["MB_DB_PASS:POSTGRES_PASSWORD"] },
      proxy: { host: "metabase.acme.test", ssl: true, app_port: 3000, healthcheck: { path: "/api/health" } },
    },
  },
};
const railsSecrets = { KAMAL_REGISTRY_PASSWORD: "rp", RAILS_MASTER_KEY: "mk", POSTGRES_PASSWORD: "pg-secret", GITHUB_TOKEN: "gh-token" };

describe("config: Kamal deploy.yml import — accessories", function () {
  it("a Rails app's postgres (host, port, env with a secret, files, directories), redis (roles, cmd) and a proxied accessory become Accessory args that normalize", function () {
    const { args, accessories, ignored } = fromKamalConfig(rails, { version: "abc123", secrets: railsSecrets });
    assert.deepEqual(Object.keys(accessories), ["db", "redis", "metabase"]);
    for (const a of Object.values(accessories)) assert.equal(a.app, args, "each accessory belongs to the imported app");
    const withoutApp = (a: Obj) => Object.fromEntries(Object.entries(a).filter(([k]) => k !== "app"));
    assert.deepEqual(withoutApp(accessories.db), {
      name: "db",
      service: "ledger",
      image: "postgres:16.4",
      host: "10.1.0.13",
      port: "127.0.0.1:5432:5432",
      env: { clear: { POSTGRES_USER: "ledger", POSTGRES_DB: "ledger_production" }, secret: { POSTGRES_PASSWORD: "pg-secret" } },
      files: ["config/init.sql:/docker-entrypoint-initdb.d/setup.sql"],
      directories: ["data:/var/lib/postgresql/data"],
    });
    assert.deepEqual(withoutApp(accessories.redis), { name: "redis", service: "ledger", image: "redis:7.4", roles: ["web"], cmd: "redis-server --appendonly yes", volumes: ["redis_data:/data"] });
    assert.deepEqual(withoutApp(accessories.metabase), {
      name: "metabase",
      service: "ledger",
      serviceName: "metabase",
      image: "metabase/metabase:v0.50.26",
      tag: "db",
      env: { clear: { MB_DB_TYPE: "postgres", MB_DB_HOST: "ledger-db" }, secret: { MB_DB_PASS: "pg-secret" } },
      proxy: { hosts: ["metabase.acme.test"], ssl: true, appPort: 3000, healthcheck: { path: "/api/health" } },
    });
    assert.ok(!ignored.some((i) => i.startsWith("accessories")), ignored.join("\n"));

    const db = normalizeImported(accessories.db);
    assert.equal(db.service, "ledger-db");
    assert.equal(db.app, "ledger-production");
    assert.deepEqual(db.hosts, ["10.1.0.13"]);
    assert.equal(db.port, "127.0.0.1:5432:5432");
    assert.deepEqual(db.env.secret, { POSTGRES_PASSWORD: "pg-secret" });
    assert.deepEqual(db.files, [{ hostPath: "ledger-db/docker-entrypoint-initdb.d/setup.sql", remote: "/docker-entrypoint-initdb.d/setup.sql", mode: "0755", source: { local: "config/init.sql" } }]);
    assert.deepEqual(db.directories, [{ hostPath: "ledger-db/data", remote: "/var/lib/postgresql/data" }]);
    assert.deepEqual(db.registry, { server: "ghcr.io", username: "acme-bot", password: "rp" }, "the app's registry is the default, as in Kamal");
    const redis = normalizeImported(accessories.redis);
    assert.deepEqual(redis.hosts, ["10.1.0.11", "10.1.0.12"]);
    assert.deepEqual(redis.cmd, ["redis-server", "--appendonly", "yes"]);
    assert.deepEqual(redis.data, ["volume:redis_data"]);
    const metabase = normalizeImported(accessories.metabase);
    assert.equal(metabase.service, "metabase");
    assert.deepEqual(metabase.hosts, ["10.1.0.13"], "tag `db` is the jobs host's tag");
    assert.deepEqual(metabase.proxy?.hosts, ["metabase.acme.test"]);
    assert.equal(metabase.proxy?.appPort, 3000);
    assert.equal(metabase.proxy?.ssl, true);
  });

  it("a Node app's accessories: hosts, tags, their own registry with a secret password, files and directories in hash form, labels, options, network, the root logging", function () {
    const node = {
      service: "shop",
      image: "shop/api",
      servers: { web: { hosts: ["192.168.5.10", { "192.168.5.11": ["search"] }] } },
      logging: { driver: "json-file", options: { "max-size": "50m", "max-file": "3" } },
      accessories: {
        mysql: {
          image: "mysql:8.4",
          hosts: ["192.168.5.20"],
          port: 3306,
          registry: { server: "registry.shop.test", username: "puller", password: ["MIRROR_PASSWORD"] },
          env: { MYSQL_DATABASE: "shop" },
          files: [{ local: "db/my.cnf", remote: "/etc/mysql/conf.d/shop.cnf", mode: "0644", owner: "999:999" }],
          directories: [{ local: "data", remote: "/var/lib/mysql", mode: "0750", owner: "999:999" }, "/srv/backups:/backups:ro"],
          labels: { team: "payments" },
          options: { restart: "always", memory: "2g" },
          network: "shop-net",
        },
        meilisearch: { image: "getmeili/meilisearch:v1.10", tags: ["search"], cmd: ["meilisearch", "--no-analytics"] },
      },
    };
    const { accessories } = fromKamalConfig(node, { version: "v7", secrets: { MIRROR_PASSWORD: "mirror-pw" } });
    const { app: _app, ...mysqlArgs } = accessories.mysql;
    assert.deepEqual(mysqlArgs, {
      name: "mysql",
      service: "shop",
      image: "mysql:8.4",
      hosts: ["192.168.5.20"],
      port: 3306,
      labels: { team: "payments" },
      options: { restart: "always", memory: "2g" },
      network: "shop-net",
      directories: [{ local: "data", remote: "/var/lib/mysql", mode: "0750", owner: "999:999" }, "/srv/backups:/backups:ro"],
      env: { clear: { MYSQL_DATABASE: "shop" } },
      files: [{ local: "db/my.cnf", remote: "/etc/mysql/conf.d/shop.cnf", mode: "0644", owner: "999:999" }],
      registry: { server: "registry.shop.test", username: "puller", password: "mirror-pw" },
      logging: { driver: "json-file", options: { "max-size": "50m", "max-file": "3" } },
    });
    const mysql = normalizeImported(accessories.mysql, "staging");
    assert.equal(mysql.image, "registry.shop.test/mysql:8.4", "the accessory's registry server goes in front of its image, as in Kamal");
    assert.equal(mysql.port, "3306:3306");
    assert.equal(mysql.restartPolicy, "always");
    assert.deepEqual(mysql.options, { memory: "2g" });
    assert.equal(mysql.network, "shop-net");
    assert.deepEqual(mysql.logging, { driver: "json-file", options: { "max-size": "50m", "max-file": "3" } });
    assert.deepEqual(mysql.directories, [
      { hostPath: "shop-mysql/data", remote: "/var/lib/mysql", mode: "0750", owner: "999:999" },
      { hostPath: "/srv/backups", remote: "/backups", options: "ro" },
    ]);
    assert.equal(mysql.app, "shop-staging");
    const search = normalizeImported(accessories.meilisearch);
    assert.deepEqual(search.hosts, ["192.168.5.11"]);
    assert.deepEqual(search.cmd, ["meilisearch", "--no-analytics"]);
  });

  it("an accessory's .erb file (Kamal renders it, Berth does not) and its proxy.run are listed in ignored, path first; the rest is imported", function () {
    const { accessories, ignored } = fromKamalConfig(
      {
        service: "hey",
        image: "me/hey",
        servers: ["10.0.0.1"],
        accessories: {
          db: {
            image: "mysql:8.4",
            host: "10.0.0.2",
            files: ["config/my.cnf.erb:/etc/mysql/my.cnf", "config/init.sql:/docker-entrypoint-initdb.d/init.sql", { local: "config/users.sql.erb", remote: "/docker-entrypoint-initdb.d/users.sql" }],
          },
          admin: { image: "adminer:4", host: "10.0.0.2", proxy: { host: "adminer.hey.test", run: { http_port: 8080 } } },
        },
      },
      { version: "v1" },
    );
    assert.deepEqual(accessories.db.files, ["config/init.sql:/docker-entrypoint-initdb.d/init.sql"]);
    assert.deepEqual(accessories.admin.proxy, { hosts: ["adminer.hey.test"] });
    assert.deepEqual(ignored, [
      'accessories.db.files[0]: Kamal renders "config/my.cnf.erb" as ERB with the accessory\'s env; Berth does not render ERB. Render it and add it as `{ content, remote }`',
      'accessories.db.files[2]: Kamal renders "config/users.sql.erb" as ERB with the accessory\'s env; Berth does not render ERB. Render it and add it as `{ content, remote }`',
      "accessories.admin.proxy.run: an Accessory starts kamal-proxy with Berth's defaults; to run it otherwise, pass a `Proxy` as its `kamalProxy`",
    ]);
    assert.deepEqual(normalizeImported(accessories.db).files.map((f) => f.remote), ["/docker-entrypoint-initdb.d/init.sql"]);
  });

  it("a missing accessory secret, an unknown accessory key, `logging` on an accessory, env tags and the accessory's own TLS certificate are problems naming their path, all at once", function () {
    const bad = {
      service: "hey",
      image: "me/hey",
      servers: ["10.0.0.1"],
      accessories: {
        db: {
          image: "postgres:16.4",
          host: "10.0.0.2",
          env: { secret: ["POSTGRES_PASSWORD"], tags: { eu: { clear: { A: "1" } } } },
          registry: { server: "ghcr.io", username: "me", password: ["GHCR_TOKEN"] },
          healthcheck: { cmd: "pg_isready" },
          logging: { driver: "journald" },
        },
        web: { image: "nginx:1.27", host: "10.0.0.2", proxy: { host: "a.test", ssl: { certificate_pem: "CERT", private_key_pem: "KEY" } } },
        cache: "redis:7",
      },
    };
    assert.deepEqual(importProblems(() => fromKamalConfig(bad, { version: "v1", secrets: {} })), [
      'accessories.db.env.secret[0]: needs the secret "POSTGRES_PASSWORD"; got none. Pass it in `secrets` (e.g. from `config.requireSecret`).',
      "accessories.db.env.tags: is only allowed in the root `env` (Kamal refuses it here too); move the variables to `clear` or `secret`.",
      'accessories.db.registry.password: needs the secret "GHCR_TOKEN"; got none. Pass it in `secrets` (e.g. from `config.requireSecret`).',
      "accessories.db.healthcheck: is not a Kamal 2 accessory key Berth knows; remove it or check its spelling.",
      "accessories.db.logging: is not a Kamal 2 accessory key: Kamal gives accessories the root `logging`. Move it there, or remove it.",
      "accessories.web.proxy.ssl: is your own certificate, which Berth's accessories do not support yet; use `ssl: true` (Let's Encrypt), or serve it through an app role.",
      'accessories.cache: must be the accessory\'s settings (`image`, `host`, …); got "redis:7".',
    ]);
  });

  it("an accessory `cmd` that needs a shell (Kamal's runs through the host's shell) is imported as written, and the Accessory refuses it, asking for a list", function () {
    const { accessories } = fromKamalConfig(
      { service: "hey", image: "me/hey", servers: ["10.0.0.1"], accessories: { redis: { image: "redis:7.4", host: "10.0.0.2", cmd: "sh -c 'redis-server --requirepass $REDIS_PASSWORD'" } } },
      { version: "v1" },
    );
    assert.equal(accessories.redis.cmd, "sh -c 'redis-server --requirepass $REDIS_PASSWORD'");
    assert.throws(() => normalizeImported(accessories.redis), /`cmd`: must be plain words separated by spaces; got .*write the arguments as a list/);
  });

  it("a config without accessories imports none", function () {
    assert.deepEqual(fromKamalConfig({ service: "a", image: "a", servers: ["h1"] }, { version: "v1" }).accessories, {});
  });
});

describe("config: Kamal deploy.yml import — builder", function () {
  it("arch list, registry cache (Kamal's `<image>-build-cache` in the registry, mode=max), args, secrets, ssh become Image args that normalize; `remote` is listed with the BuildxBuilder to make", function () {
    const { args, image, ignored } = fromKamalConfig({ ...rails, hooks_path: ".kamal/hooks" }, { version: "abc123", secrets: railsSecrets });
    assert.deepEqual(image, {
      context: ".",
      dockerfile: "Dockerfile",
      tags: ["ghcr.io/acme/ledger:abc123"],
      service: "ledger",
      buildArgs: { RUBY_VERSION: "3.3.5", NODE_MAJOR: "20" },
      secrets: { GITHUB_TOKEN: "gh-token" },
      platforms: ["linux/amd64", "linux/arm64"],
      ssh: ["default"],
      cacheTo: [{ type: "registry", ref: "ghcr.io/acme/ledger-build-cache", mode: "max" }],
      cacheFrom: [{ type: "registry", ref: "ghcr.io/acme/ledger-build-cache" }],
      hooks: { path: ".kamal/hooks" },
    });
    assert.equal(image!.tags[0], args.image, "the image the AppService runs is the one built");
    assert.deepEqual(ignored, [
      'builder.remote: Kamal\'s remote builder is, in Berth, a `BuildxBuilder` with a node on that docker host (`endpoint: "ssh://builder@10.1.0.50"` and its `platforms`), passed as the Image\'s `builder`',
    ]);
    const cfg = normalizeImportedImage(image!);
    assert.equal(cfg.context, path.resolve("."));
    assert.equal(cfg.dockerfile, path.resolve("Dockerfile"));
    assert.deepEqual(cfg.platforms, ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(cfg.labels, { service: "ledger", destination: "production" });
    assert.deepEqual(cfg.cacheTo, [{ type: "registry", ref: "ghcr.io/acme/ledger-build-cache", mode: "max" }]);
    assert.deepEqual(cfg.secrets, { GITHUB_TOKEN: "gh-token" });
  });

  it("Kamal's forms: one arch, `context`, `dockerfile`, `target`, a named cache image, provenance and sbom as text or booleans; the `docker` driver needs no builder", function () {
    const base = { service: "hey", image: "me/hey", servers: ["10.0.0.1"] };
    const one = fromKamalConfig(
      {
        ...base,
        registry: { server: "registry.hey.test" },
        builder: { arch: "arm64", context: "./web", dockerfile: "web/Dockerfile.production", target: "release", cache: { type: "registry", image: "me/hey-cache" }, provenance: "mode=max", sbom: "true", driver: "docker" },
      },
      { version: "v2" },
    );
    assert.deepEqual(one.image, {
      context: "./web",
      dockerfile: "web/Dockerfile.production",
      tags: ["registry.hey.test/me/hey:v2"],
      service: "hey",
      target: "release",
      platforms: ["linux/arm64"],
      cacheTo: [{ type: "registry", ref: "registry.hey.test/me/hey-cache" }],
      cacheFrom: [{ type: "registry", ref: "registry.hey.test/me/hey-cache" }],
      provenance: "max",
      sbom: true,
    });
    assert.deepEqual(one.ignored, []);
    const cfg = normalizeImportedImage(one.image!);
    assert.equal(cfg.context, path.resolve("web"));
    assert.equal(cfg.dockerfile, path.resolve("web/Dockerfile.production"), "relative to where Pulumi runs, as Kamal's, not to the context");
    assert.equal(cfg.target, "release");
    assert.equal(cfg.provenance, "max");
    assert.equal(cfg.sbom, true);
    assert.equal(cfg.builder, undefined);
    const booleans = fromKamalConfig({ ...base, builder: { arch: "amd64", provenance: false, sbom: false } }, { version: "v2" }).image!;
    assert.equal(booleans.provenance, false);
    assert.equal(booleans.sbom, false);
  });

  it("what Berth's Image cannot take is listed in ignored with the way to get it: gha cache, cache options other than mode, provenance and sbom options, a shell variable in ssh, Kamal's docker-container and cloud drivers, local, pack", function () {
    const base = { service: "hey", image: "me/hey", servers: ["10.0.0.1"] };
    const gha = fromKamalConfig({ ...base, builder: { arch: "amd64", cache: { type: "gha", options: "mode=max" }, driver: "docker-container", local: false, remote: "ssh://b@10.0.0.9" } }, { version: "v1" });
    assert.equal(gha.image!.cacheTo, undefined);
    assert.deepEqual(gha.ignored, [
      "builder.cache: `type: gha` (GitHub Actions' cache) is not a cache Berth's Image reads or writes; use `type: registry`, or a `local` cache directory in the Image's `cacheTo` and `cacheFrom`",
      'builder.remote: Kamal\'s remote builder is, in Berth, a `BuildxBuilder` with a node on that docker host (`endpoint: "ssh://b@10.0.0.9"` and its `platforms`), passed as the Image\'s `builder`',
      "builder.local: which machine builds which platform is set by a `BuildxBuilder`'s nodes and their `platforms`, passed as the Image's `builder`",
      'builder.driver: Kamal creates its own "docker-container" builder; in Berth that is a `BuildxBuilder`, passed as the Image\'s `builder` (without one, buildx\'s current builder builds)',
    ]);
    const rest = fromKamalConfig(
      { ...base, builder: { arch: "amd64", cache: { type: "registry", options: "mode=max,image-manifest=true" }, provenance: "mode=max,builder-id=ci", sbom: "generator=docker/scout-sbom-indexer:1", ssh: "github=$HOME/.ssh/id_ed25519", driver: "cloud acme/builders", pack: { builder: "heroku/builder:24" } } },
      { version: "v1" },
    );
    assert.deepEqual(rest.image!.cacheTo, [{ type: "registry", ref: "me/hey-build-cache", mode: "max" }]);
    assert.equal(rest.image!.provenance, undefined);
    assert.equal(rest.image!.ssh, undefined);
    assert.deepEqual(rest.ignored, [
      'builder.ssh: "github=$HOME/.ssh/id_ed25519" names a shell variable, which Kamal\'s shell expands and Berth (buildx run without a shell) does not; give the Image\'s `ssh` the path',
      "builder.cache.options: \"image-manifest=true\": Berth's registry cache takes `mode=min` or `mode=max` only",
      'builder.provenance: "mode=max,builder-id=ci": Berth\'s Image takes true, false, `min` or `max` here; set its `provenance`',
      'builder.sbom: "generator=docker/scout-sbom-indexer:1": Berth\'s Image takes true or false here; set its `sbom`',
      "builder.pack: Berth builds with `docker buildx build` from a Dockerfile, not with Cloud Native Buildpacks' `pack`",
      "builder.driver: Berth does not create Docker Build Cloud builders; create it (`docker buildx create --driver cloud acme/builders`) and pass its name as the Image's `builder`",
    ]);
    normalizeImportedImage(rest.image!);
  });

  it("a missing build secret, an unknown builder key, an unknown cache key and an unknown cache type are problems naming their path", function () {
    const bad = { service: "hey", image: "me/hey", servers: ["10.0.0.1"], builder: { arch: "amd64", secrets: ["GITHUB_TOKEN", "NPM_TOKEN"], cache: { type: "s3", bucket: "b" }, platform: "linux/amd64" } };
    assert.deepEqual(importProblems(() => fromKamalConfig(bad, { version: "v1", secrets: { GITHUB_TOKEN: "t" } })), [
      'builder.secrets[1]: needs the secret "NPM_TOKEN"; got none. Pass it in `secrets` (e.g. from `config.requireSecret`).',
      "builder.cache.bucket: is not a Kamal 2 builder cache key (`type`, `options`, `image`); remove it or check its spelling.",
      'builder.cache.type: must be `registry` or `gha`; got "s3". Kamal has these two cache types.',
      "builder.platform: is not a Kamal 2 builder key Berth knows; remove it or check its spelling.",
    ]);
  });

  it("a config without builder imports no image", function () {
    const r = fromKamalConfig({ service: "a", image: "a", servers: ["h1"] }, { version: "v1" });
    assert.equal(r.image, undefined);
    assert.ok(!("image" in r));
  });
});
