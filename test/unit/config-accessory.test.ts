import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { accessoryHostSecrets, accessoryHostSpec, type AccessoryAppRef, normalizeAccessory, type PlainAccessoryArgs } from "../../sdk/config/accessory";

const base: PlainAccessoryArgs = { service: "shop", name: "db", image: "postgres:16.3", host: "10.0.0.1" };

// Kamal's servers: web on h1 and h2 (h2 tagged `primary`), jobs on h3 (tagged `primary` and `eu`).
const app: AccessoryAppRef = {
  service: "shop",
  destination: "production",
  roles: {
    web: [{ host: "h1", tags: [] }, { host: "h2", tags: ["primary"] }],
    jobs: [{ host: "h3", tags: ["primary", "eu"] }],
  },
};

/** The rendered problem lines ("`path`: message") of the error `fn` throws. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, `expected a BerthConfigError, got ${String(e)}`);
    const lines = e.message.split("\n");
    assert.match(lines[0], /^Invalid Accessory configuration \(\d+ problems?\):$/);
    return lines.slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  assert.fail("expected normalizeAccessory to throw");
}

function invalid(args: Record<string, unknown>): string[] {
  return problems(() => normalizeAccessory({ ...base, ...args } as PlainAccessoryArgs));
}

describe("config/accessory normalizeAccessory", () => {
  it("applies every default to the smallest config: Kamal's names, nothing published, data kept", () => {
    const cfg = normalizeAccessory(base);
    assert.deepEqual(cfg, {
      name: "db",
      service: "shop-db",
      app: "shop",
      hosts: ["10.0.0.1"],
      image: "postgres:16.3",
      cmd: [],
      env: { clear: {}, secret: {} },
      labels: {},
      restartPolicy: "unless-stopped",
      options: {},
      logging: { options: { "max-size": "10m" } },
      network: "kamal",
      volumes: [],
      files: [],
      directories: [],
      deleteDataOnDestroy: false,
      data: [],
      ssh: cfg.ssh,
    });
    assert.equal(cfg.ssh.user, "root");
  });

  it("port: Kamal's forms", () => {
    assert.equal(normalizeAccessory({ ...base, port: "5432" }).port, "5432:5432");
    assert.equal(normalizeAccessory({ ...base, port: 6379 }).port, "6379:6379");
    assert.equal(normalizeAccessory({ ...base, port: "127.0.0.1:5432:5432" }).port, "127.0.0.1:5432:5432");
    assert.equal(normalizeAccessory({ ...base, port: "8080:80" }).port, "8080:80");
    assert.deepEqual(invalid({ port: "5432-5433" }), [
      '`port`: must be a port like "5432", "8080:80" or "127.0.0.1:5432:5432"; got "5432-5433". To publish several ports, add `options: { publish: [...] }`.',
    ]);
  });

  it("files and directories: Kamal's paths under ~/<service>, data listed for deleteDataOnDestroy", () => {
    const cfg = normalizeAccessory({
      ...base,
      files: ["config/pg.conf:/etc/postgresql/pg.conf", { content: "CREATE TABLE t ();", remote: "/docker-entrypoint-initdb.d/init.sql", mode: "0640", owner: "999", options: "ro" }],
      directories: ["data:/var/lib/postgresql/data", { local: "/mnt/backups", remote: "/backups", mode: "0700" }],
      volumes: ["pgwal:/wal", "/var/log/pg:/logs"],
      deleteDataOnDestroy: true,
    });
    assert.deepEqual(cfg.files, [
      { hostPath: "shop-db/etc/postgresql/pg.conf", remote: "/etc/postgresql/pg.conf", mode: "0755", source: { local: "config/pg.conf" } },
      { hostPath: "shop-db/docker-entrypoint-initdb.d/init.sql", remote: "/docker-entrypoint-initdb.d/init.sql", mode: "0640", owner: "999", options: "ro", source: { content: "CREATE TABLE t ();" } },
    ]);
    assert.deepEqual(cfg.directories, [
      { hostPath: "shop-db/data", remote: "/var/lib/postgresql/data" },
      { hostPath: "/mnt/backups", remote: "/backups", mode: "0700" },
    ]);
    // Bind mounts in `volumes` are raw: not the accessory's data, never deleted.
    assert.deepEqual(cfg.data, ["~/shop-db", "/mnt/backups", "volume:pgwal"]);
    const spec = accessoryHostSpec(cfg, "10.0.0.1");
    assert.deepEqual(spec.dataDeletedOnDestroy, ["~/shop-db", "/mnt/backups", "volume:pgwal"]);
    assert.deepEqual(accessoryHostSpec({ ...cfg, deleteDataOnDestroy: false }, "10.0.0.1").dataDeletedOnDestroy, []);
    assert.equal(JSON.stringify(spec).includes("CREATE TABLE"), false, "file content belongs in the secrets");
    assert.deepEqual(accessoryHostSecrets(cfg, ["a", "b"]).files, ["a", "b"]);
  });

  it("names: serviceName overrides <service>-<name>; a destination names the env directory only", () => {
    const cfg = normalizeAccessory({ ...base, serviceName: "custom-db", destination: "staging" });
    assert.equal(cfg.service, "custom-db");
    assert.equal(cfg.app, "shop-staging");
  });

  it("the app gives the service, destination, registry and ssh", () => {
    const cfg = normalizeAccessory({
      name: "db",
      image: "postgres:16.3",
      app: { ...app, registry: { server: "reg.test", username: "u", password: "p" }, ssh: { user: "deploy" } },
      role: "web",
    });
    assert.equal(cfg.service, "shop-db");
    assert.equal(cfg.app, "shop-production");
    assert.equal(cfg.registry?.server, "reg.test");
    assert.equal(cfg.image, "postgres:16.3", "only the accessory's own registry goes in front of the image");
    assert.equal(cfg.ssh.user, "deploy");
  });

  it("placement by role, roles, tag and tags resolves against the app's roles and host tags", () => {
    const hosts = (p: Record<string, unknown>) => normalizeAccessory({ name: "db", image: "postgres:16.3", app, ...p } as PlainAccessoryArgs).hosts;
    assert.deepEqual(hosts({ role: "web" }), ["h1", "h2"]);
    assert.deepEqual(hosts({ roles: ["jobs", "web"] }), ["h3", "h1", "h2"]);
    assert.deepEqual(hosts({ tag: "primary" }), ["h2", "h3"]);
    assert.deepEqual(hosts({ tags: ["eu"] }), ["h3"]);
    assert.deepEqual(hosts({ hosts: ["h9", "h8"] }), ["h9", "h8"]);
  });

  it("an unknown role or tag is an error naming it and what the app has", () => {
    assert.deepEqual(problems(() => normalizeAccessory({ name: "db", image: "postgres:16.3", app, roles: ["web", "dbs"] })), [
      '`roles[1]`: must name a role of the app (`web`, `jobs`); got "dbs".',
    ]);
    assert.deepEqual(problems(() => normalizeAccessory({ name: "db", image: "postgres:16.3", app, tag: "asia" })), [
      '`tag`: must name a tag of the app\'s hosts (one of `primary`, `eu`); got "asia". Tag hosts with `{ host, tags: [...] }` in the app\'s `hosts` or `roles`.',
    ]);
  });

  it("placement: exactly one of host, hosts, role, roles, tag, tags; roles and tags need the app", () => {
    assert.deepEqual(invalid({ host: undefined }), ["`host`: Either `host`, `hosts`, `role`, `roles`, `tag` or `tags` must be provided (Kamal's accessory placement)."]);
    assert.deepEqual(invalid({ roles: ["web"] }), ["`roles`: Only one of `host`, `hosts`, `role`, `roles`, `tag` or `tags` can be provided; got `host` and `roles`."]);
    assert.deepEqual(invalid({ host: undefined, role: "web" }), [
      "`role`: needs `app`: roles and tags are the app's. Pass the AppService's args as `app`, or place the accessory with `host` or `hosts`.",
    ]);
    assert.deepEqual(invalid({ host: undefined, hosts: ["a", "a"] }), ['`hosts[1]`: must not repeat an earlier host; got "a" again.']);
  });

  it("collects every problem at once, each with its path", () => {
    assert.deepEqual(
      invalid({
        service: undefined,
        image: "Postgres",
        env: { clear: { KAMAL_HOST: "x" }, secret: { PW: "a\nb" } },
        labels: { service: "x" },
        options: { network: "host" },
        files: ["nothing-here", { remote: "relative" }],
        directories: ["../x:/data"],
        healthcheck: { cmd: ["pg_isready"], port: 5432 },
        proxy: { ssl: { certificatePem: "c", privateKeyPem: "k" }, hosts: ["db.test"] },
      }),
      [
        "`image`: must be an image reference like `postgres:16.4` or `registry.example.com/db@sha256:<64 hex>`; got \"Postgres\". Repository names are lowercase; a digest is `sha256:` and 64 hex digits.",
        "`env.clear.KAMAL_HOST`: is set by Berth on every accessory container; got `KAMAL_HOST`. Use another name.",
        "`env.secret.PW`: must be a single line; got a value with a line break (not shown because it is secret). Docker env files hold one `KEY=value` per line: put multi-line secrets in `files`.",
        '`labels.service`: is reserved: Berth sets the `service` label to the accessory\'s service name; got "x". Use another label name.',
        '`options.network`: is set by Berth; got "host". Set `network` instead.',
        '`files[0]`: must be "local:remote[:options]"; got "nothing-here". e.g. "config/my.cnf:/etc/mysql/my.cnf:ro".',
        '`files[1].remote`: must be an absolute path in the container, like `/etc/mysql/my.cnf`; got "relative".',
        "`files[1].local`: Either `local` or `content` must be provided.",
        '`directories[0].local`: must be a path without `..`; got "../x". Write the path from `~/<serviceName>/`, or an absolute one.',
        "`proxy.ssl.certificatePem`: must be a PEM certificate starting with `-----BEGIN CERTIFICATE-----`; got a value that is not shown because it is secret.",
        "`proxy.ssl.privateKeyPem`: must be a PEM private key starting with `-----BEGIN … PRIVATE KEY-----`; got a value that is not shown because it is secret.",
        "`healthcheck.port`: Only one of `cmd` or `port` can be provided.",
        "`service`: Either `service` or `app` must be provided: the accessory's service name is `<service>-<name>`.",
        "`proxy.ssl`: must be true or false for an accessory; got your own certificate, which accessories do not support yet. Use `ssl: true` (Let's Encrypt) or route through an AppService role.",
      ],
    );
  });

  it("a secret env value is never shown in an error", () => {
    const lines = invalid({ env: { secret: { PW: "s3cr3t\nx" } } });
    assert.ok(lines.every((l) => !l.includes("s3cr3t")));
  });

  it("the host spec: secret env names only, proxy without certificate, registry without password", () => {
    const cfg = normalizeAccessory({
      ...base,
      env: { clear: { A: "1" }, secret: { PW: "pw" } },
      registry: { server: "reg.test", username: "u", password: "p" },
      proxy: { host: "db.test", appPort: 8080 },
      healthcheck: { cmd: "pg_isready -U postgres" },
      stopTimeoutSeconds: 60,
    });
    const spec = accessoryHostSpec(cfg, "10.0.0.1", "my-proxy");
    assert.equal(spec.image, "reg.test/postgres:16.3");
    assert.deepEqual(spec.env, { A: "1" });
    assert.deepEqual(spec.secretEnvNames, ["PW"]);
    assert.deepEqual(spec.registry, { server: "reg.test", username: "u" });
    assert.deepEqual(spec.proxy?.hosts, ["db.test"]);
    assert.equal(spec.proxy?.appPort, 8080);
    assert.equal(spec.proxyContainer, "my-proxy");
    assert.deepEqual(spec.healthcheck, { cmd: ["pg_isready", "-U", "postgres"], intervalSeconds: 1, timeoutSeconds: 30 });
    assert.equal(spec.stopTimeoutSeconds, 60);
    assert.deepEqual(accessoryHostSecrets(cfg, []), { env: { PW: "pw" }, files: [], registryPassword: "p" });
  });
});
