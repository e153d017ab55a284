/**
 * Kamal's hooks as children of AppService, Proxy and Image (setMocks): the exact `berth:index:Hook`
 * children, their inputs (env, trigger, no absolute path), and the `dependsOn` order that makes a
 * failing pre-* hook stop the deploy before any host resource is touched.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };
const cmd = (n: string) => ({ command: `echo ${n}` });
const ALL = {
  dockerSetup: cmd("docker-setup"),
  preConnect: cmd("pre-connect"),
  preDeploy: cmd("pre-deploy"),
  preAppBoot: cmd("pre-app-boot"),
  postAppBoot: cmd("post-app-boot"),
  postDeploy: cmd("post-deploy"),
  preProxyReboot: cmd("pre-proxy-reboot"),
  postProxyReboot: cmd("post-proxy-reboot"),
};

describe("component: hooks", function () {
  let berth: typeof import("../../sdk");
  const deps = new Map<string, string[]>();
  const record: pulumi.ResourceTransformation = (a) => {
    const d = a.opts.dependsOn;
    deps.set(a.name, (Array.isArray(d) ? d : d ? [d] : []).map((r) => (r as any).__name as string));
    return undefined;
  };
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => {
    registered.length = 0;
    deps.clear();
  });

  async function settled(app: InstanceType<typeof berth.AppService>) {
    await value(app.urn);
    await Promise.all(Object.values(app.hostResources).flat().map((r) => value(r.urn)));
    await settle();
    await settle();
  }

  it("an AppService with every hook: one Hook per hook, per role and boot group for app-boot, named as what it is", async function () {
    const app = new berth.AppService(
      "shop",
      { service: "shop", image: "reg.test/shop:v1", roles: { web: { hosts: ["h1", "h2"] }, jobs: { hosts: ["h3"], cmd: ["jobs"] } }, boot: { limit: 1 }, hooks: ALL, ssh },
      { transformations: [record] },
    );
    await settled(app);
    const hooks = registered.filter((r) => r.type === "berth:index:Hook").map((r) => r.name).sort();
    assert.deepEqual(hooks, [
      "shop-hook-docker-setup",
      "shop-hook-post-app-boot-jobs-1",
      "shop-hook-post-app-boot-web-1",
      "shop-hook-post-app-boot-web-2",
      "shop-hook-post-deploy",
      "shop-hook-pre-app-boot-jobs-1",
      "shop-hook-pre-app-boot-web-1",
      "shop-hook-pre-app-boot-web-2",
      "shop-hook-pre-connect",
      "shop-hook-pre-deploy",
      "shop-proxy-hook-post-proxy-reboot",
      "shop-proxy-hook-pre-proxy-reboot",
    ]);
    const inputs = (n: string) => registered.find((r) => r.name === n)!.inputs;
    assert.deepEqual(inputs("shop-hook-pre-deploy").env, {
      KAMAL_DESTINATION: "staging",
      KAMAL_VERSION: "v1",
      KAMAL_SERVICE_VERSION: "shop@v1",
      KAMAL_SERVICE: "shop",
      KAMAL_HOSTS: "h1,h2,h3",
      KAMAL_COMMAND: "deploy",
    });
    assert.equal(inputs("shop-hook-pre-deploy").command, "echo pre-deploy");
    assert.equal(inputs("shop-hook-pre-deploy").trigger.image, "reg.test/shop:v1");
    assert.match(inputs("shop-hook-pre-deploy").trigger.config, /^sha256:[0-9a-f]{64}$/);
    assert.equal(inputs("shop-hook-pre-deploy").runOnCreate, true);
    assert.equal(inputs("shop-hook-pre-app-boot-web-2").env.KAMAL_HOSTS, "h2");
    assert.equal(inputs("shop-hook-pre-app-boot-web-2").env.KAMAL_ROLES, "web");
    assert.equal(inputs("shop-hook-post-app-boot-jobs-1").env.KAMAL_ROLES, "jobs");
    // docker-setup runs once (creation): no trigger, no version.
    assert.deepEqual(inputs("shop-hook-docker-setup").trigger, {});
    assert.equal(inputs("shop-hook-docker-setup").env.KAMAL_VERSION, undefined);
    // The proxy-reboot hooks run only when kamal-proxy's run settings change, not on creation.
    assert.equal(inputs("shop-proxy-hook-pre-proxy-reboot").runOnCreate, false);
    assert.deepEqual(inputs("shop-proxy-hook-pre-proxy-reboot").env, { KAMAL_HOSTS: "h1,h2", KAMAL_COMMAND: "proxy", KAMAL_SUBCOMMAND: "reboot" });

    // Kamal's order, as dependencies.
    assert.deepEqual(deps.get("shop-hook-pre-connect"), []);
    assert.deepEqual(deps.get("shop-hook-docker-setup"), ["shop-hook-pre-connect"]);
    assert.deepEqual(deps.get("shop-hook-pre-deploy"), ["shop-hook-pre-connect", "shop-hook-docker-setup"]);
    assert.deepEqual(deps.get("shop-proxy"), ["shop-hook-pre-connect", "shop-hook-docker-setup", "shop-hook-pre-deploy"]);
    assert.deepEqual(deps.get("shop-proxy-hook-pre-proxy-reboot"), ["shop-hook-pre-connect", "shop-hook-docker-setup", "shop-hook-pre-deploy"]);
    for (const h of ["h1", "h2"]) assert.deepEqual(deps.get(`shop-proxy-${h}`), ["shop-hook-pre-connect", "shop-hook-docker-setup", "shop-hook-pre-deploy", "shop-proxy-hook-pre-proxy-reboot"]);
    assert.deepEqual(deps.get("shop-proxy-hook-post-proxy-reboot"), ["shop-proxy-h1", "shop-proxy-h2"]);
    const before = ["shop-hook-pre-connect", "shop-hook-docker-setup", "shop-hook-pre-deploy", "shop-proxy"];
    // A role's boot groups are one release, booted in order by the provider (see `bootGroups`): every
    // pre-app-boot hook of the role runs before it, every post-app-boot hook after it.
    assert.deepEqual(deps.get("shop-hook-pre-app-boot-web-1"), before);
    assert.deepEqual(deps.get("shop-hook-pre-app-boot-web-2"), before);
    const preWeb = ["shop-hook-pre-app-boot-web-1", "shop-hook-pre-app-boot-web-2"];
    assert.deepEqual(deps.get("shop-web-h1"), [...before, ...preWeb]);
    assert.deepEqual(deps.get("shop-web-h2"), [...before, ...preWeb]);
    assert.deepEqual(deps.get("shop-hook-post-app-boot-web-1"), ["shop-web-h1", "shop-web-h2"]);
    assert.deepEqual(deps.get("shop-hook-post-app-boot-web-2"), ["shop-web-h1", "shop-web-h2"]);
    const primaryDone = ["shop-web-h1", "shop-web-h2", "shop-hook-post-app-boot-web-1", "shop-hook-post-app-boot-web-2"];
    assert.deepEqual(deps.get("shop-hook-pre-app-boot-jobs-1"), [...before, ...primaryDone]);
    assert.deepEqual(deps.get("shop-jobs-h3"), [...before, ...primaryDone, "shop-hook-pre-app-boot-jobs-1"]);
    assert.deepEqual(deps.get("shop-hook-post-deploy"), [...primaryDone, "shop-jobs-h3", "shop-hook-post-app-boot-jobs-1"]);
  });

  it("hooks.secrets: in the pre-connect, pre-deploy and post-deploy hooks only, always as a secret; a SecretAlias stands for its value", async function () {
    const props = new Map<string, Record<string, any>>();
    const grab: pulumi.ResourceTransformation = (a) => {
      if (a.type === "berth:index:Hook") props.set(a.name, a.props);
      return undefined;
    };
    process.env.BERTH_TEST_HOOK_SECRET = "alias-value";
    const alias = new berth.SecretAlias("hook-alias", { from: { env: "BERTH_TEST_HOOK_SECRET" } });
    const app = new berth.AppService(
      "shop",
      { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], hooks: { ...ALL, secrets: { SLACK_TOKEN: pulumi.secret("tok-123"), KAMAL_REGISTRY_PASSWORD: "plain-pw", FROM_ALIAS: alias } }, ssh },
      { transformations: [grab] },
    );
    await settled(app);
    delete process.env.BERTH_TEST_HOOK_SECRET;
    assert.deepEqual([...props.keys()].filter((n) => props.get(n)!.secretEnv !== undefined).sort(), ["shop-hook-post-deploy", "shop-hook-pre-connect", "shop-hook-pre-deploy"]);
    for (const n of ["shop-hook-pre-connect", "shop-hook-pre-deploy", "shop-hook-post-deploy"]) {
      const env = props.get(n)!.secretEnv;
      assert.equal(await isSecret(env), true, `${n}: a plain string given as a hook secret is stored as a secret`);
      assert.deepEqual(await value(env), { SLACK_TOKEN: "tok-123", KAMAL_REGISTRY_PASSWORD: "plain-pw", FROM_ALIAS: "alias-value" });
    }
    assert.ok(!JSON.stringify(registered.filter((r) => r.type === "berth:index:Hook").map((r) => r.inputs.env)).includes("tok-123"));
  });

  it("hooks.secrets: bad names and an Output for the whole map are refused before any child, never showing a value", async function () {
    assert.throws(
      () => new berth.AppService("bad", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], hooks: { preDeploy: cmd("x"), secrets: { "A-B": "hunter2", KAMAL_VERSION: pulumi.secret("hunter3") } }, ssh }),
      (e: Error) => {
        assert.match(e.message, /`hooks\.secrets\.A-B`: must be named like an environment variable/);
        assert.match(e.message, /`hooks\.secrets\.KAMAL_VERSION`: is one of Kamal's hook variables/);
        assert.ok(!e.message.includes("hunter"), e.message);
        return true;
      },
    );
    assert.throws(
      () => new berth.AppService("bad2", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], hooks: { secrets: pulumi.output({ A: "hunter4" }) as never }, ssh }),
      /`hooks\.secrets`: must be a plain map of names to values \(each value may be an Output\); got an Output/,
    );
    await settle();
    assert.deepEqual(registered.filter((r) => r.type !== "berth:index:AppService").map((r) => r.name), []);
  });

  it("no hooks: no Hook children and the hosts' dependencies are as before", async function () {
    const app = new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], ssh }, { transformations: [record] });
    await settled(app);
    assert.equal(registered.filter((r) => r.type === "berth:index:Hook").length, 0);
    assert.deepEqual(deps.get("shop-web-h1"), ["shop-proxy"]);
  });

  it("a Kamal hooks directory: each file by its path relative to the project and its hash, never an absolute path; legacy Traefik hooks refused", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hookdir-"));
    const cwd = process.cwd();
    fs.mkdirSync(path.join(dir, ".kamal/hooks"), { recursive: true });
    fs.writeFileSync(path.join(dir, ".kamal/hooks/pre-deploy"), "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, ".kamal/hooks/post-deploy.sample"), "#!/bin/sh\n", { mode: 0o755 });
    process.chdir(dir);
    try {
      const app = new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], hooks: { path: ".kamal/hooks" }, ssh });
      await settled(app);
      const hooks = registered.filter((r) => r.type === "berth:index:Hook");
      assert.deepEqual(hooks.map((h) => h.name), ["shop-hook-pre-deploy"]);
      assert.equal(hooks[0].inputs.path, ".kamal/hooks/pre-deploy");
      assert.match(hooks[0].inputs.contentHash, /^sha256:[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(hooks[0].inputs).includes(dir), "an absolute path in the inputs");

      fs.writeFileSync(path.join(dir, ".kamal/hooks/pre-traefik-reboot"), "#!/bin/sh\n", { mode: 0o755 });
      assert.throws(
        () => new berth.AppService("shop2", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], hooks: { path: ".kamal/hooks" }, ssh }),
        /`hooks.path`: must not hold "pre-traefik-reboot"/,
      );
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an Image's pre-build trigger is the same from another checkout (no absolute path in it)", async function () {
    const cwd = process.cwd();
    const configs: string[] = [];
    for (const n of ["a", "b"]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-checkout-${n}-`));
      fs.mkdirSync(path.join(dir, "app"));
      fs.writeFileSync(path.join(dir, "app/Dockerfile"), "FROM scratch\n");
      process.chdir(dir);
      try {
        registered.length = 0;
        const img = new berth.Image(`co${n}`, { context: "app", tags: ["reg.test/shop:v9"], hooks: { preBuild: { command: "true" } } });
        await value(img.resource.urn);
        await settle();
        const t = registered.find((r) => r.type === "berth:index:Hook")!.inputs.trigger;
        assert.ok(!JSON.stringify(t).includes(dir));
        configs.push(t.config);
      } finally {
        process.chdir(cwd);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    assert.equal(configs[0], configs[1]);
  });

  it("an Image runs pre-build before its build", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hookimg-"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
    try {
      const img = new berth.Image("web", { context: dir, tags: ["reg.test/shop:v9"], hooks: { preBuild: { command: "echo build" } } }, { transformations: [record] });
      await value(img.urn);
      await value(img.resource.urn);
      await settle();
      const hook = registered.find((r) => r.type === "berth:index:Hook")!;
      assert.equal(hook.name, "web-hook-pre-build");
      assert.deepEqual(hook.inputs.env, { KAMAL_DESTINATION: "staging", KAMAL_VERSION: "v9", KAMAL_HOSTS: "", KAMAL_COMMAND: "deploy" });
      assert.equal(hook.inputs.trigger.context, img.contextHash);
      assert.deepEqual(deps.get("web-build"), ["web-hook-pre-build"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
