import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };

/** Waits for every resource of the component, then the inputs an AccessoryHost was registered with. */
async function inputsOf(r: pulumi.CustomResource): Promise<Record<string, any>> {
  await value(r.urn);
  await settle();
  const reg = registered.find((x) => x.type === "berth:index:AccessoryHost" && x.name === (r as any).__name);
  assert.ok(reg, "the AccessoryHost was not registered");
  // Secret inputs reach the monitor wrapped; the resource's own outputs give their values.
  return { ...reg.inputs, connection: await value((r as any).connection), secrets: await value((r as any).secrets) };
}

describe("component: Accessory", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  const app = () => ({
    service: "shop",
    image: "reg.test/shop:v1",
    roles: { web: { hosts: ["h1", { host: "h2", tags: ["primary"] }] }, jobs: { hosts: [{ host: "h3", tags: ["primary"] }] } },
    ssh,
  });

  it("one AccessoryHost per host of the role, with Kamal's names and the host's spec", async function () {
    const db = new berth.Accessory("db", {
      app: app(),
      role: "web",
      image: "postgres:16.3",
      port: "127.0.0.1:5432:5432",
      env: { clear: { POSTGRES_DB: "shop" }, secret: { POSTGRES_PASSWORD: pulumi.secret("pw-123") } },
      directories: ["data:/var/lib/postgresql/data"],
      healthcheck: { cmd: ["pg_isready"] },
    });
    assert.deepEqual(db.hosts, ["h1", "h2"]);
    assert.equal(db.serviceName, "shop-db");
    const inputs = await inputsOf(db.hostResources[1]);
    const { connection, secrets, preflight: _p, ...spec } = inputs;
    assert.deepEqual(spec, {
      host: "h2",
      service: "shop-db",
      app: "shop-staging",
      name: "db",
      image: "postgres:16.3",
      port: "127.0.0.1:5432:5432",
      cmd: [],
      env: { POSTGRES_DB: "shop" },
      labels: {},
      restartPolicy: "unless-stopped",
      options: {},
      logging: { options: { "max-size": "10m" } },
      network: "kamal",
      volumes: [],
      files: [],
      directories: [{ hostPath: "shop-db/data", remote: "/var/lib/postgresql/data" }],
      proxyContainer: "kamal-proxy",
      healthcheck: { cmd: ["pg_isready"], intervalSeconds: 1, timeoutSeconds: 30 },
      dataDeletedOnDestroy: [],
      secretEnvNames: ["POSTGRES_PASSWORD"],
    });
    assert.equal(connection.host, "h2");
    assert.deepEqual(secrets, { env: { POSTGRES_PASSWORD: "pw-123" }, files: [] });
    assert.equal(await isSecret((db.hostResources[1] as any).secrets), true);
    assert.equal(await isSecret((db.hostResources[1] as any).connection), true);
    // Pre-flight: every host of the accessory, as a secret (test/component/preflight.test.ts).
    assert.equal(await isSecret((db.hostResources[1] as any).preflight), true);
    assert.deepEqual(((await value((db.hostResources[1] as any).preflight)) as { host: string }[]).map((c) => c.host), ["h1", "h2"]);
    const names = registered.map((r) => `${r.type} ${r.name}`).sort();
    assert.deepEqual(names, ["berth:index:Accessory db", "berth:index:AccessoryHost db-h1", "berth:index:AccessoryHost db-h2"]);
  });

  it("placement by tag resolves against the app's host tags", async function () {
    const cache = new berth.Accessory("cache", { app: app(), tag: "primary", image: "redis:7" });
    assert.deepEqual(cache.hosts, ["h2", "h3"]);
  });

  it("an unknown role or tag fails at construction (the preview), naming it", async function () {
    assert.throws(() => new berth.Accessory("db", { app: app(), roles: ["web", "database"], image: "postgres:16.3" }), /`roles\[1\]`: must name a role of the app \(`web`, `jobs`\); got "database"/);
    assert.throws(() => new berth.Accessory("db", { app: app(), tag: "eu", image: "postgres:16.3" }), /`tag`: must name a tag of the app's hosts \(one of `primary`\); got "eu"/);
  });

  it("an accessory-only stack: service and hosts, no AppService; ssh of its own", async function () {
    const db = new berth.Accessory("db", { service: "solo", hosts: ["h1"], image: "postgres:16.3", ssh });
    const inputs = await inputsOf(db.hostResources[0]);
    assert.equal(inputs.service, "solo-db");
    assert.equal(inputs.app, "solo");
    assert.equal(inputs.connection.hostKey, "ssh-ed25519 AAAA1");
  });

  it("a secret in env.clear goes to the env file; a secret file content is written 0600; deleteDataOnDestroy lists the data", async function () {
    const db = new berth.Accessory("db", {
      service: "solo",
      host: "h1",
      image: "postgres:16.3",
      env: { clear: { PGPASSWORD: pulumi.secret("pw-456") } },
      files: [{ content: pulumi.secret("password=pw-789"), remote: "/etc/pg/secret.conf" }, { content: "plain", remote: "/etc/pg/plain.conf" }],
      volumes: ["pgdata:/var/lib/postgresql/data"],
      deleteDataOnDestroy: true,
      ssh,
    });
    const inputs = await inputsOf(db.hostResources[0]);
    assert.deepEqual(inputs.env, {});
    assert.deepEqual(inputs.secretEnvNames, ["PGPASSWORD"]);
    assert.deepEqual(inputs.secrets.env, { PGPASSWORD: "pw-456" });
    assert.deepEqual(inputs.secrets.files, ["password=pw-789", "plain"]);
    assert.deepEqual(
      inputs.files.map((f: any) => [f.hostPath, f.mode]),
      [
        ["solo-db/etc/pg/secret.conf", "0600"],
        ["solo-db/etc/pg/plain.conf", "0755"],
      ],
    );
    assert.deepEqual(inputs.dataDeletedOnDestroy, ["~/solo-db", "volume:pgdata"]);
    const { connection: _c, secrets: _s, preflight: _p, ...spec } = inputs;
    assert.equal(JSON.stringify(spec).includes("pw-"), false, "a secret leaked into the spec");
  });

  it("a local file is read from the project directory into the secret file contents", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-acc-"));
    const file = path.join(dir, "pg.conf");
    fs.writeFileSync(file, "max_connections = 20\n");
    const db = new berth.Accessory("db", { service: "solo", host: "h1", image: "postgres:16.3", files: [`${file}:/etc/pg/pg.conf:ro`], ssh });
    const inputs = await inputsOf(db.hostResources[0]);
    assert.deepEqual(inputs.secrets.files, ["max_connections = 20\n"]);
    assert.deepEqual(inputs.files, [{ hostPath: "solo-db/etc/pg/pg.conf", remote: "/etc/pg/pg.conf", mode: "0755", options: "ro" }]);
    assert.equal(JSON.stringify(inputs).includes(dir), false, "a path of this machine is in the inputs");
    fs.rmSync(dir, { recursive: true, force: true });
    assert.throws(
      () => new berth.Accessory("db2", { service: "solo", host: "h1", image: "postgres:16.3", files: [`${file}:/etc/pg/pg.conf`], ssh }),
      /`files\[0\]\.local`: must be a readable file; got ".*pg\.conf" \(ENOENT\)/,
    );
  });

  it("refuses a secret in a field that ends up in argv, naming the field and not the value", async function () {
    const db = new berth.Accessory("db", { service: "solo", host: "h1", image: "postgres:16.3", labels: { token: pulumi.secret("t0k-s3cret-value") }, ssh });
    const err = await new Promise<string>((resolve) => {
      (db.hostResources[0] as any).labels.apply(() => resolve(""));
      process.once("unhandledRejection", (e: any) => resolve(String(e?.message ?? e)));
    }).catch((e) => String(e));
    assert.match(err, /`labels\.token`: holds a secret, but this field is not secret/);
    assert.equal(err.includes("s3cret-value"), false);
  });

  it("with `proxy`: a Proxy on the accessory's hosts, and the route's settings without a certificate", async function () {
    const web = new berth.Accessory("admin", { service: "solo", host: "h1", image: "reg.test/admin:1", proxy: { host: "admin.test", appPort: 8080 }, ssh });
    const inputs = await inputsOf(web.hostResources[0]);
    assert.deepEqual(inputs.proxy.hosts, ["admin.test"]);
    assert.equal(inputs.proxy.appPort, 8080);
    assert.equal("certificate" in inputs.proxy, false);
    await value(web.proxy!.hostResources[0].urn);
    await settle();
    assert.ok(registered.some((r) => r.type === "berth:index:ProxyHost" && r.name === "admin-proxy-h1"));
  });
});
