/**
 * What the Day-2 commands (`berth app|proxy|accessory …`) run on a host: Kamal's `app details`,
 * `app containers`, `app logs`, `app exec`, `proxy details|logs`, `accessory logs|exec`, as argv.
 * Pure: no I/O. The CLI (sdk/cli/day2.ts) runs them over SSH and prints the output per host.
 */
import type { AccessoryHostSpec, AppHostSpec } from "../config/resources";
import { envFilePath } from "./app";
import { accessoryEnvFilePath, mount } from "./accessory";
import { argumentize, docker, optionize } from "./docker";
import { type Argv, line, pipe } from "./shell";

/**
 * Kamal's labels of a service's containers: `service` and `destination` (empty when there is none,
 * as Kamal filters), and `role` when given.
 */
export interface ContainerFilter {
  service: string;
  destination: string;
  role?: string;
}

/** `--filter label=service=<s> --filter label=destination=<d> [--filter label=role=<r>]` (Kamal's `container_filter_args`). */
export function labelFilters(f: ContainerFilter): string[] {
  return [
    "--filter",
    `label=service=${f.service}`,
    "--filter",
    `label=destination=${f.destination}`,
    ...(f.role !== undefined ? ["--filter", `label=role=${f.role}`] : []),
  ];
}

/** `docker ps` of the role's running containers (Kamal's `kamal app details`). */
export function appDetailsArgv(f: ContainerFilter): Argv {
  return docker("ps", ...labelFilters(f));
}

/** `docker container ls --all` of the service: every role's containers, stopped ones too (Kamal's `kamal app containers`). */
export function appContainersArgv(f: ContainerFilter): Argv {
  return docker("container", "ls", "--all", ...labelFilters(f));
}

/**
 * The id of the role's newest running (or restarting) container, or nothing:
 * `docker ps --latest --quiet <filters> --filter status=running --filter status=restarting`
 * (Kamal's `current_running_container_id`).
 */
export function runningContainerIdArgv(f: ContainerFilter & { role: string }): Argv {
  return docker("ps", "--latest", "--quiet", ...labelFilters(f), "--filter", "status=running", "--filter", "status=restarting");
}

/** What to show of a container's log (Kamal's `logs` options). */
export interface LogOptions {
  /** `--tail N`. */
  lines?: number;
  /** `--since` (`2026-12-02T10:00:00Z`, `42m`). */
  since?: string;
  /** Only lines matching this (grep's basic regular expression, on the host). */
  grep?: string;
  /** `--timestamps`. */
  timestamps?: boolean;
  /** `--follow`: new lines as they come, until the reader stops or the container ends. */
  follow?: boolean;
}

/**
 * Kamal's default number of lines: 100, unless `--since` or `--grep` narrows the log already
 * (then every line), or `--lines` says otherwise.
 */
export function defaultLines(o: LogOptions): number | undefined {
  if (o.lines !== undefined) return o.lines;
  return o.since !== undefined || o.grep !== undefined ? undefined : 100;
}

/** `docker logs [--timestamps] [--since S] [--tail N] [--follow] <container>`. */
export function logsArgv(container: string, o: LogOptions): Argv {
  return docker(
    "logs",
    ...(o.timestamps ? ["--timestamps"] : []),
    ...(o.since !== undefined ? ["--since", o.since] : []),
    ...(o.lines !== undefined ? ["--tail", String(o.lines)] : []),
    ...(o.follow ? ["--follow"] : []),
    container,
  );
}

/**
 * The container's log with stderr folded in, through `grep -e <pattern>` when one is given. Exit
 * 1 with `grep` means no line matched.
 */
export function logsScript(container: string, o: LogOptions): string {
  const logs = `${line(logsArgv(container, o))} 2>&1`;
  return o.grep === undefined ? logs : pipe(logs, ["grep", "-e", o.grep]);
}

