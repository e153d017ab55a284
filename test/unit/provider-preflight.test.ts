/**
 * The `preflight` input of `ProxyHost` and `AccessoryHost` (the other hosts of the deploy) in the
 * provider, without the engine: never part of a diff, a secret, and a change of it (or of a host
 * key) alone runs nothing on a host — no pre-flight, no reboot of kamal-proxy or of a database.
 */
import * as assert from "node:assert/strict";
import { BerthProvider, detailedDiffs } from "../../sdk/provider/provider";
import { accessoryHostResource } from "../../sdk/provider/accessory-host";
import { proxyHostResource } from "../../sdk/provider/proxy-host";
import { secret } from "../../sdk/provider/values";
import type { AccessoryHostInputs, ProxyHostInputs } from "../../sdk/config/resources";
import { proxyRunSchema } from "../../sdk/config/proxy";

const provider = new BerthProvider("0.0.0", "{}");
const urn = (type: string, name: string) => `urn:pulumi:dev::proj::${type}::${name}`;
/** Nothing listens there: any SSH attempt fails. */
const nowhere = (host: string) => ({ host, port: 1, user: "root", hostKey: "ssh-ed25519 AAAA", connectTimeoutSeconds: 1 });

const proxyHost = { host: "10.0.0.1", run: proxyRunSchema.parse({}), owner: "p/s/app-proxy", connection: nowhere("127.0.0.1"), preflight: [nowhere("127.0.0.1"), nowhere("127.0.0.2")] };
const accessoryHost = {
  host: "10.0.0.1",
  service: "shop-db",
  app: "shop-staging",
  name: "db",
  image: "postgres:16.3",
  cmd: [],
  env: {},
  labels: {},
  restartPolicy: "unless-stopped",
  options: {},
  logging: { options: {} },
  network: "kamal",
  volumes: [],
  files: [],
  directories: [],
  proxyContainer: "kamal-proxy",
  dataDeletedOnDestroy: [],
  secretEnvNames: [],
  connection: nowhere("127.0.0.1"),
  preflight: [nowhere("127.0.0.1"), nowhere("127.0.0.2")],
  secrets: { env: {}, files: [] },
};

describe("provider: pre-flight inputs of ProxyHost and AccessoryHost", () => {
  for (const [type, inputs] of [
    ["berth:index:ProxyHost", proxyHost],
    ["berth:index:AccessoryHost", accessoryHost],
  ] as const) {
    it(`${type}: a change of the other hosts' connections is no diff, and \`preflight\` is a secret input`, async () => {
      const u = urn(type, "d1");
      const d = await provider.diff("id", u, { ...inputs, preflight: secret(inputs.preflight) }, { ...inputs, preflight: secret([inputs.preflight[0], { ...inputs.preflight[1], hostKey: "ssh-ed25519 BBBB" }]) });
      assert.equal(d.changes, false);
      assert.deepEqual(detailedDiffs.get(u)!.detailed, {});
      const def = type === "berth:index:ProxyHost" ? proxyHostResource : accessoryHostResource;
      assert.ok(def.secretInputs.includes("preflight"));
    });
  }

  it("ProxyHost: an update of only this host's key or the others' runs nothing on a host (nothing listens, nothing fails)", async () => {
    const news: ProxyHostInputs = { ...proxyHost, connection: { ...proxyHost.connection, hostKey: "ssh-ed25519 CCCC" } };
    await proxyHostResource.update("id", proxyHost as Parameters<typeof proxyHostResource.update>[1], news, { "connection.hostKey": "update", "preflight[1].hostKey": "update" });
  });

  it("AccessoryHost: an update of only keys and the others' connections does not reboot the accessory (nothing listens, nothing fails)", async () => {
    const news = { ...accessoryHost, connection: { ...accessoryHost.connection, hostKey: "ssh-ed25519 CCCC" } } as AccessoryHostInputs;
    await accessoryHostResource.update("id", accessoryHost as unknown as Parameters<typeof accessoryHostResource.update>[1], news, { "connection.hostKey": "update", "preflight[0].hostKey": "update" });
  });

  it("ProxyHost: a real change checks every host first, and fails naming the unreachable one before anything else", async function () {
    this.timeout(30_000);
    const news = { ...proxyHost, run: { ...proxyHost.run, debug: true } } as ProxyHostInputs;
    await assert.rejects(proxyHostResource.update("id", proxyHost as Parameters<typeof proxyHostResource.update>[1], news, { "run.debug": "update" }), /^Error: 127\.0\.0\.1: /);
  });
});
