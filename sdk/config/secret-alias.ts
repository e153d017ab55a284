/**
 * SecretAlias configuration: where one secret value comes from. `normalizeSecretAlias` validates
 * the source and applies the defaults, or throws one `BerthConfigError` listing every problem.
 * The source names things (a config key, a variable, a file, a vault item), never a value.
 */
import { z } from "zod";
import { SECRET_ADAPTERS, type SecretAdapterName, adapterNamed } from "../secrets/adapters";
import { either, isRecord, matching, parse, problem, show, strict, text } from "./errors";

/** Every SecretAlias default, in one place. */
export const secretAliasDefaults = {
  /** Kamal's `secrets_path`. */
  dotenvPath: ".kamal/secrets",
} as const;

/** A Pulumi config value of this stack. */
export interface ConfigSourceArgs {
  /**
   * The config key, `key` (this project's namespace) or `namespace:key`. Set it with
   * `pulumi config set --secret <key> <value>`.
   */
  config: string;
}

/** An environment variable of the process running Pulumi (Kamal's `SECRET=$SECRET` in `.kamal/secrets`). */
export interface EnvSourceArgs {
  /** The variable's name. It must be set when the program runs (at preview as well as at update). */
  env: string;
}

/** A key of Kamal's secrets files. */
export interface DotenvSourceArgs {
  dotenv: {
    /** The key, as in `KEY=…`. */
    key: string;
    /**
     * The secrets path, relative to the Pulumi project directory. Kamal reads `<path>-common`,
     * then `<path>` (or `<path>.<destination>`). Equivalent to Kamal's `secrets_path`.
     * @default ".kamal/secrets"
     */
    path?: string;
    /**
     * Read `<path>.<destination>` instead of `<path>`. Equivalent to Kamal's `-d/--destination`.
     * @default - none: `<path>`
     */
    destination?: string;
  };
}

/** One secret fetched through a password manager's CLI, as `kamal secrets fetch` does. */
export interface AdapterSourceArgs {
  /**
   * The password manager. Equivalent to Kamal's `--adapter`.
   * @example "1password"
   */
  adapter: SecretAdapterName;
  /**
   * What to fetch, as a name given to `kamal secrets fetch` (`Item/field`, a secret id, `project/name`…).
   * @example "MyItem/DB_PASSWORD"
   */
  key: string;
  /**
   * The account. Required by `1password`, `bitwarden`, `lastpass` and `gcp`; the AWS profile for
   * `aws_secrets_manager`. Equivalent to Kamal's `--account`.
   * @default - none
   */
  account?: string;
  /**
   * Prefix of `key`: the vault, folder, project or `project/config`. Required by `enpass` (the
   * vault directory). Equivalent to Kamal's `--from`.
   * @default - none
   */
  from?: string;
  /**
   * Which of the fetched secrets to use when the fetch returns several (an AWS JSON secret's
   * field, a Bitwarden item's field): the one named so, else the one ending in `/<extract>`.
   * Equivalent to Kamal's `kamal secrets extract`.
   * @default - the only secret fetched, or the one named `key`
   * @example "password"
   */
  extract?: string;
}

export type SecretSourceArgs = ConfigSourceArgs | EnvSourceArgs | DotenvSourceArgs | AdapterSourceArgs;

/** Where a `SecretAlias` reads its value. Equivalent to a key of Kamal's `.kamal/secrets`. */
export interface SecretAliasArgs {
  /** The source: exactly one of `{ config }`, `{ env }`, `{ dotenv }` or `{ adapter, key }`. */
  from: SecretSourceArgs;
}

/** A normalized source. */
export type SecretSource =
  | { kind: "config"; namespace?: string; key: string }
  | { kind: "env"; name: string }
  | { kind: "dotenv"; key: string; path: string; destination?: string }
  | { kind: "adapter"; adapter: SecretAdapterName; key: string; account?: string; from?: string; extract?: string };

const KINDS = ["config", "env", "dotenv", "adapter"] as const;
const FORMS = "`{ config: \"key\" }`, `{ env: \"NAME\" }`, `{ dotenv: { key } }` or `{ adapter, key }`";
const nonEmpty = (expect: string, fix?: string) => matching(/\S/, expect, fix);
const DOTENV_KEY = /^[\w.]+$/;
const DESTINATION = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Adapters Kamal runs only with `--account` (`requires_account?`). */
const NEEDS_ACCOUNT: readonly SecretAdapterName[] = ["1password", "bitwarden", "lastpass", "gcp"];
const ACCOUNT_EXAMPLE: Partial<Record<SecretAdapterName, string>> = {
  "1password": "the account's sign-in address or id, e.g. `my.1password.com`",
  bitwarden: "the account's email",
  lastpass: "the account's email",
  gcp: '`"default"`, a user email, or `user|service-account` for impersonation',
};