/**
 * `-it`: the container's input is kept open and it gets a terminal (Kamal's `--interactive`); the
 * command then needs a terminal on the host (`ssh -t`).
 */
function ttyFlags(interactive: boolean): string[] {
  return interactive ? ["-it"] : [];
}

/**
 * A script whose output goes to a terminal on the host (`ssh -t`) with its newlines left as they
 * are (`stty -onlcr`), so a followed log piped on this side has no carriage returns.
 */
export function plainTerminalScript(script: string): string {
  return `stty -onlcr 2>/dev/null; ${script}`;
}

/** `docker exec [-it] [--env K=V …] <container> <cmd…>`: a command in the running container (Kamal's `--reuse`). */
export function execInContainerArgv(container: string, cmd: readonly string[], env: Readonly<Record<string, string>> = {}, interactive = false): Argv {
  if (cmd.length === 0) throw new Error("execInContainerArgv: no command");
  return docker("exec", ...ttyFlags(interactive), ...argumentize("--env", env), container, ...cmd);
}

/** What `appExecNewArgv` needs of the role on the host: the provider's `AppHost` input. */
export type AppExecSpec = Pick<AppHostSpec, "service" | "role" | "destination" | "image" | "container">;

/**
 * A command in a new container of the role's image, removed when it ends (Kamal's `app exec`
 * without `--reuse`): `docker run --rm --network <n> --env <clear env> --env-file <role env file>
 * --env <given> --volume … <options> <image> <cmd…>`. No name and no labels: it is not one of the
 * role's containers. Secret values stay in the env file.
 */
export function appExecNewArgv(s: AppExecSpec, cmd: readonly string[], env: Readonly<Record<string, string>> = {}, interactive = false): Argv {
  if (cmd.length === 0) throw new Error("appExecNewArgv: no command");
  const c = s.container;
  return docker(
    "run",
    "--rm",
    ...ttyFlags(interactive),
    "--network",
    c.network,
    ...argumentize("--env", c.env),
    "--env-file",
    envFilePath(s.service, s.destination, s.role),
    ...argumentize("--env", env),
    ...c.volumes.flatMap((v) => ["--volume", v]),
    ...optionize(c.options),
    s.image,
    ...cmd,
  );
}

/** What `accessoryExecNewArgv` needs: the provider's `AccessoryHost` input. */
export type AccessoryExecSpec = Pick<AccessoryHostSpec, "host" | "app" | "name" | "image" | "env" | "network" | "volumes" | "files" | "directories">;

/**
 * A command in a new container of the accessory's image, removed when it ends (Kamal's
 * `accessory exec` without `--reuse`): its network, env, env file and mounts (`home` is the login
 * user's home, so file and directory mounts are absolute), no name, no published port.
 */
export function accessoryExecNewArgv(s: AccessoryExecSpec, home: string, cmd: readonly string[], env: Readonly<Record<string, string>> = {}, interactive = false): Argv {
  if (cmd.length === 0) throw new Error("accessoryExecNewArgv: no command");
  if (!home.startsWith("/")) throw new Error(`accessoryExecNewArgv: home must be an absolute path; got ${JSON.stringify(home)}`);
  return docker(
    "run",
    "--rm",
    ...ttyFlags(interactive),
    "--network",
    s.network,
    ...argumentize("--env", { KAMAL_HOST: s.host, ...s.env }),
    "--env-file",
    accessoryEnvFilePath(s.app, s.name),
    ...argumentize("--env", env),
    ...s.files.flatMap((f) => ["--volume", mount(home, f)]),
    ...s.directories.flatMap((d) => ["--volume", mount(home, d)]),
    ...s.volumes.flatMap((v) => ["--volume", v]),
    s.image,
    ...cmd,
  );
}

/** `docker ps --filter name=^<container>$`: kamal-proxy's container (Kamal's `kamal proxy details`). */
export function proxyDetailsArgv(container: string): Argv {
  return docker("ps", "--filter", `name=^${container}$`);
}
