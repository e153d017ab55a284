/**
 * Issue 11: with an Output anywhere in the args, validation used to wait for it, so a Proxy or an
 * AppService with an invalid host still registered its per-host resources. Hosts (and roles,
 * service, destination) are plain values that decide which resources exist: they are validated
 * before any child is registered, whatever else is an Output.
 */
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError } from "../../sdk/config/errors";
import { installMocks, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", allowUnknownHostKeys: true };
const BAD_HOSTS = ["bad host;touch x", "-oProxyCommand=x", "$(touch /tmp/pwned)", "h1\u0000"];

/** Every resource registered under the component `name` (its children), after registrations settle. */
async function childrenOf(name: string): Promise<string[]> {
  await settle();
  await settle();
  return registered.filter((r) => r.name.startsWith(`${name}-`)).map((r) => `${r.type} ${r.name}`);
}

function rejects(make: () => unknown, path: string): void {
  assert.throws(make, (e: unknown) => {
    assert.ok(e instanceof BerthConfigError, `expected a BerthConfigError, got ${String(e)}`);
    assert.ok(e.problems.some((p) => p.path === path), e.message);
    return true;
  });
}

describe("component: an invalid host registers nothing, whatever else is an Output", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(true, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  BAD_HOSTS.forEach((bad, i) => {
    it(`Proxy with host ${JSON.stringify(bad)} and the ssh settings an Output: no ProxyHost`, async function () {
      rejects(() => new berth.Proxy(`px${i}`, { hosts: ["10.0.0.1", bad], ssh: pulumi.output(ssh) }), "hosts[1]");
      assert.deepEqual(await childrenOf(`px${i}`), []);
    });

    it(`Proxy with host ${JSON.stringify(bad)} and a port an Output: no ProxyHost`, async function () {
      rejects(() => new berth.Proxy(`pp${i}`, { hosts: [bad], httpPort: pulumi.output(8080) as any, ssh }), "hosts[0]");
      assert.deepEqual(await childrenOf(`pp${i}`), []);
    });

    it(`AppService with host ${JSON.stringify(bad)} and the image an Output (a build's digest): no Proxy, ProxyHost or AppHost`, async function () {
      rejects(() => new berth.AppService(`ap${i}`, { service: "shop", image: pulumi.output("reg.test/shop:v1"), hosts: ["10.0.0.1", bad], ssh }), "hosts[1]");
      assert.deepEqual(await childrenOf(`ap${i}`), []);
    });

    it(`AppService role host ${JSON.stringify(bad)} with a secret env value: nothing registered`, async function () {
      rejects(
        () =>
          new berth.AppService(`ar${i}`, {
            service: "shop",
            image: "reg.test/shop:v1",
            roles: { web: { hosts: ["10.0.0.1"] }, jobs: { hosts: [bad], env: { secret: { TOKEN: pulumi.secret("t0k3n") } } } },
            ssh,
          }),
        "roles.jobs.hosts[0]",
      );
      assert.deepEqual(await childrenOf(`ar${i}`), []);
    });
  });

  it("AppService with a bad role name and the version an Output: nothing registered", async function () {
    rejects(() => new berth.AppService("rn", { service: "shop", image: "reg.test/shop:v1", version: pulumi.output("v1"), roles: { "We b": { hosts: ["h1"] } }, ssh }), "roles.We b");
    assert.deepEqual(await childrenOf("rn"), []);
  });

  it("AppService with boot.limit 0 and the version an Output fails at once (it looped until out of memory)", async function () {
    rejects(() => new berth.AppService("bl", { service: "shop", image: "reg.test/shop:v1", version: pulumi.output("v1"), hosts: ["h1", "h2"], boot: { limit: 0 }, ssh }), "boot.limit");
    assert.deepEqual(await childrenOf("bl"), []);
  });

  it("AppService with hosts given as an Output: refused, nothing registered", async function () {
    rejects(() => new berth.AppService("ho", { service: "shop", image: "reg.test/shop:v1", hosts: pulumi.output(["h1"]) as any, ssh }), "hosts");
    assert.deepEqual(await childrenOf("ho"), []);
  });

  it("the same args with a valid host register their children (the check above is not vacuous)", async function () {
    const proxy = new berth.Proxy("okp", { hosts: ["10.0.0.1"], ssh: pulumi.output(ssh) });
    const app = new berth.AppService("oka", { service: "shop", image: pulumi.output("reg.test/shop:v1"), hosts: ["10.0.0.1"], ssh });
    await value(proxy.urn);
    await value(app.urn);
    assert.deepEqual(await childrenOf("okp"), ["berth:index:ProxyHost okp-10.0.0.1"]);
    assert.deepEqual((await childrenOf("oka")).sort(), ["berth:index:AppHost oka-web-10.0.0.1", "berth:index:Proxy oka-proxy", "berth:index:ProxyHost oka-proxy-10.0.0.1"]);
  });

  /** Every unhandled rejection's message within `ms` (Pulumi reports a failed apply this way in tests). */
  function rejectionsWithin(ms: number): Promise<string[]> {
    const seen: string[] = [];
    const on = (e: any) => seen.push(String(e?.message ?? e));
    process.on("unhandledRejection", on);
    return new Promise((resolve) =>
      setTimeout(() => {
        process.off("unhandledRejection", on);
        resolve(seen);
      }, ms),
    );
  }

  it("a value marked secret is never shown when it is found invalid later, whatever field it is in", async function () {
    const failures = rejectionsWithin(1500);
    const a = new berth.AppService("sec1", { service: "shop", image: "reg.test/shop:v1", version: pulumi.secret("v1 s3cr3t-version"), hosts: ["10.0.0.1"], ssh });
    const b = new berth.AppService("sec2", {
      service: "shop",
      image: "reg.test/shop:v1",
      hosts: ["10.0.0.2"],
      ssh: pulumi.secret({ ...ssh, user: "bad user s3cr3t-user", proxy: "deploy:s3cr3t-pw@bastion:port" }) as any,
    });
    for (const app of [a, b]) (app.hostResources.web[0] as any).version.apply(() => undefined);
    const messages = (await failures).join("\n");
    assert.match(messages, /`version`: must be a version/);
    assert.match(messages, /`ssh\.user`: must be a user name/);
    assert.equal(messages.includes("s3cr3t"), false, messages);
  });

  it("a part given as an Output is still validated when it resolves", async function () {
    // Nothing invalid is known at construction, so the children exist; the Output's value is
    // checked when it resolves, and that failure names the field.
    const failure = new Promise<string>((resolve) => process.once("unhandledRejection", (e: any) => resolve(String(e?.message ?? e))));
    const app = new berth.AppService("late", { service: "shop", image: "reg.test/shop:v1", version: pulumi.output("not a version!"), hosts: ["10.0.0.1"], ssh });
    (app.hostResources.web[0] as any).version.apply(() => undefined);
    const message = await Promise.race([failure, new Promise<string>((r) => setTimeout(() => r("no failure"), 3000))]);
    assert.match(message, /`version`: must be a version/);
  });
});
