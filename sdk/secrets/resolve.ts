/**
 * Resolves secrets on the machine running Pulumi: runs the adapters' CLIs (adapters.ts) and the
 * commands of Kamal's secrets files (dotenv.ts).
 *
 *   - Programs run from argv arrays, never a shell line; their stdin is closed (nothing can prompt).
 *   - Secret values only travel through the CLIs' stdout and the environment: a `$(command)` of a
 *     secrets file, whose text may hold values of earlier keys, reaches `/bin/sh` in an environment
 *     variable (`eval "$BERTH_DOTENV_COMMAND"`), not in argv where `ps` would show it.
 *   - `kamal secrets fetch|extract` in a secrets file run in-process, as Kamal runs them (no
 *     `kamal` needed): the fetch goes to the adapter's CLI and the JSON never leaves this process.
 *   - Every failure is a `SecretError` naming the secret, the adapter or file, what to do, and the
 *     command's exit code and last lines of stderr, with every value resolved so far replaced by `***`.
 *   - Sign-in checks and fetches are remembered per resolver, so ten aliases from one vault run
 *     `op account get` once.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ADAPTERS, AdapterFailure, type FailureKind, type RunResult, type SecretAdapterName, adapterNamed, prepareAdapter, pickValue, SECRET_ADAPTERS } from "./adapters";
import {
  type CommandContext,
  DotenvSyntaxError,
  extractSecret,
  isKamalSecretsCommand,
  parseDotenv,
  parseKamalSecretsCommand,
  secretsFileNames,
  shellEscape,
  shellSplit,
} from "./dotenv";

/** A secret could not be resolved. The message never holds a secret value. */
export class SecretError extends Error {
  constructor(
    readonly kind: FailureKind | "missing-key" | "command-failed",
    message: string,
  ) {
    super(message);
    this.name = "BerthSecretError";
  }
}

export interface ResolverOptions {
  /** The environment of every command, and what `$VAR` in a secrets file falls back to. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where secrets-file paths and their commands start from. @default process.cwd() */
  cwd?: string;
  /** A command still running after this long is stopped (it is probably waiting for a prompt). @default 120 */
  timeoutSeconds?: number;
}

/** What the secrets files of one path and destination hold. */
export interface LoadedSecrets {
  /** Keys of every file, a later file's overriding an earlier one's. */
  values: Record<string, string>;
  /** The files Kamal would look at, as written (`.kamal/secrets-common`, `.kamal/secrets`). */
  candidates: string[];
  /** Those that exist. */
  files: string[];
}

/** Kamal's adapter options: `--account` and `--from`. */
export interface AdapterRef {
  account?: string;
  from?: string;
}

const SHELL_SCRIPT = '__berth_command=$BERTH_DOTENV_COMMAND; unset BERTH_DOTENV_COMMAND; eval "$__berth_command"';
const q = (s: string) => JSON.stringify(s);

