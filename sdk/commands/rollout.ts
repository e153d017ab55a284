/**
 * The scripts of one rollout step on one host, composed from the app and proxy argv in app.ts and
 * proxy.ts. Pure: each function returns shell text; the provider runs them over SSH in order.
 */
import { containerIdArgv, listContainersArgv, pullArgv } from "./app";
import { docker } from "./docker";
import { type Argv, chain, line, orElse, pipe, quote, render, waitWhileScript } from "./shell";

/** Kamal's labels of one role's containers. */
export interface RoleFilter {
  service: string;
  role: string;
  destination: string;
}

/**
 * Writes stdin to `path` (relative to the login user's home) with mode 0600, atomically: the one
 * way a secret file reaches a host.
 */
export function writeSecretFileScript(path: string): string {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  return chain("umask 077", ["mkdir", "-p", dir], `cat > ${quote(`${path}.tmp`)}`, ["chmod", "600", `${path}.tmp`], ["mv", `${path}.tmp`, path]);
}

/**
 * Pulls the image, unless it is pinned by digest (or `skipWhenPresent`) and already on the host:
 * a rollback to a retained version reuses the image without a pull.
 */
export function pullScript(image: string, skipWhenPresent: boolean): string {
  const present = presentScript(image, skipWhenPresent);
  return present === undefined ? line(pullArgv(image)) : orElse(present, pullArgv(image));
}

/**
 * True (exit 0) when `pullScript` would skip the pull: the image is pinned by digest (or
 * `skipWhenPresent`) and already on the host. Undefined when the pull always runs.
 */
export function presentScript(image: string, skipWhenPresent: boolean): string | undefined {
  if (!skipWhenPresent && !image.includes("@sha256:")) return undefined;
  return `${line(docker("image", "inspect", "--format", "{{.Id}}", image))} >/dev/null 2>&1`;
}

/** True (exit 0) when a container with exactly this name exists. */
export function containerExistsScript(name: string): string {
  return `[ -n "$(${line(containerIdArgv(name))})" ]`;
}

/** The text every `startScript(…, suffix)` carries, so the shell running it can be found on the host. */
const startMarker = (suffix: string) => `berth-start-${suffix}`;

/** A start's suffix goes into a container name and a script unquoted: hex only. */
function checkSuffix(fn: string, suffix: string): void {
  if (!/^[0-9a-f]+$/.test(suffix)) throw new Error(`${fn}: suffix must be hex; got ${JSON.stringify(suffix)}`);
}

/**
 * Starts the new container: an existing container of the same name is renamed out of the way
 * first (`<name>_replaced_<hex>`, as Kamal does), then `run` runs; prints the new container's id.
 * Its first line is a no-op naming `startMarker(suffix)`: the shell running the script has it in
 * its command line, which `startWaitScript` looks for.
 */
export function startScript(name: string, run: Argv, suffix: string): string {
  checkSuffix("startScript", suffix);
  return [
    `: ${startMarker(suffix)}`,
    `if ${containerExistsScript(name)}; then ${line(docker("rename", name, `${name}_replaced_${suffix}`))}; fi`,
    `${line(run)} >/dev/null`,
    line(containerIdArgv(name)),
  ].join("\n");
}

/** `docker logs --tail N <name>` with stderr folded in, never failing. */
export function logsScript(name: string, lines = 30): string {
  return `${line(docker("logs", "--tail", String(lines), name))} 2>&1 || true`;
}

/**
 * Waits until no process on the host runs `startScript(…, suffix)` (its command line holds the
 * marker), for at most `timeoutSeconds`; exits 1 if one still runs then. When the SSH connection
 * is lost, the shell running the start and its `docker run` go on without it (an exec channel has
 * no terminal to hang up), and may create and start the container after Berth reconnected: it is
 * stopped only once they ended. Reads /proc; the marker is put together at run time, so this
 * script's own command line never matches it.
 */
export function startWaitScript(suffix: string, timeoutSeconds: number): string {
  checkSuffix("startWaitScript", suffix);
  const [head, tail] = [startMarker(suffix).slice(0, -suffix.length), suffix];
  const running =
    'for f in /proc/[0-9]*/cmdline; do c=$(tr "\\000" " " < "$f" 2>/dev/null) || continue; case $c in *"$m"*) return 0 ;; esac; done; return 1';
  return [`m=${head}; m="\${m}${tail}"`, `running() { ${running}; }`, waitWhileScript("running", timeoutSeconds)].join("\n");
}

/** Stops and keeps the container: the failed new version after an unhealthy deploy. */
export function stopNewScript(name: string): string {
  return `${line(docker("stop", name))} >/dev/null 2>&1 || true`;
}

/**
 * Stops the container `startScript(name, …, suffix)` may have started when its outcome is unknown
 * (the SSH connection was lost). When a container of that name existed before (`existedBefore`),
 * `name` is the new one only if the old one was renamed away to `<name>_replaced_<suffix>`.
 */
export function stopStartedScript(name: string, suffix: string, existedBefore: boolean): string {
  if (!existedBefore) return stopNewScript(name);
  return `if ${containerExistsScript(`${name}_replaced_${suffix}`)}; then ${stopNewScript(name)}; fi`;
}

/**
 * Stops every running container of the role except `keepId`, then removes stopped ones beyond the
 * newest `retain` (docker lists newest first).
 */
