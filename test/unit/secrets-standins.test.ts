/**
 * Secrets resolved through real processes: each Kamal adapter against a stand-in CLI
 * (test/fixtures/secret-clis/<tool>, a small sh script printing the real tool's documented output
 * and exit codes for success, not signed in, and item missing), and Kamal's secrets files with
 * their `$(...)` commands. The stand-ins are first on PATH in the children's environment only.
 * Every stand-in logs its argv; the last test checks no secret value ever reached an argv.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SecretError, SecretResolver } from "../../sdk/secrets/resolve";
import type { SecretAdapterName } from "../../sdk/secrets/adapters";

const REPO = path.resolve(__dirname, "../../..");
const STANDINS = path.join(REPO, "test/fixtures/secret-clis");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "berth-secrets-"));
const LOG = path.join(TMP, "argv.log");
const EMPTY_BIN = fs.mkdtempSync(path.join(TMP, "bin-"));
const ENPASS_VAULT = fs.mkdtempSync(path.join(TMP, "enpass-vault-"));

/** Every value the stand-ins hold: none may appear in an argv or a message. */
const VALUES = [
  `op=S3cret "dq" 'sq' $HOME \\back`,
  "postgres://app@db:5432/app?sslmode=require&x=$y",
  `bw=P4ss "dq" 'sq' $PATH \\b`,
  `bw-db=$x "q"`,
  `bws=V4l "dq" 'sq' $HOME \\b`,
  `lp=Pw "dq" 'sq' $HOME \\b`,
  `aws=Pw "dq" 'sq' $HOME \\b`,
  "aws-plain-t0ken",
  `gcp=Pw "dq" 'sq' $HOME \\b`,
  `dp=Pw "dq" 'sq' $HOME \\b`,
  `en=Pw "dq" 'sq' $HOME \\b`,
  `pb=Pw "dq" 'sq' $HOME \\b`,
  "pb-registry-t0ken",
];

/** The children's environment: the stand-ins first on PATH (or only `bin`, with nothing else, for "not installed"). */
function env(extra: Record<string, string> = {}, bin?: string): Record<string, string> {
  return { PATH: bin ?? `${STANDINS}:/usr/bin:/bin`, HOME: TMP, STANDIN_LOG: LOG, LANG: "C.UTF-8", ...extra };
}
const resolver = (extra: Record<string, string> = {}, bin?: string, cwd = TMP) => new SecretResolver({ env: env(extra, bin), cwd, timeoutSeconds: 20 });

async function rejection(p: Promise<unknown>): Promise<SecretError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SecretError, `expected a SecretError, got ${(e as Error).stack}`);
    for (const v of VALUES) assert.ok(!e.message.includes(v), `the message shows a secret value:\n${e.message}`);
    return e;
  }
  assert.fail("expected the secret to fail");
}

interface Case {
  adapter: SecretAdapterName;
  ok: { key: string; account?: string; from?: string; extract?: string; value: string; argv: string };
  missing: { key: string; account?: string; from?: string; says: RegExp };
  signedOut: { says: RegExp; env?: Record<string, string> };
}

