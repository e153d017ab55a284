import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

/** The non-secret inputs an AppHost was registered with. */
async function specOf(r: pulumi.CustomResource): Promise<Record<string, any>> {
  await value(r.urn);
  await settle();
  const reg = registered.find((x) => x.type === "berth:index:AppHost" && x.name === (r as any).__name);
  assert.ok(reg, "the AppHost was not registered");
  const { connection: _c, secrets: _s, ...spec } = reg.inputs;
  return spec;
}

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };

describe("component: AppService", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  it("registers a Proxy, one ProxyHost per proxied host and one AppHost per role and host", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1", "h2"] }, jobs: { hosts: ["h3"], cmd: ["jobs"] } },
      ssh,
    });
    await value(app.urn);
    await Promise.all(Object.values(app.hostResources).flat().map((r) => value(r.urn)));
    await settle();
    const names = registered.map((r) => `${r.type} ${r.name}`).sort();
    assert.deepEqual(names, [
      "berth:index:AppHost shop-jobs-h3",
      "berth:index:AppHost shop-web-h1",
      "berth:index:AppHost shop-web-h2",
      "berth:index:AppService shop",
      "berth:index:Proxy shop-proxy",
      "berth:index:ProxyHost shop-proxy-h1",
      "berth:index:ProxyHost shop-proxy-h2",
    ]);
    assert.equal(app.destination, "staging");
    assert.deepEqual(app.serviceNames, { web: "shop-web-staging", jobs: "shop-jobs-staging" });
  });

  it("warns, naming the role, its host count and the fix, when the engine runs fewer operations at once than a role has hosts", async function () {
    const warned: string[] = [];
    const saved = { warn: console.warn, env: process.env.PULUMI_NODEJS_PARALLEL };
    console.warn = (m: unknown) => void warned.push(String(m));
    try {
      process.env.PULUMI_NODEJS_PARALLEL = "2";
      const big = new berth.AppService("big", { service: "big", image: "reg.test/big:v1", hosts: ["h1", "h2", "h3"], ssh });
      await value(big.urn);
      process.env.PULUMI_NODEJS_PARALLEL = "3";
      const fits = new berth.AppService("fits", { service: "fits", image: "reg.test/fits:v1", hosts: ["h1", "h2", "h3"], ssh });
      await value(fits.urn);
      await settle();
    } finally {
      console.warn = saved.warn;
      if (saved.env === undefined) delete process.env.PULUMI_NODEJS_PARALLEL;
      else process.env.PULUMI_NODEJS_PARALLEL = saved.env;
    }
    const mine = warned.filter((w) => w.includes("--parallel"));
    assert.equal(mine.length, 1, warned.join("\n"));
    assert.match(mine[0], /`hosts`: the web role's 3 hosts deploy at once to stay on one version, but this run of pulumi does at most 2 operations at once/);
    assert.match(mine[0], /Run `pulumi up --parallel 3` or higher/);
  });

  it("gives each AppHost exactly its host's spec: Kamal names, merged env, proxy only for web", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v7",
      roles: { web: { hosts: ["h1"], env: { clear: { ROLE: "web" } } }, jobs: { hosts: [{ host: "h3", tags: ["eu"] }] } },
      env: { clear: { A: "1" }, secret: { TOKEN: pulumi.secret("t0k3n") }, tags: { eu: { clear: { REGION: "eu" } } } },
      ssh,
    });
    const web = await specOf(app.hostResources.web[0]);
    assert.equal(web.host, "h1");
    assert.equal(web.version, "v7");
    assert.equal(web.image, "reg.test/shop:v7");
    assert.equal(web.destination, "staging");
    assert.deepEqual(web.container.env, { A: "1", ROLE: "web" });
    assert.equal(web.proxy?.healthcheck.path, "/up");
    assert.equal(web.proxy?.appPort, 80);
    const jobs = await specOf(app.hostResources.jobs[0]);
    assert.deepEqual(jobs.container.env, { A: "1", REGION: "eu" });
    assert.equal(jobs.proxy, undefined);
    assert.equal(JSON.stringify(web).includes("t0k3n"), false, "a secret leaked into the spec");
    const secrets = (app.hostResources.web[0] as any).secrets as pulumi.Output<unknown>;
    assert.equal(await isSecret(secrets), true);
    assert.deepEqual(await value(secrets), { env: { TOKEN: "t0k3n" } });
    assert.equal(await isSecret((app.hostResources.web[0] as any).connection), true);
  });

  it("delays every boot group after the first by boot.waitSeconds (order itself: real tier)", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1", "h2"] }, jobs: { hosts: ["h3"] } },
      boot: { limit: 1, waitSeconds: 3 },
      ssh,
    });
    const [w1, w2] = app.hostResources.web;
    assert.equal(await value((w1 as any).delayBeforeSeconds), 0);
    assert.equal(await value((w2 as any).delayBeforeSeconds), 3);
  });

  it("a role's boot groups are one release: every host gets the groups, no host waits on another of its role", async function () {
    const deps = new Map<string, string[]>();
    const record: pulumi.ResourceTransformation = (a) => {
      const d = a.opts.dependsOn;
      deps.set(a.name, (Array.isArray(d) ? d : d ? [d] : []).map((r) => (r as any).__name as string));
      return undefined;
    };
    const app = new berth.AppService(
      "grp",
      { service: "grp", image: "reg.test/shop:v1", roles: { web: { hosts: ["h1", "h2", "h3"] }, jobs: { hosts: ["h4"], cmd: ["jobs"] } }, boot: { limit: 2 }, ssh },
      { transformations: [record] },
    );
    for (const r of app.hostResources.web) assert.deepEqual(await value((r as any).bootGroups), [["h1", "h2"], ["h3"]]);
    assert.equal(await value((app.hostResources.jobs[0] as any).bootGroups), undefined, "one group: no bootGroups input");
    for (const h of ["h1", "h2", "h3"]) assert.deepEqual(deps.get(`grp-web-${h}`), ["grp-proxy"]);
    assert.deepEqual(deps.get("grp-jobs-h4"), ["grp-proxy", "grp-web-h1", "grp-web-h2", "grp-web-h3"]);
  });

  it("rejects a boolean root proxy before registering any resource", function () {
    assert.throws(
      () => new berth.AppService("bad", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], proxy: true as any, ssh }),
      (e: Error) => e.name === "BerthConfigError" && /`proxy`/.test(e.message),
    );
    assert.equal(registered.filter((r) => r.name.startsWith("bad-")).length, 0);
  });

  it("uses a given Proxy instead of starting its own", async function () {
    const proxy = new berth.Proxy("edge", { hosts: ["h1"], ssh, httpPort: 8080 });
    const app = new berth.AppService("shop2", { service: "shop2", image: "reg.test/shop:v1", hosts: ["h1"], kamalProxy: proxy, ssh });
    await value(app.urn);
    await settle();
    assert.equal(app.proxy, proxy);
    assert.equal(registered.filter((r) => r.type === "berth:index:Proxy").map((r) => r.name).join(","), "edge");
    const run = await value((proxy.hostResources[0] as any).run) as any;
    assert.equal(run.httpPort, 8080);
    assert.equal(run.imageRef, "basecamp/kamal-proxy:v0.9.2");
  });

  it("a secret in env.clear (root, role or tag) goes to the secret env file input, never the plain spec", async function () {
    const app = new berth.AppService("sec", {
      service: "sec",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: [{ host: "h1", tags: ["eu"] }], env: { clear: { ROLE_KEY: pulumi.secret("r0le-s3cret") } } } },
      env: { clear: { A: "1", API_KEY: pulumi.secret("ap1-s3cret") }, tags: { eu: { clear: { EU_KEY: pulumi.secret("eu-s3cret") } } } },
      ssh,
    });
    const spec = await specOf(app.hostResources.web[0]);
    assert.deepEqual(spec.container.env, { A: "1" });
    assert.deepEqual(spec.secretEnvNames, ["API_KEY", "EU_KEY", "ROLE_KEY"]);
    assert.equal(JSON.stringify(spec).includes("s3cret"), false);
    const secrets = (app.hostResources.web[0] as any).secrets as pulumi.Output<any>;
    assert.equal(await isSecret(secrets), true);
    assert.deepEqual((await value(secrets)).env, { API_KEY: "ap1-s3cret", EU_KEY: "eu-s3cret", ROLE_KEY: "r0le-s3cret" });
  });

  for (const [field, args] of [
    ["labels.team", { labels: { team: "x" } }],
    ["roles.web.cmd[1]", { roles: { web: { hosts: ["h1"], cmd: ["run", "x"] } } }],
    ["volumes[0]", { volumes: ["/data:/data"] }],
  ] as const) {
    it(`refuses a secret in \`${field}\` (it would reach argv and plain state), naming the field and not the value`, async function () {
      const secretArgs = JSON.parse(JSON.stringify(args), (k, v) => (v === "x" || v === "/data:/data" ? pulumi.secret(`${v}-s3cret-value`) : v));
      const app = new berth.AppService(`bad${field.length}`, { service: "bad", image: "reg.test/shop:v1", hosts: secretArgs.roles ? undefined : ["h1"], ...secretArgs, ssh } as any);
      const err = await new Promise<string>((resolve) => {
        (app.hostResources.web[0] as any).container.apply(() => resolve(""));
        process.once("unhandledRejection", (e: any) => resolve(String(e?.message ?? e)));
      }).catch((e) => String(e));
      assert.match(err, new RegExp(`\`${field.replace(/[.[\]]/g, "\\$&")}\`: holds a secret, but this field is not secret`));
      assert.equal(err.includes("s3cret-value"), false);
    });
  }
});
