/**
 * Kamal's secrets files, parsed the way Kamal loads them (`lib/kamal/secrets.rb`): dotenv 3.x
 * syntax (`lib/dotenv/parser.rb`) with Kamal's command substitution
 * (`lib/kamal/secrets/dotenv/inline_command_substitution.rb`).
 *
 * Files: `<path>-common` first, then `<path>` (no destination) or `<path>.<destination>`; each file
 * is parsed on its own and a later file's keys override an earlier one's. Within a file:
 *
 *   - `KEY=value`, `export KEY=value`, `KEY: value`; `#` starts a comment outside quotes;
 *   - `'single'` quotes: literal, may span lines; `"double"` quotes: may span lines, `\"` escapes,
 *     `\n` stays a backslash and `n` (a line break only with `DOTENV_LINEBREAK_MODE=legacy`);
 *   - outside single quotes: `\x` becomes `x` (but `\$` stays escaped), then `$(command)` runs the
 *     command (its `$VAR`s expanded first) and `$VAR` / `${VAR}` expand to an earlier key of the
 *     same file, else the environment, else "". `\$(...)` and `\$VAR` are left as written.
 *
 * One deliberate difference from dotenv: a command's output is not expanded again (dotenv runs
 * `$VAR` expansion over the value after the command ran, so a fetched password containing `$x`
 * would lose it). Berth keeps command output byte for byte.
 *
 * Pure: running a command is the caller's `command` hook; nothing here reads files or the
 * environment. Also here: Ruby's `Shellwords` split and escape and the argument parsing of the
 * `kamal secrets fetch|extract` commands Kamal runs in-process.
 */

/** What a `$(...)` substitution is given. */
export interface CommandContext {
  /** The key being assigned. */
  key: string;
  /** 1-based line of the key in the file. */
  line: number;
  /** The command as written in the file (before `$VAR` expansion): safe to show. */
  written: string;
  /** The values assigned so far in this file (to keep out of messages). */
  values: ReadonlyMap<string, string>;
}

export interface DotenvHooks {
  /** The environment `$VAR` falls back to (Kamal's `ENV`). */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Runs a `$(...)` command (its variables already expanded) and resolves with its standard
   * output. One trailing line break is removed by the parser (Ruby's `chomp`).
   */
  command(command: string, at: CommandContext): Promise<string>;
}

/** A problem in a secrets file, at a line. Never carries a value. */
export class DotenvSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
    this.name = "DotenvSyntaxError";
  }
}

// Ruby's `\s` is [ \t\r\n\f\v]; JavaScript's also matches Unicode spaces, so it is spelled out.
const S = "[ \\t\\n\\v\\f\\r]";
/**
 * dotenv's `LINE`, in JavaScript: Ruby's `^` and `$` are line anchors, written as a lookbehind
 * for a line break and a lookahead for one (or the end).
 */
