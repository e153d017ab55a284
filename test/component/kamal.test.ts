import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

// The accessories and builder of a Rails app's deploy.yml, imported and given to the components as
// a user would: `new Accessory(name, accessories[name])`, `new Image("web", image)`.
describe("component: what fromKamalConfig imports", function () {
  let berth: typeof import("../../sdk");
  let dir: string;
  before(async () => {
    installMocks(false, "production");
    berth = await import("../../sdk");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-kamal-"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
    fs.writeFileSync(path.join(dir, "init.sql"), "CREATE TABLE t (id int);\n");
  });
  beforeEach(() => (registered.length = 0));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const deploy = () => ({
    service: "ledger",
    image: "acme/ledger",
    servers: { web: ["10.1.0.11", "10.1.0.12"], jobs: { hosts: [{ "10.1.0.13": ["db"] }], cmd: "bin/jobs" } },
    registry: { server: "ghcr.io", username: "acme-bot", password: ["KAMAL_REGISTRY_PASSWORD"] },
    ssh: { user: "deploy", keys: ["/keys/deploy"] },
    builder: { arch: ["amd64", "arm64"], cache: { type: "registry", options: "mode=max" }, args: { RUBY_VERSION: "3.3.5" }, secrets: ["GITHUB_TOKEN"] },
    accessories: {
      db: {
        image: "postgres:16.4",
        host: "10.1.0.13",
        port: "127.0.0.1:5432:5432",
        env: { clear: { POSTGRES_DB: "ledger" }, secret: ["POSTGRES_PASSWORD"] },
        files: [`${dir}/init.sql:/docker-entrypoint-initdb.d/setup.sql`],
        directories: ["data:/var/lib/postgresql/data"],
      },
      redis: { image: "redis:7.4", roles: ["web"], cmd: "redis-server --appendonly yes" },
    },
  });
  const secrets = () => ({
    KAMAL_REGISTRY_PASSWORD: pulumi.secret("rp"),
    POSTGRES_PASSWORD: pulumi.secret("pg-secret"),
    GITHUB_TOKEN: pulumi.secret("gh-token"),
  });

  it("each imported accessory is an Accessory with Kamal's names, hosts and the app's ssh; its secret env stays secret", async function () {
    const { accessories } = berth.fromKamalConfig(deploy(), { version: "abc123", secrets: secrets() });
    const db = new berth.Accessory("db", accessories.db as any);
    const redis = new berth.Accessory("redis", accessories.redis as any);
    assert.equal(db.serviceName, "ledger-db");
    assert.deepEqual(db.hosts, ["10.1.0.13"]);
    assert.deepEqual(redis.hosts, ["10.1.0.11", "10.1.0.12"]);
    await value(db.hostResources[0].urn);
    await settle();
    const dbHost = registered.find((r) => r.type === "berth:index:AccessoryHost" && r.name === "db-10.1.0.13")!.inputs;
    assert.equal(dbHost.app, "ledger-production");
    assert.equal(dbHost.port, "127.0.0.1:5432:5432");
    assert.deepEqual(dbHost.secretEnvNames, ["POSTGRES_PASSWORD"]);
    assert.deepEqual(dbHost.files, [{ hostPath: "ledger-db/docker-entrypoint-initdb.d/setup.sql", remote: "/docker-entrypoint-initdb.d/setup.sql", mode: "0755" }]);
    assert.deepEqual(dbHost.registry, { server: "ghcr.io", username: "acme-bot" });
    const hostSecrets = (db.hostResources[0] as any).secrets;
    assert.equal(await isSecret(hostSecrets), true);
    assert.deepEqual(await value(hostSecrets), { env: { POSTGRES_PASSWORD: "pg-secret" }, files: ["CREATE TABLE t (id int);\n"], registryPassword: "rp" });
    const connection = (await value((db.hostResources[0] as any).connection)) as { user: string; privateKeyPath: string };
    assert.equal(connection.user, "deploy", "the app's ssh");
    assert.equal(connection.privateKeyPath, "/keys/deploy");
    assert.deepEqual(
      registered.filter((r) => r.type === "berth:index:AccessoryHost").map((r) => r.name).sort(),
      ["db-10.1.0.13", "redis-10.1.0.11", "redis-10.1.0.12"],
    );
  });

  it("the imported builder is an Image of the app's image, with its platforms, registry cache and secret", async function () {
    const { args, image } = berth.fromKamalConfig(deploy(), { version: "abc123", secrets: secrets() });
    const img = new berth.Image("web", { ...(image as any), context: dir, dockerfile: path.join(dir, "Dockerfile") });
    await value(img.resource.urn);
    await settle();
    const inputs = registered.find((r) => r.type === "berth:index:Image" && r.name === "web-build")!.inputs;
    assert.deepEqual(inputs.tags, [args.image]);
    assert.deepEqual(inputs.platforms, ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(inputs.labels, { service: "ledger", destination: "production" });
    assert.deepEqual(inputs.buildArgs, { RUBY_VERSION: "3.3.5" });
    assert.deepEqual(inputs.cacheTo, [{ type: "registry", ref: "ghcr.io/acme/ledger-build-cache", mode: "max" }]);
    assert.deepEqual(inputs.cacheFrom, [{ type: "registry", ref: "ghcr.io/acme/ledger-build-cache" }]);
    const buildSecrets = (img.resource as any).secrets;
    assert.equal(await isSecret(buildSecrets), true);
    assert.deepEqual(((await value(buildSecrets)) as { build: Record<string, string> }).build, { GITHUB_TOKEN: "gh-token" });
  });
});