const CASES: Case[] = [
  {
    adapter: "1password",
    ok: {
      key: "password",
      account: "acme",
      from: "Production/Database",
      value: VALUES[0],
      argv: "op item get Database --vault Production --format json --account acme --fields label=password",
    },
    missing: { key: "password", account: "acme", from: "Production/Nope", says: /item "Nope" in the "Production" 1Password vault[\s\S]*isn't an item in the "Production" vault/ },
    signedOut: { says: /not signed in to the 1Password account "acme"[\s\S]*eval \$\(op signin --account acme\)[\s\S]*`op account get --account acme` exited with 1:\n\s+\[ERROR\] .* you are not currently signed in/ },
  },
  {
    adapter: "bitwarden",
    ok: { key: "registry", account: "ops@example.com", value: VALUES[2], argv: "bw get item registry" },
    missing: { key: "nope", account: "ops@example.com", says: /could not read the item "nope" from Bitwarden[\s\S]*`bw get item nope` exited with 1:\n\s+Not found\./ },
    signedOut: { says: /not logged in to Bitwarden[\s\S]*bw login ops@example.com/ },
  },
  {
    adapter: "bitwarden-sm",
    ok: { key: "82aeb5bd-6958-4a89-8197-eacab758acce", value: VALUES[4], argv: "bws secret get 82aeb5bd-6958-4a89-8197-eacab758acce" },
    missing: { key: "00000000-0000-0000-0000-000000000000", says: /could not read the secret "00000000-0000-0000-0000-000000000000" from Bitwarden Secrets Manager[\s\S]*404 Not Found/ },
    signedOut: { says: /could not authenticate to Bitwarden Secrets Manager\. Set a valid machine-account access token in BWS_ACCESS_TOKEN[\s\S]*`bws project list` exited with 1:\n\s+Error: \n\s+0: Missing access token/ },
  },
  {
    adapter: "lastpass",
    ok: { key: "DB_PASSWORD", account: "ops@example.com", from: "Deploy", value: VALUES[5], argv: "lpass show Deploy/DB_PASSWORD --json" },
    missing: { key: "NOPE", account: "ops@example.com", says: /could not read "NOPE" from LastPass[\s\S]*Could not find specified account\(s\)\./ },
    signedOut: { says: /not logged in to LastPass as "ops@example.com"\. Log in first — `lpass login ops@example.com`[\s\S]*exited with 1:\n\s+Not logged in\./ },
  },
  {
    adapter: "aws_secrets_manager",
    ok: { key: "prod/db", extract: "password", value: VALUES[6], argv: "aws secretsmanager batch-get-secret-value --secret-id-list prod/db --output json" },
    missing: { key: "prod/nope", says: /prod\/nope: Secrets Manager can't find the specified secret\./ },
    signedOut: { says: /could not read "prod\/db" from AWS Secrets Manager\. Sign in first[\s\S]*exited with 253:\n\s+Unable to locate credentials/ },
  },
  {
    adapter: "gcp",
    ok: { key: "db-password", account: "default", value: VALUES[8], argv: "gcloud secrets versions access latest --secret=db-password --format=json" },
    missing: { key: "my-project/nope", account: "default", says: /could not read "my-project\/nope" \(version latest\) from Google Secret Manager[\s\S]*NOT_FOUND: Secret \[projects\/my-project\/secrets\/nope\] not found/ },
    signedOut: { says: /gcloud has no credentialed account[\s\S]*gcloud auth login/ },
  },
  {
    adapter: "doppler",
    ok: { key: "DB_PASSWORD", from: "app/prd", value: VALUES[9], argv: "doppler secrets get DB_PASSWORD --json -p app -c prd" },
    missing: { key: "NOPE", from: "app/prd", says: /could not read "app\/prd\/NOPE" from Doppler[\s\S]*Doppler Error: Could not find requested secret: NOPE/ },
    signedOut: { says: /not logged in to Doppler[\s\S]*doppler login[\s\S]*Doppler Error: you must provide a token/ },
  },
  {
    adapter: "enpass",
    ok: { key: "Production/DB_PASSWORD", from: ENPASS_VAULT, value: VALUES[10], argv: `enpass-cli -json -vault ${ENPASS_VAULT} show Production` },
    missing: { key: "Nope", from: ENPASS_VAULT, says: /Enpass returned nothing for "Nope"/ },
    signedOut: { says: /could not read "Production\/DB_PASSWORD" from the Enpass vault[\s\S]*could not open vault/ },
  },
  {
    adapter: "passbolt",
    ok: {
      key: "DB_PASSWORD",
      from: "production/eu",
      value: VALUES[11],
      argv:
        'passbolt list resources --filter (Name == "DB_PASSWORD" && FolderParentID == "6a3f21fc-aa40-4ba9-852c-7477fdd0310d") --folder dcbe0e39-42d8-42db-9637-8256b9f2f8e3 --folder 6a3f21fc-aa40-4ba9-852c-7477fdd0310d --column name --column password --json',
    },
    missing: { key: "NOPE", says: /could not find "NOPE" in Passbolt/ },
    signedOut: { says: /could not log in to Passbolt[\s\S]*passbolt configure[\s\S]*Error: Creating Client: Server Address is empty/ },
  },
];

/** The calls logged since the last `mark()`, each as its argv joined with spaces. */
let since = 0;
const mark = () => (since = fs.existsSync(LOG) ? fs.statSync(LOG).size : 0);
const calls = () =>
  fs.existsSync(LOG)
    ? fs.readFileSync(LOG).subarray(since).toString("utf8").split("\n").filter(Boolean).map((l) => l.split("\x1f").join(" "))
    : [];

describe("secrets against stand-in CLIs (real processes)", function () {
  this.timeout(30000);
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  for (const c of CASES) {
    describe(c.adapter, () => {
      const ref = (x: { account?: string; from?: string }) => ({ account: x.account, from: x.from });

      it("success: the value arrives intact (`=`, quotes, `$`, backslash, spaces)", async () => {
        mark();
        const value = await resolver().adapterValue(c.adapter, c.ok.key, ref(c.ok), c.ok.extract);
        assert.equal(value, c.ok.value);
        assert.ok(calls().includes(c.ok.argv), `expected \`${c.ok.argv}\` among:\n${calls().join("\n")}`);
      });

      it("item missing: names the secret and the adapter, and relays what the CLI said", async () => {
        const e = await rejection(resolver().adapterValue(c.adapter, c.missing.key, ref(c.missing)));
        assert.equal(e.kind, "not-found");
        assert.match(e.message, new RegExp(c.adapter === "enpass" ? "enpass" : `Kamal's \`${c.adapter}\` adapter`));
        assert.match(e.message, c.missing.says);
      });

      it("not signed in: names the secret, the adapter and the command to run first", async () => {
        const e = await rejection(resolver({ STANDIN_SIGNED_OUT: "1", ...(c.signedOut.env ?? {}) }).adapterValue(c.adapter, c.ok.key, ref(c.ok), c.ok.extract));
        assert.match(e.message, new RegExp(`^could not read the secret "${c.ok.key.replace(/[/.]/g, "\\$&")}"[^\\n]*Kamal's \`${c.adapter}\` adapter`));
        assert.match(e.message, c.signedOut.says);
      });

      it("CLI missing: says it is not installed", async () => {
        const e = await rejection(resolver({}, EMPTY_BIN).adapterValue(c.adapter, c.ok.key, ref(c.ok)));
        assert.equal(e.kind, "cli-missing");
        assert.match(e.message, /CLI `[a-z-]+` is not installed \(not found on PATH\)\. Install `[a-z-]+` on the machine running Pulumi/);
      });
    });
  }

  it("bitwarden: a locked vault says to unlock it; an item's field is `item/field`", async () => {
    const e = await rejection(resolver({ STANDIN_SIGNED_OUT: "1", STANDIN_BW_STATUS: "locked" }).adapterValue("bitwarden", "registry", { account: "ops@example.com" }));
    assert.match(e.message, /the Bitwarden vault is locked[\s\S]*export BW_SESSION=\$\(bw unlock --raw\)/);
    assert.equal(await resolver().adapterValue("bitwarden", "app-env/DB_PASSWORD", { account: "ops@example.com" }), VALUES[3]);
  });

  it("several results without `extract` are refused, listing their names only", async () => {
    const e = await rejection(resolver().adapterValue("aws_secrets_manager", "prod/db"));
    assert.match(e.message, /returned several secrets for "prod\/db" .*: "prod\/db\/username", "prod\/db\/password", "prod\/db\/port"\. Pick one with `extract`/);
  });

  it("signs in once per adapter and account for many secrets (one `op account get`)", async () => {
    mark();
    const r = resolver();
    await Promise.all([r.adapterValue("1password", "password", { account: "acme", from: "Production/Database" }), r.adapterValue("1password", "db/url", { account: "acme", from: "Production/Database" })]);
    assert.equal(calls().filter((c) => c === "op account get --account acme").length, 1);
    assert.equal(calls().filter((c) => c === "op --version").length, 1);
  });

  describe("Kamal's secrets files", () => {
    let dir: string;
    const write = (files: Record<string, string>) => {
      dir = fs.mkdtempSync(path.join(TMP, "project-"));
      fs.mkdirSync(path.join(dir, ".kamal"));
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, ".kamal", name), text);
    };
    const load = (destination?: string, extra: Record<string, string> = {}) => resolver(extra, undefined, dir).load(".kamal/secrets", destination);

    it("secrets-common first, then secrets (or secrets.<destination>); a later file wins; `$VAR` sees its own file and the environment", async () => {
      write({
        "secrets-common": "SHARED=common\nCOMMON_ONLY=c1\n",
        secrets: "SHARED=default\nREF=${COMMON_ONLY}|$FROM_ENV\n",
        "secrets.staging": "SHARED=staging\n",
      });
      assert.deepEqual((await load(undefined, { FROM_ENV: "e" })).values, { SHARED: "default", COMMON_ONLY: "c1", REF: "|e" });
      const staging = await load("staging");
      assert.deepEqual(staging.values, { SHARED: "staging", COMMON_ONLY: "c1" });
      assert.deepEqual(staging.files, [".kamal/secrets-common", ".kamal/secrets.staging"]);
      assert.deepEqual((await load("nodest")).values, { SHARED: "common", COMMON_ONLY: "c1" });
    });

    it("`$(kamal secrets fetch …)` and `$(kamal secrets extract …)` run in-process through the adapter, as Kamal does", async () => {
      write({
        secrets: [
          "SECRETS=$(kamal secrets fetch --adapter 1password --account acme --from Production/Database password db/url)",
          "DB_PASSWORD=$(kamal secrets extract Database ${SECRETS})",
          "DB_URL=$(kamal secrets extract url $SECRETS)",
          "LP=$(kamal secrets fetch -a lastpass --account=ops@example.com REGISTRY_TOKEN)",
          "TOKEN=$(kamal secrets extract REGISTRY_TOKEN $LP)",
        ].join("\n"),
      });
      mark();
      const { values } = await load();
      assert.equal(values.DB_PASSWORD, VALUES[0]);
      assert.equal(values.DB_URL, VALUES[1]);
      assert.equal(values.TOKEN, "lp-registry-t0ken");
      assert.deepEqual(calls(), [
        "op --version",
        "op account get --account acme",
        "op item get Database --vault Production --format json --account acme --fields label=password,label=db.url",
        "lpass --version",
        "lpass status --color never",
        "lpass show REGISTRY_TOKEN --json",
      ]);
      assert.equal(await resolver({}, undefined, dir).dotenvValue("DB_PASSWORD"), VALUES[0]);
    });

    it("a shell command gets no secret in its argv: the text reaches /bin/sh through the environment", async () => {
      // dotenv unescapes `\\0` to `\0` before the shell sees it (one backslash would be eaten).
      write({ secrets: "A='s3cr3t-in-a-command'\nARGV=$(tr '\\\\0' ' ' < /proc/$$/cmdline; : $A)\nENV_SEEN=$(printenv BERTH_DOTENV_COMMAND || echo unset)\n" });
      const { values } = await load();
      assert.ok(values.ARGV.startsWith("/bin/sh -c "), values.ARGV);
      assert.ok(!values.ARGV.includes("s3cr3t"), `the secret is in sh's argv: ${values.ARGV}`);
      assert.equal(values.ENV_SEEN, "unset", "the command text must not stay in the environment of what it runs");
    });

    it("command output is kept byte for byte (dotenv would expand a `$` in it); one trailing newline is removed", async () => {
      write({ secrets: "P=$(printf 'pa\\\\044word=\"q\"')\nMULTI=$(printf 'a\\\\nb\\\\n')\nX=1\n" });
      const { values } = await load();
      assert.equal(values.P, 'pa$word="q"');
      assert.equal(values.MULTI, "a\nb");
    });

    it("a failing command stops with the file, line, key, command and its stderr, secrets redacted", async () => {
      write({ secrets: "A='s3cr3t-value-1'\n\nB=$(echo \"leaked $A\" >&2; exit 3)\n" });
      const e = await rejection(load());
      assert.equal(e.kind, "command-failed");
      assert.match(e.message, /^`\.kamal\/secrets` line 3 \(`B`\): `\$\(echo "leaked \$A" >&2; exit 3\)` exited with 3\. Kamal would use its output anyway; Berth stops/);
      assert.match(e.message, /It printed:\n\s+leaked \*\*\*$/);
      assert.ok(!e.message.includes("s3cr3t-value-1"));
    });

    it("an adapter failure inside a file names the file, line and key as well as the adapter", async () => {
      write({ secrets: "SECRETS=$(kamal secrets fetch --adapter doppler --from app/prd NOPE)\n" });
      const e = await rejection(load());
      assert.match(e.message, /^`\.kamal\/secrets` line 1 \(`SECRETS`\): could not read the secret "NOPE" from "app\/prd" with Kamal's `doppler` adapter/);
      write({ secrets: "X=$(kamal secrets fetch --adapter vault A)\nY=$(kamal secrets print)\n" });
      assert.match((await rejection(load())).message, /names the adapter "vault"; Kamal's adapters are `1password`/);
    });

    it("a missing key is Kamal's message, naming the files (and the keys there, never values)", async () => {
      write({ secrets: "A=1\n" });
      const e = await rejection(resolver({}, undefined, dir).dotenvValue("B"));
      assert.equal(e.message, "Secret 'B' not found in .kamal/secrets (keys there: A). Add `B=…` to one of them.");
      const none = await rejection(resolver({}, undefined, TMP).dotenvValue("B", ".kamal/secrets", "prod"));
      assert.match(none.message, /^Secret 'B' not found, no secret files \(\.kamal\/secrets-common, \.kamal\/secrets\.prod\) provided\./);
    });

    it("a command still running after the timeout is stopped and reported", async () => {
      write({ secrets: "SLOW=$(sleep 5)\n" });
      const r = new SecretResolver({ env: env(), cwd: dir, timeoutSeconds: 0.3 });
      const e = await rejection(r.load());
      assert.match(e.message, /exited with 124[\s\S]*stopped by Berth after 0\.3 seconds: is it waiting for a prompt\?/);
    });
  });

  it("no secret value ever appeared in the argv of any program the tests ran", () => {
    const log = fs.readFileSync(LOG, "utf8");
    assert.ok(log.length > 0);
    for (const v of VALUES) assert.ok(!log.includes(v), `a secret reached an argv: ${v}`);
  });
});
