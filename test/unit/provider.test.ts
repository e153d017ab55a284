/**
 * The provider's generic parts, without the engine: type tokens from URNs, `check` failures by
 * property path (unknowns skipped), the detailed diff, secrets kept wrapped in what it returns,
 * secrets redacted from errors, and the plugin schema derived from the zod schemas (no drift).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { BerthProvider, detailedDiffs, RESOURCES, rewrap, typeOf } from "../../sdk/provider/provider";
import { packageSchema } from "../../sdk/provider/schema";
import { berthProvider } from "../../sdk/provider/serve";
import { hasSecret, reveal, secret, UNKNOWN } from "../../sdk/provider/values";
import { redactIn } from "../../sdk/provider/redact";

const urn = (type: string, name = "x") => `urn:pulumi:dev::proj::berth:index:AppService$${type}::${name}`;
const provider = new BerthProvider("0.0.0", "{}");

const conn = { host: "10.0.0.1", port: 22, user: "root", hostKey: "ssh-ed25519 AAAA" };
const appHost = {
  host: "10.0.0.1",
  service: "shop",
  role: "web",
  destination: "staging",
  version: "v1",
  image: "reg/shop:v1",
  primary: true,
  container: { restartPolicy: "unless-stopped", cmd: [], env: { A: "1" }, labels: {}, options: {}, logging: { options: {} }, volumes: [], network: "kamal" },
  proxyContainer: "kamal-proxy",
  deployTimeoutSeconds: 30,
  drainTimeoutSeconds: 30,
  readinessDelaySeconds: 7,
  retainContainers: 5,
  maintenance: { enabled: false, drainTimeoutSeconds: 30 },
  secretEnvNames: ["TOKEN"],
  connection: secret(conn),
  secrets: secret({ env: { TOKEN: "t0k3n-value" } }),
};

describe("provider: type tokens and checks", () => {
  it("takes the type token from the URN's last qualified type", () => {
    assert.equal(typeOf(urn("berth:index:AppHost")), "berth:index:AppHost");
    assert.equal(typeOf("urn:pulumi:dev::proj::berth:index:Command::c"), "berth:index:Command");
  });

  it("serves exactly Berth's resource types", () => {
    assert.deepEqual(RESOURCES.map((r) => r.token).sort(), ["berth:index:AccessoryHost", "berth:index:AppHost", "berth:index:BuildxBuilder", "berth:index:Command", "berth:index:DockerHost", "berth:index:Hook", "berth:index:Image", "berth:index:ProxyHost"]);
  });

  it("check accepts valid inputs and returns them unchanged (secrets still wrapped)", async () => {
    const r = await provider.check(urn("berth:index:AppHost"), {}, appHost);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs, appHost);
  });

  it("check fails per property path, for every resource type", async () => {
    const bad: Record<string, Record<string, unknown>> = {
      "berth:index:AppHost": { ...appHost, version: 7, container: { ...appHost.container, env: { A: 1 } } },
      "berth:index:ProxyHost": { host: "h", run: "x", owner: "o", connection: conn },
      "berth:index:Command": { create: ["echo"] },
      "berth:index:BuildxBuilder": { name: "b", driver: "docker", driverOptions: {}, nodes: [], secrets: { env: {}, proxyEnv: {}, tls: [] } },
      "berth:index:Image": { context: "app", dockerfile: "app/Dockerfile", contextHash: "sha256:0", buildArgs: {}, ssh: [], platforms: [], tags: "x", labels: {}, exports: {}, cacheFrom: [], cacheTo: [], noCache: false, pull: false, secrets: { build: {}, proxyEnv: {} } },
    };
    const expected: Record<string, string[]> = {
      "berth:index:AppHost": ["container.env.A", "version"],
      "berth:index:ProxyHost": ["run"],
      "berth:index:Command": ["create"],
      "berth:index:BuildxBuilder": ["driver"],
      "berth:index:Image": ["tags"],
    };
    for (const [type, inputs] of Object.entries(bad)) {
      const r = await provider.check(urn(type), {}, inputs);
      assert.deepEqual(r.failures!.map((f) => f.property).sort(), expected[type], type);
      for (const f of r.failures!) assert.match(f.reason, new RegExp(`^\`${f.property.replace(/[.[\]]/g, "\\$&")}\` `), f.reason);
    }
  });

  it("check skips what is unknown at preview, and never shows a secret value", async () => {
    const r = await provider.check(urn("berth:index:AppHost"), {}, { ...appHost, image: UNKNOWN, container: UNKNOWN });
    assert.deepEqual(r.failures, []);
    const s = await provider.check(urn("berth:index:AppHost"), {}, { ...appHost, secrets: secret({ env: { TOKEN: 12345678 } }) });
    assert.deepEqual(s.failures!.map((f) => f.property), ["secrets.env.TOKEN"]);
    assert.equal(s.failures![0].reason.includes("12345678"), false);
  });
});

describe("provider: diff", () => {
  it("reports changed property paths as a detailed diff, secrets by name only", async () => {
    const u = urn("berth:index:AppHost", "d1");
    const news = { ...appHost, version: "v2", image: "reg/shop:v2", container: { ...appHost.container, env: { A: "1", B: "2" } }, secrets: secret({ env: { TOKEN: "other" } }) };
    const d = await provider.diff("id", u, appHost, news);
    assert.equal(d.changes, true);
    assert.deepEqual(d.replaces, []);
    assert.deepEqual(detailedDiffs.get(u)!.detailed, { "container.env.B": "add", image: "update", "secrets.env.TOKEN": "update", version: "update" });
    assert.deepEqual(detailedDiffs.get(u)!.diffs.sort(), ["container", "image", "secrets", "version"]);
  });

  it("an unchanged resource (state also holds outputs) has no changes", async () => {
    const d = await provider.diff("id", urn("berth:index:AppHost", "d2"), { ...appHost, extraOutput: 1 }, appHost);
    assert.equal(d.changes, false);
  });

  it("a changed host replaces; an unknown value is a change", async () => {
    const u = urn("berth:index:AppHost", "d3");
    const d = await provider.diff("id", u, appHost, { ...appHost, host: "10.0.0.2", image: UNKNOWN });
    assert.deepEqual(d.replaces, ["host"]);
    assert.deepEqual(detailedDiffs.get(u)!.detailed, { host: "update-replace", image: "update" });
  });
});

describe("provider: secrets", () => {
  it("rewrap marks again every path that arrived secret", () => {
    const out = rewrap(reveal(appHost), appHost) as Record<string, unknown>;
    assert.equal(hasSecret(out.connection), true);
    assert.equal(hasSecret(out.secrets), true);
    assert.equal(hasSecret(out.container), false);
    const nested = rewrap({ a: { b: "x", c: "y" } }, { a: { b: secret("x"), c: "y" } }) as any;
    assert.equal(hasSecret(nested.a.b), true);
    assert.equal(hasSecret(nested.a.c), false);
  });

  it("a create that fails never puts a secret in the error, even one line of a multi-line secret", async () => {
    const key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----";
    const e = redactIn(new Error("host said: AAAABBBBCCCCDDDD and t0k3n-value"), { ...appHost, secrets: secret({ env: { TOKEN: "t0k3n-value" }, certificate: { certificatePem: "c", privateKeyPem: key } }) });
    assert.equal(e.message, "host said: *** and ***");
  });
});

describe("provider: schema", () => {
  it("is derived from the zod schemas: every input of every resource, secrets marked", () => {
    const s = packageSchema("1.2.3", RESOURCES);
    for (const r of RESOURCES) {
      const res = s.resources[r.token];
      assert.deepEqual(Object.keys(res.inputProperties).sort(), Object.keys(r.inputs.shape).sort(), r.token);
      for (const k of r.secretInputs) assert.equal(res.inputProperties[k].secret, true, `${r.token}.${k}`);
    }
    assert.equal(s.resources["berth:index:AppHost"].inputProperties.version.type, "string");
    assert.equal(s.resources["berth:index:AppHost"].inputProperties.host.replaceOnChanges, true);
    assert.deepEqual(s.types["berth:index:AppHostMaintenance"].required.sort(), ["drainTimeoutSeconds", "enabled"]);
    assert.ok(s.resources["berth:index:Image"].properties.digest);
  });

  it("the checked-in schema.json is the one the plugin serves (regenerate with `npm run schema`)", () => {
    const served = JSON.parse(berthProvider().schema);
    const file = JSON.parse(fs.readFileSync(path.join(__dirname, "../../../schema.json"), "utf8"));
    assert.deepEqual(file, served);
  });
});