/** Runs `argv` without a shell; resolves with its exit code and output (`missing` when the program is not found). */
export function runProcess(argv: readonly string[], o: { env: Readonly<Record<string, string | undefined>>; cwd: string; timeoutSeconds: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (r: RunResult | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const child = spawn(argv[0], argv.slice(1), { env: o.env as NodeJS.ProcessEnv, cwd: o.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // On timeout, settle at once: a grandchild (`sleep` under `sh`) may hold the pipes open.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      child.stdout.destroy();
      child.stderr.destroy();
      const stderr = `${Buffer.concat(err).toString("utf8")}\n(stopped by Berth after ${o.timeoutSeconds} seconds: is it waiting for a prompt?)`;
      done({ code: 124, stdout: "", stderr });
    }, o.timeoutSeconds * 1000);
    timer.unref();
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? done({ code: 127, stdout: "", stderr: "", missing: true }) : done(e)));
    child.on("close", (code) => done({ code: code ?? 128, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

/** Replaces every known value (and each long line of a multi-line one) in `text` with `***`. */
export function redact(text: string, values: Iterable<string>): string {
  const all = new Set<string>();
  for (const v of values) {
    if (v.length >= 3) all.add(v);
    if (v.includes("\n")) for (const l of v.split("\n")) if (l.trim().length >= 8) all.add(l.trim());
  }
  let out = text;
  for (const s of [...all].sort((a, b) => b.length - a.length)) out = out.split(s).join("***");
  return out;
}

/** Runs adapters and secrets files for one program run, remembering sign-in checks, fetches and files. */
export class SecretResolver {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly timeoutSeconds: number;
  private readonly prepared = new Map<string, Promise<void>>();
  private readonly fetched = new Map<string, Promise<Record<string, string>>>();
  private readonly loaded = new Map<string, Promise<LoadedSecrets>>();
  /** Every value seen, kept out of messages. */
  private readonly known = new Set<string>();

  constructor(o: ResolverOptions = {}) {
    this.env = { ...(o.env ?? process.env) };
    this.cwd = o.cwd ?? process.cwd();
    this.timeoutSeconds = o.timeoutSeconds ?? 120;
  }

  /** Runs `argv` in this resolver's environment. */
  run = (argv: readonly string[], extraEnv: Record<string, string> = {}): Promise<RunResult> =>
    runProcess(argv, { env: { ...this.env, ...extraEnv }, cwd: this.cwd, timeoutSeconds: this.timeoutSeconds });

  private remember(values: Iterable<string>): void {
    for (const v of values) this.known.add(v);
  }

  /** `kamal secrets fetch --adapter <adapter> [--account] [--from] <names…>`: Kamal's result keys → values. */
  fetch(adapterName: SecretAdapterName, names: readonly string[], ref: AdapterRef = {}): Promise<Record<string, string>> {
    const key = JSON.stringify([adapterName, ref.account ?? null, ref.from ?? null, names]);
    let p = this.fetched.get(key);
    if (!p) {
      p = this.doFetch(adapterName, names, ref);
      this.fetched.set(key, p);
    }
    return p;
  }

  private async doFetch(adapterName: SecretAdapterName, names: readonly string[], ref: AdapterRef): Promise<Record<string, string>> {
    const adapter = ADAPTERS[adapterName];
    const o = { ...ref, env: this.env };
    const what = `${names.length === 0 ? "every secret" : names.length === 1 ? `the secret ${q(names[0])}` : `the secrets ${names.map(q).join(", ")}`}${ref.from !== undefined ? ` from ${q(ref.from)}` : ""} with Kamal's \`${adapter.name}\` adapter (${adapter.label} CLI \`${adapter.cli}\`)`;
    try {
      const prepKey = JSON.stringify([adapterName, ref.account ?? null]);
      let ready = this.prepared.get(prepKey);
      if (!ready) {
        ready = prepareAdapter(adapter, this.run, o);
        this.prepared.set(prepKey, ready);
      }
      await ready;
      const results = await adapter.fetch(names, this.run, o);
      this.remember(Object.values(results));
      return results;
    } catch (e) {
      throw this.failure(`could not read ${what}`, e);
    }
  }

  /**
   * The value of one `key` of an adapter (the single secret a `SecretAlias` names); `extract`
   * picks one of several results as `kamal secrets extract` does.
   */
  async adapterValue(adapterName: SecretAdapterName, key: string, ref: AdapterRef = {}, extract?: string): Promise<string> {
    const results = await this.fetch(adapterName, [key], ref);
    const { value, keys } = pickValue(results, key, ref.from, extract);
    if (value !== undefined) return value;
    const adapter = ADAPTERS[adapterName];
    const asked = `${q(key)}${ref.from !== undefined ? ` from ${q(ref.from)}` : ""} (Kamal's \`${adapter.name}\` adapter)`;
    throw new SecretError(
      "not-found",
      keys.length === 0
        ? `${adapter.label} returned nothing for ${asked}. Check the name.`
        : extract !== undefined
          ? `${adapter.label} returned ${keys.map(q).join(", ")} for ${asked}, and none is ${q(extract)} or ends in ${q(`/${extract}`)}. Set \`extract\` to one of them.`
          : `${adapter.label} returned several secrets for ${asked}: ${keys.map(q).join(", ")}. Pick one with \`extract\` (as \`kamal secrets extract\` does).`,
    );
  }

  /** Loads Kamal's secrets files for `secretsPath` (default `.kamal/secrets`) and `destination`. */
  load(secretsPath = ".kamal/secrets", destination?: string): Promise<LoadedSecrets> {
    const key = JSON.stringify([path.resolve(this.cwd, secretsPath), destination ?? null]);
    let p = this.loaded.get(key);
    if (!p) {
      p = this.doLoad(secretsPath, destination);
      this.loaded.set(key, p);
    }
    return p;
  }

  private async doLoad(secretsPath: string, destination?: string): Promise<LoadedSecrets> {
    const candidates = secretsFileNames(secretsPath, destination);
    const files: string[] = [];
    const values: Record<string, string> = {};
    for (const file of candidates) {
      let text: string;
      try {
        const full = path.resolve(this.cwd, file);
        if (!(await fs.stat(full)).isFile()) continue;
        text = await fs.readFile(full, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw new SecretError("failed", `could not read the secrets file \`${file}\`: ${(e as Error).message}`);
      }
      files.push(file);
      try {
        const parsed = await parseDotenv(text.replace(/^\uFEFF/, ""), { env: this.env, command: (command, at) => this.command(command, at) });
        this.remember(Object.values(parsed));
        Object.assign(values, parsed);
      } catch (e) {
        if (e instanceof DotenvSyntaxError) throw new SecretError("usage", `\`${file}\` line ${e.line}: ${e.message}`);
        if (e instanceof LineError) throw new SecretError(e.kind, `\`${file}\` line ${e.at.line} (\`${e.at.key}\`): ${e.message}`);
        throw e;
      }
    }
    return { values, candidates, files };
  }

  /** The value of `key` in the secrets files (Kamal's `Kamal::Secrets#[]`). */
  async dotenvValue(key: string, secretsPath = ".kamal/secrets", destination?: string): Promise<string> {
    const loaded = await this.load(secretsPath, destination);
    if (Object.prototype.hasOwnProperty.call(loaded.values, key)) return loaded.values[key];
    const keys = Object.keys(loaded.values);
    throw new SecretError(
      "missing-key",
      loaded.files.length > 0
        ? `Secret '${key}' not found in ${loaded.files.join(", ")}${keys.length > 0 ? ` (keys there: ${keys.join(", ")})` : ""}. Add \`${key}=…\` to one of them.`
        : `Secret '${key}' not found, no secret files (${loaded.candidates.join(", ")}) provided. Create \`${loaded.candidates[1]}\` (relative to ${this.cwd === process.cwd() ? "the Pulumi project directory" : q(this.cwd)}).`,
    );
  }

  /** A `$(...)` of a secrets file: `kamal secrets …` in-process, anything else through `/bin/sh`. */
  private async command(command: string, at: CommandContext): Promise<string> {
    const shown = `\`$(${at.written})\``;
    if (isKamalSecretsCommand(command)) {
      let parsed;
      try {
        parsed = parseKamalSecretsCommand(shellSplit(command));
      } catch (e) {
        throw new LineError("usage", at, `${shown} ${(e as Error).message.replace(/^(Unmatched|Nul)/, "cannot be split into words: $1")}.`);
      }
      if (parsed.kind === "extract") {
        let json: unknown;
        try {
          json = JSON.parse(parsed.json);
        } catch {
          throw new LineError("usage", at, `${shown}: the secrets given to \`kamal secrets extract\` are not JSON (not shown). Pass the output of \`kamal secrets fetch\`, e.g. \`\${SECRETS}\`.`);
        }
        const obj = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
        const value = extractSecret(parsed.name, obj);
        if (value === undefined) {
          throw new LineError("missing-key", at, `${shown}: could not find the secret ${q(parsed.name)} among the fetched secrets (${Object.keys(obj).map(q).join(", ") || "none"}).`);
        }
        return value;
      }
      const adapter = adapterNamed(parsed.adapter);
      if (adapter === undefined) {
        throw new LineError("usage", at, `${shown} names the adapter ${q(parsed.adapter)}; Kamal's adapters are ${SECRET_ADAPTERS.map((a) => `\`${a}\``).join(", ")}.`);
      }
      try {
        const results = await this.fetch(adapter, parsed.names, { account: parsed.account, from: parsed.from });
        return shellEscape(JSON.stringify(results));
      } catch (e) {
        throw new LineError((e as SecretError).kind ?? "failed", at, (e as Error).message);
      }
    }
    const r = await this.run(["/bin/sh", "-c", SHELL_SCRIPT], { BERTH_DOTENV_COMMAND: command });
    if (r.code !== 0) {
      const lines = this.printed(r.stderr, at.values.values());
      throw new LineError(
        "command-failed",
        at,
        `${shown} exited with ${r.code}. Kamal would use its output anyway; Berth stops, so that an empty or partial secret is never deployed.` +
          (lines.length > 0 ? `\n  It printed:\n${lines.map((l) => `    ${l}`).join("\n")}` : ""),
      );
    }
    this.remember([r.stdout.replace(/\r?\n$/, "")]);
    return r.stdout;
  }

  /** The last lines of `stderr`, with every known value replaced by `***`. */
  private printed(stderr: string, extra: Iterable<string> = []): string[] {
    return redact(stderr, [...this.known, ...extra])
      .split("\n")
      .filter((l) => l.trim() !== "")
      .slice(-10);
  }

  /** An adapter failure (or anything else) as a SecretError: what failed, why, the fix, the command and its stderr. */
  private failure(what: string, e: unknown): Error {
    if (!(e instanceof AdapterFailure)) return e instanceof Error ? e : new Error(String(e));
    const d = e.detail;
    const lines = this.printed(d.stderr ?? "");
    const ran = d.argv && d.code !== undefined ? `\n  \`${d.argv.join(" ")}\` exited with ${d.code}${lines.length > 0 ? `:\n${lines.map((l) => `    ${l}`).join("\n")}` : "."}` : "";
    return new SecretError(e.kind, `${what}: ${e.message}.${d.fix ? ` ${d.fix}` : ""}${ran}`);
  }
}

/** A failure inside a secrets file, at a line; turned into a SecretError naming the file. */
class LineError extends Error {
  constructor(
    readonly kind: SecretError["kind"],
    readonly at: CommandContext,
    message: string,
  ) {
    super(message);
  }
}

let shared: SecretResolver | undefined;

/** The resolver of this program run (this process's environment and directory). */
export function defaultResolver(): SecretResolver {
  shared ??= new SecretResolver();
  return shared;
}
