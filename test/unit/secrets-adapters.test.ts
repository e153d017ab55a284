/**
 * Kamal's secret adapters with a scripted runner: the exact argv each step runs, in order, and the
 * results parsed from the tools' documented JSON (the cases of Kamal's test/secrets/*_adapter_test.rb).
 * The same adapters against stand-in CLIs (real processes): secrets-standins.test.ts.
 */
import { strict as assert } from "node:assert";
import {
  ADAPTERS,
  AdapterFailure,
  type FetchOptions,
  type RunResult,
  type SecretAdapterName,
  adapterNamed,
  enpassTitles,
  fetchSecrets,
  gcpSecret,
  pickValue,
} from "../../sdk/secrets/adapters";

type Reply = Partial<RunResult> | string;

/** A runner answering each argv (joined with spaces) from `replies`; unknown argv fails the test. */
function scripted(replies: Record<string, Reply | Reply[]>) {
  const calls: string[] = [];
  const queues = new Map(Object.entries(replies).map(([k, v]) => [k, Array.isArray(v) ? [...v] : [v]]));
  const run = async (argv: readonly string[]): Promise<RunResult> => {
    const key = argv.join(" ");
    calls.push(key);
    const q = queues.get(key);
    if (!q || q.length === 0) throw new Error(`unexpected command: ${key}`);
    const r = q.length > 1 ? q.shift()! : q[0];
    return typeof r === "string" ? { code: 0, stdout: r, stderr: "" } : { code: 0, stdout: "", stderr: "", ...r };
  };
  return { run, calls };
}

async function fetch(adapter: SecretAdapterName, names: string[], replies: Record<string, Reply | Reply[]>, o: Partial<FetchOptions> = {}) {
  const s = scripted(replies);
  const result = await fetchSecrets(ADAPTERS[adapter], names, s.run, { env: {}, ...o });
  return { result, calls: s.calls };
}

async function failure(p: Promise<unknown>): Promise<AdapterFailure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AdapterFailure, `expected an AdapterFailure, got ${e}`);
    return e;
  }
  assert.fail("expected a failure");
}

const opField = (ref: string, value: string) => ({ id: "x", type: "CONCEALED", label: ref.split("/").pop(), value, reference: `op://${ref}` });

