/**
 * The Day-2 commands: `berth app logs|exec|details|containers`, `berth proxy logs|details`,
 * `berth accessory logs|exec <name>`. They read the hosts, names and SSH connections from the
 * stack's state (sdk/cli/stack.ts), so nobody retypes a host; run Kamal's commands
 * (sdk/commands/day2.ts) on every selected host at once over SSH (sdk/provider/ssh.ts); and print
 * each host's output under a header line like Kamal's (`App Host: 10.77.0.11`), in the stack's
 * order. A host that fails is named on stderr, and the exit code is 1.
 */
import {
  accessoryExecNewArgv,
  appContainersArgv,
  appDetailsArgv,
  appExecNewArgv,
  defaultLines,
  execInContainerArgv,
  type LogOptions,
  logsScript,
  plainTerminalScript,
  proxyDetailsArgv,
  runningContainerIdArgv,
} from "../commands/day2";
import { homeScript } from "../commands/rollout";
import { type Argv, line } from "../commands/shell";
import { serviceName } from "../commands/app";
import { attach, type Attached, closeAll, type Connection, exec } from "../provider/ssh";
import { type AccessoryTarget, type AppTarget, readStack, type StackSource, type StackTargets } from "./stack";

export const APP_USAGE = "berth app logs|exec|details|containers [options] [-- <cmd…>]";
export const PROXY_USAGE = "berth proxy logs|details [options]";
export const ACCESSORY_USAGE = "berth accessory logs|exec <name> [options] [-- <cmd…>]";

/** The options, for `berth <scope> --help`. */
export const DAY2_OPTIONS: Record<Scope, string> = {
  app: [
    "Options:",
    "  --stack <s>          the stack to read (default: the selected one); --cwd <dir>: the Pulumi project's directory",
    "  --service <s>        the service, when the stack has several",
    "  --role <r,…>         only these roles (-r, --roles)",
    "  --host <h,…>         only these hosts (--hosts)",
    "  logs: -n, --lines <n> (default 100 unless --since or --grep), -s, --since <t>, -g, --grep <pattern>, -T, --timestamps,",
    "        -f, --follow (on one host: the first, or the one --host names; until Ctrl-C, default 10 lines)",
    "  exec: --reuse (in the running container; default: a new one from the role's image), -e, --env K=V,",
    "        -i, --interactive (on one host, with a terminal and this one's input; exits with the command's status)",
    "  exec runs the words after the options (or after --) as the command, without a shell: `-- sh -c '…'` for one.",
  ].join("\n"),
  proxy: [
    "Options:",
    "  --stack <s>, --cwd <dir>, --host <h,…>",
    "  logs: -n, --lines <n> (default 100 unless --since or --grep), -s, --since <t>, -g, --grep <pattern>, -T, --timestamps,",
    "        -f, --follow (on one host: the first, or the one --host names; until Ctrl-C, default 10 lines)",
  ].join("\n"),
  accessory: [
    "Options:",
    "  --stack <s>, --cwd <dir>, --host <h,…>",
    "  logs: -n, --lines <n> (default 100 unless --since or --grep), -s, --since <t>, -g, --grep <pattern>, -T, --timestamps,",
    "        -f, --follow (on one host: the first, or the one --host names; until Ctrl-C, default 10 lines)",
    "  exec: --reuse (in the running container; default: a new one from its image), -e, --env K=V,",
    "        -i, --interactive (on one host, with a terminal and this one's input; exits with the command's status)",
  ].join("\n"),
};

/** `-h`/`--help` among the options: the handler prints the usage. */
export class Day2Help extends Error {}

/** Bad usage: the handler prints it with the usage and exits 2. */
export class Day2UsageError extends Error {}

export type Scope = "app" | "proxy" | "accessory";

const ACTIONS: Record<Scope, string[]> = {
  app: ["logs", "exec", "details", "containers"],
  proxy: ["logs", "details"],
  accessory: ["logs", "exec"],
};

/** Lines shown before following (Kamal's `--follow` default). */
const FOLLOW_LINES = 10;

