/**
 * Provider side of one role on one host (`AppHost`): Kamal's boot sequence, run over SSH.
 *
 *   write the secret env file (0600, over stdin) → registry login (password over stdin) → pull
 *   (skipped for a retained or digest-pinned image) → run the new container → proxied roles:
 *   `kamal-proxy deploy` (health-check, switch, drain); other roles: wait until running/healthy
 *   → stop the role's other containers → keep the newest `retainContainers` stopped ones.
 *
 * A failed health check stops the new container and leaves the old one serving; the error names
 * the host, the step, the exit code and the container's last log lines.
 */
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { AppConfig, RoleConfig } from "../config/app";
import type { RoleProxyConfig } from "../config/proxy";
import { appRunArgv, containerName, envFileContent, envFilePath, healthStatusScript, loginArgv, serviceName } from "../commands/app";
import { proxyDeployArgv, proxyRemoveArgv, proxyResumeArgv, proxyStopArgv, proxyTarget, proxyTlsPaths } from "../commands/proxy";
import {
  runningContainerScript,
  chownToContainerUserScript,
  cleanupScript,
  containerExistsScript,
  logsScript,
  pullScript,
  removeContainersScript,
  removeFileScript,
  startScript,
  stopNewScript,
  tolerateScript,
  writeSecretFileScript,
} from "../commands/rollout";
import { line } from "../commands/shell";
import type { Handler } from "./handlers";
import { providerChanged } from "./dynamic";
import { progress } from "./log";
import { Connection, exec, lastLines, RemoteCommandError, run } from "./ssh";

/** What one role runs on one host: everything a reviewer may see in a preview (no secrets). */
export interface AppHostSpec {
  /** The host as written in the role. */
  host: string;
  service: string;
  role: string;
  destination: string;
  version: string;
  /** The image reference to run (a digest reference when built by an `Image`). */
  image: string;
  primary: boolean;
  container: {
    restartPolicy: string;
    cmd: string[];
    /** Clear variables, merged root < role < host tags. */
    env: Record<string, string>;
    labels: Record<string, string>;
    options: RoleConfig["options"];
    logging: RoleConfig["logging"];
    volumes: string[];
    stopTimeoutSeconds?: number;
    network: string;
  };
  /** Set for a proxied role (its own certificate, if any, travels in `secrets`). */
  proxy?: Omit<RoleProxyConfig, "certificate"> & { customCertificate: boolean };
  proxyContainer: string;
  deployTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  readinessDelaySeconds: number;
  retainContainers: number;
  maintenance: { enabled: boolean; message?: string; drainTimeoutSeconds: number };
  registry?: { server: string; username: string };
}

/** The secret part, stored encrypted in state. */
export interface AppHostSecrets {
  env: Record<string, string>;
  registryPassword?: string;
  certificate?: { certificatePem: string; privateKeyPem: string };
}

