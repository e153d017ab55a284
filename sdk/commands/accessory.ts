/**
 * What runs on a host for an accessory (Kamal's `commands/accessory.rb` and `cli/accessory.rb`):
 * its paths, its `docker run`, the scripts that prepare its directories and files, replace its
 * container and delete its data. Pure: argv or shell text, no I/O.
 */
import type { AccessoryHostSpec } from "../config/resources";
import { containerIdArgv } from "./app";
import { argumentize, docker, loggingArgs, optionize } from "./docker";
import { type Argv, chain, line, quote } from "./shell";

/** `.kamal/apps/<app>/env/accessories/<name>.env`: the accessory's secret env file (Kamal's). */
export function accessoryEnvFilePath(app: string, name: string): string {
  return `.kamal/apps/${app}/env/accessories/${name}.env`;
}

/** An absolute host path: relative ones are under `home` (docker binds need absolute paths). */
export function onHost(home: string, hostPath: string): string {
  return hostPath.startsWith("/") ? hostPath : `${home.replace(/\/+$/, "")}/${hostPath}`;
}

/** `<host path>:<remote>[:<options>]`. */
export function mount(home: string, m: { hostPath: string; remote: string; options?: string }): string {
  return `${onHost(home, m.hostPath)}:${m.remote}${m.options ? `:${m.options}` : ""}`;
}

/** What `accessoryRunArgv` needs: the provider's `AccessoryHost` input. */
export type AccessoryRunSpec = Pick<
  AccessoryHostSpec,
  "host" | "service" | "app" | "name" | "image" | "port" | "cmd" | "env" | "labels" | "restartPolicy" | "options" | "logging" | "network" | "volumes" | "files" | "directories"
>;

/**
 * Kamal's `docker run` for an accessory, flags in Kamal's order: name, detach, restart, network,
 * logging, publish, env (`KAMAL_HOST`, clear, the env file), volumes (files, directories, then
 * raw volumes), labels (`service` first), options, image, cmd. `home` is the login user's home,
 * so file and directory mounts are absolute. Secret values never appear: they are in the env file.
 */
export function accessoryRunArgv(s: AccessoryRunSpec, home: string): Argv {
  if (!home.startsWith("/")) throw new Error(`accessoryRunArgv: home must be an absolute path; got ${JSON.stringify(home)}`);
  return docker(
    "run",
    "--name",
    s.service,
    "--detach",
    "--restart",
    s.restartPolicy,
    "--network",
    s.network,
    ...loggingArgs(s.logging),
    ...(s.port !== undefined ? ["--publish", s.port] : []),
    ...argumentize("--env", { KAMAL_HOST: s.host, ...s.env }),
    "--env-file",
    accessoryEnvFilePath(s.app, s.name),
    ...s.files.flatMap((f) => ["--volume", mount(home, f)]),
    ...s.directories.flatMap((d) => ["--volume", mount(home, d)]),
    ...s.volumes.flatMap((v) => ["--volume", v]),
    ...argumentize("--label", { service: s.service, ...s.labels }),
    ...optionize(s.options),
    s.image,
    ...s.cmd,
  );
}

/** `mkdir -p <dir>` then `chmod`/`chown` when set (Kamal's `directories`). Relative paths are under the login user's home. */
export function directoryScript(d: { hostPath: string; mode?: string; owner?: string }): string {
  return chain(["mkdir", "-p", d.hostPath], ...(d.mode !== undefined ? [["chmod", d.mode, d.hostPath]] : []), ...(d.owner !== undefined ? [["chown", d.owner, d.hostPath]] : []));
}

/**
 * Writes stdin to `hostPath` atomically (its directory created), then gives it its mode and owner
 * (Kamal's `upload` of `files`). The content travels on stdin, never in argv.
 */
export function fileScript(f: { hostPath: string; mode: string; owner?: string }): string {
  const dir = f.hostPath.includes("/") ? f.hostPath.slice(0, f.hostPath.lastIndexOf("/")) : ".";
  const tmp = `${f.hostPath}.tmp`;
  return chain(
    ["mkdir", "-p", dir],
    `(umask 077 && cat > ${quote(tmp)})`,
    ["chmod", f.mode, tmp],
    ...(f.owner !== undefined ? [["chown", f.owner, tmp]] : []),
    ["mv", tmp, f.hostPath],
  );
}

