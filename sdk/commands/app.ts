/**
 * What runs on a host for an app container: names, paths, labels and the docker commands of a
 * rollout, as argv (or a script built with shell.ts). Pure: no I/O.
 */
import type { AppHostSpec } from "../config/resources";
import { type Argv, pipe } from "./shell";
import { argumentize, docker, loggingArgs, optionize } from "./docker";
import { assetVolumeArgs } from "./assets";

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

/** What `appRunArgv` needs: the provider's `AppHost` input (the host, its role's container settings). */
export type AppRunSpec = Pick<AppHostSpec, "host" | "service" | "role" | "destination" | "version" | "image" | "container"> & Partial<Pick<AppHostSpec, "assetPath">>;

/**
 * Kamal's `docker run` for an app container, flags in Kamal's order: restart, name, network,
 * KAMAL_* env, clear env, env file, logging, volumes, labels, options, image, cmd. Secret values
 * never appear: they are in the env file (`envFile`, default `envFilePath(service, destination, role)`).
 * With `assetPath`, the version's asset volume directory is mounted over it after the volumes
 * (`home`, the login user's home on the host, makes its path absolute, as docker needs).
 */
export function appRunArgv(s: AppRunSpec, envFile?: string, home?: string): Argv {
  const c = s.container;
  const name = containerName(s.service, s.role, s.destination, s.version);
  if (s.assetPath !== undefined && home === undefined) throw new Error("appRunArgv: home is required when assetPath is set");
  return docker(
    "run",
    "--detach",
    "--restart",
    c.restartPolicy,
    "--name",
    name,
    "--network",
    c.network,
    ...argumentize("--env", {
      KAMAL_CONTAINER_NAME: name,
      KAMAL_VERSION: s.version,
      KAMAL_HOST: s.host,
      ...(s.destination !== "" ? { KAMAL_DESTINATION: s.destination } : {}),
    }),
    ...argumentize("--env", c.env),
    "--env-file",
    envFile ?? envFilePath(s.service, s.destination, s.role),
    ...loggingArgs(c.logging),
    ...c.volumes.flatMap((v) => ["--volume", v]),
    ...(s.assetPath !== undefined ? assetVolumeArgs(s, s.assetPath, home!) : []),
    ...labels(s.service, s.role, s.destination, c.labels),
    ...optionize(c.options),
    s.image,
    ...c.cmd,
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

/** Parses an env file written by `envFileContent` (docker's format: `KEY=value` lines, literal values). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split("\n")) {
    if (l.trim() === "" || l.startsWith("#")) continue;
    const i = l.indexOf("=");
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
    else out[l] = "";
  }
  return out;
}

/** `<appDir>/owners/<role>`: which stack owns the role on this host (`<project>/<stack>`). */
export function ownerFilePath(service: string, destination: string, role: string): string {
  return `${appDir(service, destination)}/owners/${role}`;
}