describe("secrets/adapters", () => {
  it("accepts Kamal's adapter names and aliases (1password, lastpass, gcp, bitwarden-sm, class names)", () => {
    assert.equal(adapterNamed("1Password"), "1password");
    assert.equal(adapterNamed("one_password"), "1password");
    assert.equal(adapterNamed("last_pass"), "lastpass");
    assert.equal(adapterNamed("gcp_secret_manager"), "gcp");
    assert.equal(adapterNamed("bitwarden_secrets_manager"), "bitwarden-sm");
    assert.equal(adapterNamed("aws_secrets_manager"), "aws_secrets_manager");
    assert.equal(adapterNamed("vault"), undefined);
  });

  describe("1password (op)", () => {
    it("checks the CLI and the sign-in, then runs one `op item get` per item with the fields as labels", async () => {
      const { result, calls } = await fetch("1password", ["section/SECRET1", "section/SECRET2", "section2/SECRET3"], {
        "op --version": "2.30.3",
        "op account get --account myaccount": "{}",
        "op item get myitem --vault myvault --format json --account myaccount --fields label=section.SECRET1,label=section.SECRET2,label=section2.SECRET3": JSON.stringify([
          opField("myvault/myitem/section/SECRET1", "VALUE1"),
          opField("myvault/myitem/section/SECRET2", "VALUE2"),
          opField("myvault/myitem/section2/SECRET3", "VALUE3"),
        ]),
      }, { account: "myaccount", from: "op://myvault/myitem" });
      assert.deepEqual(calls, [
        "op --version",
        "op account get --account myaccount",
        "op item get myitem --vault myvault --format json --account myaccount --fields label=section.SECRET1,label=section.SECRET2,label=section2.SECRET3",
      ]);
      assert.deepEqual(result, { "myvault/myitem/section/SECRET1": "VALUE1", "myvault/myitem/section/SECRET2": "VALUE2", "myvault/myitem/section2/SECRET3": "VALUE3" });
    });

    it("reads a single field (op prints an object, not a list); a bare item means its password", async () => {
      const { result, calls } = await fetch("1password", ["myitem"], {
        "op --version": "2.30.3",
        "op account get --account a": "{}",
        "op item get myitem --vault myvault --format json --account a --fields label=password": JSON.stringify(opField("myvault/myitem/password", "pw")),
      }, { account: "a", from: "myvault" });
      assert.equal(calls[2], "op item get myitem --vault myvault --format json --account a --fields label=password");
      assert.deepEqual(result, { "myvault/myitem": "pw" });
    });

    it("fetches every field of `--from vault/item` when no names are given (Kamal 2.7)", async () => {
      const { result } = await fetch("1password", [], {
        "op --version": "2.30.3",
        "op account get --account a": "{}",
        "op item get myitem --vault myvault --format json --account a": JSON.stringify({ id: "i", fields: [opField("myvault/myitem/section/A", "1"), opField("myvault/myitem/section/B", "2")] }),
      }, { account: "a", from: "op://myvault/myitem" });
      assert.deepEqual(result, { "myvault/myitem/section/A": "1", "myvault/myitem/section/B": "2" });
    });

    it("stops, without signing in, when `op account get` fails: not-logged-in naming the account and the command to run", async () => {
      const s = scripted({ "op --version": "2.30.3", "op account get --account acme": { code: 1, stderr: "[ERROR] 2026/01/15 10:00:00 you are not currently signed in" } });
      const f = await failure(fetchSecrets(ADAPTERS["1password"], ["Item/x"], s.run, { env: {}, account: "acme", from: "Vault" }));
      assert.equal(f.kind, "not-logged-in");
      assert.match(f.message, /not signed in to the 1Password account "acme"/);
      assert.match(f.detail.fix!, /eval \$\(op signin --account acme\)/);
      assert.deepEqual(s.calls, ["op --version", "op account get --account acme"], "Kamal would run `op signin --force --raw`; Berth must not");
    });

    it("classifies op's \"isn't an item\" as not-found, naming the item and vault", async () => {
      const s = scripted({
        "op --version": "2.30.3",
        "op account get --account a": "{}",
        "op item get Nope --vault V --format json --account a --fields label=password": { code: 1, stderr: '[ERROR] 2026/01/15 10:00:00 "Nope" isn\'t an item in the "V" vault.' },
      });
      const f = await failure(fetchSecrets(ADAPTERS["1password"], ["V/Nope"], s.run, { env: {}, account: "a" }));
      assert.equal(f.kind, "not-found");
      assert.equal(f.message, 'could not read password from the item "Nope" in the "V" 1Password vault');
    });

    it("refuses a missing account before running anything (Kamal: \"Missing required option '--account'\")", async () => {
      const s = scripted({});
      const f = await failure(fetchSecrets(ADAPTERS["1password"], ["a"], s.run, { env: {} }));
      assert.equal(f.kind, "usage");
      assert.deepEqual(s.calls, []);
    });

    it("reports a missing CLI (the version check fails)", async () => {
      const s = scripted({ "op --version": { code: 127, missing: true } });
      const f = await failure(fetchSecrets(ADAPTERS["1password"], ["a"], s.run, { env: {}, account: "a" }));
      assert.equal(f.kind, "cli-missing");
      assert.equal(f.message, "the 1Password CLI `op` is not installed (not found on PATH)");
    });
  });

  describe("bitwarden (bw)", () => {
    const unlocked = JSON.stringify({ status: "unlocked" });
    const myitem = JSON.stringify({ name: "myitem", fields: [{ name: "field1", value: "secret1" }, { name: "field2", value: "blam" }], login: { password: null } });
    it("bw status, bw sync, then `bw get item` per item: the login password, or named fields as item/field", async () => {
      const { result, calls } = await fetch("bitwarden", ["mypassword", "myitem/field1", "myitem/field2"], {
        "bw --version": "2024.9.0",
        "bw status": unlocked,
        "bw sync": "Syncing complete.",
        "bw get item mypassword": JSON.stringify({ name: "mypassword", login: { password: "secret123" } }),
        "bw get item myitem": myitem,
      }, { account: "email@example.com" });
      assert.deepEqual(calls, ["bw --version", "bw status", "bw sync", "bw get item mypassword", "bw get item myitem"]);
      assert.deepEqual(result, { mypassword: "secret123", "myitem/field1": "secret1", "myitem/field2": "blam" });
    });

    it("an item without a password gives all its fields; a note without fields is refused", async () => {
      const { result } = await fetch("bitwarden", ["myitem"], { "bw --version": "", "bw status": unlocked, "bw sync": "", "bw get item myitem": myitem }, { account: "e" });
      assert.deepEqual(result, { "myitem/field1": "secret1", "myitem/field2": "blam" });
      const s = scripted({ "bw --version": "", "bw status": unlocked, "bw sync": "", "bw get item mynote": JSON.stringify({ name: "mynote", type: 2, secureNote: {} }) });
      const f = await failure(fetchSecrets(ADAPTERS.bitwarden, ["mynote"], s.run, { env: {}, account: "e" }));
      assert.match(f.message, /is not a login item and no fields were named/);
    });

    it("locked and unauthenticated vaults stop with the command to run (no `bw login`/`bw unlock` from Berth)", async () => {
      for (const [status, fix] of [["locked", /export BW_SESSION=\$\(bw unlock --raw\)/], ["unauthenticated", /bw login e@x/]] as const) {
        const s = scripted({ "bw --version": "", "bw status": JSON.stringify({ status }) });
        const f = await failure(fetchSecrets(ADAPTERS.bitwarden, ["x"], s.run, { env: {}, account: "e@x" }));
        assert.equal(f.kind, "not-logged-in");
        assert.match(f.detail.fix!, fix);
        assert.deepEqual(s.calls, ["bw --version", "bw status"]);
      }
    });
  });

  describe("bitwarden-sm (bws)", () => {
    it("`bws project list` as the auth check, `bws secret get ID` per id, keyed by the secret's key", async () => {
      const { result, calls } = await fetch("bitwarden-sm", ["82aeb5bd-6958-4a89-8197-eacab758acce"], {
        "bws --version": "bws 1.0.0",
        "bws project list": "[]",
        "bws secret get 82aeb5bd-6958-4a89-8197-eacab758acce": JSON.stringify({ key: "SSH_PRIVATE_KEY", value: "some_key\nwith_linebreak" }),
      });
      assert.deepEqual(calls, ["bws --version", "bws project list", "bws secret get 82aeb5bd-6958-4a89-8197-eacab758acce"]);
      assert.deepEqual(result, { SSH_PRIVATE_KEY: "some_key\nwith_linebreak" });
    });

    it("`all` lists every secret; `<project>/all` (or --from) lists a project's", async () => {
      const list = JSON.stringify([{ key: "A", value: 'my=wierd"secret' }]);
      assert.deepEqual((await fetch("bitwarden-sm", ["all"], { "bws --version": "", "bws project list": "[]", "bws secret list": list })).result, { A: 'my=wierd"secret' });
      const { calls } = await fetch("bitwarden-sm", ["all"], { "bws --version": "", "bws project list": "[]", "bws secret list 82aeb5bd": list }, { from: "82aeb5bd" });
      assert.equal(calls[2], "bws secret list 82aeb5bd");
    });

    it("a failing `bws project list` is a missing or bad access token", async () => {
      const s = scripted({ "bws --version": "", "bws project list": { code: 1, stderr: "Error: \n   0: Missing access token" } });
      const f = await failure(fetchSecrets(ADAPTERS["bitwarden-sm"], ["all"], s.run, { env: {} }));
      assert.equal(f.kind, "not-logged-in");
      assert.match(f.detail.fix!, /BWS_ACCESS_TOKEN/);
    });
  });

  describe("lastpass (lpass)", () => {
    it("`lpass status --color never` must say `Logged in as <account>.`; then one `lpass show NAMES --json`", async () => {
      const { result, calls } = await fetch("lastpass", ["FSECRET1", "FSECRET2"], {
        "lpass --version": "LastPass CLI v1.6.1",
        "lpass status --color never": "Logged in as email@example.com.\n",
        "lpass show FOLDER1/FSECRET1 FOLDER1/FSECRET2 --json": JSON.stringify([
          { fullname: "FOLDER1/FSECRET1", password: "fsecret1" },
          { fullname: "FOLDER1/FSECRET2", password: "fsecret2" },
        ]),
      }, { account: "email@example.com", from: "FOLDER1" });
      assert.deepEqual(calls.slice(1), ["lpass status --color never", "lpass show FOLDER1/FSECRET1 FOLDER1/FSECRET2 --json"]);
      assert.deepEqual(result, { "FOLDER1/FSECRET1": "fsecret1", "FOLDER1/FSECRET2": "fsecret2" });
    });

    it("another account, or `Not logged in.`, is not-logged-in with `lpass login <account>`", async () => {
      const s = scripted({ "lpass --version": "", "lpass status --color never": { code: 1, stdout: "Not logged in.\n" } });
      const f = await failure(fetchSecrets(ADAPTERS.lastpass, ["X"], s.run, { env: {}, account: "me@x" }));
      assert.equal(f.kind, "not-logged-in");
      assert.match(f.detail.fix!, /lpass login me@x/);
    });
  });

  describe("aws_secrets_manager (aws)", () => {
    const value = (name: string, secret: string) => ({ ARN: `arn:${name}`, Name: name, SecretString: secret });
    it("one batch-get with --output json; JSON secrets are flattened to name/key, other JSON stringified", async () => {
      const { result, calls } = await fetch("aws_secrets_manager", ["secret", "port", "myapp/RailsUser"], {
        "aws --version": "aws-cli/2",
        "aws secretsmanager batch-get-secret-value --secret-id-list secret port myapp/RailsUser --profile default --output json": JSON.stringify({
          SecretValues: [
            value("secret", "a-string-secret"),
            value("port", "5432"),
            value("myapp/RailsUser", JSON.stringify({ host: "db", port: 5432, ssl: true, missing: null, tags: ["a"] })),
          ],
          Errors: [],
        }),
      }, { account: "default" });
      assert.deepEqual(calls, ["aws --version", "aws secretsmanager batch-get-secret-value --secret-id-list secret port myapp/RailsUser --profile default --output json"]);
      assert.deepEqual(result, {
        secret: "a-string-secret",
        port: "5432",
        "myapp/RailsUser/host": "db",
        "myapp/RailsUser/port": "5432",
        "myapp/RailsUser/ssl": "true",
        "myapp/RailsUser/missing": "null",
        "myapp/RailsUser/tags": '["a"]',
      });
    });

    it("omits --profile without an account; reports Errors as Kamal does (`id: message`)", async () => {
      const s = scripted({
        "aws --version": "",
        "aws secretsmanager batch-get-secret-value --secret-id-list unknown1 --output json": JSON.stringify({
          SecretValues: [],
          Errors: [{ SecretId: "unknown1", ErrorCode: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret." }],
        }),
      });
      const f = await failure(fetchSecrets(ADAPTERS.aws_secrets_manager, ["unknown1"], s.run, { env: {} }));
      assert.equal(f.kind, "not-found");
      assert.equal(f.message, "unknown1: Secrets Manager can't find the specified secret.");
    });
  });

  describe("gcp (gcloud)", () => {
    it("parses [project/]name[/version] and passes --project, --account and --impersonate-service-account from `user|sa`", async () => {
      assert.deepEqual(gcpSecret("mypassword"), { project: "default", name: "mypassword", version: "latest" });
      assert.deepEqual(gcpSecret("some-project/item1/123"), { project: "some-project", name: "item1", version: "123" });
      const { result, calls } = await fetch("gcp", ["some-project/item1/123"], {
        "gcloud --version": "Google Cloud SDK",
        "gcloud auth list --format=json": '[{"account":"email@example.com","status":"ACTIVE"}]',
        "gcloud secrets versions access 123 --secret=item1 --project=some-project --account=user@example.com --impersonate-service-account=sa@example.com,sa2@example.com --format=json": JSON.stringify({
          name: "projects/1/secrets/item1/versions/123",
          payload: { data: "c2VjcmV0MQ==", dataCrc32c: "1" },
        }),
      }, { account: "user@example.com|sa@example.com,sa2@example.com" });
      assert.equal(calls.length, 3);
      assert.deepEqual(result, { "some-project/item1": "secret1" });
    });

    it("`default` adds no --project or --account; an empty `gcloud auth list` is not-logged-in", async () => {
      const { calls } = await fetch("gcp", ["mypassword"], {
        "gcloud --version": "",
        "gcloud auth list --format=json": '[{"account":"a"}]',
        "gcloud secrets versions access latest --secret=mypassword --format=json": JSON.stringify({ payload: { data: "c2VjcmV0MTIz" } }),
      }, { account: "default" });
      assert.equal(calls[2], "gcloud secrets versions access latest --secret=mypassword --format=json");
      const s = scripted({ "gcloud --version": "", "gcloud auth list --format=json": "[]" });
      const f = await failure(fetchSecrets(ADAPTERS.gcp, ["x"], s.run, { env: {}, account: "default" }));
      assert.equal(f.kind, "not-logged-in");
      assert.match(f.detail.fix!, /gcloud auth login/);
    });
  });

  describe("doppler", () => {
    const json = JSON.stringify({ SECRET1: { computed: "secret1" }, FSECRET1: { computed: "fsecret1" } });
    it("`doppler me --json`, then `doppler secrets get NAMES --json -p P -c C` from --from project/config", async () => {
      const { result, calls } = await fetch("doppler", ["SECRET1", "FSECRET1"], {
        "doppler --version": "v3",
        "doppler me --json": "{}",
        "doppler secrets get SECRET1 FSECRET1 --json -p my-project -c prd": json,
      }, { from: "my-project/prd" });
      assert.deepEqual(calls, ["doppler --version", "doppler me --json", "doppler secrets get SECRET1 FSECRET1 --json -p my-project -c prd"]);
      assert.deepEqual(result, { SECRET1: "secret1", FSECRET1: "fsecret1" });
    });

    it("with a service token (DOPPLER_TOKEN=dp.st…) needs no project; without one, --from is required", async () => {
      const { calls } = await fetch("doppler", ["SECRET1"], { "doppler --version": "", "doppler me --json": "{}", "doppler secrets get SECRET1 --json": json }, { env: { DOPPLER_TOKEN: "dp.st.xxxx" } });
      assert.equal(calls[2], "doppler secrets get SECRET1 --json");
      const s = scripted({ "doppler --version": "", "doppler me --json": "{}" });
      const f = await failure(fetchSecrets(ADAPTERS.doppler, ["FSECRET1"], s.run, { env: {} }));
      assert.equal(f.kind, "usage");
      assert.match(f.message, /--from project\/config/);
    });
  });

  describe("enpass (enpass-cli)", () => {
    it("shows each title once (`Title/label` → `Title`) and keys results `title/label`", async () => {
      assert.deepEqual(enpassTitles(["FooBar/SECRET_1", "FooBar/SECRET_2", "Solo"]), ["FooBar", "Solo"]);
      const { result, calls } = await fetch("enpass", ["FooBar/SECRET_1", "FooBar"], {
        "enpass-cli version": "",
        "enpass-cli -json -vault vault-path show FooBar": JSON.stringify([
          { label: "SECRET_1", password: "my-password-1", title: "FooBar" },
          { label: "SECRET_3", password: "p3", title: "Hello" },
          { label: "", password: "my-password-3", title: "FooBar" },
        ]),
      }, { from: "vault-path" });
      assert.deepEqual(calls, ["enpass-cli version", "enpass-cli -json -vault vault-path show FooBar"]);
      assert.deepEqual(result, { "FooBar/SECRET_1": "my-password-1", FooBar: "my-password-3" });
    });
  });

  describe("passbolt", () => {
    const folder = { id: "dcbe0e39", folder_parent_id: "", name: "my-project" };
    const sub = { id: "6a3f21fc", folder_parent_id: "dcbe0e39", name: "subfolder" };
    it("root secrets: one `list resources` filtered by name", async () => {
      const { result, calls } = await fetch("passbolt", ["SECRET1", "FSECRET1"], {
        "passbolt --version": "",
        "passbolt verify": "",
        'passbolt list resources --filter Name == "SECRET1" || Name == "FSECRET1" --column name --column password --json': JSON.stringify([
          { name: "FSECRET1", password: "fsecret1" },
          { name: "SECRET1", password: "secret1" },
        ]),
      });
      assert.equal(calls.length, 3);
      assert.deepEqual(result, { SECRET1: "secret1", FSECRET1: "fsecret1" });
    });

    it("nested folders: the top folder, then each level by parent id, then resources filtered by folder", async () => {
      const { result, calls } = await fetch("passbolt", ["SECRET1"], {
        "passbolt --version": "",
        "passbolt verify": "",
        'passbolt list folders --filter Name == "my-project" --json': JSON.stringify([folder]),
        'passbolt list folders --filter Name == "subfolder" && FolderParentID == "dcbe0e39" --json': JSON.stringify([sub]),
        'passbolt list resources --filter (Name == "SECRET1" && FolderParentID == "6a3f21fc") --folder dcbe0e39 --folder 6a3f21fc --column name --column password --json': JSON.stringify([
          { name: "SECRET1", password: "secret1" },
        ]),
      }, { from: "my-project/subfolder" });
      assert.equal(calls.length, 5);
      assert.deepEqual(result, { SECRET1: "secret1" });
    });

    it("a name not returned is not-found (Kamal: \"Could not find the following secrets in Passbolt\")", async () => {
      const s = scripted({ "passbolt --version": "", "passbolt verify": "", 'passbolt list resources --filter Name == "HOST" --column name --column password --json': "[]" });
      const f = await failure(fetchSecrets(ADAPTERS.passbolt, ["HOST"], s.run, { env: {} }));
      assert.equal(f.kind, "not-found");
      assert.equal(f.message, 'could not find "HOST" in Passbolt');
    });
  });

  describe("pickValue (one SecretAlias key out of a fetch)", () => {
    it("takes the only result, else `from/key` or `key`, else the one result ending in `/key`", () => {
      assert.deepEqual(pickValue({ SSH_KEY: "k" }, "82aeb5bd"), { value: "k", keys: ["SSH_KEY"] });
      assert.equal(pickValue({ "V/I/a": "1", "V/I/b": "2" }, "I/b", "V").value, "2");
      assert.equal(pickValue({ "item/f1": "1", "item/f2": "2" }, "f2").value, "2");
      assert.deepEqual(pickValue({ "item/f1": "1", "item/f2": "2" }, "item"), { keys: ["item/f1", "item/f2"] });
    });
  });
});
