/**
 * `berth:index:AccessoryHost`: one accessory on one host — Kamal's `accessory boot` (and
 * `reboot` when its settings change), run over SSH:
 *
 *   pre-flight of every host of the accessory (`preflight.ts`) → registry login (password over stdin) → network → directories (mkdir, chmod, chown) → files
 *   (content over stdin, 0600 while written, then chmod/chown) → the 0600 env file → pull → set the
 *   running container aside (renamed, stopped: its volumes and directories stay) → `docker run`
 *   → wait for the health check (a command in the container, or a TCP port) or for it to run →
 *   kamal-proxy deploy when proxied → remove the set-aside container.
 *
 * A new container that fails is removed and the previous one is put back and started; the error
 * names the host, the step and the container's last log lines. `destroy` removes the container,
 * its kamal-proxy route and its env file, and keeps its data unless `dataDeletedOnDestroy` lists
 * it. `read` reports the running container's image and the env file's variables; a container
 * that is gone or stopped is reported gone, so the next `up` boots it.
 */
import { randomBytes } from "node:crypto";
import { accessoryHostSchema, type AccessoryHostInputs } from "../config/resources";
import {
  accessoryEnvFilePath,
  accessoryRunArgv,
  accessoryStateScript,
  deleteDataScript,
  directoryScript,
  execHealthArgv,
  fileScript,
  removeAccessoryContainersScript,
  removeContainerScript,
  restoreScript,
  setAsideScript,
  startAccessoryScript,
  tcpHealthScript,
} from "../commands/accessory";
import { envFileContent, healthStatusScript, loginArgv, parseEnvFile } from "../commands/app";
import { ensureNetworkScript } from "../commands/docker";
import { proxyDeployArgv, proxyRemoveArgv, proxyTarget } from "../commands/proxy";
import { homeScript, logsScript, presentScript, pullScript, readFileScript, removeFileScript, tolerateScript, writeSecretFileScript } from "../commands/rollout";
import { line } from "../commands/shell";
import type { RoleProxyConfig } from "../config/proxy";
import { progress } from "./log";
import { preflight } from "./preflight";
import type { DiffKind, ResourceDef } from "./resource";
import { type Connection, exec, lastLines, pullThrough, RemoteCommandError, run, viaTunnel } from "./ssh";

export const ACCESSORY_HOST_TOKEN = "berth:index:AccessoryHost";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function say(s: AccessoryHostInputs, phase: string): Promise<void> {
  return progress(`${s.host} ${s.service}: ${phase}`);
}

/** Seconds a container without a health check must keep running to count as booted. */
const RUNNING_SECONDS = 2;

/** Waits until the new container passes its health check (or runs); the failure's reason otherwise. */
async function waitHealthy(c: Connection, s: AccessoryHostInputs): Promise<string | undefined> {
  const hc = s.healthcheck;
  const deadline = Date.now() + (hc?.timeoutSeconds ?? 30) * 1000;
  let last = "";
  for (;;) {
    const status = (await exec(c, healthStatusScript(s.service))).stdout.trim();
    // `restarting`: it exited and its restart policy is bringing it back (a crash loop);
    // `created`: `docker run --detach` returned without starting it.
    if (["exited", "dead", "restarting", "created"].includes(status)) {
      return `the container ${status === "restarting" ? "exited and is restarting" : status === "created" ? "was created but did not start" : status}`;
    }
    if (status === "running" || status === "healthy") {
      if (!hc) {
        await sleep(RUNNING_SECONDS * 1000);
        const again = (await exec(c, healthStatusScript(s.service))).stdout.trim();
        if (again === "running" || again === "healthy") return undefined;
        return `the container stopped running (${again || "gone"})`;
      }
      const check = hc.cmd ? line(execHealthArgv(s.service, hc.cmd)) : tcpHealthScript(s.service, hc.port!);
      const r = await exec(c, check, { step: "health check" });
      if (r.code === 0) return undefined;
      last = lastLines(`${r.stdout}\n${r.stderr}`, 5);
    }
    if (Date.now() >= deadline) {
      const what = hc?.cmd ? `\`${hc.cmd.join(" ")}\`` : hc ? `TCP port ${hc.port}` : "running";
      return `the health check (${what}) did not pass within ${hc?.timeoutSeconds ?? 30} s${last ? `; last output:\n${last}` : ""}`;
    }
    await sleep((hc?.intervalSeconds ?? 1) * 1000);
  }
}

