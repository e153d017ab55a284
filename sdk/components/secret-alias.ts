/**
 * `SecretAlias`: one named secret value, read when the Pulumi program runs — from Pulumi config,
 * an environment variable, Kamal's `.kamal/secrets` files, or a password manager through Kamal's
 * adapters — and always a Pulumi secret. Kamal's `.kamal/secrets` key, as a resource.
 *
 *   const db = new SecretAlias("main-db-password", {
 *     from: { adapter: "1password", account: "acme", from: "Production/Database", key: "password" },
 *   });
 *   new AppService("app", { …, env: { secret: { DB_PASSWORD: db.value } } });
 *
 * The value is read at preview too, so a preview shows what changes (a new variable name in
 * `secretEnvNames`) and a source that fails fails the preview, with the secret, the source and
 * the fix named. The value itself is never registered: it reaches state only inside the inputs
 * that use it, encrypted there.
 *
 * Also `secretEnv`: Kamal's `env.secret` list (`["DB_PASSWORD:MAIN_DB_PASSWORD", "TOKEN"]`) →
 * an `env.secret` map for `AppService` (root, role or `env.tags.<tag>`).
 */
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError, type Problem, show } from "../config/errors";
import { type SecretAliasArgs, type SecretSource, describeSource, normalizeSecretAlias } from "../config/secret-alias";
import { SecretError, defaultResolver } from "../secrets/resolve";

/** The Pulumi type token of the SecretAlias component. */
export const SECRET_ALIAS_TYPE = "berth:index:SecretAlias";

export class SecretAlias extends pulumi.ComponentResource {
  /** The secret value (a Pulumi secret). Use it anywhere a secret goes: `env.secret`, `registry.password`, TLS keys. */
  readonly value: pulumi.Output<string>;
  /** Where the value comes from, without the value (e.g. `"Production/Database/password" via Kamal's 1password adapter`). */
  readonly source: string;

  constructor(name: string, args: SecretAliasArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(SECRET_ALIAS_TYPE, name, {}, opts);
    const source = normalizeSecretAlias(args);
    this.source = describeSource(source);
    this.value = pulumi.secret(read(name, source));
    this.registerOutputs({});
  }
}

/** The value of `source`: config and environment now (a missing one throws at once), files and CLIs when the program runs. */
function read(name: string, source: SecretSource): pulumi.Input<string> {
  const fail = (path: string, message: string): never => {
    throw new BerthConfigError(`SecretAlias "${name}"`, [{ path, message }]);
  };
  switch (source.kind) {
    case "config": {
      const value = new pulumi.Config(source.namespace).getSecret(source.key);
      if (value === undefined) {
        const full = source.namespace ? `${source.namespace}:${source.key}` : source.key;
        return fail("from.config", `must name a config key set in this stack; got ${show(full)}, which is not set. Set it with \`pulumi config set --secret ${full} <value>\`.`);
      }
      return value;
    }
    case "env": {
      const value = process.env[source.name];
      if (value === undefined) {
        return fail("from.env", `must name an environment variable set when Pulumi runs; got ${show(source.name)}, which is not set. Export it before \`pulumi preview\` and \`pulumi up\`.`);
      }
      return value;
    }
    case "dotenv":
      return labelled(name, defaultResolver().dotenvValue(source.key, source.path, source.destination));
    case "adapter":
      return labelled(name, defaultResolver().adapterValue(source.adapter, source.key, { account: source.account, from: source.from }, source.extract));
  }
}

/**
 * Prefixes a failure with the alias's name, so the preview says which SecretAlias failed. A new
 * error each time: one failed file or fetch is shared by every alias that reads it.
 */
function labelled(name: string, value: Promise<string>): Promise<string> {
  return value.catch((e: unknown) => {
    const message = `SecretAlias "${name}": ${e instanceof Error ? e.message : String(e)}`;
    throw e instanceof SecretError ? new SecretError(e.kind, message) : new Error(message);
  });
}

/** A secret value: a `SecretAlias`, or any string Input (marked secret when used). */
export type SecretValue = SecretAlias | pulumi.Input<string>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Kamal's `env.secret` list → an `env.secret` map for `AppService` (root, role or
 * `env.tags.<tag>`): `"NAME"` takes the secret `NAME`, `"NAME:KEY"` the secret `KEY` (Kamal's
 * aliases, split at the first `:`). `secrets` gives the values by key: a map (e.g. Kamal's
 * `.kamal/secrets` keys) or a function. Every value is marked secret. Throws one
 * `BerthConfigError` naming each bad entry (never a value).
 *
 * @example
 *   env: { secret: secretEnv(["DB_PASSWORD:MAIN_DB_PASSWORD", "TOKEN"], { MAIN_DB_PASSWORD: db, TOKEN: token }) }
 */
export function secretEnv(
  entries: readonly string[],
  secrets: Readonly<Record<string, SecretValue>> | ((key: string) => SecretValue),
): Record<string, pulumi.Output<string>> {
  const problems: Problem[] = [];
  const out: Record<string, pulumi.Output<string>> = {};
  entries.forEach((entry, i) => {
    const at = `[${i}]`;
    if (typeof entry !== "string") {
      problems.push({ path: at, message: `must be \`NAME\` or \`NAME:SECRET\`; got ${show(entry)}.` });
      return;
    }
    const colon = entry.indexOf(":");
    const name = colon < 0 ? entry : entry.slice(0, colon);
    const key = colon < 0 ? entry : entry.slice(colon + 1);
    if (!ENV_NAME.test(name)) {
      problems.push({ path: at, message: `must start with an environment variable name (letters, digits and \`_\`, not starting with a digit); got ${show(entry)}.` });
      return;
    }
    if (key === "") {
      problems.push({ path: at, message: `must name the secret after \`:\`; got ${show(entry)}. Write \`${name}:SECRET\`, or \`${name}\` for the secret of the same name.` });
      return;
    }
    if (name in out) {
      problems.push({ path: at, message: `must not set \`${name}\` again; got ${show(entry)}. List each variable once.` });
      return;
    }
    let value: SecretValue | undefined;
    if (typeof secrets === "function") value = secrets(key);
    else if (Object.prototype.hasOwnProperty.call(secrets, key)) value = secrets[key];
    if (value === undefined) {
      const known = typeof secrets === "function" ? [] : Object.keys(secrets);
      problems.push({
        path: at,
        message: `needs the secret ${show(key)}; got none${known.length > 0 ? ` (the secrets given are ${known.map((k) => `\`${k}\``).join(", ")})` : ""}. Add it to the secrets.`,
      });
      return;
    }
    out[name] = pulumi.secret(value instanceof SecretAlias ? value.value : pulumi.output(value));
  });
  if (problems.length > 0) throw new BerthConfigError("secretEnv", problems);
  return out;
}
