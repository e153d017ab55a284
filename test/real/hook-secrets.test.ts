/**
 * `hooks.secrets` (Kamal exports its secrets to the pre-connect, pre-deploy and post-deploy hooks)
 * and `BERTH_SKIP_HOOKS` (Kamal's `--skip_hooks`) through the real engine and Berth's plugin. The
 * only host is 127.0.0.1 on a closed port, so after the pre-connect hook the deploy stops at its
 * first connection: nothing here needs the lab.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, stateFile, type TestBackend } from "../helpers/engine";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const PROJECT = "berth-hook-secrets";

describe("real: hook secrets and BERTH_SKIP_HOOKS", function () {
  let b: TestBackend;
  let s: Stack;
  let seen: string;
  const token = `tok-${randomBytes(8).toString("hex")}`;
  let version = "v1";
  let extra: Record<string, pulumi.Input<string>> = {};

  /** The `up`'s error text and output, whatever the outcome. */
  async function upText(): Promise<string> {
    let out = "";
    try {
      const r = await s.up({ onOutput: (o) => (out += o) });
      return `${r.summary.result}\n${out}`;
    } catch (e) {
      return `${(e as Error).message}\n${out}`;
    }
  }

  before(async function () {
    b = await backend("berth-hooksecrets-");
    seen = path.join(b.dir, "seen");
    s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "dev",
        projectName: PROJECT,
        program: async () => {
          new AppService("app", {
            service: "hooksec",
            image: "reg.test/hooksec:v1",
            version,
            hosts: ["127.0.0.1"],
            hooks: {
              preConnect: { command: `printf '%s' "$SLACK_TOKEN" > ${seen}; echo "token is $SLACK_TOKEN"` },
              secrets: { SLACK_TOKEN: pulumi.secret(token), ...extra },
            },
            ssh: { port: 1, privateKeyPath: path.join(b.dir, "no-key"), hostKeys: { "127.0.0.1": KEY } },
          });
        },
      },
      { workDir: fs.mkdtempSync(path.join(b.dir, "work-")), pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("the pre-connect hook gets the secret; the log and the state never show it", async function () {
    const text = await upText();
    assert.equal(fs.readFileSync(seen, "utf8"), token, "the hook's environment");
    assert.match(text, /pre-connect: token is \*\*\*/);
    assert.match(text, /127\.0\.0\.1/, "the deploy then stops at its first connection, naming the host");
    assert.ok(!text.includes(token), "the token in the up's output");
    const state = stateFile(b, PROJECT, "dev");
    const hook = JSON.parse(state).checkpoint.latest.resources.find((r: any) => r.type === "berth:index:Hook");
    assert.ok(hook, "the hook is in the state");
    assert.equal(hook.inputs.secretEnv?.["4dabf18193072939515e22adb298388d"], "1b47061264138c4ac30d75fd1eb44270", "secretEnv is stored as a secret");
    assert.ok(!state.includes(token), "the token in the state file");
  });

  it("BERTH_SKIP_HOOKS=1: a deploy that changes runs no hook", async function () {
    fs.rmSync(seen, { force: true });
    version = "v2";
    s.workspace.envVars.BERTH_SKIP_HOOKS = "1";
    let text: string;
    try {
      text = await upText();
    } finally {
      delete s.workspace.envVars.BERTH_SKIP_HOOKS;
    }
    assert.match(text, /pre-connect hook \(inline command\): skipped \(BERTH_SKIP_HOOKS is set\)/);
    assert.equal(fs.existsSync(seen), false, "the hook ran");
  });

  it("a hook secret known only when it resolves is still checked at preview, naming the field and never the value", async function () {
    extra = { BAD: pulumi.output(`a\u0000${token}`) };
    try {
      await assert.rejects(s.preview(), (e: Error) => {
        assert.match(e.message, /`hooks\.secrets\.BAD`: must not hold a NUL character/);
        assert.ok(!e.message.includes(token), "the value in the error");
        return true;
      });
    } finally {
      extra = {};
    }
  });
});
