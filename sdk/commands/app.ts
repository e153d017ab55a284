/**
 * What runs on a host for an app container: names, paths, labels and the docker commands of a
 * rollout, as argv (or a script built with shell.ts). Pure: no I/O.
 */
import { type AppConfig, resolveEnv } from "../config/app";
import { type Argv, pipe } from "./shell";
import { argumentize, docker, loggingArgs, optionize } from "./docker";

export { ensureNetworkScript, networkCreateArgv } from "./docker";

/** Go template docker inspect uses to read health, falling back to state (Kamal's `DOCKER_HEALTH_STATUS_FORMAT`). */
export const HEALTH_STATUS_FORMAT = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}";

function joinNonEmpty(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("-");
}

/** `<service>-<role>[-<destination>]`: the kamal-proxy service name and the container name prefix. */
export function serviceName(service: string, role: string, destination: string): string {
  return joinNonEmpty(service, role, destination);
}

/** `<service>-<role>[-<destination>]-<version>`. */
export function containerName(service: string, role: string, destination: string, version: string): string {
  return `${serviceName(service, role, destination)}-${version}`;
}

/**
 * `--label service=<s> --label role=<r> --label destination[=<d>]`, then the custom labels.
 * With no destination the flag is a bare `--label destination` (an empty label), as in Kamal.
 */
export function labels(service: string, role: string, destination: string, custom: Readonly<Record<string, string>> = {}): string[] {
  return argumentize("--label", { service, role, destination: destination === "" ? undefined : destination, ...custom });
}

/** `.kamal/apps/<service>[-<destination>]`, relative to the SSH user's home. */
export function appDir(service: string, destination: string): string {
  return `.kamal/apps/${joinNonEmpty(service, destination)}`;
}

/** `<appDir>/env/roles/<role>.env`: the role's secret env file. */
export function envFilePath(service: string, destination: string, role: string): string {
  return `${appDir(service, destination)}/env/roles/${role}.env`;
}

/**
 * Secret variables in docker's `--env-file` format: one `KEY=value` line each, sorted by name.
 * Docker takes the value literally (no quotes, no escapes), so none is added; a value with a line
 * break cannot be written (the config layer rejects it; this throws without showing the value).
 */
export function envFileContent(secret: Readonly<Record<string, string>>): string {
  return Object.keys(secret)
    .sort()
    .map((key) => {
      if (/[\r\n]/.test(secret[key])) throw new Error(`envFileContent: the value of ${key} has a line break and cannot go in an env file`);
      return `${key}=${secret[key]}\n`;
    })
    .join("");
}

/** Inputs of `appRunArgv`. */
export interface AppRunArgs {
  cfg: AppConfig;
  /** Role name. */
  role: string;
  /** Host as written in the role (`KAMAL_HOST`; picks the host-tag env). */
  host: string;
  /** Version in the container name and `KAMAL_VERSION`. */
  version: string;
  /** Image reference to run. */
  image: string;
  /** Path of the secret env file on the host. @default - `envFilePath(service, destination, role)` */
  envFile?: string;
}

/**
 * Kamal's `docker run` for an app container, flags in Kamal's order: restart, name, network,
 * KAMAL_* env, clear env, env file, logging, volumes, labels, options, image, cmd. Secret values
 * never appear: they are in the env file.
 */
export function appRunArgv({ cfg, role, host, version, image, envFile }: AppRunArgs): Argv {
  const r = cfg.roles[role];
  if (r === undefined) throw new Error(`appRunArgv: no role ${JSON.stringify(role)}`);
  const name = containerName(cfg.service, role, cfg.destination, version);
  const env = resolveEnv(cfg, role, host);
  return docker(
    "run",
    "--detach",
    "--restart",
    r.restartPolicy,
    "--name",
    name,
    "--network",
    cfg.proxyRun.network,
    ...argumentize("--env", {
      KAMAL_CONTAINER_NAME: name,
      KAMAL_VERSION: version,
      KAMAL_HOST: host,
      ...(cfg.destination !== "" ? { KAMAL_DESTINATION: cfg.destination } : {}),
    }),
    ...argumentize("--env", env.clear),
    "--env-file",
    envFile ?? envFilePath(cfg.service, cfg.destination, role),
    ...loggingArgs(r.logging),
    ...r.volumes.flatMap((v) => ["--volume", v]),
    ...labels(cfg.service, role, cfg.destination, r.labels),
    ...optionize(r.options),
    image,
    ...r.cmd,
  );
}

/** `docker container ls --all --filter name=^<name>$ --quiet`: the container's id, or nothing. */
export function containerIdArgv(name: string): Argv {
  return docker("container", "ls", "--all", "--filter", `name=^${name}$`, "--quiet");
}

/** Prints the container's health status, or its state when it has no health check (Kamal's `status`). */
export function healthStatusScript(name: string): string {
  return pipe(containerIdArgv(name), ["xargs", ...docker("inspect", "--format", HEALTH_STATUS_FORMAT)]);
}

/** `docker pull <image>`. */
export function pullArgv(image: string): Argv {
  return docker("pull", image);
}

/** `docker login <server> --username <u> --password-stdin`: the caller pipes the password on stdin. */
export function loginArgv(server: string, username: string): Argv {
  return docker("login", server, "--username", username, "--password-stdin");
}

/** `docker stop [-t N] <container>`. */
export function stopArgv(container: string, stopTimeoutSeconds?: number): Argv {
  return docker("stop", ...(stopTimeoutSeconds !== undefined ? ["-t", String(stopTimeoutSeconds)] : []), container);
}

/** Stops the container with this name if it exists (Kamal's `stop --version`): `… --quiet | xargs docker stop [-t N]`. */
export function stopByNameScript(name: string, stopTimeoutSeconds?: number): string {
  return pipe(containerIdArgv(name), ["xargs", ...stopArgv(name, stopTimeoutSeconds).slice(0, -1)]);
}

/**
 * `docker container ls --all` filtered by Kamal's labels (`service`, `destination` — empty when
 * there is none — and `role` when given), printed with a Go template such as `{{.Names}}`.
 */
export function listContainersArgv(
  filter: { service: string; role?: string; destination: string },
  format: string,
): Argv {
  return docker(
    "container",
    "ls",
    "--all",
    "--filter",
    `label=service=${filter.service}`,
    "--filter",
    `label=destination=${filter.destination}`,
    ...(filter.role !== undefined ? ["--filter", `label=role=${filter.role}`] : []),
    "--format",
    format,
  );
}
