import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };

/** The values used below: none may appear outside the AppHosts' secret `secrets` input. */
const ROOT = `root=S3cret "dq" 'sq' $HOME \\b`;
const ROLE = "role-s3cret-value";
const TAGGED = "tagged-s3cret-value";
const REGISTRY = "registry-p4ssw0rd";
const CONFIG = "config-s3cret-value";

/** An Output's rejection (internal `promise()`), with mocha's unhandled-rejection handlers held meanwhile. */
async function rejectionOf(o: pulumi.Output<unknown>): Promise<Error> {
  const held = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", () => undefined);
  try {
    await (o as any).promise();
  } catch (e) {
    return e as Error;
  } finally {
    await settle();
    process.removeAllListeners("unhandledRejection");
    for (const l of held) process.on("unhandledRejection", l);
  }
  assert.fail("expected the Output to fail");
}

/** Registered inputs of an AppHost, split into the plain spec and the secret `secrets`. */
async function hostInputs(r: pulumi.CustomResource): Promise<{ spec: Record<string, any>; secrets: any }> {
  await value(r.urn);
  await settle();
  const reg = registered.find((x) => x.type === "berth:index:AppHost" && x.name === (r as any).__name);
  assert.ok(reg, "the AppHost was not registered");
  const { connection: _c, secrets, ...spec } = reg.inputs;
  return { spec, secrets };
}

