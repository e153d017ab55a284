/**
 * The `berth` command line. Each subcommand is one entry of `COMMANDS`: a usage line, a one-line
 * description and a handler that gets its arguments and the process's I/O, and returns the exit
 * code. Exit codes: 0 success, 1 the command failed (bad input, unreadable file), 2 bad usage.
 *
 *   berth summary [file]   `pulumi preview --json` (from the file, or stdin) → Markdown for a PR comment
 *   berth lock status|release --host <h> --service <s> [...]   a host's deploy lock (Kamal's)
 *   berth app logs|exec|details|containers, berth proxy logs|details, berth accessory logs|exec <name>
 *                          Day-2 commands on the hosts the stack deployed to (sdk/cli/day2.ts)
 */
import * as fs from "node:fs";
import { ACCESSORY_USAGE, APP_USAGE, DAY2_OPTIONS, Day2Error, Day2Help, Day2UsageError, day2Command, PROXY_USAGE, type Scope } from "./day2";
import { LOCK_USAGE, LockUsageError, lockCommand, parseLockArgs } from "./lock";
import { summarize } from "./summary";

/** What a handler may touch: everything else stays out, so handlers can be run in tests. */
export interface Io {
  /** The whole of standard input. */
  readStdin(): Promise<string>;
  /** True when standard input is a terminal (nothing is piped in). */
  stdinIsTerminal: boolean;
  readFile(path: string): string;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface CommandSpec {
  /** `berth <cmd> ...`, as shown in the usage. */
  usage: string;
  description: string;
  /** More help after the description (`berth <cmd> --help`). */
  help?: string;
  run(args: string[], io: Io): Promise<number>;
}

/** A failure to report as one line on stderr, exit 1. */
class CliError extends Error {}

/** Usage error: the message, then the usage, on stderr; exit 2. */
class UsageError extends Error {}

const HELP = ["-h", "--help"];

async function summaryCommand(args: string[], io: Io): Promise<number> {
  if (args.some((a) => HELP.includes(a))) {
    io.stdout(`${usageOf("summary")}\n`);
    return 0;
  }
  const unknownFlag = args.find((a) => a.startsWith("-") && a !== "-");
  if (unknownFlag) throw new UsageError(`unknown option \`${unknownFlag}\``);
  if (args.length > 1) throw new UsageError(`expected at most one file, got ${args.length}`);
  const file = args[0] === "-" ? undefined : args[0];
  let text: string;
  if (file !== undefined) {
    try {
      text = io.readFile(file);
    } catch (e) {
      throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    if (io.stdinIsTerminal) throw new UsageError("nothing on stdin: pipe `pulumi preview --json` into it, or give a file");
    text = await io.readStdin();
  }
  const source = file ?? "stdin";
  if (text.trim() === "") throw new CliError(`${source} is empty: expected the output of \`pulumi preview --json\``);
  let preview: unknown;
  try {
    preview = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${source} is not valid JSON (${jsonProblem(e as Error)}): expected the output of \`pulumi preview --json\``);
  }
  try {
    io.stdout(summarize(preview));
  } catch (e) {
    throw new CliError(`${source}: ${(e as Error).message}`);
  }
  return 0;
}

/**
 * The JSON parser's complaint without the excerpt of the input that V8 quotes (`Unexpected token
 * 'x', "..." is not valid JSON`): whatever was piped in is not echoed back.
 */
function jsonProblem(e: Error): string {
  const m = e.message.replace(/\s+/g, " ");
  if (m.endsWith(" is not valid JSON")) return m.replace(/, (?:\.\.\.)?".*$/, "");
  return m.replace(/ in JSON at position \d+ \((line \d+ column \d+)\)$/, " at $1");
}

async function lockCli(args: string[], io: Io): Promise<number> {
  if (args.some((a) => HELP.includes(a))) {
    io.stdout(`${usageOf("lock")}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseLockArgs(args);
  } catch (e) {
    if (e instanceof LockUsageError) throw new UsageError(e.message);
    throw e;
  }
  return lockCommand(parsed, io.stdout, io.stderr);
}

/** `berth app|proxy|accessory …`: the Day-2 commands, reading the stack. */
function day2Cli(scope: Scope) {
  return async (args: string[], io: Io): Promise<number> => {
    try {
      return await day2Command(scope, args, io.stdout, io.stderr);
    } catch (e) {
      if (e instanceof Day2Help) {
        io.stdout(`${usageOf(scope)}\n`);
        return 0;
      }
      if (e instanceof Day2UsageError) throw new UsageError(e.message);
      if (e instanceof Day2Error) throw new CliError(e.message);
      throw e;
    }
  };
}

/** The subcommands, by name. Add one: an entry here, its handler above (or in its own file). */
export const COMMANDS: Record<string, CommandSpec> = {
  summary: {
    usage: "berth summary [file]",
    description: "Markdown for a pull-request comment from `pulumi preview --json` (read from file, or stdin)",
    run: summaryCommand,
  },
  lock: {
    usage: LOCK_USAGE,
    description: "Show (`status`) or remove (`release`) a host's deploy lock, Kamal's `.kamal/lock-<service>[-<destination>]`",
    run: lockCli,
  },
  app: {
    usage: APP_USAGE,
    description:
      "On the stack's app hosts, per host and role: `logs` of the running container, `exec` a command (in a new container of the role's image; `--reuse`: in the running one), `details` (`docker ps`), `containers` (stopped ones too)",
    help: DAY2_OPTIONS.app,
    run: day2Cli("app"),
  },
  proxy: {
    usage: PROXY_USAGE,
    description: "On the stack's kamal-proxy hosts: `logs` of kamal-proxy, `details` (`docker ps`)",
    help: DAY2_OPTIONS.proxy,
    run: day2Cli("proxy"),
  },
  accessory: {
    usage: ACCESSORY_USAGE,
    description: "On the hosts of the stack's accessory <name>: `logs`, `exec` a command (in a new container; `--reuse`: in the running one)",
    help: DAY2_OPTIONS.accessory,
    run: day2Cli("accessory"),
  },
};

function usageOf(cmd: string): string {
  const c = COMMANDS[cmd];
  return `Usage: ${c.usage}\n\n${c.description}.${c.help ? `\n\n${c.help}` : ""}`;
}

export function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => COMMANDS[n].usage.length));
  return ["Usage: berth <command> [arguments]", "", "Commands:", ...names.map((n) => `  ${COMMANDS[n].usage.padEnd(width)}  ${COMMANDS[n].description}`)].join("\n");
}

/** Runs `berth <argv...>`; returns the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) {
    io.stderr(`${usage()}\n`);
    return 2;
  }
  if (HELP.includes(cmd) || cmd === "help") {
    io.stdout(`${usage()}\n`);
    return 0;
  }
  const spec = Object.prototype.hasOwnProperty.call(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!spec) {
    io.stderr(`berth: unknown command \`${cmd}\`\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await spec.run(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`berth ${cmd}: ${e.message}\n\n${usageOf(cmd)}\n`);
      return 2;
    }
    if (e instanceof CliError) {
      io.stderr(`berth ${cmd}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

export function processIo(): Io {
  return {
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    stdinIsTerminal: process.stdin.isTTY === true,
    readFile: (path) => fs.readFileSync(path, "utf8"),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  };
}

/** Entry point for `bin/berth` and `node dist/sdk/cli/main.js`: sets the exit code, never exits early (stdout drains). */
export function cli(argv: string[] = process.argv.slice(2)): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`berth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) cli();
