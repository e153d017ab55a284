/**
 * Kamal's secret adapters (`lib/kamal/secrets/adapters/*.rb`): for each password manager, the
 * commands Kamal runs to check its CLI, check the sign-in and fetch secrets, and how it reads
 * their output. Argument vectors only; running them is the caller's `run` (see resolve.ts), so
 * every adapter can be tested with a fake runner.
 *
 * `fetchSecrets(adapter, names, options, run)` follows Kamal's `Base#fetch`: refuse a missing
 * `--account` where the adapter needs one, check the CLI is installed (`<cli> --version`), check
 * the sign-in, then fetch. Results are keyed as Kamal keys them (`Vault/Item/field`, `item/field`,
 * `project/secret`…), the JSON `kamal secrets fetch` prints.
 *
 * One deliberate difference: Kamal signs in when the CLI is signed out (`op signin`, `bw login`,
 * `bw unlock`, `lpass login`, `doppler login`, `gcloud auth login`), which prompts on a terminal.
 * A Pulumi program has no terminal, and `op signin`'s session would be passed in argv, so Berth
 * stops instead with the command to run first. Secret values are only ever read from stdout.
 */

/** The adapters, by the name Kamal's `--adapter` takes. */
export const SECRET_ADAPTERS = ["1password", "bitwarden", "bitwarden-sm", "lastpass", "aws_secrets_manager", "gcp", "doppler", "enpass", "passbolt"] as const;
export type SecretAdapterName = (typeof SECRET_ADAPTERS)[number];

/** Kamal's other spellings (`Kamal::Secrets::Adapters.lookup`: aliases and class names). */
const SPELLINGS: Record<string, SecretAdapterName> = {
  "1password": "1password",
  one_password: "1password",
  bitwarden: "bitwarden",
  "bitwarden-sm": "bitwarden-sm",
  bitwarden_secrets_manager: "bitwarden-sm",
  lastpass: "lastpass",
  last_pass: "lastpass",
  aws_secrets_manager: "aws_secrets_manager",
  gcp: "gcp",
  gcp_secret_manager: "gcp",
  doppler: "doppler",
  enpass: "enpass",
  passbolt: "passbolt",
};

/** The adapter a Kamal `--adapter` value names (case-insensitive), or undefined. */
export function adapterNamed(name: string): SecretAdapterName | undefined {
  return SPELLINGS[name.toLowerCase()];
}

export type Argv = readonly string[];

/** What running a command gave. `missing`: the program is not installed (not on PATH). */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  missing?: boolean;
}
export type Run = (argv: Argv) => Promise<RunResult>;

export interface FetchOptions {
  /** Kamal's `--account`. */
  account?: string;
  /** Kamal's `--from`. */
  from?: string;
  /** The environment the CLIs run with (Doppler looks at `DOPPLER_TOKEN`). */
  env: Readonly<Record<string, string | undefined>>;
}

/** Why an adapter failed. */
export type FailureKind = "cli-missing" | "not-logged-in" | "not-found" | "usage" | "failed";

/**
 * An adapter's failure. The message names the adapter and what was asked for, never a value;
 * `stderr` is what the CLI printed (the caller redacts known secrets before showing it).
 */
export class AdapterFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly detail: { fix?: string; argv?: Argv; code?: number; stderr?: string } = {},
  ) {
    super(message);
    this.name = "AdapterFailure";
  }
}

export interface SecretAdapter {
  name: SecretAdapterName;
  /** The product, e.g. "1Password". */
  label: string;
  /** The CLI program, e.g. `op`. */
  cli: string;
  /** Kamal's `requires_account?`. */
  requiresAccount: boolean;
  /** Kamal's `cli_installed?` check. */
  versionArgv: Argv;
  /** Checks the sign-in; throws a `not-logged-in` failure naming the command to run. */
  login(run: Run, o: FetchOptions): Promise<void>;
  /** Fetches `names` (Kamal's positional arguments) into Kamal's result keys. */
  fetch(names: readonly string[], run: Run, o: FetchOptions): Promise<Record<string, string>>;
}

const q = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => xs.map(q).join(", ");

