/**
 * Pre-flight inputs (issue 11): every host resource is told which hosts of the deploy to check
 * before it changes its own, as a secret; and `lockWaitSeconds` reaches each AppHost only when set.
 */
import * as assert from "node:assert/strict";
import { installMocks, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };

/** The registered inputs of the resource named `name`. */
function inputsOf(type: string, name: string): Record<string, any> {
  const reg = registered.find((x) => x.type === type && x.name === name);
  assert.ok(reg, `${type} ${name} was not registered: ${registered.map((r) => `${r.type} ${r.name}`).join(", ")}`);
  return reg.inputs;
}

/** The hosts of a registered `preflight` input (a secret in the mock's inputs: its plain value). */
function preflightHosts(inputs: Record<string, any>): string[] {
  const p = inputs.preflight;
  const plain = p && typeof p === "object" && "value" in p && !Array.isArray(p) ? p.value : p;
  return (plain as { host: string }[]).map((c) => c.host);
}

describe("component: pre-flight hosts and lock wait", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  it("an AppService's Proxy checks every host of the service (also the non-proxied ones) before kamal-proxy changes anywhere", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1", "h2"] }, jobs: { hosts: ["h3"], cmd: ["jobs"] } },
      ssh,
    });
    await value(app.urn);
    await Promise.all(Object.values(app.hostResources).flat().map((r) => value(r.urn)));
    await Promise.all(app.proxy!.hostResources.map((r) => value(r.urn)));
    await settle();
    for (const h of ["h1", "h2"]) {
      const p = inputsOf("berth:index:ProxyHost", `shop-proxy-${h}`);
      assert.deepEqual(preflightHosts(p), ["h1", "h2", "h3"], h);
    }
    for (const [role, h] of [["web", "h1"], ["web", "h2"], ["jobs", "h3"]]) {
      assert.deepEqual(preflightHosts(inputsOf("berth:index:AppHost", `shop-${role}-${h}`)), ["h1", "h2", "h3"], `${role} ${h}`);
      assert.equal("lockWaitSeconds" in inputsOf("berth:index:AppHost", `shop-${role}-${h}`), false, "lockWaitSeconds unset: not an input (an upgrade previews 0 changes)");
    }
  });

  it("a Proxy checks its hosts and `preflightHosts`; a bad `preflightHosts` entry is refused with its path before any resource", async function () {
    const proxy = new berth.Proxy("edge", { hosts: ["h1"], preflightHosts: ["h2"], ssh });
    await Promise.all(proxy.hostResources.map((r) => value(r.urn)));
    await settle();
    assert.deepEqual(preflightHosts(inputsOf("berth:index:ProxyHost", "edge-h1")), ["h1", "h2"]);
    registered.length = 0;
    assert.throws(
      () => new berth.Proxy("bad", { hosts: ["h1"], preflightHosts: ["-oProxyCommand=x"], ssh }),
      (e: Error) => /preflightHosts\[0\]/.test(e.message) && !/^\s+at /m.test(e.message.split("\n").slice(0, 3).join("\n")),
    );
    await settle();
    assert.equal(registered.filter((r) => r.type === "berth:index:ProxyHost").length, 0);
  });

  it("an Accessory's hosts each check all of its hosts", async function () {
    const acc = new berth.Accessory("kv", { service: "shop", hosts: ["h1", "h2"], image: "reg.test/redis:7", ssh });
    await Promise.all(acc.hostResources.map((r) => value(r.urn)));
    await settle();
    for (const h of ["h1", "h2"]) assert.deepEqual(preflightHosts(inputsOf("berth:index:AccessoryHost", `kv-${h}`)), ["h1", "h2"], h);
  });

  it("`lockWaitSeconds` reaches every AppHost when set", async function () {
    const app = new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1", "h2"], lockWaitSeconds: 120, ssh });
    await Promise.all(Object.values(app.hostResources).flat().map((r) => value(r.urn)));
    await settle();
    for (const h of ["h1", "h2"]) assert.equal(inputsOf("berth:index:AppHost", `shop-web-${h}`).lockWaitSeconds, 120, h);
  });
});