/** A parsed Day-2 command line. */
export interface Day2Args {
  scope: Scope;
  action: string;
  /** The accessory's name (`berth accessory … <name>`). */
  accessory?: string;
  source: StackSource;
  /** `--service`: which service of the stack (needed only when it has several). */
  service?: string;
  /** `--role`: only these roles. */
  roles?: string[];
  /** `--host`: only these hosts. */
  hosts?: string[];
  logs: LogOptions;
  /** `--reuse`: exec in the running container instead of a new one. */
  reuse: boolean;
  /** `--interactive`: exec with a terminal and this process's input, on one host. */
  interactive: boolean;
  /** `-e K=V`: extra environment of the exec. */
  env: Record<string, string>;
  /** The command to exec. */
  cmd: string[];
}

/** Options that take a value, by every name they have, and which actions accept them. */
const VALUE_OPTIONS: Record<string, { key: string; scopes: Scope[]; actions?: string[] }> = {
  "--stack": { key: "stack", scopes: ["app", "proxy", "accessory"] },
  "--cwd": { key: "cwd", scopes: ["app", "proxy", "accessory"] },
  "--service": { key: "service", scopes: ["app"] },
  "--role": { key: "role", scopes: ["app"] },
  "--roles": { key: "role", scopes: ["app"] },
  "-r": { key: "role", scopes: ["app"] },
  "--host": { key: "host", scopes: ["app", "proxy", "accessory"] },
  "--hosts": { key: "host", scopes: ["app", "proxy", "accessory"] },
  "--lines": { key: "lines", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "-n": { key: "lines", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "--since": { key: "since", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "-s": { key: "since", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "--grep": { key: "grep", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "-g": { key: "grep", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "--env": { key: "env", scopes: ["app", "accessory"], actions: ["exec"] },
  "-e": { key: "env", scopes: ["app", "accessory"], actions: ["exec"] },
};

const FLAG_OPTIONS: Record<string, { key: string; scopes: Scope[]; actions: string[] }> = {
  "--timestamps": { key: "timestamps", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "-T": { key: "timestamps", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "--reuse": { key: "reuse", scopes: ["app", "accessory"], actions: ["exec"] },
  "--follow": { key: "follow", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "-f": { key: "follow", scopes: ["app", "proxy", "accessory"], actions: ["logs"] },
  "--interactive": { key: "interactive", scopes: ["app", "accessory"], actions: ["exec"] },
  "-i": { key: "interactive", scopes: ["app", "accessory"], actions: ["exec"] },
};

function list(value: string, flag: string): string[] {
  const items = value.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) throw new Day2UsageError(`\`${flag}\` takes a comma-separated list without empty items; got \`${value}\``);
  return items;
}

/**
 * Parses `<action> [<name>] [options] [--] [cmd…]` of `berth <scope>`. Options take their value
 * as the next word or after `=` (`--lines=20`). For `exec`, the command starts at the first word
 * that is not an option (or after `--`), and runs as those words (no shell: `-- sh -c '…'` for one).
 */
export function parseDay2Args(scope: Scope, args: string[]): Day2Args {
  const [action, ...rest] = args;
  if (action === "-h" || action === "--help") throw new Day2Help();
  const actions = ACTIONS[scope];
  if (action === undefined || !actions.includes(action)) {
    const expected = actions.map((a) => `\`${a}\``).join(", ");
    throw new Day2UsageError(action === undefined ? `expected one of ${expected}` : `unknown action \`${action}\`: expected one of ${expected}`);
  }
  const out: Day2Args = { scope, action, source: {}, logs: {}, reuse: false, interactive: false, env: {}, cmd: [] };
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    const wantsName = scope === "accessory" && out.accessory === undefined;
    if (word === "--") {
      if (action !== "exec") throw new Day2UsageError(`\`--\` comes before a command, and only \`exec\` takes one`);
      if (wantsName) throw new Day2UsageError("expected the accessory's name before `--`");
      out.cmd = rest.slice(i + 1);
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      if (wantsName) {
        out.accessory = word;
        continue;
      }
      if (action === "exec") {
        out.cmd = rest.slice(i);
        break;
      }
      positional.push(word);
      continue;
    }
    if (word === "-h" || word === "--help") throw new Day2Help();
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const flagSpec = FLAG_OPTIONS[flag];
    const valueSpec = VALUE_OPTIONS[flag];
    const spec = flagSpec ?? valueSpec;
    if (!spec || !spec.scopes.includes(scope) || (spec.actions && !spec.actions.includes(action))) {
      throw new Day2UsageError(spec ? `\`${flag}\` does not apply to \`berth ${scope} ${action}\`` : `unknown option \`${flag}\``);
    }
    if (flagSpec) {
      if (eq > 0) throw new Day2UsageError(`\`${flag}\` takes no value`);
      if (flagSpec.key === "timestamps") out.logs.timestamps = true;
      else if (flagSpec.key === "follow") out.logs.follow = true;
      else if (flagSpec.key === "interactive") out.interactive = true;
      else out.reuse = true;
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = word.slice(eq + 1);
    else {
      value = rest[i + 1];
      if (value === undefined || (value.startsWith("-") && value !== "-" && valueSpec.key !== "grep")) throw new Day2UsageError(`\`${flag}\` needs a value`);
      i += 1;
    }
    switch (valueSpec.key) {
      case "stack":
      case "cwd":
        if (value === "") throw new Day2UsageError(`\`${flag}\` needs a value`);
        out.source[valueSpec.key] = value;
        break;
      case "service":
        out.service = value;
        break;
      case "role":
        out.roles = [...(out.roles ?? []), ...list(value, flag)];
        break;
      case "host":
        out.hosts = [...(out.hosts ?? []), ...list(value, flag)];
        break;
      case "lines": {
        if (!/^\d+$/.test(value)) throw new Day2UsageError(`\`${flag}\` must be a whole number of lines; got \`${value}\``);
        out.logs.lines = Number(value);
        break;
      }
      case "since":
        if (value === "") throw new Day2UsageError(`\`${flag}\` needs a value`);
        out.logs.since = value;
        break;
      case "grep":
        if (value === "") throw new Day2UsageError(`\`${flag}\` needs a pattern`);
        out.logs.grep = value;
        break;
      case "env": {
        const at = value.indexOf("=");
        if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(0, at))) throw new Day2UsageError(`\`${flag}\` takes \`NAME=value\`; got \`${value}\``);
        out.env[value.slice(0, at)] = value.slice(at + 1);
        break;
      }
    }
  }
  if (positional.length > 0) throw new Day2UsageError(`unexpected argument \`${positional[0]}\``);
  if (scope === "accessory" && out.accessory === undefined) throw new Day2UsageError("expected the accessory's name");
  if (action === "exec" && out.cmd.length === 0) throw new Day2UsageError("no command given: `exec` needs the command to run, e.g. `-- cat /etc/hostname`");
  if (out.logs.follow && out.logs.grep === undefined && out.logs.since === undefined && out.logs.lines === undefined) out.logs.lines = FOLLOW_LINES;
  if (action === "logs") out.logs.lines = defaultLines(out.logs);
  return out;
}

/** One piece of work on one host: its header, and what to run there. */
export interface Task {
  /** `App Host: 10.77.0.11 (role web)`. */
  header: string;
  host: string;
  /** The failure's prefix on stderr: `10.77.0.11 (role web)`. */
  where: string;
  connection: Connection;
  /** What to run there (finding the container first, when needed); throws (naming no secret) to fail. */
  command(c: Connection): Promise<HostCommand>;
}

/** A command for a host, and how its exit status reads. */
export interface HostCommand {
  script: string;
  /** What it does, for errors: `listing the containers`. */
  step: string;
  /**
   * `list`: output is stdout, any status but 0 fails; `logs`: the same, except that with `--grep`
   * status 1 and no output is no line matching; `exec`: output is stdout and stderr, shown whatever the status.
   */
  kind: "list" | "logs" | "exec";
  /** With `logs --grep`. */
  grep?: boolean;
}

/** A failure on a host whose output is still shown under its header. */
class HostFailure extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** A command that fails (not usage): exit 1, one line on stderr. */
export class Day2Error extends Error {}

function roleLabel(t: AppTarget): string {
  return `${t.host} (role ${t.role})`;
}

/** The one service (and destination) of the stack this command is about. */
function pickApp(stack: StackTargets, service: string | undefined): AppTarget[] {
  const keyOf = (t: AppTarget) => (t.destination === "" ? t.service : `${t.service} (destination ${t.destination})`);
  const all = [...new Set(stack.apps.map(keyOf))].sort();
  if (all.length === 0) throw new Day2Error("the stack has no AppService hosts (no `berth:index:AppHost` in its state): has it been deployed?");
  const chosen = service === undefined ? stack.apps : stack.apps.filter((t) => t.service === service);
  if (chosen.length === 0) throw new Day2Error(`the stack has no service \`${service}\`: it has ${all.join(", ")}`);
  const keys = [...new Set(chosen.map(keyOf))].sort();
  if (keys.length > 1) throw new Day2Error(`the stack has several services (${keys.join(", ")}): choose one with \`--service\``);
  return chosen;
}

/** Keeps the targets on `hosts` (when given); unknown hosts are an error listing the known ones. */
function byHost<T extends { host: string }>(targets: T[], hosts: string[] | undefined, what: string): T[] {
  if (hosts === undefined) return targets;
  const known = sortHosts([...new Set(targets.map((t) => t.host))]);
  const unknown = hosts.filter((h) => !known.includes(h));
  if (unknown.length > 0) throw new Day2Error(`no ${what} on ${unknown.map((h) => `\`${h}\``).join(", ")}: its hosts are ${known.join(", ")}`);
  return targets.filter((t) => hosts.includes(t.host));
}

/** Hosts in natural order (`10.0.0.2` before `10.0.0.11`): the stack's state keeps no order of its own. */
function sortHosts(hosts: string[]): string[] {
  return [...hosts].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/**
 * Orders targets host by host (hosts in natural order), then within a host by `rank` (for roles:
 * the primary role first, then by name), so the output is the same from run to run.
 */
function hostMajor<T extends { host: string }>(targets: T[], rank: (t: T) => string = () => ""): T[] {
  return sortHosts([...new Set(targets.map((t) => t.host))]).flatMap((h) =>
    targets.filter((t) => t.host === h).sort((x, y) => rank(x).localeCompare(rank(y), "en", { numeric: true })),
  );
}

async function mustRun(c: Connection, step: string, command: string): Promise<string> {
  return finish(c, { script: command, step, kind: "list" });
}

/** Runs a host command and reads its status: what to print, or a `HostFailure` with what it printed. */
async function finish(c: Connection, h: HostCommand): Promise<string> {
  const r = await exec(c, h.script, { step: h.step });
  if (h.kind === "exec") {
    const output = `${r.stdout}${r.stderr}`;
    if (r.code !== 0) throw new HostFailure(`the command exited ${r.code}`, output);
    return output;
  }
  if (r.code === 0) return r.stdout;
  // With `--grep`, exit 1 is grep finding no line.
  if (h.kind === "logs" && h.grep && r.code === 1 && r.stdout === "") return "";
  throw new HostFailure(`${h.step} failed (exit ${r.code})${h.kind === "list" && r.stderr.trim() ? `: ${r.stderr.trim()}` : ""}`, r.stdout);
}

/** The id of the role's running container on the host, or a failure naming the role. */
async function runningContainer(c: Connection, t: AppTarget): Promise<string> {
  const name = serviceName(t.service, t.role, t.destination);
  const id = (await mustRun(c, `finding the running container of ${name}`, line(runningContainerIdArgv(t)))).trim();
  if (id === "") throw new HostFailure(`no running container of ${name}`, "");
  return id;
}

function logsCommand(container: string, o: LogOptions): HostCommand {
  return { script: logsScript(container, o), step: `reading the log of ${container}`, kind: "logs", grep: o.grep !== undefined };
}

function execCommand(argv: Argv): HostCommand {
  return { script: line(argv), step: "exec", kind: "exec" };
}

function listCommand(step: string, argv: Argv): HostCommand {
  return { script: line(argv), step, kind: "list" };
}

/** Runs a task's command on its host: what to print. */
async function onHost(t: Task): Promise<string> {
  return finish(t.connection, await t.command(t.connection));
}

/** What `berth <scope> <action>` runs where: one task per host (and role). */
export function plan(a: Day2Args, stack: StackTargets): Task[] {
  if (a.scope === "app") {
    const rank = (t: AppTarget) => `${t.primary ? 0 : 1} ${t.role}`;
    const service = hostMajor(pickApp(stack, a.service), rank);
    const rolesOf = (ts: AppTarget[]) => [...new Set([...ts].sort((x, y) => rank(x).localeCompare(rank(y))).map((t) => t.role))];
    let targets = service;
    if (a.roles !== undefined) {
      const known = rolesOf(service);
      const unknown = a.roles.filter((r) => !known.includes(r));
      if (unknown.length > 0) throw new Day2Error(`no role ${unknown.map((r) => `\`${r}\``).join(", ")} in ${service[0].service}: its roles are ${known.join(", ")}`);
      targets = targets.filter((t) => a.roles!.includes(t.role));
    }
    const roleNames = rolesOf(targets);
    targets = byHost(targets, a.hosts, `${roleNames.length === 1 ? "role" : "roles"} ${roleNames.join(", ")}`);
    if (a.action === "containers") {
      // Once per host (the hosts of the selected roles): every container of the service there, stopped ones too.
      return [...new Set(targets.map((t) => t.host))].map((host) => {
        const t = targets.find((x) => x.host === host)!;
        return {
          header: `App Host: ${host}`,
          host,
          where: host,
          connection: t.connection,
          command: async () => listCommand("listing the containers", appContainersArgv({ service: t.service, destination: t.destination })),
        };
      });
    }
    return targets.map((t) => ({
      header: `App Host: ${roleLabel(t)}`,
      host: t.host,
      where: roleLabel(t),
      connection: t.connection,
      command: async (c) => {
        switch (a.action) {
          case "details":
            return listCommand("listing the running containers", appDetailsArgv(t));
          case "logs":
            return logsCommand(await runningContainer(c, t), a.logs);
          default:
            return execCommand(a.reuse ? execInContainerArgv(await runningContainer(c, t), a.cmd, a.env, a.interactive) : appExecNewArgv(t, a.cmd, a.env, a.interactive));
        }
      },
    }));
  }
  if (a.scope === "proxy") {
    if (stack.proxies.length === 0) throw new Day2Error("the stack runs no kamal-proxy (no `berth:index:ProxyHost` in its state)");
    return hostMajor(byHost(stack.proxies, a.hosts, "kamal-proxy")).map((p) => ({
      header: `Proxy Host: ${p.host}`,
      host: p.host,
      where: p.host,
      connection: p.connection,
      command: async () => (a.action === "details" ? listCommand("listing kamal-proxy", proxyDetailsArgv(p.run.containerName)) : logsCommand(p.run.containerName, a.logs)),
    }));
  }
  const named = stack.accessories.filter((x) => x.name === a.accessory || x.service === a.accessory);
  if (named.length === 0) {
    const names = [...new Set(stack.accessories.map((x) => x.name))];
    throw new Day2Error(`no accessory by the name of \`${a.accessory}\`${names.length > 0 ? ` (the stack has ${names.join(", ")})` : " (the stack has none)"}`);
  }
  return hostMajor(byHost(named, a.hosts, `accessory \`${a.accessory}\``)).map((x: AccessoryTarget) => ({
    header: `Accessory ${x.name} Host: ${x.host}`,
    host: x.host,
    where: `${x.host} (accessory ${x.name})`,
    connection: x.connection,
    command: async (c) => {
      if (a.action === "logs") return logsCommand(x.service, a.logs);
      if (a.reuse) return execCommand(execInContainerArgv(x.service, a.cmd, a.env, a.interactive));
      const home = (await mustRun(c, "reading the login user's home", homeScript())).trim();
      return execCommand(accessoryExecNewArgv(x, home, a.cmd, a.env, a.interactive));
    },
  }));
}

/**
 * Runs the tasks on their hosts at once, then prints each block in order: the header, the output,
 * a blank line (Kamal's `puts_by_host`). Failures go to stderr, each naming its host; returns the
 * exit code (1 when any host failed).
 */
export async function runTasks(tasks: Task[], command: string, out: (text: string) => void, err: (text: string) => void, execute: (t: Task) => Promise<string> = onHost): Promise<number> {
  try {
    const results = await Promise.allSettled(tasks.map(execute));
    let failed = 0;
    results.forEach((r, i) => {
      const t = tasks[i];
      const output = r.status === "fulfilled" ? r.value : r.reason instanceof HostFailure ? r.reason.output : "";
      out(`${t.header}\n${output.replace(/\n+$/, "")}${output.trim() === "" ? "" : "\n"}\n`);
      if (r.status === "rejected") {
        failed += 1;
        const e = r.reason as Error;
        // ssh.ts's errors start with the host already.
        const message = e instanceof HostFailure ? `${t.where}: ${e.message}` : e.message.startsWith(`${t.host}:`) ? `${t.where}:${e.message.slice(t.host.length + 1)}` : `${t.where}: ${e.message}`;
        err(`berth ${command}: ${message}\n`);
      }
    });
    if (failed > 0) err(`berth ${command}: failed on ${failed} of ${tasks.length}\n`);
    return failed > 0 ? 1 : 0;
  } finally {
    await closeAll();
  }
}

/** This process's terminal, for `--follow` and `--interactive`. */
export interface Terminal {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/**
 * `logs --follow` and `exec --interactive` (Kamal's `exec ssh -t`): on one host — the first in the
 * stack's order, or the one `--host` names — with a terminal on the host, the output as it comes
 * and, for `exec`, this process's input (raw, when it is a terminal). Returns the command's exit
 * status; Ctrl-C while following hangs up on the host's `docker logs` and returns 130.
 */
export async function runAttached(tasks: Task[], command: string, a: Day2Args, term: Terminal): Promise<number> {
  const t = tasks[0];
  const follow = a.action === "logs";
  term.stderr.write(follow ? `Following logs on ${t.where}...\n` : `Launching interactive command on ${t.where}...\n`);
  const size = { rows: term.stdout.rows || 24, cols: term.stdout.columns || 80 };
  const raw = !follow && term.stdin.isTTY === true;
  let attached: Attached | undefined;
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    attached?.stop();
  };
  const resize = () => attached?.resize(term.stdout.rows || size.rows, term.stdout.columns || size.cols);
  try {
    const h = await t.command(t.connection);
    attached = await attach(t.connection, follow ? plainTerminalScript(h.script) : h.script, h.step, {
      pty: { ...size, term: process.env.TERM || "xterm-256color" },
      stdin: follow ? undefined : term.stdin,
      onStdout: (d) => term.stdout.write(d),
      onStderr: (d) => term.stderr.write(d),
    });
    if (follow) process.on("SIGINT", interrupt);
    if (raw) term.stdin.setRawMode(true);
    term.stdout.on("resize", resize);
    const code = await attached.done;
    return interrupted ? 130 : code;
  } catch (e) {
    const message = (e as Error).message;
    term.stderr.write(`berth ${command}: ${e instanceof HostFailure ? `${t.where}: ${message}` : message}\n`);
    return 1;
  } finally {
    process.removeListener("SIGINT", interrupt);
    term.stdout.removeListener("resize", resize);
    if (raw) term.stdin.setRawMode(false);
    if (!follow) term.stdin.pause();
    await closeAll();
  }
}

/** `berth <scope> …`: reads the stack, plans, runs. Throws `Day2UsageError` or `Day2Error`. */
export async function day2Command(
  scope: Scope,
  args: string[],
  out: (text: string) => void,
  err: (text: string) => void,
  term: Terminal = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const a = parseDay2Args(scope, args);
  let stack: StackTargets;
  try {
    stack = await readStack(a.source);
  } catch (e) {
    throw new Day2Error((e as Error).message);
  }
  const tasks = plan(a, stack);
  if (a.logs.follow || a.interactive) return runAttached(tasks, `${scope} ${a.action}`, a, term);
  return runTasks(tasks, `${scope} ${a.action}`, out, err);
}