export interface AppHostInputs {
  /** Set by `pulumi refresh` when the host no longer runs this version: the next `up` redeploys it. */
  drifted?: boolean;
  connection: Connection;
  spec: AppHostSpec;
  secrets: AppHostSecrets;
  /** Seconds to wait before starting (Kamal's `boot.wait` between host groups). */
  delayBeforeSeconds?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The AppConfig slice `appRunArgv` needs, for this one role on this one host. */
function hostConfig(s: AppHostSpec): AppConfig {
  const role: RoleConfig = {
    name: s.role,
    hosts: [{ host: s.host, tags: [] }],
    cmd: s.container.cmd,
    env: { clear: s.container.env, secret: {} },
    labels: s.container.labels,
    restartPolicy: s.container.restartPolicy,
    options: s.container.options,
    logging: s.container.logging,
    volumes: s.container.volumes,
    stopTimeoutSeconds: s.container.stopTimeoutSeconds,
  };
  return {
    service: s.service,
    destination: s.destination,
    roles: { [s.role]: role },
    env: { clear: {}, secret: {}, tags: {} },
    proxyRun: { network: s.container.network },
  } as unknown as AppConfig;
}

function fullProxy(s: AppHostSpec, secrets: AppHostSecrets): RoleProxyConfig {
  const { customCertificate: _c, ...rest } = s.proxy!;
  return { ...rest, certificate: secrets.certificate };
}

/** Waits until a non-proxied container is running (and still running after the readiness delay) or healthy. */
async function waitHealthy(c: Connection, s: AppHostSpec, name: string): Promise<void> {
  const deadline = Date.now() + s.deployTimeoutSeconds * 1000;
  let attempt = 0;
  let status = "";
  while (Date.now() < deadline) {
    status = (await exec(c, healthStatusScript(name))).stdout.trim();
    if (status === "healthy") return;
    if (status === "running") {
      await sleep(Math.min(s.readinessDelaySeconds * 1000, Math.max(0, deadline - Date.now())));
      status = (await exec(c, healthStatusScript(name))).stdout.trim();
      if (status === "running" || status === "healthy") return;
    }
    if (["unhealthy", "exited", "dead"].includes(status)) break;
    attempt += 1;
    await sleep(Math.min(attempt, 5) * 1000);
  }
  const logs = (await exec(c, logsScript(name))).stdout;
  await exec(c, stopNewScript(name));
  throw new RemoteCommandError(s.host, `waiting for ${name} to be running (last status: ${status || "none"})`, 1, `container logs:\n${lastLines(logs, 30)}`);
}

/** Boots `spec.version` of the role on the host. */
async function boot(inp: AppHostInputs): Promise<void> {
  const { connection: c, spec: s, secrets } = inp;
  const svc = serviceName(s.service, s.role, s.destination);
  const name = containerName(s.service, s.role, s.destination, s.version);
  const say = (phase: string) => progress(`${s.host} ${svc}: ${phase}`);
  if (inp.delayBeforeSeconds) await sleep(inp.delayBeforeSeconds * 1000);

  const envFile = envFilePath(s.service, s.destination, s.role);
  await run(c, "writing the env file", writeSecretFileScript(envFile), { stdin: envFileContent(secrets.env) });
  if (s.registry && secrets.registryPassword !== undefined) {
    await run(c, `docker login ${s.registry.server}`, line(loginArgv(s.registry.server, s.registry.username)), { stdin: secrets.registryPassword });
  }
  const retained = (await exec(c, containerExistsScript(name))).code === 0;
  await say(retained ? `reusing the retained image of ${s.version}` : `pulling ${s.image}`);
  await run(c, `pulling ${s.image}`, pullScript(s.image, retained));

  await say(`starting ${name}`);
  const runArgv = appRunArgv({ cfg: hostConfig(s), role: s.role, host: s.host, version: s.version, image: s.image });
  const started = await run(c, `starting ${name}`, startScript(name, runArgv, randomBytes(8).toString("hex")));
  const id = started.stdout.trim().split("\n").pop() ?? "";
  if (!id) throw new RemoteCommandError(s.host, `starting ${name}`, 1, "docker run returned no container id");

  if (s.proxy) {
    const proxy = fullProxy(s, secrets);
    let tlsPaths;
    if (proxy.certificate) {
      tlsPaths = proxyTlsPaths(s.service, s.destination, s.role);
      await run(c, "writing the TLS certificate", writeSecretFileScript(tlsPaths.hostCertificate), { stdin: proxy.certificate.certificatePem });
      await run(c, "writing the TLS key", writeSecretFileScript(tlsPaths.hostPrivateKey), { stdin: proxy.certificate.privateKeyPem });
      // The files and their (0700) directories belong to kamal-proxy's user inside its container.
      const tlsDir = tlsPaths.hostDir;
      const appDirOnHost = tlsDir.slice(0, tlsDir.lastIndexOf("/tls/"));
      const owned = [appDirOnHost, `${appDirOnHost}/tls`, tlsDir, tlsPaths.hostCertificate, tlsPaths.hostPrivateKey];
      await run(c, "handing the TLS files to kamal-proxy", chownToContainerUserScript(s.proxyContainer, owned));
    }
    await say(`health-checking ${name} (${proxy.healthcheck.path}) through kamal-proxy`);
    const deploy = proxyDeployArgv({
      service: svc,
      target: proxyTarget(id, proxy),
      proxy,
      deployTimeoutSeconds: s.deployTimeoutSeconds,
      drainTimeoutSeconds: s.drainTimeoutSeconds,
      tlsPaths,
      container: s.proxyContainer,
    });
    const r = await exec(c, line(deploy));
    if (r.code !== 0) {
      const logs = (await exec(c, logsScript(name))).stdout;
      await exec(c, stopNewScript(name));
      throw new RemoteCommandError(
        s.host,
        `kamal-proxy deploy of ${name} (the previous version keeps serving)`,
        r.code,
        `${r.stdout}${r.stderr}\ncontainer logs (last lines):\n${lastLines(logs, 30)}`,
      );
    }
    await say(`switched to ${name}; stopping the previous containers`);
  } else {
    await say(`waiting for ${name} to be running`);
    await waitHealthy(c, s, name);
  }
  await run(c, "stopping old containers", cleanupScript({ service: s.service, role: s.role, destination: s.destination }, id, s.retainContainers, s.container.stopTimeoutSeconds));
  await say(`${s.version} is live`);
}

/** Turns maintenance on or off when it differs from `before`. */
async function maintenance(inp: AppHostInputs, before?: AppHostSpec["maintenance"]): Promise<void> {
  const s = inp.spec;
  if (!s.proxy) return;
  const svc = serviceName(s.service, s.role, s.destination);
  if (s.maintenance.enabled) {
    if (before?.enabled && before.message === s.maintenance.message) return;
    await progress(`${s.host} ${svc}: maintenance on`);
    await run(inp.connection, "maintenance on", line(proxyStopArgv(svc, s.maintenance.drainTimeoutSeconds, s.maintenance.message, s.proxyContainer)));
  } else if (before?.enabled) {
    await progress(`${s.host} ${svc}: maintenance off`);
    await run(inp.connection, "maintenance off", line(proxyResumeArgv(svc, s.proxyContainer)));
  }
}

/** Does anything but maintenance differ? */
function needsBoot(olds: AppHostInputs, news: AppHostInputs): boolean {
  const { maintenance: _a, ...o } = olds.spec;
  const { maintenance: _b, ...n } = news.spec;
  return !isDeepStrictEqual(o, n) || !isDeepStrictEqual(olds.secrets, news.secrets);
}

export const appHostHandler: Handler = {
  async create(inputs: AppHostInputs) {
    await boot(inputs);
    await maintenance(inputs);
    const s = inputs.spec;
    return { id: `${s.host}/${serviceName(s.service, s.role, s.destination)}`, outs: inputs };
  },
  async update(_id, olds: AppHostInputs, news: AppHostInputs) {
    if (olds.drifted || needsBoot(olds, news)) await boot(news);
    await maintenance(news, olds.spec.maintenance);
    return { outs: news };
  },
  async delete(_id, props: AppHostInputs) {
    const { connection: c, spec: s } = props;
    const svc = serviceName(s.service, s.role, s.destination);
    await progress(`${s.host} ${svc}: removing`);
    if (s.proxy) await run(c, `kamal-proxy remove ${svc}`, tolerateScript(proxyRemoveArgv(svc, s.proxyContainer), "not found"));
    await run(c, `removing the containers of ${svc}`, removeContainersScript({ service: s.service, role: s.role, destination: s.destination }));
    await run(c, "removing the env file", removeFileScript(envFilePath(s.service, s.destination, s.role)));
  },
  async read(id, props: AppHostInputs) {
    const s = props.spec;
    const name = containerName(s.service, s.role, s.destination, s.version);
    const r = await exec(props.connection, runningContainerScript(name));
    const drifted = r.code !== 0 || r.stdout.trim() === "";
    if (drifted) await progress(`${s.host} ${serviceName(s.service, s.role, s.destination)}: ${name} is not running; the next up redeploys it`);
    const { drifted: _d, ...rest } = props;
    return { id, props: drifted ? { ...rest, drifted: true } : rest };
  },
  async diff(_id, olds: AppHostInputs, news: AppHostInputs) {
    if (olds.drifted) return { changes: true, replaces: [], deleteBeforeReplace: false };
    // A new Berth (or a moved checkout) brings a new provider stub: record it with a no-op update,
    // so `pulumi refresh` and `destroy` run the current code.
    if (providerChanged(olds, news)) return { changes: true, replaces: [], deleteBeforeReplace: false };
    // A new SSH key or jump host is recorded (for later updates and destroy) without redeploying:
    // `update` boots only when `spec` or `secrets` changed.
    const changed = !isDeepStrictEqual(olds.spec, news.spec) || !isDeepStrictEqual(olds.secrets, news.secrets) || !isDeepStrictEqual(olds.connection, news.connection);
    return { changes: changed, replaces: [], deleteBeforeReplace: false };
  },
};
