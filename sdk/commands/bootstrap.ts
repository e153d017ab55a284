/**
 * Bootstrap (`ssh.bootstrap`): what runs on a host that has no Docker, to install it from the
 * host's own distribution packages. Kamal's `kamal server bootstrap` pipes get.docker.com into a
 * shell; Berth uses the package manager the host already trusts (its signed repositories and its
 * proxy settings), so nothing but the distribution's mirror is contacted.
 *
 * The steps, each its own remote command so a failure names it: probe (user, sudo, init system,
 * /etc/os-release) → install the packages → start the engine and wait until it answers → add a
 * non-root login user to the `docker` group. Everything that needs root runs through `sudo -n`
 * when the login user is not root.
 *
 * Tested on the lab: Debian bookworm (apt-get, `docker.io`, no systemd running: `dockerd` started
 * in the background). The other package managers are rendered from each distribution's
 * documented package names and are not exercised here.
 */
import { type Argv, line, quote } from "./shell";

/** How a distribution installs Docker from its own packages. */
export interface DockerPackages {
  /** The package manager's name, as reported (`apt-get`, `dnf`, …). */
  manager: "apt-get" | "dnf" | "yum" | "apk" | "zypper";
  /** The packages that bring the Docker engine and CLI. */
  packages: string[];
}

/** What the probe found on the host. */
export interface HostProbe {
  uid: string;
  user: string;
  /** `docker` is on the PATH (it may still not answer). */
  docker: boolean;
  /** Passwordless sudo works (only asked when the user is not root). */
  sudo: boolean;
  /** How services are started: a running systemd, OpenRC, or neither. */
  init: "systemd" | "openrc" | "none";
  /** /etc/os-release `ID`, `ID_LIKE`, `VERSION_ID`, `PRETTY_NAME`. */
  id: string;
  like: string;
  version: string;
  name: string;
}

/** Where a host without systemd or OpenRC has `dockerd`'s output. */
export const DOCKERD_LOG = "/var/log/dockerd.log";

/** Seconds the engine has to answer after it was started. */
export const DOCKER_START_TIMEOUT_SECONDS = 60;

/** Prints one `key=value` line per fact the bootstrap needs (see `parseProbe`). */
export function probeScript(): string {
  return [
    'echo "uid=$(id -u)"',
    'echo "user=$(id -un)"',
    "if command -v docker >/dev/null 2>&1; then echo docker=yes; else echo docker=no; fi",
    'if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi',
    "if [ -d /run/systemd/system ]; then echo init=systemd; elif command -v rc-service >/dev/null 2>&1; then echo init=openrc; else echo init=none; fi",
    'if [ -r /etc/os-release ]; then (. /etc/os-release; echo "id=${ID:-}"; echo "like=${ID_LIKE:-}"; echo "version=${VERSION_ID:-}"; echo "name=${PRETTY_NAME:-}"); fi',
  ].join("\n");
}

/** Reads `probeScript`'s output. */
export function parseProbe(stdout: string): HostProbe {
  const kv = new Map<string, string>();
  for (const l of stdout.split("\n")) {
    const i = l.indexOf("=");
    if (i > 0) kv.set(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  const init = kv.get("init");
  return {
    uid: kv.get("uid") ?? "",
    user: kv.get("user") ?? "",
    docker: kv.get("docker") === "yes",
    sudo: kv.get("sudo") === "yes",
    init: init === "systemd" || init === "openrc" ? init : "none",
    id: kv.get("id") ?? "",
    like: kv.get("like") ?? "",
    version: kv.get("version") ?? "",
    name: kv.get("name") ?? "",
  };
}

/**
 * The distribution's own Docker packages, by /etc/os-release `ID` (then `ID_LIKE`); undefined for a
 * distribution Berth does not know how to install Docker on.
 */
export function dockerPackagesFor(id: string, like = ""): DockerPackages | undefined {
  for (const d of [id, ...like.split(/\s+/)].map((s) => s.toLowerCase()).filter(Boolean)) {
    if (d === "debian" || d === "ubuntu") return { manager: "apt-get", packages: ["docker.io"] };
    if (d === "fedora") return { manager: "dnf", packages: ["moby-engine"] };
    if (d === "amzn") return { manager: "yum", packages: ["docker"] };
    if (d === "alpine") return { manager: "apk", packages: ["docker"] };
    if (d === "opensuse" || d === "opensuse-leap" || d === "opensuse-tumbleweed" || d === "suse" || d === "sles") return { manager: "zypper", packages: ["docker"] };
  }
  return undefined;
}

/** `cmd` run as root: as it is for root, through `sudo -n sh -c` otherwise. */
export function asRoot(cmd: string, sudo: boolean): string {
  return sudo ? line(["sudo", "-n", "sh", "-c", cmd]) : cmd;
}

/** Installs the packages with the distribution's package manager, non-interactively. */
export function installScript(p: DockerPackages): string {
  const pkgs = p.packages.map(quote).join(" ");
  switch (p.manager) {
    case "apt-get":
      return `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${pkgs}`;
    case "dnf":
      return `dnf install -y ${pkgs}`;
    case "yum":
      return `yum install -y ${pkgs}`;
    case "apk":
      return `apk add --no-cache ${pkgs}`;
    case "zypper":
      return `zypper --non-interactive install ${pkgs}`;
  }
}

const dockerAnswers: Argv = ["docker", "version", "--format", "{{.Server.Version}}"];

/**
 * Starts the engine (systemd: enabled and started; OpenRC: added to the default runlevel and
 * started; neither: `dockerd` in the background, its output in `DOCKERD_LOG`) unless it already
 * answers, then waits up to `DOCKER_START_TIMEOUT_SECONDS` for it to answer.
 */
export function startScript(init: HostProbe["init"]): string {
  const answers = `${line(dockerAnswers)} >/dev/null 2>&1`;
  const start =
    init === "systemd"
      ? "systemctl enable --now docker"
      : init === "openrc"
        ? "rc-update add docker default && rc-service docker start"
        : `nohup dockerd >>${DOCKERD_LOG} 2>&1 </dev/null &`;
  return [
    // `&` ends a command as `;` does (`&;` would be a syntax error).
    `if ! ${answers}; then ${start}${start.endsWith("&") ? "" : ";"} fi`,
    "i=0",
    `until ${answers}; do`,
    "  i=$((i + 1))",
    `  if [ "$i" -ge ${DOCKER_START_TIMEOUT_SECONDS} ]; then`,
    `    echo "the Docker engine did not answer within ${DOCKER_START_TIMEOUT_SECONDS} s"`,
    init === "none" ? `    tail -n 20 ${DOCKERD_LOG}` : init === "systemd" ? "    systemctl status docker --no-pager | tail -n 20" : "    rc-service docker status",
    "    exit 1",
    "  fi",
    "  sleep 1",
    "done",
  ].join("\n");
}

/** Adds `user` to the `docker` group (made when the package did not make it). */
export function dockerGroupScript(user: string): string {
  return [
    "getent group docker >/dev/null 2>&1 || groupadd docker",
    `usermod -aG docker ${quote(user)} 2>/dev/null || addgroup ${quote(user)} docker`,
  ].join("\n");
}

/** Asks the engine for its version (as the login user). */
export function dockerVersionScript(): string {
  return line(dockerAnswers);
}