const configSchema = strict({
  config: nonEmpty("a config key like `dbPassword` or `namespace:dbPassword`"),
}).transform((v): SecretSource => {
  const colon = v.config.indexOf(":");
  return colon > 0 ? { kind: "config", namespace: v.config.slice(0, colon), key: v.config.slice(colon + 1) } : { kind: "config", key: v.config };
});

const envSchema = strict({
  env: matching(/^[^=\0]+$/, "an environment variable name (without `=`)"),
}).transform((v): SecretSource => ({ kind: "env", name: v.env }));

const dotenvSchema = strict({
  dotenv: strict({
    key: matching(DOTENV_KEY, "a key of the secrets file (letters, digits, `_` and `.`)"),
    path: nonEmpty("a path like `.kamal/secrets`", "Kamal reads `<path>-common` and `<path>[.<destination>]`.").optional(),
    destination: matching(DESTINATION, "a destination name of letters, digits, `_`, `.` and `-`").optional(),
  }),
}).transform(
  (v): SecretSource => ({
    kind: "dotenv",
    key: v.dotenv.key,
    path: v.dotenv.path ?? secretAliasDefaults.dotenvPath,
    ...(v.dotenv.destination !== undefined ? { destination: v.dotenv.destination } : {}),
  }),
);

const ADAPTER_EXPECT = `one of ${SECRET_ADAPTERS.map((a) => `\`${a}\``).join(", ")}`;
const adapterSchema = strict({
  adapter: text(ADAPTER_EXPECT).transform((a, ctx): SecretAdapterName => {
    const named = adapterNamed(a);
    if (named === undefined) {
      problem(ctx, [], `must be ${ADAPTER_EXPECT} (Kamal's \`--adapter\`); got ${show(a)}.`);
      return z.NEVER;
    }
    return named;
  }),
  key: nonEmpty("the name of the secret to fetch, as given to `kamal secrets fetch`"),
  account: nonEmpty("an account").optional(),
  from: nonEmpty("a vault, folder or project").optional(),
  extract: nonEmpty("the name of one of the fetched secrets").optional(),
})
  .superRefine((v, ctx) => {
    if (NEEDS_ACCOUNT.includes(v.adapter) && v.account === undefined) {
      problem(ctx, ["account"], `is required by the \`${v.adapter}\` adapter (Kamal's \`--account\`); got nothing. Set it to ${ACCOUNT_EXAMPLE[v.adapter]}.`);
    }
    if (v.adapter === "enpass" && v.from === undefined) {
      problem(ctx, ["from"], "is required by the `enpass` adapter: the vault directory (Kamal's `--from`); got nothing.");
    }
  })
  .transform(
    (v): SecretSource => ({
      kind: "adapter",
      adapter: v.adapter,
      key: v.key,
      ...(v.account !== undefined ? { account: v.account } : {}),
      ...(v.from !== undefined ? { from: v.from } : {}),
      ...(v.extract !== undefined ? { extract: v.extract } : {}),
    }),
  );

const sourceSchema = either<SecretSource>(`an object: ${FORMS}`, (v) => {
  if (!isRecord(v)) return undefined;
  const kinds = KINDS.filter((k) => k in v);
  if (kinds.length > 1) {
    return z.unknown().transform((_, ctx): SecretSource => {
      problem(ctx, [], `Only one of ${kinds.map((k) => `\`${k}\``).join(", ")} can be provided; a SecretAlias has one source.`);
      return z.NEVER;
    });
  }
  switch (kinds[0]) {
    case "config":
      return configSchema;
    case "env":
      return envSchema;
    case "dotenv":
      return dotenvSchema;
    case "adapter":
      return adapterSchema;
    default:
      return undefined;
  }
});

const secretAliasSchema = strict({ from: sourceSchema });

/** Validates a SecretAlias's source and applies the defaults. Throws one `BerthConfigError`. */
export function normalizeSecretAlias(args: SecretAliasArgs, component = "SecretAlias"): SecretSource {
  return parse(component, secretAliasSchema, args).from as SecretSource;
}

/** Describes a source for messages and docs, without any value: `Pulumi config "db"`, `1Password "Vault/Item/DB"`. */
export function describeSource(s: SecretSource): string {
  switch (s.kind) {
    case "config":
      return `Pulumi config ${JSON.stringify(s.namespace ? `${s.namespace}:${s.key}` : s.key)}`;
    case "env":
      return `environment variable ${s.name}`;
    case "dotenv":
      return `${s.key} in ${s.path}-common / ${s.destination ? `${s.path}.${s.destination}` : s.path}`;
    case "adapter":
      return `${JSON.stringify(s.from !== undefined ? `${s.from}/${s.key}` : s.key)}${s.extract !== undefined ? ` (${JSON.stringify(s.extract)})` : ""} via Kamal's ${s.adapter} adapter${s.account !== undefined ? ` (account ${JSON.stringify(s.account)})` : ""}`;
  }
}
