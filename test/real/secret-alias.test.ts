/**
 * SecretAlias through the real engine on the lab (issue 9, must-show 5 and 6): a value from a
 * Kamal `.kamal/secrets` file (with `$(...)` substitution) and one from Kamal's AWS Secrets
 * Manager adapter (a stand-in `aws` CLI printing the real tool's format) reach the containers'
 * environment, an aliased secret under an env tag only the tagged host, and neither value is in
 * the state file, the engine's output or the stand-in CLI's argv.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService, SecretAlias } from "../../sdk";
import { backend, REPO, stateFile, TestBackend } from "../helpers/engine";
import { appImage, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const CLIS = path.join(REPO, "test/fixtures/secret-clis");
const FILE_VALUE = `sub-K3y=with"quote and space-${randomBytes(3).toString("hex")}`;
const AWS_VALUE = "aws-plain-t0ken"; // what the stand-in `aws` prints for prod/token

describe("real: SecretAlias values reach the containers and nothing else", function () {
  let l: Lab;
  let b: TestBackend;
  let s: Stack;
  let dir: string;
  let savedPath: string | undefined;
  const service = `sal${randomBytes(2).toString("hex")}`;
  let output = "";

  before(async function () {
    l = lab();
    b = await backend("berth-secret-alias-");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-kamal-secrets-"));
    fs.mkdirSync(path.join(dir, ".kamal"));
    fs.writeFileSync(path.join(dir, ".kamal/secrets"), `APP_KEY=$(printf '%s' '${FILE_VALUE}')\n`);
    savedPath = process.env.PATH;
    process.env.PATH = `${CLIS}:${process.env.PATH}`;
    process.env.STANDIN_LOG = path.join(dir, "argv.log");
    const image = appImage(l, "sal1");
    const [h1, h2] = l.hosts.map((h) => h.address);
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "staging",
        projectName: "berth-real-secret-alias",
        program: async () => {
          const appKey = new SecretAlias("app-key", { from: { dotenv: { key: "APP_KEY", path: path.join(dir, ".kamal/secrets") } } });
          const token = new SecretAlias("token", { from: { adapter: "aws_secrets_manager", key: "prod/token" } });
          new AppService("app", {
            service,
            image,
            roles: { web: { hosts: [{ host: h1, tags: ["eu"] }, h2], proxy: false } },
            env: { secret: { APP_KEY: appKey.value }, tags: { eu: { secret: { TOKEN: token.value } } } },
            readinessDelaySeconds: 1,
            ssh: labSsh(l),
          });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    await s?.destroy().catch(() => undefined);
    process.env.PATH = savedPath;
    delete process.env.STANDIN_LOG;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("5 & 6. the file's and the adapter's values are in the containers (the tagged secret only on the tagged host), nowhere else", async function () {
    const r = await s.up({ onOutput: (o) => (output += o) });
    assert.equal(r.summary.result, "succeeded");
    const [h1, h2] = l.hosts.map((h) => h.address);
    // The container's environment as docker holds it (env file values included).
    const env = (h: string, name: string) => {
      const all = JSON.parse(sshRun(l, h, `docker inspect --format '{{json .Config.Env}}' ${service}-web-staging-sal1`)) as string[];
      return all.find((kv) => kv.startsWith(`${name}=`))?.slice(name.length + 1) ?? "";
    };
    assert.equal(env(h1, "APP_KEY"), FILE_VALUE);
    assert.equal(env(h2, "APP_KEY"), FILE_VALUE);
    assert.equal(env(h1, "TOKEN"), AWS_VALUE);
    assert.equal(env(h2, "TOKEN"), "");
    const state = stateFile(b, "berth-real-secret-alias", "staging");
    for (const v of [FILE_VALUE, AWS_VALUE]) {
      assert.equal(state.includes(v), false, "a secret value is plaintext in the state file");
      assert.equal(output.includes(v), false, "a secret value is in the engine's output");
    }
    const argv = fs.readFileSync(process.env.STANDIN_LOG!, "utf8");
    assert.match(argv, /batch-get-secret-value/);
    assert.equal(argv.includes(AWS_VALUE), false);
  });
});
