/**
 * Kamal's hooks: the typed args and their errors (field paths), the directory rules (legacy Traefik
 * hooks refused, non-executable files named), which hooks run from where, Kamal's hook environment,
 * and the `berth:index:Hook` lifecycle run on this machine (output, failure message, when it runs,
 * what is computed at run time), plus the deploy lock inherited with `KAMAL_LOCK=true`.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { abbreviatedVersion, dirHookProblems, hookEnv, hookSecretsProblems, hookSources, normalizeHooks } from "../../sdk/config/hooks";
import { BerthConfigError } from "../../sdk/config/errors";
import { resolveHooks } from "../../sdk/components/hooks";
import { hookResource, hooksSkipped, inheritedLock, runEnv, runHook } from "../../sdk/provider/hook";
import { lockInherited } from "../../sdk/provider/host-lock";
import type { HookInputs } from "../../sdk/config/resources";

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, String(e));
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail("no error");
}

describe("hooks: config", function () {
  it("normalizes a directory, a file, an inline command and a skipped hook", function () {
    assert.deepEqual(normalizeHooks({ path: ".kamal/hooks", preDeploy: "bin/pre", postDeploy: { command: "echo done" }, preConnect: false }, "AppService"), {
      path: ".kamal/hooks",
      given: { "pre-connect": false, "pre-deploy": { path: "bin/pre" }, "post-deploy": { command: "echo done" } },
    });
    assert.deepEqual(normalizeHooks(undefined, "AppService"), { given: {} });
  });

  it("names each bad field: absolute paths, empty commands, unknown keys, wrong shapes", function () {
    assert.deepEqual(
      problems(() => normalizeHooks({ path: "/etc/hooks", preDeploy: { command: " " }, postDeploy: 3 as never, preTraefikReboot: "x" } as never, "AppService")),
      [
        'hooks.path: must be a path relative to the Pulumi project directory; got "/etc/hooks". State and previews never hold a path of the deploying machine: write it relative to the project directory, e.g. ".kamal/hooks".',
        'hooks.preDeploy.command: must be a shell command; got " ". Write the command, or leave the hook out.',
        'hooks.postDeploy: must be a hook file path, `{ command: "…" }` or false; got 3. e.g. ".kamal/hooks/pre-deploy", { command: "bin/notify" } or false.',
        "hooks: has unknown key `preTraefikReboot`; allowed keys are `path`, `dockerSetup`, `preConnect`, `preBuild`, `preDeploy`, `preAppBoot`, `postAppBoot`, `postDeploy`, `preProxyReboot`, `postProxyReboot`. Remove it or check the spelling.",
      ],
    );
  });

  it("refuses Kamal's legacy Traefik hooks in the directory, as Kamal does", function () {
    assert.deepEqual(
      dirHookProblems(["pre-deploy", "pre-traefik-reboot", "post-traefik-reboot.sample", "post-traefik-reboot"]).map((p) => `${p.path}: ${p.message}`),
      [
        'hooks.path: must not hold "pre-traefik-reboot": Kamal 2 renamed the Traefik hooks, and refuses them as Berth does. Rename it to `pre-proxy-reboot`.',
        'hooks.path: must not hold "post-traefik-reboot": Kamal 2 renamed the Traefik hooks, and refuses them as Berth does. Rename it to `post-proxy-reboot`.',
      ],
    );
  });

  it("takes a given hook over the directory's, skips `false`, and only the names asked for", function () {
    const cfg = normalizeHooks({ path: ".kamal/hooks", preDeploy: { command: "true" }, postDeploy: false }, "AppService");
    assert.deepEqual(hookSources(cfg, ["pre-deploy", "post-deploy", "pre-connect", "pre-build"], ["pre-connect", "pre-deploy", "post-deploy"]), {
      "pre-connect": { path: ".kamal/hooks/pre-connect" },
      "pre-deploy": { command: "true" },
    });
  });

  it("renders Kamal's stable hook environment", function () {
    assert.deepEqual(hookEnv({ service: "shop", version: "3f2a9c1d8e", destination: "production", hosts: ["h1", "h2"], roles: ["web"], command: "deploy" }), {
      KAMAL_DESTINATION: "production",
      KAMAL_VERSION: "3f2a9c1d8e",
      KAMAL_SERVICE_VERSION: "shop@3f2a9c1",
      KAMAL_SERVICE: "shop",
      KAMAL_HOSTS: "h1,h2",
      KAMAL_ROLES: "web",
      KAMAL_COMMAND: "deploy",
    });
    // No destination, no roles: the variables are absent, as in Kamal; a subcommand when given.
    assert.deepEqual(hookEnv({ hosts: ["h1"], destination: "", command: "proxy", subcommand: "reboot" }), { KAMAL_HOSTS: "h1", KAMAL_COMMAND: "proxy", KAMAL_SUBCOMMAND: "reboot" });
    assert.equal(abbreviatedVersion("abc1234_uncommitted_5678"), "abc1234_uncommitted_5678");
  });
});

describe("hooks: secrets (hooks.secrets)", function () {
  const check = (secrets: Record<string, unknown>) => hookSecretsProblems(secrets, (n) => secrets[n]).map((p) => `${p.path}: ${p.message}`);
  it("accepts environment variable names, Kamal's own KAMAL_REGISTRY_PASSWORD included, and values not known yet", function () {
    assert.deepEqual(check({ SLACK_TOKEN: "x", KAMAL_REGISTRY_PASSWORD: "y", _A1: "" }), []);
    assert.deepEqual(hookSecretsProblems({ LATER: {} }, () => undefined), []);
    assert.deepEqual(hookSecretsProblems(undefined, () => undefined), []);
  });
  it("refuses bad names, Kamal's hook variables, non-strings, NUL and oversized values, never showing a value", function () {
    const value = "hunter2-do-not-show";
    const got = check({ "1BAD": value, "A-B": value, KAMAL_HOSTS: value, NUM: 42, NUL: `a\u0000${value}`, BIG: value.repeat(4000), "": value });
    assert.deepEqual(got, [
      "hooks.secrets.1BAD: must be named like an environment variable (letters, digits and `_`, not starting with a digit); got \"1BAD\".",
      "hooks.secrets.A-B: must be named like an environment variable (letters, digits and `_`, not starting with a digit); got \"A-B\".",
      "hooks.secrets.KAMAL_HOSTS: is one of Kamal's hook variables, which Berth sets; got \"KAMAL_HOSTS\". Give the secret another name.",
      "hooks.secrets.NUM: must be a string (a `SecretAlias`'s `value`, a Pulumi secret or a string); got a value that is not shown because it is secret. Convert it to a string.",
      "hooks.secrets.NUL: must not hold a NUL character (an environment variable cannot); got a value with one (not shown). Remove it.",
      "hooks.secrets.BIG: must be at most 65536 bytes (an environment variable's limit); got 76000 bytes (not shown). Pass a shorter value.",
      'hooks.secrets: must not be an empty name; got "". Name the entry, or remove it.',
    ]);
    assert.ok(!got.join("\n").includes("hunter2"));
    assert.match(hookSecretsProblems("x", () => undefined)[0].message, /^must be a map of variable names to secret values/);
  });
});

describe("hooks: reading the directory", function () {
  let dir: string;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hooks-"));
    fs.mkdirSync(path.join(dir, ".kamal/hooks"), { recursive: true });
    fs.writeFileSync(path.join(dir, ".kamal/hooks/pre-deploy"), "#!/bin/sh\necho pre\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, ".kamal/hooks/post-deploy.sample"), "#!/bin/sh\n", { mode: 0o755 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("records a hook file by its path relative to the project and its content hash", function () {
    const r = resolveHooks("AppService", { path: ".kamal/hooks" }, ["pre-deploy", "post-deploy"], dir);
    assert.deepEqual(Object.keys(r), ["pre-deploy"]);
    const h = r["pre-deploy"] as { path: string; contentHash: string };
    assert.equal(h.path, ".kamal/hooks/pre-deploy");
    assert.equal(h.contentHash, "sha256:" + require("node:crypto").createHash("sha256").update("#!/bin/sh\necho pre\n").digest("hex"));
  });

  it("names a missing directory, a non-executable hook and a missing hook file", function () {
    fs.writeFileSync(path.join(dir, ".kamal/hooks/post-deploy"), "#!/bin/sh\n", { mode: 0o644 });
    try {
      assert.deepEqual(problems(() => resolveHooks("AppService", { path: "nope" }, ["pre-deploy"], dir)), [
        'hooks.path: must be a directory; got "nope", which is not one in the project directory. Create it, or leave `path` out.',
      ]);
      assert.deepEqual(problems(() => resolveHooks("AppService", { path: ".kamal/hooks", preConnect: "bin/missing" }, ["pre-connect", "post-deploy"], dir)), [
        'hooks.path: must hold executable hook files; got ".kamal/hooks/post-deploy", which is not executable. Run `chmod +x` on it (Kamal runs hooks as executables).',
        'hooks.preConnect: must be an executable file; got "bin/missing", which does not exist in the project directory.',
      ]);
    } finally {
      fs.rmSync(path.join(dir, ".kamal/hooks/post-deploy"));
    }
  });
});

describe("hooks: the Hook resource", function () {
  const base: HookInputs = { hook: "pre-deploy", command: "", env: { KAMAL_SERVICE: "shop", KAMAL_HOSTS: "h1" }, trigger: { image: "i1" }, runOnCreate: true };
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hookrun-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = () => path.join(dir, "out");

  it("runs with Kamal's env: the stable part from its inputs, KAMAL_RECORDED_AT, KAMAL_PERFORMER and KAMAL_LOCK computed at run time", async function () {
    await runHook({ ...base, command: `env | grep ^KAMAL_ | sort > ${out()}` });
    const env = Object.fromEntries(fs.readFileSync(out(), "utf8").trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2)));
    assert.deepEqual(Object.keys(env).sort(), ["KAMAL_HOSTS", "KAMAL_LOCK", "KAMAL_PERFORMER", "KAMAL_RECORDED_AT", "KAMAL_SERVICE"]);
    assert.equal(env.KAMAL_LOCK, "false");
    assert.match(env.KAMAL_RECORDED_AT, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(env.KAMAL_PERFORMER.length > 0);
  });

  it("adds KAMAL_RUNTIME to post-deploy only, and passes an inherited KAMAL_LOCK=true on", async function () {
    assert.match((await runEnv({ hook: "post-deploy", env: {} })).KAMAL_RUNTIME, /^\d+$/);
    assert.equal((await runEnv({ hook: "pre-deploy", env: {} })).KAMAL_RUNTIME, undefined);
    assert.equal(inheritedLock({ KAMAL_LOCK: "true" }), "true");
    assert.equal(inheritedLock({ KAMAL_LOCK: "yes" }), "false");
    assert.equal(inheritedLock({}), "false");
  });

  it("fails naming the hook, its exit code and its last output lines", async function () {
    await assert.rejects(runHook({ ...base, command: "echo checking; echo 'migrations pending' >&2; exit 3" }), (e: Error) => {
      assert.equal(e.message, "Hook `pre-deploy` failed (exit 3); nothing after it was changed. pre-deploy hook (inline command) output:\nchecking\nmigrations pending");
      return true;
    });
    await assert.rejects(runHook({ ...base, command: undefined, path: path.join(dir, "absent") }), /Hook `pre-deploy` \(.*absent\) could not be run: it does not exist/);
  });

  it("runs on create (unless runOnCreate is false) and on a change of trigger; other changes are only recorded", async function () {
    const count = () => (fs.existsSync(out()) ? fs.readFileSync(out(), "utf8").length : 0);
    fs.rmSync(out(), { force: true });
    const h = { ...base, command: `printf x >> ${out()}` } as never as HookInputs & Record<string, never>;
    await hookResource.create(h);
    assert.equal(count(), 1);
    await hookResource.create({ ...(h as HookInputs), hook: "pre-proxy-reboot", runOnCreate: false });
    assert.equal(count(), 1);
    await hookResource.update("id", h, h, { "env.KAMAL_HOSTS": "update", contentHash: "update", "secretEnv.SLACK_TOKEN": "update" });
    assert.equal(count(), 1);
    await hookResource.update("id", h, h, { "trigger.image": "update" });
    assert.equal(count(), 2);
    await hookResource.update("id", h, h, { secretsTrigger: "update" });
    assert.equal(count(), 3);
    await hookResource.delete("id", h);
    assert.equal(count(), 3);
  });

  it("exports its secrets (hooks.secrets) to the hook, and prints them as *** in the log lines and the error", async function () {
    const secret = "s3cr3t-hook-token";
    const pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----";
    await runHook({ ...base, secretEnv: { SLACK_TOKEN: secret, KAMAL_REGISTRY_PASSWORD: "pw-123" }, command: `printf '%s %s' "$SLACK_TOKEN" "$KAMAL_REGISTRY_PASSWORD" > ${out()}` });
    assert.equal(fs.readFileSync(out(), "utf8"), `${secret} pw-123`);
    const logged: string[] = [];
    // With no engine, progress lines go to stderr.
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (logged.push(String(chunk).trimEnd()), true)) as typeof process.stderr.write;
    try {
      await assert.rejects(runHook({ ...base, secretEnv: { SLACK_TOKEN: secret, KEY: pem }, command: 'echo "token=$SLACK_TOKEN"; echo "$KEY" | sed -n 2p; exit 4' }), (e: Error) => {
        assert.equal(e.message, "Hook `pre-deploy` failed (exit 4); nothing after it was changed. pre-deploy hook (inline command) output:\ntoken=***\n***");
        return true;
      });
    } finally {
      process.stderr.write = write;
    }
    assert.ok(logged.some((l) => l === "pre-deploy: token=***"), logged.join("\n"));
    assert.ok(!logged.join("\n").includes(secret) && !logged.join("\n").includes("MIIEvQ"), logged.join("\n"));
  });

  it("BERTH_SKIP_HOOKS=1 (Kamal's --skip_hooks) runs no hook and records it as run", async function () {
    assert.equal(hooksSkipped({ BERTH_SKIP_HOOKS: "1" }), true);
    assert.equal(hooksSkipped({ BERTH_SKIP_HOOKS: "TRUE" }), true);
    assert.equal(hooksSkipped({ BERTH_SKIP_HOOKS: "0" }), false);
    assert.equal(hooksSkipped({}), false);
    fs.rmSync(out(), { force: true });
    process.env.BERTH_SKIP_HOOKS = "1";
    try {
      await runHook({ ...base, command: `touch ${out()}; exit 1` });
    } finally {
      delete process.env.BERTH_SKIP_HOOKS;
    }
    assert.equal(fs.existsSync(out()), false);
  });

  it("the deploy lock is inherited only with KAMAL_LOCK=true, as Kamal reads it", function () {
    assert.equal(lockInherited({ KAMAL_LOCK: "true" }), true);
    assert.equal(lockInherited({ KAMAL_LOCK: "false" }), false);
    assert.equal(lockInherited({}), false);
  });
});