const LINE = new RegExp(
  `(?:^|(?<=\\n))${S}*(export${S}+)?([\\w.]+)` +
    `(?:(?:${S}*=${S}*?|:${S}+?)(${S}*'(?:\\\\'|[^'])*'|${S}*"(?:\\\\"|[^"])*"|[^#\\n]+)?)?` +
    `${S}*(?:#[^\\n]*)?(?=\\n|$)`,
  "g",
);
const QUOTED = /^(['"])([\s\S]*)\1$/;
const VARIABLE = /(\\)?(\$)(?!\()\{?([A-Z0-9_]+)?\}?/gi;

/** Ruby's `String#strip` (whitespace and NUL). */
function strip(s: string): string {
  return s.replace(/^[\0\t\n\v\f\r ]+|[\0\t\n\v\f\r ]+$/g, "");
}

/** Ruby's `String#chomp`: one trailing `\r\n`, `\n` or `\r`. */
export function chomp(s: string): string {
  if (s.endsWith("\r\n")) return s.slice(0, -2);
  if (s.endsWith("\n") || s.endsWith("\r")) return s.slice(0, -1);
  return s;
}

/** dotenv's `$VAR` / `${VAR}` expansion: an earlier key of the file, else the environment, else "". */
export function expandVariables(text: string, values: ReadonlyMap<string, string>, env: DotenvHooks["env"]): string {
  return text.replace(VARIABLE, (whole: string, backslash: string | undefined, _dollar: string, name: string | undefined) => {
    if (backslash) return whole.slice(1);
    if (name === undefined) return whole;
    return values.get(name) ?? env[name] ?? "";
  });
}

/**
 * The end (exclusive) of the parenthesised command starting at `open` (`text[open] === "("`), or
 * -1: Kamal's recursive pattern `\((?:\\.|[^()\\]|\g<cmd>)+\)` — balanced, non-empty groups,
 * backslash-escaped characters (not a line break) skipped.
 */
export function commandEnd(text: string, open: number): number {
  let i = open + 1;
  let items = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ")") return items > 0 ? i + 1 : -1;
    if (c === "(") {
      const end = commandEnd(text, i);
      if (end < 0) return -1;
      i = end;
    } else if (c === "\\") {
      if (i + 1 >= text.length || text[i + 1] === "\n") return -1;
      i += 2;
    } else {
      i += 1;
    }
    items += 1;
  }
  return -1;
}

/** Command substitution, then variable expansion, over an unquoted or double-quoted value. */
async function substitute(value: string, key: string, line: number, values: Map<string, string>, hooks: DotenvHooks): Promise<string> {
  let out = "";
  let literal = "";
  const flush = () => {
    out += expandVariables(literal, values, hooks.env);
    literal = "";
  };
  let i = 0;
  while (i < value.length) {
    const escaped = value[i] === "\\" && value[i + 1] === "$" && value[i + 2] === "(";
    const open = escaped ? i + 2 : value[i] === "$" && value[i + 1] === "(" ? i + 1 : -1;
    const end = open >= 0 ? commandEnd(value, open) : -1;
    if (end < 0) {
      literal += value[i];
      i += 1;
      continue;
    }
    const written = value.slice(open + 1, end - 1);
    if (escaped) {
      // Left as written, minus the backslash; its variables are still expanded (as dotenv does).
      literal += value.slice(open - 1, end);
    } else {
      flush();
      const command = expandVariables(written, values, hooks.env);
      out += chomp(await hooks.command(command, { key, line, written, values }));
    }
    i = end;
  }
  flush();
  return out;
}

async function parseValue(raw: string, key: string, line: number, values: Map<string, string>, hooks: DotenvHooks): Promise<string> {
  let value = strip(raw);
  const quoted = QUOTED.exec(value);
  const quote = quoted?.[1];
  if (quoted) value = quoted[2];
  if (quote === "'") return value;
  if (quote === '"') {
    const mode = values.has("DOTENV_LINEBREAK_MODE") ? values.get("DOTENV_LINEBREAK_MODE") : hooks.env.DOTENV_LINEBREAK_MODE;
    value =
      mode === "legacy"
        ? value.split("\\n").join("\n").split("\\r").join("\r")
        : value.split("\\n").join("\\\\n").split("\\r").join("\\\\r");
  }
  value = value.replace(/\\([^$])/g, "$1");
  return substitute(value, key, line, values, hooks);
}

/**
 * Parses one secrets file's text as dotenv 3.x does with `overwrite: true` (Kamal's call), running
 * `$(...)` through `hooks.command` in file order. Resolves with the keys in file order.
 */
export async function parseDotenv(text: string, hooks: DotenvHooks): Promise<Record<string, string>> {
  const source = text.replace(/\r\n?/g, "\n");
  const values = new Map<string, string>();
  for (const m of source.matchAll(LINE)) {
    const [whole, exported, key, raw] = m;
    const start = m.index! + whole.length - whole.trimStart().length;
    const line = source.slice(0, start).split("\n").length;
    if (exported !== undefined && raw === undefined) {
      if (!values.has(key)) {
        throw new DotenvSyntaxError(line, `\`export ${key}\` has no value and \`${key}\` is not set earlier in the file. Give it a value (\`${key}=…\`) or remove the line.`);
      }
      continue;
    }
    values.set(key, await parseValue(raw ?? "", key, line, values, hooks));
  }
  return Object.fromEntries(values);
}

/** Kamal's file list for a secrets path and destination: `<path>-common`, then `<path>` or `<path>.<destination>`. */
export function secretsFileNames(path: string, destination?: string): [string, string] {
  return [`${path}-common`, destination ? `${path}.${destination}` : path];
}

// ---------------------------------------------------------------------------------------------
// Ruby's Shellwords, which Kamal uses for `kamal secrets …` commands in a secrets file.

/** Ruby's `Shellwords.escape`: every character but `A-Za-z0-9_-.,:+/@` gets a backslash; a line break is quoted. */
export function shellEscape(word: string): string {
  if (word === "") return "''";
  return word.replace(/[^A-Za-z0-9_\-.,:+/@\n]/gu, "\\$&").replace(/\n/g, "'\n'");
}

/** Ruby's `Shellwords.split`. Throws on an unmatched quote or a NUL. */
export function shellSplit(line: string): string[] {
  const words: string[] = [];
  const space = /[ \t\n\v\f\r]/;
  let i = 0;
  let field: string | undefined;
  while (i < line.length) {
    if (field === undefined) {
      while (i < line.length && space.test(line[i])) i += 1;
      if (i >= line.length) break;
      field = "";
    }
    const c = line[i];
    if (c === "\0") throw new Error(`Nul character at ${i}`);
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0 || line.slice(i + 1, close).includes("\0")) throw new Error(`Unmatched quote at ${i}`);
      field += line.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      let j = i + 1;
      let raw = "";
      while (j < line.length && line[j] !== '"') {
        if (line[j] === "\0") throw new Error(`Nul character at ${j}`);
        if (line[j] === "\\" && j + 1 < line.length && line[j + 1] !== "\0") {
          raw += line.slice(j, j + 2);
          j += 2;
        } else {
          raw += line[j];
          j += 1;
        }
      }
      if (j >= line.length) throw new Error(`Unmatched quote at ${i}`);
      field += raw.replace(/\\([$`"\\\n])/g, "$1");
      i = j + 1;
    } else if (c === "\\") {
      const next = line[i + 1];
      const esc = next !== undefined && next !== "\0" ? line.slice(i, i + 2) : "\\";
      field += esc.replace(/\\([^\n])/, "$1");
      i += esc.length;
    } else {
      let j = i;
      while (j < line.length && !/[\0 \t\n\v\f\r\\'"]/.test(line[j])) j += 1;
      field += line.slice(i, j);
      i = j;
    }
    if (i >= line.length || space.test(line[i])) {
      words.push(field);
      field = undefined;
    }
  }
  if (field !== undefined) words.push(field);
  return words;
}

// ---------------------------------------------------------------------------------------------
// `kamal secrets fetch|extract` inside a secrets file (Kamal runs them in-process, with --inline).

/** Kamal's test for a command it runs in-process: `/\A\s*kamal\s*secrets\s+/`. */
export function isKamalSecretsCommand(command: string): boolean {
  return /^[ \t\n\v\f\r]*kamal[ \t\n\v\f\r]*secrets[ \t\n\v\f\r]+/.test(command);
}

/** A parsed `kamal secrets …` command. */
export type KamalSecretsCommand =
  | { kind: "fetch"; adapter: string; account?: string; from?: string; names: string[] }
  | { kind: "extract"; name: string; json: string };

const VALUE_OPTIONS: Record<string, string> = { "--adapter": "adapter", "-a": "adapter", "--account": "account", "--from": "from" };
/** Kamal's global options, accepted and ignored. */
const IGNORED_VALUE_OPTIONS = ["-c", "--config-file", "-d", "--destination", "-r", "--roles", "-h", "--hosts"];
const IGNORED_FLAGS = ["-v", "--verbose", "-q", "--quiet", "-p", "--primary", "-H", "--skip-hooks", "--inline", "--no-inline"];

/**
 * Parses the words of `kamal secrets fetch|extract …` (after Shellwords splitting). Throws an
 * Error whose message names the problem (it never contains a secret: the JSON of `extract` is not
 * shown).
 */
export function parseKamalSecretsCommand(words: readonly string[]): KamalSecretsCommand {
  const [kamal, secrets, sub, ...rest] = words;
  if (kamal !== "kamal" || secrets !== "secrets") throw new Error("is not a `kamal secrets` command");
  const options: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const inline = eq > 0 ? word.slice(eq + 1) : undefined;
    if (flag in VALUE_OPTIONS || IGNORED_VALUE_OPTIONS.includes(flag)) {
      const value = inline ?? rest[++i];
      if (value === undefined) throw new Error(`\`${flag}\` needs a value`);
      if (flag in VALUE_OPTIONS) options[VALUE_OPTIONS[flag]] = value;
    } else if (IGNORED_FLAGS.includes(flag)) {
      continue;
    } else if (word.startsWith("-") && word !== "-") {
      throw new Error(`has the option \`${flag}\`, which \`kamal secrets ${sub ?? ""}\` does not take`);
    } else {
      positional.push(word);
    }
  }
  if (sub === "fetch") {
    if (options.adapter === undefined) throw new Error("needs `--adapter` (e.g. `--adapter 1password`)");
    return {
      kind: "fetch",
      adapter: options.adapter,
      ...(options.account !== undefined ? { account: options.account } : {}),
      ...(options.from !== undefined ? { from: options.from } : {}),
      names: positional,
    };
  }
  if (sub === "extract") {
    if (positional.length !== 2) throw new Error(`\`kamal secrets extract\` takes a name and the JSON of a fetch; got ${positional.length} argument${positional.length === 1 ? "" : "s"}`);
    return { kind: "extract", name: positional[0], json: positional[1] };
  }
  throw new Error(`runs \`kamal secrets ${sub ?? ""}\`; only \`kamal secrets fetch\` and \`kamal secrets extract\` can be used in a secrets file`);
}

/**
 * `kamal secrets extract NAME JSON`: the value of key NAME, else of the first key ending in
 * `/NAME`; undefined when there is none.
 */
export function extractSecret(name: string, secrets: Readonly<Record<string, unknown>>): string | undefined {
  const exact = secrets[name];
  if (Object.prototype.hasOwnProperty.call(secrets, name) && exact !== null && exact !== undefined) return String(exact);
  const found = Object.entries(secrets).find(([k]) => k.endsWith(`/${name}`));
  return found === undefined || found[1] === null || found[1] === undefined ? undefined : String(found[1]);
}
