import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, registered, settle, value } from "../helpers/mocks";

/** The inputs a resource of `type` named `name` was registered with. */
async function inputsOf(type: string, r: pulumi.CustomResource): Promise<Record<string, any>> {
  await value(r.urn);
  await settle();
  const reg = registered.find((x) => x.type === type && x.name === (r as any).__name);
  assert.ok(reg, `${type} ${(r as any).__name} was not registered`);
  return reg.inputs;
}

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2" } };

describe("component: local registry (registry.server localhost:<port>)", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  it("each AppHost of an image on localhost:<port> gets the port to tunnel, and no login without credentials", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      // The image may come from a build (an Output): the port follows the resolved image.
      image: pulumi.output("localhost:5555/shop:v1"),
      hosts: ["h1", "h2"],
      registry: { server: "localhost:5555" },
      ssh,
    });
    for (const host of app.hostResources.web) {
      const inputs = await inputsOf("berth:index:AppHost", host);
      assert.equal(inputs.image, "localhost:5555/shop:v1");
      assert.equal(inputs.localRegistryPort, 5555);
      assert.equal(inputs.registry, undefined);
    }
  });

  it("an image on any other registry has no localRegistryPort", async function () {
    const app = new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], ssh });
    const inputs = await inputsOf("berth:index:AppHost", app.hostResources.web[0]);
    assert.ok(!("localRegistryPort" in inputs) || inputs.localRegistryPort === undefined);
    assert.equal(inputs.image, "reg.test/shop:v1");
  });

  it("an Accessory on the local registry: its server in front of the image, the port on each AccessoryHost", async function () {
    const db = new berth.Accessory("db", { service: "shop", name: "db", image: "postgres:16.4", host: "h1", registry: { server: "127.0.0.1:5000" }, ssh } as any);
    const inputs = await inputsOf("berth:index:AccessoryHost", db.hostResources[0]);
    assert.equal(inputs.image, "127.0.0.1:5000/postgres:16.4");
    assert.equal(inputs.localRegistryPort, 5000);
    assert.equal(inputs.registry, undefined);
  });
});