describe("component: SecretAlias", function () {
  let berth: typeof import("../../sdk");
  let dir: string;
  before(async () => {
    installMocks(true, "production");
    pulumi.runtime.setAllConfig({ "berth-test:dbPassword": CONFIG }, ["berth-test:dbPassword"]);
    berth = await import("../../sdk");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-alias-"));
    fs.mkdirSync(path.join(dir, ".kamal"));
    // Double quotes: `\"` is a quote, `\$` stops expansion, `\\` is a backslash (dotenv's rules).
    fs.writeFileSync(path.join(dir, ".kamal/secrets-common"), 'MAIN_DB_PASSWORD="root=S3cret \\"dq\\" \'sq\' \\$HOME \\\\b"\n');
    fs.writeFileSync(path.join(dir, ".kamal/secrets.production"), `REGISTRY_PASSWORD=$(printf '%s' '${REGISTRY}')\nTAG_SECRET=${TAGGED}\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => (registered.length = 0));

  it("registers `berth:index:SecretAlias` with no outputs, and exposes the value as a Pulumi secret", async () => {
    process.env.BERTH_TEST_ROLE_SECRET = ROLE;
    const alias = new berth.SecretAlias("role-token", { from: { env: "BERTH_TEST_ROLE_SECRET" } });
    assert.equal(await isSecret(alias.value), true);
    assert.equal(await value(alias.value), ROLE);
    assert.equal(alias.source, "environment variable BERTH_TEST_ROLE_SECRET");
    await value(alias.urn);
    await settle();
    const reg = registered.find((r) => r.name === "role-token");
    assert.equal(reg?.type, berth.SECRET_ALIAS_TYPE);
    assert.equal(JSON.stringify(reg?.inputs).includes(ROLE), false);
  });

  it("reads Pulumi config secrets and Kamal's secrets files (secrets-common, then secrets.<destination>)", async () => {
    const fromConfig = new berth.SecretAlias("cfg", { from: { config: "dbPassword" } });
    assert.equal(await isSecret(fromConfig.value), true);
    assert.equal(await value(fromConfig.value), CONFIG);
    const fromFile = new berth.SecretAlias("reg", { from: { dotenv: { key: "REGISTRY_PASSWORD", path: path.join(dir, ".kamal/secrets"), destination: "production" } } });
    assert.equal(await isSecret(fromFile.value), true);
    assert.equal(await value(fromFile.value), REGISTRY);
  });

  it("refuses a bad source before anything runs, naming the field (one error for every problem)", () => {
    const problems = (args: unknown) => {
      try {
        new berth.SecretAlias("bad", args as any);
      } catch (e: any) {
        assert.equal(e.name, "BerthConfigError");
        return e.problems.map((p: any) => `\`${p.path}\`: ${p.message}`);
      }
      assert.fail("expected a BerthConfigError");
    };
    assert.deepEqual(problems({ from: { adapter: "1password", key: "Item/password" } }), [
      "`from.account`: is required by the `1password` adapter (Kamal's `--account`); got nothing. Set it to the account's sign-in address or id, e.g. `my.1password.com`.",
    ]);
    assert.deepEqual(problems({ from: { adapter: "vault", key: "x" } }), [
      "`from.adapter`: must be one of `1password`, `bitwarden`, `bitwarden-sm`, `lastpass`, `aws_secrets_manager`, `gcp`, `doppler`, `enpass`, `passbolt` (Kamal's `--adapter`); got \"vault\".",
    ]);
    assert.deepEqual(problems({ from: { env: "A", config: "b" } }), ["`from`: Only one of `config`, `env` can be provided; a SecretAlias has one source."]);
    assert.deepEqual(problems({ from: { dotenv: { key: "A", destination: "../x" } } }), [
      '`from.dotenv.destination`: must be a destination name of letters, digits, `_`, `.` and `-`; got "../x".',
    ]);
    assert.deepEqual(problems({ from: { config: "notSet" } }), [
      '`from.config`: must name a config key set in this stack; got "notSet", which is not set. Set it with `pulumi config set --secret notSet <value>`.',
    ]);
    delete process.env.BERTH_TEST_UNSET;
    assert.match(problems({ from: { env: "BERTH_TEST_UNSET" } })[0], /^`from.env`: must name an environment variable set when Pulumi runs; got "BERTH_TEST_UNSET", which is not set\./);
  });

  it("fails the preview with the secret, the source and the fix named when a file lacks the key", async () => {
    const alias = new berth.SecretAlias("missing", { from: { dotenv: { key: "NOPE", path: path.join(dir, ".kamal/secrets"), destination: "production" } } });
    const e = await rejectionOf(alias.value);
    assert.match(e.message, /^SecretAlias "missing": Secret 'NOPE' not found in .*secrets-common, .*secrets\.production \(keys there: MAIN_DB_PASSWORD, REGISTRY_PASSWORD, TAG_SECRET\)\. Add `NOPE=…`/);
  });

  it("two aliases reading one broken file each name themselves once (the failure is shared, not the message)", async () => {
    const broken = path.join(dir, "broken");
    fs.writeFileSync(`${broken}`, "A=1\nB=$(exit 4)\n");
    const a = new berth.SecretAlias("alias-a", { from: { dotenv: { key: "A", path: broken } } });
    const b = new berth.SecretAlias("alias-b", { from: { dotenv: { key: "A", path: broken } } });
    const [ea, eb] = [await rejectionOf(a.value), await rejectionOf(b.value)];
    assert.equal(ea.name, "BerthSecretError");
    assert.match(ea.message, /^SecretAlias "alias-a": `.*broken` line 2 \(`B`\): `\$\(exit 4\)` exited with 4\./);
    assert.match(eb.message, /^SecretAlias "alias-b": `/);
    assert.equal((eb.message.match(/SecretAlias "/g) ?? []).length, 1);
  });

  it("secretEnv turns Kamal's alias list into env.secret values, all secret; bad entries are one error", async () => {
    const env = berth.secretEnv(["DB_PASSWORD:MAIN_DB_PASSWORD", "TOKEN", "URL:a:b"], { MAIN_DB_PASSWORD: "p1", TOKEN: pulumi.output("t1"), "a:b": "u" });
    assert.deepEqual(Object.keys(env), ["DB_PASSWORD", "TOKEN", "URL"]);
    assert.equal(await isSecret(env.DB_PASSWORD), true);
    assert.equal(await isSecret(env.TOKEN), true);
    assert.equal(await value(env.DB_PASSWORD), "p1");
    assert.equal(await value(env.URL), "u");
    assert.throws(
      () => berth.secretEnv(["1BAD", "A:", "B:MISSING", "C", "C"], { C: "c" }),
      (e: any) => {
        assert.deepEqual(
          e.problems.map((p: any) => `${p.path} ${p.message}`),
          [
            '[0] must start with an environment variable name (letters, digits and `_`, not starting with a digit); got "1BAD".',
            '[1] must name the secret after `:`; got "A:". Write `A:SECRET`, or `A` for the secret of the same name.',
            '[2] needs the secret "MISSING"; got none (the secrets given are `C`). Add it to the secrets.',
            '[4] must not set `C` again; got "C". List each variable once.',
          ],
        );
        return e.name === "BerthConfigError";
      },
    );
  });

  it("in AppService env (root, role, tag) and registry.password: only in the AppHosts' secret `secrets`, a tag's only on its hosts", async () => {
    process.env.BERTH_TEST_ROLE_SECRET = ROLE;
    const file = path.join(dir, ".kamal/secrets");
    const secrets = {
      MAIN_DB_PASSWORD: new berth.SecretAlias("main-db", { from: { dotenv: { key: "MAIN_DB_PASSWORD", path: file, destination: "production" } } }),
      TAG_SECRET: new berth.SecretAlias("tag-secret", { from: { dotenv: { key: "TAG_SECRET", path: file, destination: "production" } } }),
    };
    const registry = new berth.SecretAlias("registry", { from: { dotenv: { key: "REGISTRY_PASSWORD", path: file, destination: "production" } } });
    const role = new berth.SecretAlias("role", { from: { env: "BERTH_TEST_ROLE_SECRET" } });
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: {
        web: { hosts: ["h1", { host: "h2", tags: ["eu"] }] },
        jobs: { hosts: ["h3"], env: { secret: { ROLE_TOKEN: role.value } } },
      },
      env: {
        clear: { A: "1" },
        secret: berth.secretEnv(["DB_PASSWORD:MAIN_DB_PASSWORD"], secrets),
        tags: { eu: { secret: berth.secretEnv(["EU_TOKEN:TAG_SECRET"], secrets) } },
      },
      registry: { server: "reg.test", username: "deploy", password: registry.value },
      ssh,
    });
    const [h1, h2] = await Promise.all(app.hostResources.web.map(hostInputs));
    const h3 = await hostInputs(app.hostResources.jobs[0]);

    for (const h of [h1, h2, h3]) {
      const plain = JSON.stringify(h.spec);
      for (const v of [ROOT, ROLE, TAGGED, REGISTRY]) assert.equal(plain.includes(v), false, `a secret is in the plain spec of ${h.spec.host}`);
      assert.deepEqual(h.spec.registry, { server: "reg.test", username: "deploy" });
      assert.deepEqual(h.spec.container.env, { A: "1" });
    }
    assert.deepEqual(h1.spec.secretEnvNames, ["DB_PASSWORD"]);
    assert.deepEqual(h2.spec.secretEnvNames, ["DB_PASSWORD", "EU_TOKEN"]);
    assert.deepEqual(h3.spec.secretEnvNames, ["DB_PASSWORD", "ROLE_TOKEN"]);

    const secretsOf = async (r: pulumi.CustomResource) => {
      const o = (r as any).secrets as pulumi.Output<any>;
      assert.equal(await isSecret(o), true);
      return value(o);
    };
    assert.deepEqual(await secretsOf(app.hostResources.web[0]), { env: { DB_PASSWORD: ROOT }, registryPassword: REGISTRY });
    assert.deepEqual(await secretsOf(app.hostResources.web[1]), { env: { DB_PASSWORD: ROOT, EU_TOKEN: TAGGED }, registryPassword: REGISTRY });
    assert.deepEqual(await secretsOf(app.hostResources.jobs[0]), { env: { DB_PASSWORD: ROOT, ROLE_TOKEN: ROLE }, registryPassword: REGISTRY });
  });

  it("a value with a line break meant for an env file fails the preview naming the variable, never the value", async () => {
    process.env.BERTH_TEST_MULTILINE = "first-line-s3cret\nsecond-line";
    const alias = new berth.SecretAlias("multi", { from: { env: "BERTH_TEST_MULTILINE" } });
    const app = new berth.AppService("nl", { service: "nl", image: "reg.test/nl:v1", hosts: ["h1"], env: { tags: {}, secret: { CERT: alias.value } }, ssh });
    const e = await rejectionOf((app.hostResources.web[0] as any).secrets);
    assert.match(e.message, /`env\.secret\.CERT`: must be a single line; got a value with a line break \(not shown because it is secret\)/);
    assert.equal(e.message.includes("s3cret"), false);
  });
});