/** Matches the accessory's container and any of its containers set aside during a replacement. */
function ownContainersFilter(service: string): string {
  return `name=^${service}(_replaced_[0-9a-f]+)?$`;
}

/**
 * Sets the running container aside before a new one starts: renamed `<service>_replaced_<suffix>`
 * (as Kamal renames app containers) and stopped, so its port is free and the new container gets
 * the name. Its volumes and directories are untouched. Prints the set-aside name, or nothing when
 * there was no container.
 */
export function setAsideScript(service: string, suffix: string, stopTimeoutSeconds?: number): string {
  const aside = `${service}_replaced_${suffix}`;
  const stop = docker("stop", ...(stopTimeoutSeconds !== undefined ? ["-t", String(stopTimeoutSeconds)] : []), aside);
  return [
    `if [ -n "$(${line(containerIdArgv(service))})" ]; then`,
    `  ${line(docker("rename", service, aside))}`,
    `  ${line(stop)} >/dev/null`,
    `  printf '%s\\n' ${quote(aside)}`,
    "fi",
  ].join("\n");
}

/** A failed replacement: removes the new container and puts the set-aside one back, started. */
export function restoreScript(service: string, aside: string): string {
  return [
    `${line(docker("rm", "--force", service))} >/dev/null 2>&1 || true`,
    `${line(docker("rename", aside, service))}`,
    `${line(docker("start", service))} >/dev/null`,
  ].join("\n");
}

/** Runs the new container and prints its id; fails (printing nothing) when `docker run` fails. */
export function startAccessoryScript(run: Argv, service: string): string {
  return chain(`${line(run)} >/dev/null`, containerIdArgv(service));
}

/** Removes the accessory's container and any set aside (`pulumi destroy`, after a replacement). */
export function removeAccessoryContainersScript(service: string): string {
  return `${line(docker("container", "ls", "--all", "--quiet", "--filter", ownContainersFilter(service)))} | xargs -r ${line(docker("rm", "--force"))} >/dev/null`;
}

/** `docker rm --force <name>`, quietly, never failing. */
export function removeContainerScript(name: string): string {
  return `${line(docker("rm", "--force", name))} >/dev/null 2>&1 || true`;
}

/** Prints `<running> <image>` for the accessory's container (`docker inspect`); fails when there is none. */
export function accessoryStateScript(service: string): string {
  return `${line(docker("inspect", "--format", "{{.State.Running}} {{.Config.Image}}", service))} 2>/dev/null`;
}

/** Exits 0 when the command succeeds in the container (a command health check). */
export function execHealthArgv(service: string, cmd: readonly string[]): Argv {
  return docker("exec", service, ...cmd);
}

/**
 * Exits 0 when the container accepts a TCP connection on `port`, tried from the host at the
 * container's address on its network (bash's `/dev/tcp`, so the image needs no tools).
 */
export function tcpHealthScript(service: string, port: number): string {
  const ip = `$(${line(docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", service))} | awk '{print $1}')`;
  return `ip=${ip} && [ -n "$ip" ] && timeout 3 bash -c ${quote(`exec 3<>/dev/tcp/$0/${port}`)} "$ip"`;
}

/**
 * Deletes the accessory's data (`destroy` with `deleteDataOnDestroy`): `~/<dir>` and `/<dir>`
 * paths with `rm -rf`, `volume:<name>` with `docker volume rm`. Anything else is refused.
 */
export function deleteDataScript(data: readonly string[]): string {
  const lines = data.map((d) => {
    if (d.startsWith("volume:")) return `${line(docker("volume", "rm", "--force", d.slice("volume:".length)))} >/dev/null`;
    if (d.startsWith("~/") && d.length > 2 && !d.split("/").includes("..")) return line(["rm", "-rf", "--", d.slice(2)]);
    if (d.startsWith("/") && d !== "/" && !d.split("/").includes("..")) return line(["rm", "-rf", "--", d]);
    throw new Error(`deleteDataScript: ${JSON.stringify(d)} is not \`~/<dir>\`, \`/<dir>\` or \`volume:<name>\``);
  });
  return ["set -e", ...lines].join("\n");
}