/** Kamal's `prefixed_secrets`: `from/name` when `--from` is given. */
export function prefixed(names: readonly string[], from: string | undefined): string[] {
  return names.map((n) => (from !== undefined ? `${from}/${n}` : n));
}

/** Parses a CLI's JSON output; the output is never shown (it holds secrets). */
function parseJson(text: string, argv: Argv, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AdapterFailure("failed", `could not read the output of \`${argv.join(" ")}\` as JSON (${label} printed something else; it is not shown because it may hold secrets)`, { argv });
  }
}

const isObj = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Runs `argv`; a nonzero exit becomes a failure of `kind` (chosen from stderr by `classify`). */
async function must(run: Run, argv: Argv, message: string, classify: (stderr: string) => FailureKind = () => "failed", fix?: (kind: FailureKind) => string | undefined): Promise<RunResult> {
  const r = await run(argv);
  if (r.missing) throw new AdapterFailure("cli-missing", `\`${argv[0]}\` is not installed (not found on PATH)`, { argv });
  if (r.code !== 0) {
    const kind = classify(r.stderr);
    throw new AdapterFailure(kind, message, { argv, code: r.code, stderr: r.stderr, fix: fix?.(kind) });
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// 1Password (`op`)

/** Kamal's `vaults_items_fields`: `[op://]vault/item[/field…]` grouped by vault and item; no field means `password`. */
export function opVaultsItemsFields(secrets: readonly string[]): Map<string, Map<string, string[]>> {
  const vaults = new Map<string, Map<string, string[]>>();
  for (const secret of secrets) {
    const [vault, item, ...fields] = secret.replace(/^op:\/\//, "").split("/");
    if (fields.length === 0) fields.push("password");
    if (!vaults.has(vault)) vaults.set(vault, new Map());
    const items = vaults.get(vault)!;
    if (!items.has(item)) items.set(item, []);
    items.get(item)!.push(fields.join("."));
  }
  return vaults;
}

/** `op item get ITEM --vault V --format json --account A [--fields label=f1,label=f2]`. */
export function opItemGetArgv(vault: string, item: string, account: string, fields: readonly string[] = []): string[] {
  return ["op", "item", "get", item, "--vault", vault, "--format", "json", "--account", account, ...(fields.length > 0 ? ["--fields", fields.map((f) => `label=${f}`).join(",")] : [])];
}

/** Kamal's `fields_map`: each field's `reference` (without `op://` and a trailing `/password`) → its `value`. */
function opFieldsMap(fields: unknown[], out: Record<string, string>): void {
  for (const f of fields) {
    if (!isObj(f) || typeof f.reference !== "string" || typeof f.value !== "string") continue;
    let key = f.reference.replace(/^op:\/\//, "");
    if (key.endsWith("/password")) key = key.slice(0, -"/password".length);
    out[key] = f.value;
  }
}

const opKind = (stderr: string): FailureKind =>
  /not (currently )?signed in|session expired|authorization (prompt dismissed|timeout)|no account found/i.test(stderr)
    ? "not-logged-in"
    : /isn't an item|isn't a field|isn't a vault|no item found|not found/i.test(stderr)
      ? "not-found"
      : "failed";

const onePassword: SecretAdapter = {
  name: "1password",
  label: "1Password",
  cli: "op",
  requiresAccount: true,
  versionArgv: ["op", "--version"],
  async login(run, o) {
    await must(run, ["op", "account", "get", "--account", o.account!], `not signed in to the 1Password account ${q(o.account!)}`, () => "not-logged-in", () =>
      `Sign in first — \`eval $(op signin --account ${o.account})\`, the 1Password app's CLI integration, or OP_SERVICE_ACCOUNT_TOKEN — then run Pulumi again.`,
    );
  },
  async fetch(names, run, o) {
    const out: Record<string, string> = {};
    if (names.length === 0) {
      // Kamal's `fetch_all_secrets`: every field of the item `--from vault/item`.
      const [vault, item] = (o.from ?? "").replace(/^op:\/\//, "").split("/");
      if (!vault || !item) throw new AdapterFailure("usage", "fetching every field of an item needs `--from vault/item`");
      const argv = opItemGetArgv(vault, item, o.account!);
      const r = await must(run, argv, `could not read the item ${q(item)} in the ${q(vault)} 1Password vault`, opKind);
      const json = parseJson(r.stdout, argv, "op");
      opFieldsMap(isObj(json) && Array.isArray(json.fields) ? json.fields : [], out);
      return out;
    }
    for (const [vault, items] of opVaultsItemsFields(prefixed(names, o.from))) {
      for (const [item, fields] of items) {
        const argv = opItemGetArgv(vault, item, o.account!, fields);
        const r = await must(run, argv, `could not read ${fields.join(", ")} from the item ${q(item)} in the ${q(vault)} 1Password vault`, opKind);
        const json = parseJson(r.stdout, argv, "op");
        opFieldsMap(fields.length === 1 ? [json] : Array.isArray(json) ? json : [], out);
      }
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Bitwarden (`bw`)

/** Kamal's `items_fields`: `item[/field]` grouped by item; a bare item is listed with no field. */
export function bwItemsFields(secrets: readonly string[]): Map<string, (string | undefined)[]> {
  const items = new Map<string, (string | undefined)[]>();
  for (const secret of secrets) {
    const [item, field] = secret.split("/");
    if (!items.has(item)) items.set(item, []);
    items.get(item)!.push(field);
  }
  return items;
}

const bitwarden: SecretAdapter = {
  name: "bitwarden",
  label: "Bitwarden",
  cli: "bw",
  requiresAccount: true,
  versionArgv: ["bw", "--version"],
  async login(run, o) {
    const argv = ["bw", "status"];
    const r = await must(run, argv, "could not read the Bitwarden status");
    const status = parseJson(r.stdout, argv, "bw");
    const state = isObj(status) ? status.status : undefined;
    if (state === "unauthenticated") {
      throw new AdapterFailure("not-logged-in", `not logged in to Bitwarden (\`bw status\` says "unauthenticated")`, {
        argv,
        fix: `Log in and unlock first — \`bw login ${o.account}\`, then \`export BW_SESSION=$(bw unlock --raw)\` — then run Pulumi again.`,
      });
    }
    if (state === "locked") {
      throw new AdapterFailure("not-logged-in", `the Bitwarden vault is locked (\`bw status\` says "locked")`, {
        argv,
        fix: "Unlock it for this shell — `export BW_SESSION=$(bw unlock --raw)` — then run Pulumi again.",
      });
    }
    if (state !== "unlocked") throw new AdapterFailure("failed", `Bitwarden is not unlocked (\`bw status\` says ${q(String(state))})`, { argv });
    await must(run, ["bw", "sync"], "could not sync Bitwarden");
  },
  async fetch(names, run, o) {
    const out: Record<string, string> = {};
    for (const [item, fields] of bwItemsFields(prefixed(names, o.from))) {
      const argv = ["bw", "get", "item", item];
      const r = await must(run, argv, `could not read the item ${q(item)} from Bitwarden`, (e) => (/not found/i.test(e) ? "not-found" : /locked|log ?in/i.test(e) ? "not-logged-in" : "failed"));
      const json = parseJson(r.stdout, argv, "bw");
      const itemFields: unknown[] = isObj(json) && Array.isArray(json.fields) ? json.fields : [];
      const fieldValue = (field: string) => {
        const f = itemFields.find((x) => isObj(x) && x.name === field);
        if (!isObj(f)) throw new AdapterFailure("not-found", `could not find the field ${q(field)} in the item ${q(item)} in Bitwarden`, { argv });
        return f.value === null || f.value === undefined ? "" : String(f.value);
      };
      const named = fields.filter((f): f is string => f !== undefined);
      for (const field of named) out[`${item}/${field}`] = fieldValue(field);
      if (named.length < fields.length) {
        const password = isObj(json) && isObj(json.login) ? json.login.password : undefined;
        if (typeof password === "string" && password !== "") {
          out[item] = password;
        } else if (itemFields.length > 0) {
          for (const f of itemFields) if (isObj(f) && typeof f.name === "string") out[`${item}/${f.name}`] = fieldValue(f.name);
        } else {
          throw new AdapterFailure("not-found", `the Bitwarden item ${q(item)} is not a login item and no fields were named (write \`${item}/<field>\`)`, { argv });
        }
      }
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Bitwarden Secrets Manager (`bws`)

const bwsKind = (e: string): FailureKind => (/404|not found/i.test(e) ? "not-found" : /access token|unauthori[sz]ed|401/i.test(e) ? "not-logged-in" : "failed");

const bitwardenSm: SecretAdapter = {
  name: "bitwarden-sm",
  label: "Bitwarden Secrets Manager",
  cli: "bws",
  requiresAccount: false,
  versionArgv: ["bws", "--version"],
  async login(run) {
    await must(run, ["bws", "project", "list"], "could not authenticate to Bitwarden Secrets Manager", () => "not-logged-in", () => "Set a valid machine-account access token in BWS_ACCESS_TOKEN, then run Pulumi again.");
  },
  async fetch(names, run, o) {
    if (names.length === 0) throw new AdapterFailure("usage", "Bitwarden Secrets Manager needs what to fetch: secret ids, `all`, or `<project id>/all`");
    const secrets = prefixed(names, o.from);
    const out: Record<string, string> = {};
    const take = (entry: unknown) => {
      if (isObj(entry) && typeof entry.key === "string") out[entry.key] = entry.value === null || entry.value === undefined ? "" : String(entry.value);
    };
    if (secrets.length === 1 && (secrets[0] === "all" || secrets[0].endsWith("/all"))) {
      const project = secrets[0] === "all" ? undefined : secrets[0].split("/all")[0];
      const argv = ["bws", "secret", "list", ...(project !== undefined ? [project] : [])];
      const r = await must(run, argv, `could not list the secrets${project !== undefined ? ` of the project ${q(project)}` : ""} in Bitwarden Secrets Manager`, bwsKind);
      const json = parseJson(r.stdout, argv, "bws");
      for (const entry of Array.isArray(json) ? json : []) take(entry);
      return out;
    }
    for (const id of secrets) {
      const argv = ["bws", "secret", "get", id];
      const r = await must(run, argv, `could not read the secret ${q(id)} from Bitwarden Secrets Manager`, bwsKind);
      take(parseJson(r.stdout, argv, "bws"));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// LastPass (`lpass`)

const lastPass: SecretAdapter = {
  name: "lastpass",
  label: "LastPass",
  cli: "lpass",
  requiresAccount: true,
  versionArgv: ["lpass", "--version"],
  async login(run, o) {
    const argv = ["lpass", "status", "--color", "never"];
    const r = await run(argv);
    if (r.missing) throw new AdapterFailure("cli-missing", "`lpass` is not installed (not found on PATH)", { argv });
    if (r.stdout.trim() !== `Logged in as ${o.account}.`) {
      throw new AdapterFailure("not-logged-in", `not logged in to LastPass as ${q(o.account!)}`, {
        argv,
        code: r.code,
        stderr: [r.stdout.trim(), r.stderr.trim()].filter(Boolean).join("\n"),
        fix: `Log in first — \`lpass login ${o.account}\` — then run Pulumi again.`,
      });
    }
  },
  async fetch(names, run, o) {
    const secrets = prefixed(names, o.from);
    const argv = ["lpass", "show", ...secrets, "--json"];
    const r = await must(run, argv, `could not read ${list(secrets)} from LastPass`, (e) => (/could not find/i.test(e) ? "not-found" : /log ?in|decryption key/i.test(e) ? "not-logged-in" : "failed"));
    const json = parseJson(r.stdout, argv, "lpass");
    const out: Record<string, string> = {};
    for (const item of Array.isArray(json) ? json : []) if (isObj(item) && typeof item.fullname === "string") out[item.fullname] = String(item.password ?? "");
    const missing = secrets.filter((s) => !(s in out));
    if (missing.length > 0) throw new AdapterFailure("not-found", `could not find ${list(missing)} in LastPass`, { argv });
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// AWS Secrets Manager (`aws`)

/** `aws secretsmanager batch-get-secret-value --secret-id-list IDS… [--profile A] --output json`. */
export function awsBatchGetArgv(ids: readonly string[], profile?: string): string[] {
  return ["aws", "secretsmanager", "batch-get-secret-value", "--secret-id-list", ...ids, ...(profile !== undefined ? ["--profile", profile] : []), "--output", "json"];
}

/** Kamal's `stringify_secret_value`: strings as they are, anything else as compact JSON. */
const stringify = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

const aws: SecretAdapter = {
  name: "aws_secrets_manager",
  label: "AWS Secrets Manager",
  cli: "aws",
  requiresAccount: false,
  versionArgv: ["aws", "--version"],
  async login() {
    // Kamal checks nothing here: credentials problems surface from the fetch.
  },
  async fetch(names, run, o) {
    const ids = prefixed(names, o.from);
    const argv = awsBatchGetArgv(ids, o.account);
    const r = await must(
      run,
      argv,
      `could not read ${list(ids)} from AWS Secrets Manager`,
      (e) => (/credentials|expired|sso|token/i.test(e) ? "not-logged-in" : "failed"),
      (k) => (k === "not-logged-in" ? `Sign in first — \`aws sso login${o.account ? ` --profile ${o.account}` : ""}\`, \`aws configure\`, or AWS_* credentials in the environment — then run Pulumi again.` : undefined),
    );
    const json = parseJson(r.stdout, argv, "aws");
    const errors = isObj(json) && Array.isArray(json.Errors) ? json.Errors.filter(isObj) : [];
    if (errors.length > 0) {
      const notFound = errors.every((e) => e.ErrorCode === "ResourceNotFoundException");
      throw new AdapterFailure(notFound ? "not-found" : "failed", errors.map((e) => `${e.SecretId}: ${e.Message}`).join(" "), { argv });
    }
    const out: Record<string, string> = {};
    for (const secret of isObj(json) && Array.isArray(json.SecretValues) ? json.SecretValues.filter(isObj) : []) {
      const name = String(secret.Name);
      if (typeof secret.SecretString !== "string") throw new AdapterFailure("failed", `the AWS secret ${q(name)} holds binary data (SecretBinary); only SecretString secrets can be read`, { argv });
      let parsed: unknown;
      try {
        parsed = JSON.parse(secret.SecretString);
      } catch {
        out[name] = secret.SecretString;
        continue;
      }
      if (isObj(parsed)) for (const [k, v] of Object.entries(parsed)) out[`${name}/${k}`] = stringify(v);
      else out[name] = stringify(parsed);
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// GCP Secret Manager (`gcloud`)

/** Kamal's `secrets_with_metadata`: `[project/]name[/version]` → project (`default`), name, version (`latest`). */
export function gcpSecret(secret: string): { project: string; name: string; version: string } {
  const parts = secret.split("/");
  if (parts.length === 1) parts.unshift("default");
  const [project, name, version] = parts;
  return { project, name, version: version ?? "latest" };
}

/** `gcloud secrets versions access VER --secret=NAME [--project=P] [--account=U] [--impersonate-service-account=SA] --format=json`. */
export function gcloudAccessArgv(secret: { project: string; name: string; version: string }, account: string): string[] {
  const [user, serviceAccount] = splitOnce(account, "|");
  return [
    "gcloud",
    "secrets",
    "versions",
    "access",
    secret.version,
    `--secret=${secret.name}`,
    ...(secret.project !== "default" ? [`--project=${secret.project}`] : []),
    ...(user !== "default" ? [`--account=${user}`] : []),
    ...(serviceAccount !== undefined ? [`--impersonate-service-account=${serviceAccount}`] : []),
    "--format=json",
  ];
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + sep.length)];
}

const gcp: SecretAdapter = {
  name: "gcp",
  label: "GCP Secret Manager",
  cli: "gcloud",
  requiresAccount: true,
  versionArgv: ["gcloud", "--version"],
  async login(run) {
    const argv = ["gcloud", "auth", "list", "--format=json"];
    const r = await must(run, argv, "could not list the gcloud accounts");
    const accounts = parseJson(r.stdout, argv, "gcloud");
    if (!Array.isArray(accounts) || accounts.length === 0) {
      throw new AdapterFailure("not-logged-in", "gcloud has no credentialed account (`gcloud auth list` is empty)", { argv, fix: "Log in first — `gcloud auth login` — then run Pulumi again." });
    }
  },
  async fetch(names, run, o) {
    const out: Record<string, string> = {};
    for (const secret of prefixed(names, o.from)) {
      const s = gcpSecret(secret);
      const item = `${s.project}/${s.name}`;
      const argv = gcloudAccessArgv(s, o.account!);
      const r = await must(run, argv, `could not read ${q(item)} (version ${s.version}) from Google Secret Manager`, (e) =>
        /NOT_FOUND/.test(e) ? "not-found" : /auth(enticat)?|credential|reauth|active account/i.test(e) && !/PERMISSION_DENIED/.test(e) ? "not-logged-in" : "failed",
      );
      const json = parseJson(r.stdout, argv, "gcloud");
      const data = isObj(json) && isObj(json.payload) ? json.payload.data : undefined;
      if (typeof data !== "string") throw new AdapterFailure("failed", `the output of \`${argv.join(" ")}\` has no payload.data`, { argv });
      out[item] = Buffer.from(data, "base64").toString("utf8");
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Doppler (`doppler`)

const doppler: SecretAdapter = {
  name: "doppler",
  label: "Doppler",
  cli: "doppler",
  requiresAccount: false,
  versionArgv: ["doppler", "--version"],
  async login(run) {
    await must(run, ["doppler", "me", "--json"], "not logged in to Doppler", () => "not-logged-in", () => "Log in first — `doppler login`, or a service token in DOPPLER_TOKEN — then run Pulumi again.");
  },
  async fetch(names, run, o) {
    const secrets = prefixed(names, o.from);
    const serviceToken = (o.env.DOPPLER_TOKEN ?? "").startsWith("dp.st");
    let flags: string[] = [];
    if (!serviceToken) {
      const [project, config] = (secrets[0] ?? "").split("/");
      if (!project || !config || secrets[0].split("/").length < 2) {
        throw new AdapterFailure("usage", "Doppler needs the project and config: `--from project/config` (or `project/config/NAME`), unless DOPPLER_TOKEN is a service token (`dp.st…`)");
      }
      flags = ["-p", project, "-c", config];
    }
    const argv = ["doppler", "secrets", "get", ...secrets.map((s) => s.split("/").pop()!), "--json", ...flags];
    const r = await must(run, argv, `could not read ${list(secrets)} from Doppler`, (e) =>
      /could not find/i.test(e) ? "not-found" : /token|log ?in|unauthori[sz]ed/i.test(e) ? "not-logged-in" : "failed",
    );
    const json = parseJson(r.stdout, argv, "doppler");
    const out: Record<string, string> = {};
    for (const [name, v] of Object.entries(isObj(json) ? json : {})) if (isObj(v) && v.computed !== undefined && v.computed !== null) out[name] = String(v.computed);
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Enpass (`enpass-cli`)

/** Kamal's `fetch_secret_titles`: the item title of each `Title[/label]` (before the last `/`), once each. */
export function enpassTitles(secrets: readonly string[]): string[] {
  const titles: string[] = [];
  for (const s of secrets) {
    const slash = s.lastIndexOf("/");
    const title = slash <= 0 ? s.slice(slash + 1) : s.slice(0, slash);
    if (!titles.includes(title)) titles.push(title);
  }
  return titles;
}

const enpass: SecretAdapter = {
  name: "enpass",
  label: "Enpass",
  cli: "enpass-cli",
  requiresAccount: false,
  versionArgv: ["enpass-cli", "version"],
  async login() {
    // Enpass is offline: there is nothing to sign in to (the vault password comes with the command).
  },
  async fetch(names, run, o) {
    if (o.from === undefined) throw new AdapterFailure("usage", "Enpass needs the vault directory: `--from /path/to/vault`");
    const argv = ["enpass-cli", "-json", "-vault", o.from, "show", ...enpassTitles(names)];
    const r = await must(run, argv, `could not read ${list(names)} from the Enpass vault ${q(o.from)}`, (e) => (/password|unlock|pin|keyfile|open vault/i.test(e) ? "not-logged-in" : "failed"));
    const json = parseJson(r.stdout.trim() || "[]", argv, "enpass-cli");
    const out: Record<string, string> = {};
    for (const item of Array.isArray(json) ? json : []) {
      if (!isObj(item) || !item.title || typeof item.password !== "string" || item.password.trim() === "") continue;
      const key = [item.title, item.label].filter((x) => typeof x === "string" && x !== "").join("/");
      if (names.includes(item.title) || names.includes(key)) {
        if (key in out) throw new AdapterFailure("failed", `${q(key)} is present more than once in the Enpass vault`, { argv });
        out[key] = item.password;
      }
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Passbolt (`passbolt`)

interface PassboltFolder {
  id: string;
  name: string;
  folder_parent_id?: string | null;
}

/** A passbolt filter string literal (Kamal writes `"#{name.shellescape.inspect}"`; without a shell there is nothing to escape for). */
const pbString = (s: string) => JSON.stringify(s);

/** The folder's path from the root, `a/b/c`, through the folders known. */
export function passboltFolderPath(folder: PassboltFolder, all: readonly PassboltFolder[]): string {
  const path = [folder.name];
  let current = folder;
  for (let depth = 0; depth < 100 && current.folder_parent_id; depth++) {
    const parent = all.find((f) => f.id === current.folder_parent_id);
    if (!parent) break;
    path.unshift(parent.name);
    current = parent;
  }
  return path.join("/");
}

const passbolt: SecretAdapter = {
  name: "passbolt",
  label: "Passbolt",
  cli: "passbolt",
  requiresAccount: false,
  versionArgv: ["passbolt", "--version"],
  async login(run) {
    await must(run, ["passbolt", "verify"], "could not log in to Passbolt (`passbolt verify` failed)", () => "not-logged-in", () =>
      "Configure the CLI first — `passbolt configure --serverAddress … --userPrivateKeyFile …`, then `passbolt verify` — and run Pulumi again.",
    );
  },
  async fetch(names, run, o) {
    const secrets = prefixed(names, o.from);
    if (secrets.length === 0) throw new AdapterFailure("usage", "Passbolt needs the names of the secrets to fetch");
    const folders = await passboltFolders(secrets, run);
    const conditions: string[] = [];
    for (const secret of secrets) {
      const parts = secret.split("/");
      const name = parts[parts.length - 1];
      if (parts.length > 1) {
        let current: PassboltFolder | undefined;
        for (let i = 1; i < parts.length; i++) {
          const path = parts.slice(0, i).join("/");
          current = folders.find((f) => passboltFolderPath(f, folders) === path) ?? current;
        }
        if (current) conditions.push(`(Name == ${pbString(name)} && FolderParentID == ${pbString(current.id)})`);
      } else {
        conditions.push(`Name == ${pbString(name)}`);
      }
    }
    const argv = [
      "passbolt",
      "list",
      "resources",
      ...(conditions.length > 0 ? ["--filter", conditions.join(" || ")] : []),
      ...folders.flatMap((f) => ["--folder", String(f.id)]),
      "--column",
      "name",
      "--column",
      "password",
      "--json",
    ];
    const r = await must(run, argv, `could not read ${list(secrets)} from Passbolt`);
    const json = parseJson(r.stdout, argv, "passbolt");
    const items = (Array.isArray(json) ? json : []).filter(isObj);
    const found = items.map((i) => i.name);
    const missing = secrets.map((s) => s.split("/").pop()!).filter((n) => !found.includes(n));
    if (missing.length > 0) throw new AdapterFailure("not-found", `could not find ${list(missing)} in Passbolt`, { argv });
    return Object.fromEntries(items.map((i) => [String(i.name), String(i.password ?? "")]));
  },
};

/** Kamal's `secrets_get_folders`: the folders on the secrets' paths, top level first, then each nested level. */
async function passboltFolders(secrets: readonly string[], run: Run): Promise<PassboltFolder[]> {
  const paths: string[][] = [];
  for (const s of secrets) {
    if (!s.includes("/")) continue;
    const path = s.split("/").slice(0, -1);
    if (!paths.some((p) => p.join("/") === path.join("/"))) paths.push(path);
  }
  if (paths.length === 0) return [];
  const parents = [...new Set(paths.map((p) => p[0]))];
  const argv = ["passbolt", "list", "folders", "--filter", parents.map((n) => `Name == ${pbString(n)}`).join(" || "), "--json"];
  const r = await must(run, argv, `could not read the folders ${list(parents)} from Passbolt`);
  const parsed = parseJson(r.stdout, argv, "passbolt");
  const parentItems = (Array.isArray(parsed) ? parsed : []).filter(isObj) as unknown as PassboltFolder[];
  const all = [...parentItems];
  for (const path of paths) {
    if (path.length <= 1) continue;
    let current = parentItems.find((f) => f.name === path[0]);
    if (!current) continue;
    for (const name of path.slice(1)) {
      const sub = ["passbolt", "list", "folders", "--filter", `Name == ${pbString(name)} && FolderParentID == ${pbString(current.id)}`, "--json"];
      const n = await run(sub);
      if (n.code !== 0) continue;
      const parsedNested = parseJson(n.stdout, sub, "passbolt");
      const nested = (Array.isArray(parsedNested) ? parsedNested : []).filter(isObj) as unknown as PassboltFolder[];
      if (nested.length === 0) break;
      all.push(...nested);
      current = nested[0];
    }
  }
  const foundPaths = all.map((f) => passboltFolderPath(f, all));
  const missing = paths.map((p) => p.join("/")).filter((p) => !foundPaths.includes(p));
  if (missing.length > 0) throw new AdapterFailure("not-found", `could not find the folders ${list(missing)} in Passbolt`, { argv });
  return all;
}

// ---------------------------------------------------------------------------------------------

export const ADAPTERS: Record<SecretAdapterName, SecretAdapter> = {
  "1password": onePassword,
  bitwarden,
  "bitwarden-sm": bitwardenSm,
  lastpass: lastPass,
  aws_secrets_manager: aws,
  gcp,
  doppler,
  enpass,
  passbolt,
};

/** Kamal's `Base#fetch` before the fetch: the account is given when required, the CLI is installed, the CLI is signed in. */
export async function prepareAdapter(adapter: SecretAdapter, run: Run, o: FetchOptions): Promise<void> {
  if (adapter.requiresAccount && !o.account) {
    throw new AdapterFailure("usage", `the ${adapter.name} adapter needs an account (Kamal's \`--account\`)`);
  }
  const r = await run(adapter.versionArgv);
  if (r.missing || r.code !== 0) {
    throw new AdapterFailure("cli-missing", `the ${adapter.label} CLI \`${adapter.cli}\` is not installed${r.missing ? " (not found on PATH)" : ` (\`${adapter.versionArgv.join(" ")}\` exited with ${r.code})`}`, {
      argv: adapter.versionArgv,
      fix: `Install \`${adapter.cli}\` on the machine running Pulumi and make sure it is on PATH.`,
    });
  }
  await adapter.login(run, o);
}

/** `kamal secrets fetch --adapter NAME [--account A] [--from F] NAMES…`: prepare, then fetch. */
export async function fetchSecrets(adapter: SecretAdapter, names: readonly string[], run: Run, o: FetchOptions): Promise<Record<string, string>> {
  await prepareAdapter(adapter, run, o);
  return adapter.fetch(names, run, o);
}

/**
 * The one value a fetch of a single `key` stands for. With `extract`: Kamal's `kamal secrets
 * extract` (the result named `extract`, else the first ending in `/extract`). Without: the only
 * result, else the one named `from/key` or `key`, else the one ending in `/key`. Undefined when
 * none fits or several do; `keys` then lists what came back (names only).
 */
export function pickValue(results: Readonly<Record<string, string>>, key: string, from?: string, extract?: string): { value?: string; keys: string[] } {
  const keys = Object.keys(results);
  if (extract !== undefined) {
    if (Object.prototype.hasOwnProperty.call(results, extract)) return { value: results[extract], keys };
    const found = keys.find((k) => k.endsWith(`/${extract}`));
    return found !== undefined ? { value: results[found], keys } : { keys };
  }
  if (keys.length === 1) return { value: results[keys[0]], keys };
  for (const k of [from !== undefined ? `${from}/${key}` : undefined, key]) if (k !== undefined && k in results) return { value: results[k], keys };
  const ending = keys.filter((k) => k.endsWith(`/${key}`));
  return ending.length === 1 ? { value: results[ending[0]], keys } : { keys };
}