export function cleanupScript(f: RoleFilter, keepId: string, retain: number, stopTimeoutSeconds?: number): string {
  const running = pipe(
    [...listContainersArgv(f, "{{.ID}}"), "--filter", "status=running", "--filter", "status=restarting"],
    `grep -v -x ${quote(keepId)}`,
    ["xargs", "-r", ...docker("stop", ...(stopTimeoutSeconds !== undefined ? ["-t", String(stopTimeoutSeconds)] : []))],
  );
  const stopped = pipe(
    [...listContainersArgv(f, "{{.ID}}"), "--filter", "status=exited", "--filter", "status=created", "--filter", "status=dead"],
    `grep -v -x ${quote(keepId)}`,
    ["tail", "-n", `+${retain + 1}`],
    ["xargs", "-r", ...docker("rm")],
  );
  return [`${running} >/dev/null || true`, `${stopped} >/dev/null || true`].join("\n");
}

/** Removes every container of the role (running or not): `pulumi destroy`. */
export function removeContainersScript(f: RoleFilter): string {
  return `${pipe(listContainersArgv(f, "{{.ID}}"), ["xargs", "-r", ...docker("rm", "--force")])} >/dev/null`;
}

/** Removes a file and its directory when that is left empty. */
export function removeFileScript(path: string): string {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  return `${line(["rm", "-f", path])}; ${line(["rmdir", "-p", dir])} 2>/dev/null || true`;
}

/** Runs `cmd`, succeeding when it fails with output matching `tolerated` (e.g. "service not found"). */
export function tolerateScript(cmd: Argv | string, tolerated: string): string {
  return `out=$(${render(cmd)} 2>&1) || { printf '%s\\n' "$out" | grep -q ${quote(tolerated)} || { printf '%s\\n' "$out" >&2; exit 1; }; }`;
}

/** Prints the login user's home directory. */
export function homeScript(): string {
  return `printf '%s' "$HOME"`;
}

/** Prints `<running> <value of label>` for a container; fails (quietly) when it does not exist. */
export function containerStateScript(name: string, label: string): string {
  return `${line(docker("inspect", "--format", `{{.State.Running}} {{index .Config.Labels ${JSON.stringify(label)}}}`, name))} 2>/dev/null`;
}

/** Lists a directory's entries one per line; nothing when it does not exist. */
export function listDirScript(dir: string): string {
  return `ls -1 ${quote(dir)} 2>/dev/null || true`;
}

/** Gives `paths` to the user a container runs as (e.g. TLS files kamal-proxy must read). */
export function chownToContainerUserScript(container: string, paths: string[]): string {
  return `chown "$(${line(docker("exec", container, "id", "-u"))})" ${line(paths)}`;
}

/** Prints the id of the running container with exactly this name; nothing when it is not running. */
export function runningContainerScript(name: string): string {
  return line([...containerIdArgv(name), "--filter", "status=running"]);
}

/**
 * Prints `/<name>\t<image>` for each running container of the role, newest first; the image
 * exactly as `docker run` was given it (`docker ps` may show an id once the tag has moved).
 */
export function runningRoleContainersScript(f: RoleFilter): string {
  return pipe([...listContainersArgv(f, "{{.Names}}"), "--filter", "status=running"], ["xargs", "-r", ...docker("inspect", "--format", "{{.Name}}\t{{.Config.Image}}")]);
}

/** Prints a file (relative to the login user's home); exits 3 when it does not exist. */
export function readFileScript(path: string): string {
  return `if [ -f ${quote(path)} ]; then cat ${quote(path)}; else exit 3; fi`;
}

/** Prints `<name>\t<service>\t<role>\t<destination>` for each running container with Kamal's labels. */
export function labelledContainersArgv(): Argv {
  return docker("ps", "--filter", "label=service", "--filter", "label=role", "--format", '{{.Names}}\t{{.Label "service"}}\t{{.Label "role"}}\t{{.Label "destination"}}');
}

/** `docker inspect --format '{{json .}}' <name>`: a container's (or image's) full description. */
export function inspectJsonArgv(kind: "container" | "image", name: string): Argv {
  return docker(kind, "inspect", "--format", "{{json .}}", name);
}

/**
 * Claims `file` for `owner` atomically (noclobber: the first writer wins); succeeds when it is
 * ours already; otherwise exits 3 printing the owner.
 */
export function claimOwnerScript(file: string, owner: string): string {
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
  return [
    line(["mkdir", "-p", dir]),
    `if (set -C; printf '%s' ${quote(owner)} > ${quote(file)}) 2>/dev/null; then exit 0; fi`,
    `current=$(cat ${quote(file)} 2>/dev/null)`,
    `if [ "$current" = ${quote(owner)} ]; then exit 0; fi`,
    `printf '%s' "$current"; exit 3`,
  ].join("\n");
}

/** Prints the owner recorded in `file` (nothing when there is none). */
export function ownerScript(file: string): string {
  return `cat ${quote(file)} 2>/dev/null || true`;
}

/**
 * Removes the service's dangling images (Kamal's `prune images`, first half):
 * `docker image prune --force --filter label=service=<service>`. Images of other services, tagged
 * images and images a container (even a stopped one) uses stay. Another prune running at the same
 * time on the host (another role of the deploy) is not an error.
 */
export function pruneImagesScript(service: string): string {
  return tolerateScript(docker("image", "prune", "--force", "--filter", `label=service=${service}`), "already running");
}
