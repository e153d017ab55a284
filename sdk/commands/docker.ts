/**
 * Docker argv helpers shared by the app and proxy commands. Pure: every function returns argv.
 */
import { type Argv, orElse } from "./shell";
import type { DockerOptions } from "../config/proxy";

/** `["docker", ...args]`. */
export function docker(...args: string[]): string[] {
  return ["docker", ...args];
}

/**
 * Docker options as argv, in the order given: `{ cpus: "2" }` → `--cpus 2`; `true` → a bare
 * `--init`; a list repeats the option. Equivalent to Kamal's `optionize`. A value starting with
 * `-` (only a negative number passes the config layer: `memory-swap: "-1"`) is bound to its
 * option as `--memory-swap=-1`, so docker can never read it as an option of its own.
 */
export function optionize(options: Readonly<DockerOptions>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (value === true) out.push(`--${name}`);
    else for (const v of Array.isArray(value) ? value : [value]) out.push(...(v.startsWith("-") ? [`--${name}=${v}`] : [`--${name}`, v]));
  }
  return out;
}

/**
 * `flag key=value` pairs: `argumentize("--label", { role: "web" })` → `--label role=web`. An
 * undefined value gives a bare `flag key`. Equivalent to Kamal's `argumentize`.
 */
export function argumentize(flag: string, pairs: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(pairs)) out.push(flag, value === undefined ? key : `${key}=${value}`);
  return out;
}

/** `--log-driver d --log-opt k=v …`. */
export function loggingArgs(logging: { driver?: string; options: Readonly<Record<string, string>> }): string[] {
  return [...(logging.driver !== undefined ? ["--log-driver", logging.driver] : []), ...argumentize("--log-opt", logging.options)];
}

/** `docker network create <name>`: exits non-zero when the network exists (Kamal ignores that). */
export function networkCreateArgv(name: string): Argv {
  return docker("network", "create", name);
}

/**
 * Creates the network unless it exists: `inspect || create || inspect` (the last one: another deploy
 * created it at the same moment, and create failed because it exists).
 */
export function ensureNetworkScript(name: string): string {
  const inspect = docker("network", "inspect", name, "--format", "{{.Name}}");
  return orElse(orElse(inspect, networkCreateArgv(name)), inspect);
}


/** `docker version --format {{.Server.Version}}`: fails unless the engine answers. */
export function dockerVersionArgv(): Argv {
  return docker("version", "--format", "{{.Server.Version}}");
}
