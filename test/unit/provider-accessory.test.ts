/**
 * `berth:index:AccessoryHost` in the provider, without the engine: check, the diff that keeps data
 * (an image change is an update, never a replace), the secret inputs, and the schema entry.
 */
import * as assert from "node:assert/strict";
import { BerthProvider, detailedDiffs } from "../../sdk/provider/provider";
import { berthProvider } from "../../sdk/provider/serve";
import { hasSecret, secret } from "../../sdk/provider/values";

const urn = (name: string) => `urn:pulumi:dev::proj::berth:index:Accessory$berth:index:AccessoryHost::${name}`;
const provider = new BerthProvider("0.0.0", "{}");

const db = {
  host: "10.0.0.1",
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
  files: [{ hostPath: "shop-db/etc/x.conf", remote: "/etc/x.conf", mode: "0600" }],
  directories: [{ hostPath: "shop-db/data", remote: "/var/lib/postgresql/data" }],
  proxyContainer: "kamal-proxy",
  healthcheck: { cmd: ["pg_isready"], intervalSeconds: 1, timeoutSeconds: 30 },
  dataDeletedOnDestroy: [],
  secretEnvNames: ["POSTGRES_PASSWORD"],
  connection: secret({ host: "10.0.0.1", port: 22, user: "root", hostKey: "ssh-ed25519 AAAA" }),
  secrets: secret({ env: { POSTGRES_PASSWORD: "pw-value" }, files: ["password=pw-value"] }),
};

describe("provider: AccessoryHost", () => {
  it("checks the inputs with its schema, naming the property", async () => {
    assert.deepEqual((await provider.check(urn("c1"), {}, db)).failures, []);
    const r = await provider.check(urn("c2"), {}, { ...db, files: [{ remote: "/x" }] });
    assert.deepEqual(
      (r.failures ?? []).map((f) => f.property),
      ["files[0].hostPath", "files[0].mode"],
    );
  });

  it("an image change is an update of `image` (the container is replaced on the host, the data kept), never a replace", async () => {
    const u = urn("d1");
    const d = await provider.diff("id", u, db, { ...db, image: "postgres:16.4" });
    assert.deepEqual(d.replaces, []);
    assert.equal(d.deleteBeforeReplace, false);
    assert.deepEqual(detailedDiffs.get(u)!.detailed, { image: "update" });
  });

  it("a new service name replaces it, deleting the old container first (same name on the host)", async () => {
    const u = urn("d2");
    const d = await provider.diff("id", u, db, { ...db, service: "custom-db" });
    assert.deepEqual(d.replaces, ["service"]);
    assert.equal(d.deleteBeforeReplace, true);
  });

  it("file contents and secret env change by path only; deleteDataOnDestroy's list shows in the diff", async () => {
    const u = urn("d3");
    await provider.diff("id", u, db, { ...db, secrets: secret({ env: { POSTGRES_PASSWORD: "pw-value" }, files: ["password=other"] }), dataDeletedOnDestroy: ["~/shop-db"] });
    assert.deepEqual(detailedDiffs.get(u)!.detailed, { dataDeletedOnDestroy: "update", "secrets.files": "update" });
  });

  it("connection and secrets stay secret in what the provider returns, and are secret in the schema", async () => {
    const { inputs } = await provider.check(urn("s1"), {}, db);
    assert.equal(hasSecret(inputs!.connection), true);
    assert.equal(hasSecret(inputs!.secrets), true);
    const schema = JSON.parse(berthProvider().schema);
    const res = schema.resources["berth:index:AccessoryHost"];
    assert.equal(res.inputProperties.connection.secret, true);
    assert.equal(res.inputProperties.secrets.secret, true);
    assert.equal(res.inputProperties.service.replaceOnChanges, true);
    assert.equal(res.inputProperties.image.replaceOnChanges, undefined);
  });
});
