/**
 * Docker argv helpers shared by the app and proxy commands. Pure: every function returns argv.
 */
import { type Argv, line, quote, waitWhileScript } from "./shell";
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
 * Creates the network unless it exists, so that exactly one network has the name. Two deploys at
 * once on a fresh host (kamal-proxy and an accessory, or two stacks) both find it missing and both
 * create it: the engine's name check is not atomic (Docker 20.10 made two `kamal` networks 2 ms
 * apart here), and then every `--network <name>` fails as ambiguous. So the check and the create
 * run under a lock directory in `~/.kamal` (`mkdir` is atomic), waited for at most 15 s (a lock
 * left by a killed deploy is then taken over); and when the name is doubled anyway (another user,
 * or an older deploy), the networks beyond the oldest are removed: a container can only have
 * joined the oldest by name, since the name was ambiguous from the second one on. Exits 1 naming
 * the networks if more than one is left (one in use could not be removed).
 */
export function ensureNetworkScript(name: string): string {
  const list = line(docker("network", "ls", "--no-trunc", "--filter", `name=^${name}$`, "--format", "{{.CreatedAt}} {{.ID}}"));
  // Oldest first: `CreatedAt` is Go's time.String(), whose byte order is time order (LC_ALL=C: no locale collation).
  const ids = `${list} | LC_ALL=C sort | awk '{ print $NF }'`;
  return [
    `l="$HOME"/.kamal/${quote(`berth-network-${name}.lock`)}; mkdir -p "$HOME"/.kamal; trap 'rmdir "$l" 2>/dev/null' EXIT`,
    `(${waitWhileScript('! mkdir "$l" 2>/dev/null', 15)}) || true`,
    `[ -n "$(${list})" ] || ${line(networkCreateArgv(name))} >/dev/null`,
    `${ids} | sed 1d | while read -r id; do ${line(docker("network", "rm"))} "$id" >/dev/null 2>&1 || true; done`,
    `left=$(${ids}); n=$(printf '%s\\n' "$left" | grep -c .)`,
    `if [ "$n" -eq 0 ]; then echo "no docker network named ${name}: creating it failed" >&2; exit 1; fi`,
    `if [ "$n" -gt 1 ]; then echo "$n docker networks are named ${name} ($(printf '%s\\n' "$left" | cut -c1-12 | paste -sd ' ' -)): exactly one is needed; remove the ones no container uses" >&2; exit 1; fi`,
  ].join("\n");
}

/** `docker version --format {{.Server.Version}}`: fails unless the engine answers. */
export function dockerVersionArgv(): Argv {
  return docker("version", "--format", "{{.Server.Version}}");
}
