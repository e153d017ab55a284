/**
 * `berth:index:DockerHost`: Docker on one host, installed from the distribution's own packages when
 * it is missing (`ssh.bootstrap`; Kamal's `kamal server bootstrap`, which runs get.docker.com
 * instead). The components create it before kamal-proxy and the app on that host, so it is also
 * the point to hang anything that must follow the bootstrap (Kamal's `docker-setup` hook).
 *
 *   Docker answers → nothing to do. Otherwise: probe (user, sudo, init system, /etc/os-release) →
 *   refuse unless root or passwordless sudo → install the distribution's packages → start the
 *   engine and wait for it → a non-root user joins the `docker` group (and the connection is
 *   re-opened so the new group applies) → ask Docker again.
 *
 * What runs is rendered in `commands/bootstrap.ts`. Every failure names the host, the step, the
 * exit code and the last lines of output. Destroying the resource leaves Docker installed.
 */
import { asRoot, dockerGroupScript, dockerPackagesFor, dockerVersionScript, installScript, parseProbe, probeScript, startScript } from "../commands/bootstrap";
import { dockerHostOutputsSchema, dockerHostSchema, type DockerHostInputs, type DockerHostOutputs } from "../config/resources";
import { progress } from "./log";
import type { ResourceDef } from "./resource";
import { type Connection, exec, reconnect, run } from "./ssh";

export const DOCKER_HOST_TOKEN = "berth:index:DockerHost";

/** One bootstrap per host and login at a time in this process. */
const running = new Map<string, Promise<DockerHostOutputs>>();

/** The hint a pre-flight failure gets when `docker` is not installed on the host. */
export function dockerMissingHint(host: string): string {
  return (
    `${host}: Docker is not installed there (\`docker\`: command not found). Install it, or set \`ssh.bootstrap: true\` ` +
    "on the AppService / Proxy / Accessory so Berth installs it from the host's distribution packages on the next deploy (docs/deploy.md#bootstrap-docker-on-a-host-that-has-none-sshbootstrap)."
  );
}

/** True when a failed `docker version` says that there is no `docker` at all. */
export function dockerNotFound(code: number, output: string): boolean {
  return code === 127 || /docker: (command )?not found|docker: No such file or directory/i.test(output);
}

async function bootstrap(c: Connection, host: string): Promise<DockerHostOutputs> {
  const asked = await exec(c, dockerVersionScript(), { step: "asking Docker" });
  if (asked.code === 0) {
    const name = parseProbe((await run(c, "reading /etc/os-release", probeScript())).stdout).name;
    await progress(`${host} Docker ${asked.stdout.trim()} answers; nothing to install`);
    return { installed: false, distribution: name, packageManager: "", dockerVersion: asked.stdout.trim() };
  }
  const probe = parseProbe((await run(c, "bootstrap: probing the host (user, sudo, init, /etc/os-release)", probeScript())).stdout);
  const root = probe.uid === "0";
  if (!root && !probe.sudo) {
    throw new Error(
      `${host}: bootstrap: Docker does not answer and the login user ${probe.user || c.user} is neither root nor allowed passwordless sudo (\`sudo -n true\` failed), ` +
        "so Berth cannot install it. Log in as root, give the user passwordless sudo, or install Docker yourself.",
    );
  }
  let manager = "";
  if (!probe.docker) {
    const pkgs = dockerPackagesFor(probe.id, probe.like);
    if (!pkgs) {
      throw new Error(
        `${host}: bootstrap: Docker is not installed and Berth does not know how to install it on ${probe.name || probe.id || "this distribution (no /etc/os-release)"}: ` +
          "it installs the distribution's own packages on Debian and Ubuntu (apt-get docker.io), Fedora (dnf moby-engine), Amazon Linux (yum docker), Alpine (apk docker) and openSUSE/SLES (zypper docker). Install Docker yourself.",
      );
    }
    manager = pkgs.manager;
    await progress(`${host} bootstrap: installing Docker from ${probe.name || probe.id}'s packages: ${pkgs.manager} ${pkgs.packages.join(" ")}`);
    await run(c, `bootstrap: installing ${pkgs.packages.join(" ")} with ${pkgs.manager}`, asRoot(installScript(pkgs), !root));
  }
  await progress(`${host} bootstrap: starting the Docker engine (${probe.init === "none" ? "no systemd or OpenRC running: dockerd in the background" : probe.init})`);
  await run(c, "bootstrap: starting the Docker engine", asRoot(startScript(probe.init), !root));
  if (!root) {
    await run(c, `bootstrap: adding ${probe.user} to the docker group`, asRoot(dockerGroupScript(probe.user), true));
    await reconnect(c);
  }
  const version = (await run(c, "bootstrap: asking the new Docker engine", dockerVersionScript())).stdout.trim();
  await progress(`${host} bootstrap: Docker ${version} answers`);
  return { installed: manager !== "", distribution: probe.name, packageManager: manager, dockerVersion: version };
}

function ensure(inp: DockerHostInputs): Promise<DockerHostOutputs> {
  const c = inp.connection;
  const key = JSON.stringify([c.user, c.host, c.port]);
  let p = running.get(key);
  if (!p) {
    p = bootstrap(c, inp.host);
    running.set(key, p);
    p.catch(() => running.delete(key));
  }
  return p;
}

export const dockerHostResource: ResourceDef<DockerHostInputs, DockerHostOutputs> = {
  token: DOCKER_HOST_TOKEN,
  inputs: dockerHostSchema,
  outputs: dockerHostOutputsSchema,
  secretInputs: ["connection"],
  replaceOnChanges: ["host"],

  async create(inputs) {
    const outs = await ensure(inputs);
    return { id: inputs.host, outs };
  },

  async update(_id, olds) {
    // Only the connection can change (a new key or jump host): nothing to do on the host.
    return { installed: olds.installed, distribution: olds.distribution, packageManager: olds.packageManager, dockerVersion: olds.dockerVersion };
  },

  async delete(_id, props) {
    await progress(`${props.host} Docker is left installed (Berth never uninstalls it)`);
  },

  async read(id, props) {
    const r = await exec(props.connection, dockerVersionScript(), { step: "asking Docker" });
    if (r.code !== 0) {
      await progress(`${props.host} Docker does not answer; the next up bootstraps it again`);
      return undefined;
    }
    return { id, inputs: { host: props.host, connection: props.connection }, outs: { installed: props.installed, distribution: props.distribution, packageManager: props.packageManager, dockerVersion: props.dockerVersion } };
  },
};