/** Boots the accessory on the host, replacing the container that runs there (if any). */
async function boot(s: AccessoryHostInputs): Promise<void> {
  const c = s.connection;
  const home = (await run(c, "finding the home directory", homeScript())).stdout.trim();
  if (s.registry && s.secrets.registryPassword !== undefined) {
    await say(s, `logging in to ${s.registry.server}`);
    await run(c, `docker login ${s.registry.server}`, line(loginArgv(s.registry.server, s.registry.username)), { stdin: s.secrets.registryPassword });
  }
  await run(c, `creating the docker network ${s.network}`, ensureNetworkScript(s.network));
  for (const d of s.directories) await run(c, `creating the directory ${d.hostPath}`, directoryScript(d));
  for (const [i, f] of s.files.entries()) {
    await run(c, `writing the file ${f.hostPath}`, fileScript(f), { stdin: s.secrets.files[i] ?? "" });
  }
  await run(c, "writing the env file", writeSecretFileScript(accessoryEnvFilePath(s.app, s.name)), { stdin: envFileContent(s.secrets.env) });
  await say(s, `pulling ${s.image}${viaTunnel(s.localRegistryPort)}`);
  await pullThrough(c, s.localRegistryPort, `pulling ${s.image}`, pullScript(s.image, false), presentScript(s.image, false));

  const aside = (await run(c, `setting the running ${s.service} aside`, setAsideScript(s.service, randomBytes(6).toString("hex"), s.stopTimeoutSeconds))).stdout.trim();
  if (aside) await say(s, `stopped the previous container (kept as ${aside} until the new one is healthy)`);
  const fail = async (step: string, code: number, reason: string): Promise<never> => {
    const logs = (await exec(c, logsScript(s.service))).stdout;
    if (aside) {
      await run(c, `putting the previous ${s.service} back`, restoreScript(s.service, aside));
      await say(s, "put the previous container back");
    } else {
      await exec(c, removeContainerScript(s.service));
    }
    throw new RemoteCommandError(s.host, `${step}${aside ? " (the previous container is running again)" : ""}`, code, `${reason}\ncontainer logs (last lines):\n${lastLines(logs, 30)}`);
  };

  await say(s, `starting ${s.service}`);
  const started = await exec(c, startAccessoryScript(accessoryRunArgv(s, home), s.service), { step: `starting ${s.service}` });
  const id = started.stdout.trim().split("\n").pop() ?? "";
  if (started.code !== 0 || !id) await fail(`starting ${s.service}`, started.code || 1, `${started.stdout}${started.stderr}`.trim() || "docker run returned no container id");

  await say(s, s.healthcheck ? "waiting for its health check" : "waiting for it to run");
  const unhealthy = await waitHealthy(c, s);
  if (unhealthy) await fail(`waiting for ${s.service} to be healthy`, 1, unhealthy);

  if (s.proxy) {
    const proxy = { ...s.proxy } as RoleProxyConfig;
    await say(s, `routing through kamal-proxy (health check ${proxy.healthcheck.path})`);
    const deploy = proxyDeployArgv({ service: s.service, target: proxyTarget(id, proxy), proxy, deployTimeoutSeconds: s.healthcheck?.timeoutSeconds ?? 30, drainTimeoutSeconds: 0, container: s.proxyContainer });
    const r = await exec(c, line(deploy), { step: `kamal-proxy deploy of ${s.service}` });
    if (r.code !== 0) await fail(`kamal-proxy deploy of ${s.service}`, r.code, `${r.stdout}${r.stderr}`);
  }
  if (aside) await run(c, `removing the previous ${s.service}`, removeContainerScript(aside));
  await say(s, "booted");
}

/**
 * Paths whose change alone does not reboot the accessory (a database restarts for nothing else):
 * recorded in state, used by the next boot or by `destroy`.
 */
const NO_BOOT = ["connection", "preflight", "dataDeletedOnDestroy", "secretEnvNames", "healthcheck", "registry", "secrets.registryPassword", "stopTimeoutSeconds"];

function needsBoot(changes: Record<string, DiffKind>): boolean {
  return Object.keys(changes).some((p) => !NO_BOOT.some((k) => p === k || p.startsWith(`${k}.`) || p.startsWith(`${k}[`)));
}

export const accessoryHostResource: ResourceDef<AccessoryHostInputs> = {
  token: ACCESSORY_HOST_TOKEN,
  inputs: accessoryHostSchema,
  secretInputs: ["connection", "secrets", "preflight"],
  replaceOnChanges: ["host", "service", "app", "name"],
  // The container name is the service name: the old one must go before the new one runs.
  deleteBeforeReplace: true,

  adjustDiff(changes) {
    // The other hosts of the deploy change with the program's host list, not with this host.
    return Object.fromEntries(Object.entries(changes).filter(([p]) => p !== "preflight" && !p.startsWith("preflight[") && !p.startsWith("preflight.")));
  },

  async create(s) {
    await preflight(s.connection, s.preflight);
    await boot(s);
    return { id: `${s.host}/${s.service}` };
  },

  async update(_id, _olds, news, changes) {
    if (needsBoot(changes)) {
      await preflight(news.connection, news.preflight);
      await boot(news);
    }
  },

  async delete(_id, s) {
    const c = s.connection;
    await say(s, "removing the container");
    if (s.proxy) await run(c, `kamal-proxy remove ${s.service}`, tolerateScript(proxyRemoveArgv(s.service, s.proxyContainer), "not found"));
    await run(c, `removing the containers of ${s.service}`, removeAccessoryContainersScript(s.service));
    await run(c, "removing the env file", removeFileScript(accessoryEnvFilePath(s.app, s.name)));
    if (s.dataDeletedOnDestroy.length > 0) {
      await say(s, `deleting its data (deleteDataOnDestroy): ${s.dataDeletedOnDestroy.join(", ")}`);
      await run(c, "deleting the data", deleteDataScript(s.dataDeletedOnDestroy));
    } else {
      await say(s, "keeping its data (directories, files, volumes); set deleteDataOnDestroy to delete it with the accessory");
    }
  },

  async read(id, s) {
    const c = s.connection;
    const st = await exec(c, accessoryStateScript(s.service), { step: `inspecting ${s.service}` });
    const [running, image] = st.code === 0 ? st.stdout.trim().split(" ") : ["absent", ""];
    if (running !== "true") {
      await say(s, `${s.service} is not running; the next up boots it`);
      return undefined;
    }
    const env = await exec(c, readFileScript(accessoryEnvFilePath(s.app, s.name)), { step: "reading the env file" });
    return { id, inputs: { ...s, image, secrets: { ...s.secrets, env: env.code === 0 ? parseEnvFile(env.stdout) : {} } } };
  },
};
