/**
 * `berth:index:AppHost`: one role of an AppService on one host — Kamal's boot sequence, run over SSH.
 *
 *   write the secret env file (0600, over stdin) → registry login (password over stdin) → pull
 *   (skipped for a retained or digest-pinned image) → run the new container → proxied roles:
 *   `kamal-proxy deploy` (health-check, switch, drain); other roles: wait until running/healthy
 *   → stop the role's other containers → keep the newest `retainContainers` stopped ones → remove the
 *   service's dangling images. All of it under Kamal's deploy lock on the host (`host-lock.ts`), each
 *   mutating step appended to Kamal's audit log there.
 *
 * A failed health check stops the new container and leaves the old one serving; the error names
 * the host, the step, the exit code and the container's last log lines (secrets redacted).
 * `read` (refresh, import) reports what really runs: the version and image of the running
 * container, the env file's variables, and kamal-proxy's route (hosts, paths, TLS, maintenance).
 */
import { randomBytes } from "node:crypto";
import { type AppArgs, imageLocalRegistryPort, normalizeApp } from "../config/app";
import { appHostSecrets, appHostSpec } from "../config/app-host";
import { appHostSchema, type AppHostInputs } from "../config/resources";
import { normalizeSsh } from "../config/ssh";
import { connectionFor } from "../config/connection";
import { appRunArgv, containerName, ensureNetworkScript, envFileContent, envFilePath, healthStatusScript, loginArgv, ownerFilePath, parseEnvFile, serviceName } from "../commands/app";
import { parseProxyList, proxyDeployArgv, proxyDeployWaitScript, proxyListArgv, proxyRemoveArgv, proxyResumeArgv, proxyStopArgv, proxyTarget, proxyTlsPaths } from "../commands/proxy";
import {
  chownToContainerUserScript,
  claimOwnerScript,
  ownerScript,
  cleanupScript,
  inspectJsonArgv,
  labelledContainersArgv,
  containerExistsScript,
  logsScript,
  pruneImagesScript,
  presentScript,
  pullScript,
  readFileScript,
  removeContainersScript,
  removeFileScript,
  runningRoleContainersScript,
  startScript,
  stopNewScript,
  stopStartedScript,
  startWaitScript,
  tolerateScript,
  writeSecretFileScript,
} from "../commands/rollout";
import { line } from "../commands/shell";
import type { RoleProxyConfig } from "../config/proxy";
import { providerSsh } from "./config";
import { cleanUpAfterBoot, errorPagesDir, prepareAssets, removeAssetsAndPages, uploadErrorPages } from "./assets";
import { audit, withHostLock } from "./host-lock";
import { progress } from "./log";
import { preflight as checkHosts } from "./preflight";
import { berthLockMessage } from "../commands/lock";
import type { DiffKind, ResourceDef } from "./resource";
import { type Connection, ConnectionLostError, exec, lastLines, pullThrough, RemoteCommandError, run, viaTunnel } from "./ssh";

export const APP_HOST_TOKEN = "berth:index:AppHost";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The role's kamal-proxy settings with its certificate (from `secrets`). */
function fullProxy(s: AppHostInputs): RoleProxyConfig {
  const { customCertificate: _c, ...rest } = s.proxy!;
  return { ...rest, certificate: s.secrets.certificate };
}

function say(s: AppHostInputs, phase: string): Promise<void> {
  return progress(`${s.host} ${serviceName(s.service, s.role, s.destination)}: ${phase}`);
}

/** Waits until a non-proxied container is running (and still running after the readiness delay) or healthy. */
async function waitHealthy(c: Connection, s: AppHostInputs, name: string): Promise<void> {
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

/**
 * Records this stack as the role's owner on the host, or refuses (before anything changes there)
 * when another stack owns it: two stacks with the same service, role and destination would
 * replace each other's containers.
 */
async function claim(s: AppHostInputs): Promise<void> {
  if (!s.owner) return;
  const file = ownerFilePath(s.service, s.destination, s.role);
  const r = await exec(s.connection, claimOwnerScript(file, s.owner), { step: "claiming the role" });
  if (r.code === 3) {
    throw new Error(
      `${s.host}: ${serviceName(s.service, s.role, s.destination)} belongs to the stack ${r.stdout.trim()}, not ${s.owner}: ` +
        "two stacks cannot deploy the same service, role and destination to one host. Give this stack its own `destination` (the default is the stack name), or destroy the other.",
    );
  }
  if (r.code !== 0) throw new RemoteCommandError(s.host, "claiming the role", r.code, `${r.stdout}${r.stderr}`);
}

/** Pre-flight (`preflight.ts`) of this host and every other host of the deploy, before this host changes. */
function preflight(s: AppHostInputs): Promise<void> {
  return checkHosts(s.connection, s.preflight);
}

/**
 * The hosts of one role moving to one version in this `pulumi up` (the plugin runs for one
 * operation, and the engine updates the role's hosts together). Each host joins when its update
 * starts and settles once switched (or failed); a host that switched then waits for the others, and
 * if any failed it switches back to its previous container, so every host of the role ends on one
 * version. With boot groups (`bootGroups`), a host of a later group first waits until every host of
 * the earlier groups that takes part has switched (Kamal's order), and is not deployed at all when
 * one of them failed; the earlier groups wait for the later ones before they commit, so a failure in
 * the last group still switches the first back.
 */
export interface Release {
  started: number;
  members: Map<string, "pending" | "ok" | "failed">;
  /** The role's boot groups, when more than one. */
  groups?: string[][];
}
/**
 * How long a release waits, in milliseconds: `groupJoinMs` for a host of its boot groups to join
 * before counting it out (its update did not start: nothing of it changes), `joinGraceMs` for the
 * role's other hosts to join after the first one did. Changed only by tests.
 */
export const releaseTiming = { groupJoinMs: 30_000, joinGraceMs: 3000 };
const releases = new Map<string, Release>();

/** This host's place in its role's release (created by the first host). Exported for tests. */
export function joinRelease(s: Pick<AppHostInputs, "owner" | "service" | "role" | "destination" | "version" | "host" | "bootGroups">): Release {
  const key = JSON.stringify([s.owner ?? "", s.service, s.role, s.destination, s.version]);
  let r = releases.get(key);
  if (!r) {
    r = { started: Date.now(), members: new Map() };
    releases.set(key, r);
  }
  if (s.bootGroups && s.bootGroups.length > 1) r.groups = s.bootGroups;
  r.members.set(s.host, "pending");
  return r;
}

/** Records this host's outcome; resolves with the hosts that failed (or never settled) once all did. Exported for tests. */
export async function settle(r: Release, host: string, ok: boolean, timeoutMs: number): Promise<string[]> {
  r.members.set(host, ok ? "ok" : "failed");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = [...r.members.values()].includes("pending");
    if (!pending && Date.now() - r.started >= releaseTiming.joinGraceMs && !awaitingJoin(r, r.groups?.flat() ?? [])) break;
    await sleep(100);
  }
  return [...r.members].filter(([h, state]) => h !== host && state !== "ok").map(([h]) => h);
}

/** Is one of `hosts` (of the release's boot groups) yet to join, while it still may? */
function awaitingJoin(r: Release, hosts: string[]): boolean {
  return Date.now() - r.started < releaseTiming.groupJoinMs && hosts.some((h) => !r.members.has(h));
}

/**
 * A host of a later boot group waits until every host of the earlier groups that takes part in the
 * release has switched; resolves with those that failed (or did not switch within `timeoutMs`).
 * Exported for tests.
 */
export async function earlierGroups(r: Release, host: string, timeoutMs: number): Promise<string[]> {
  const g = r.groups?.findIndex((group) => group.includes(host)) ?? -1;
  if (!r.groups || g <= 0) return [];
  const earlier = r.groups.slice(0, g).flat();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = earlier.filter((h) => r.members.get(h) === "failed");
    if (failed.length > 0) return failed;
    const waiting = earlier.filter((h) => r.members.get(h) === "pending");
    if (waiting.length === 0 && !awaitingJoin(r, earlier)) return [];
    if (Date.now() >= deadline) return waiting;
    await sleep(100);
  }
}

/** Boots `version` of the role on the host. */
async function boot(s: AppHostInputs): Promise<void> {
  const c = s.connection;
  const release = joinRelease(s);
  // One boot group's switch takes at most this long; the first group waits for all the others.
  const perGroup = (s.deployTimeoutSeconds + s.drainTimeoutSeconds + (s.delayBeforeSeconds ?? 0)) * 1000 + 120_000;
  const settleWithin = perGroup * Math.max(release.groups?.length ?? 1, 1);
  const blocked = await earlierGroups(release, s.host, settleWithin);
  if (blocked.length > 0) {
    await settle(release, s.host, false, 0);
    throw new Error(
      `${s.host}: not deployed: ${blocked.join(", ")} of an earlier boot group of ${serviceName(s.service, s.role, s.destination)} failed (see its error); nothing was changed here`,
    );
  }
  let switched: { id: string; previous?: string } | undefined;
  const attempt: Attempt = {};
  try {
    switched = await switchTo(s, attempt);
  } catch (e) {
    await settle(release, s.host, false, 0);
    if (e instanceof ConnectionLostError) await undoAfterLostConnection(s, attempt, e);
    throw e;
  }
  const failed = await settle(release, s.host, true, settleWithin);
  if (failed.length > 0) {
    await rollBack(s, switched.previous);
    throw new Error(
      `${s.host}: ${serviceName(s.service, s.role, s.destination)} switched back to its previous version because ${failed.join(", ")} failed (see its error): every host of the role keeps one version`,
    );
  }
  await run(c, "stopping old containers", cleanupScript({ service: s.service, role: s.role, destination: s.destination }, switched.id, s.retainContainers, s.container.stopTimeoutSeconds));
  await run(c, "pruning dangling images", pruneImagesScript(s.service));
  await cleanUpAfterBoot(s);
  await say(s, `${s.version} is live`);
}

/** Undoes `switchTo` after another host of the role failed: the previous container serves again. */
async function rollBack(s: AppHostInputs, previous: string | undefined): Promise<void> {
  const c = s.connection;
  const name = containerName(s.service, s.role, s.destination, s.version);
  await say(s, `another host failed: switching back${previous ? ` to ${previous}` : ""}`);
  await audit(c, { ...auditOf(s), message: `Switched back from app version ${s.version}${previous ? "" : " (no previous version: route removed)"}` });
  if (s.proxy) await routeBack(s, previous);
  await exec(c, stopNewScript(name), { step: `stopping ${name}` });
}

/** Points the role's route at `previous` again (kamal-proxy health-checks it first), or removes it when there is none. */
async function routeBack(s: AppHostInputs, previous: string | undefined): Promise<void> {
  const svc = serviceName(s.service, s.role, s.destination);
  if (!previous) {
    await run(s.connection, `kamal-proxy remove ${svc}`, tolerateScript(proxyRemoveArgv(svc, s.proxyContainer), "not found"));
    return;
  }
  const proxy = fullProxy(s);
  await run(
    s.connection,
    `switching ${svc} back to ${previous}`,
    line(proxyDeployArgv({ service: svc, target: previous, proxy, deployTimeoutSeconds: s.deployTimeoutSeconds, drainTimeoutSeconds: s.drainTimeoutSeconds, container: s.proxyContainer, tlsPaths: proxy.certificate ? proxyTlsPaths(s.service, s.destination, s.role) : undefined, errorPages: errorPagesDir(s) })),
  );
}

/**
 * How far `switchTo` got on the host, for undoing it when the connection is lost mid-way (the
 * outcome of the command running then is unknown).
 */
interface Attempt {
  /** `startScript` was sent: the new container may exist; its id once known. */
  started?: { name: string; suffix: string; existedBefore: boolean; id?: string };
  /** `kamal-proxy deploy` was sent: the route may point at `target`; `previous` is where it pointed before. */
  deploying?: { target: string; previous?: string };
}

/**
 * After the SSH connection to the host was lost in the middle of `switchTo`: reconnects (`exec`
 * dials again, with ssh.ts's bounded retries) and puts this host back on its previous version, as
 * the role's other hosts switch back too. A `kamal-proxy deploy` that was sent goes on without its
 * client and may switch the route after the connection died, while Berth counts the host as
 * failed. So: wait until no deploy of the service runs in the proxy container, read where the route
 * points, switch it back if it points at the new container, stop the new container, and check the
 * route once more (a deploy the wait did not see, still starting when the connection died, may
 * have won meanwhile). Adds what it did, or why it could not, to `lost`'s message; never throws.
 */
async function undoAfterLostConnection(s: AppHostInputs, a: Attempt, lost: ConnectionLostError): Promise<void> {
  if (!a.started) return; // nothing had changed on the host yet (a pull is not a change)
  const c = s.connection;
  const svc = serviceName(s.service, s.role, s.destination);
  const done: string[] = [];
  const pointsAtNew = async () => {
    const list = await run(c, "kamal-proxy list", line(proxyListArgv(s.proxyContainer)));
    return parseProxyList(list.stdout).find((r) => r.service === svc)?.targets[0] === a.deploying?.target;
  };
  try {
    await say(s, "the connection was lost: reconnecting to undo the switch");
    if (s.proxy && a.deploying) {
      const within = s.deployTimeoutSeconds + s.drainTimeoutSeconds + 30;
      await run(c, `waiting for kamal-proxy deploy of ${svc} to end`, proxyDeployWaitScript(svc, within, s.proxyContainer));
      if (await pointsAtNew()) {
        await routeBack(s, a.deploying.previous);
        done.push(`the route had switched to ${a.started.name}: switched it back${a.deploying.previous ? ` to ${a.deploying.previous}` : " (no previous version: route removed)"}`);
      } else {
        done.push("the route still pointed at the previous version");
      }
    }
    if (!a.started.id) {
      // The start's shell and its `docker run` go on without the connection: wait for them to end,
      // or the container they start afterwards would outlive this undo.
      await run(c, `waiting for the start of ${a.started.name} to end`, startWaitScript(a.started.suffix, s.deployTimeoutSeconds + 60));
    }
    const stop = a.started.id ? stopNewScript(a.started.id) : stopStartedScript(a.started.name, a.started.suffix, a.started.existedBefore);
    await run(c, `stopping ${a.started.name}`, stop);
    done.push(`stopped ${a.started.name}`);
    if (s.proxy && a.deploying && (await pointsAtNew())) {
      await routeBack(s, a.deploying.previous);
      done.push("a late deploy had switched the route again: switched it back");
    }
    await audit(c, { ...auditOf(s), message: `Switched back from app version ${s.version} after the connection was lost` });
    lost.message += `\n${s.host}: reconnected and undid the switch: ${done.join("; ")}`;
  } catch (e) {
    lost.message +=
      `\n${s.host}: reconnected to undo the switch but could not finish (${done.length ? `${done.join("; ")}; then ` : ""}${(e as Error).message}): ` +
      `this host may still serve ${s.version}; run \`pulumi up\` again`;
  }
}

/** Pre-flight, claim, env file, login, pull, run, then the switch; the new id and the previous route target. */
async function switchTo(s: AppHostInputs, attempt: Attempt = {}): Promise<{ id: string; previous?: string }> {
  const c = s.connection;
  await preflight(s);
  await claim(s);
  const svc = serviceName(s.service, s.role, s.destination);
  const name = containerName(s.service, s.role, s.destination, s.version);
  if (s.delayBeforeSeconds) await sleep(s.delayBeforeSeconds * 1000);

  const envFile = envFilePath(s.service, s.destination, s.role);
  await run(c, "writing the env file", writeSecretFileScript(envFile), { stdin: envFileContent(s.secrets.env) });
  if (s.registry && s.secrets.registryPassword !== undefined) {
    await run(c, `docker login ${s.registry.server}`, line(loginArgv(s.registry.server, s.registry.username)), { stdin: s.secrets.registryPassword });
  }
  const retained = (await exec(c, containerExistsScript(name))).code === 0;
  const tunnelPort = s.localRegistryPort ?? imageLocalRegistryPort(s.image);
  await say(s, retained ? `reusing the retained image of ${s.version}` : `pulling ${s.image}${viaTunnel(tunnelPort)}`);
  await pullThrough(c, tunnelPort, `pulling ${s.image}`, pullScript(s.image, retained), presentScript(s.image, retained));
  const home = await prepareAssets(s);
  // kamal-proxy's ProxyHost makes the network on a proxied host; a host with only roles that are not
  // proxied has none (Kamal's `proxy boot` makes it on every host).
  if (!s.proxy) await run(c, `creating the docker network ${s.container.network}`, ensureNetworkScript(s.container.network));

  await say(s, `starting ${name}`);
  await audit(c, { ...auditOf(s), message: `Booted app version ${s.version}` });
  const suffix = randomBytes(8).toString("hex");
  attempt.started = { name, suffix, existedBefore: retained };
  const started = await run(c, `starting ${name}`, startScript(name, appRunArgv(s, envFile, home), suffix));
  const id = started.stdout.trim().split("\n").pop() ?? "";
  if (!id) throw new RemoteCommandError(s.host, `starting ${name}`, 1, "docker run returned no container id");
  attempt.started.id = id;

  if (!s.proxy) {
    await say(s, `waiting for ${name} to be running`);
    await waitHealthy(c, s, name);
    return { id };
  }
  const proxy = fullProxy(s);
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
  const errorPages = await uploadErrorPages(s);
  // Where the route points now: what a roll-back switches back to.
  const list = await exec(c, line(proxyListArgv(s.proxyContainer)), { step: "kamal-proxy list" });
  const previous = list.code === 0 ? parseProxyList(list.stdout).find((r) => r.service === svc)?.targets[0] : undefined;
  await say(s, `health-checking ${name} (${proxy.healthcheck.path}) through kamal-proxy`);
  const deploy = proxyDeployArgv({
    service: svc,
    target: proxyTarget(id, proxy),
    proxy,
    deployTimeoutSeconds: s.deployTimeoutSeconds,
    drainTimeoutSeconds: s.drainTimeoutSeconds,
    tlsPaths,
    errorPages,
    container: s.proxyContainer,
  });
  attempt.deploying = { target: proxyTarget(id, proxy), previous };
  const r = await exec(c, line(deploy), { step: `kamal-proxy deploy of ${name}` });
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
  await say(s, `switched to ${name}`);
  return { id, previous: previous && previous !== proxyTarget(id, proxy) ? previous : undefined };
}

/** Turns maintenance on or off when it differs from `before`. */
async function maintenance(s: AppHostInputs, before?: AppHostInputs["maintenance"]): Promise<void> {
  if (!s.proxy) return;
  const svc = serviceName(s.service, s.role, s.destination);
  if (s.maintenance.enabled) {
    if (before?.enabled && before.message === s.maintenance.message) return;
    await say(s, "maintenance on");
    await audit(s.connection, { ...auditOf(s), message: `Maintenance mode on: ${s.maintenance.message ?? ""}` });
    await run(s.connection, "maintenance on", line(proxyStopArgv(svc, s.maintenance.drainTimeoutSeconds, s.maintenance.message, s.proxyContainer)));
  } else if (before?.enabled) {
    await say(s, "maintenance off");
    await audit(s.connection, { ...auditOf(s), message: "Maintenance mode off" });
    await run(s.connection, "maintenance off", line(proxyResumeArgv(svc, s.proxyContainer)));
  }
}

/** The audit log's tags of the role: service, destination and role. */
function auditOf(s: AppHostInputs): { service: string; destination: string; role: string } {
  return { service: s.service, destination: s.destination, role: s.role };
}

/**
 * Runs `fn` holding the host's deploy lock (Kamal's `.kamal/lock-<service>[-<destination>]`). A
 * deploy is checked first (pre-flight, then the role's owner), so a host that cannot be reached, or
 * a role that belongs to another stack, is refused as such before the lock is touched.
 */
async function locked<T>(s: AppHostInputs, what: "deploy" | "removal", fn: () => Promise<T>): Promise<T> {
  if (what === "deploy") {
    await preflight(s);
    await claim(s);
  }
  const svc = serviceName(s.service, s.role, s.destination);
  return withHostLock(
    s.connection,
    { service: s.service, destination: s.destination, version: s.version, owner: s.owner ?? "", message: berthLockMessage(what, svc, s.owner), waitSeconds: s.lockWaitSeconds },
    fn,
  );
}

/** `pulumi destroy` of the role on the host: its route, containers, env file and ownership (unless another stack owns it). */
async function remove(s: AppHostInputs): Promise<void> {
  const c = s.connection;
  const svc = serviceName(s.service, s.role, s.destination);
  const ownerFile = ownerFilePath(s.service, s.destination, s.role);
  if (s.owner) {
    const owner = (await run(c, "reading the role's owner", ownerScript(ownerFile))).stdout.trim();
    if (owner !== "" && owner !== s.owner) {
      await say(s, `belongs to the stack ${owner}; left alone`);
      return;
    }
  }
  await say(s, "removing");
  if (s.proxy) await run(c, `kamal-proxy remove ${svc}`, tolerateScript(proxyRemoveArgv(svc, s.proxyContainer), "not found"));
  await run(c, `removing the containers of ${svc}`, removeContainersScript({ service: s.service, role: s.role, destination: s.destination }));
  await run(c, "removing the env file", removeFileScript(envFilePath(s.service, s.destination, s.role)));
  await removeAssetsAndPages(s);
  await run(c, "releasing the role", removeFileScript(ownerFile));
  await audit(c, { ...auditOf(s), message: `Removed app version ${s.version}` });
}


/** Paths whose change alone does not redeploy: recorded in state (and maintenance toggled). */
const NO_BOOT = ["connection", "delayBeforeSeconds", "maintenance", "secretEnvNames", "owner", "preflight", "lockWaitSeconds", "bootGroups"];

function needsBoot(changes: Record<string, DiffKind>): boolean {
  return Object.keys(changes).some((p) => !NO_BOOT.some((k) => p === k || p.startsWith(`${k}.`) || p.startsWith(`${k}[`)));
}

/** What really runs for this role on the host, as the inputs that would produce it; undefined when nothing runs. */
async function observe(s: AppHostInputs): Promise<AppHostInputs | undefined> {
  const c = s.connection;
  const svc = serviceName(s.service, s.role, s.destination);
  const ps = await run(c, "listing the role's containers", runningRoleContainersScript({ service: s.service, role: s.role, destination: s.destination }));
  const running = ps.stdout
    .split("\n")
    .map((l) => l.replace(/^\//, "").split("\t"))
    .filter(([name]) => name?.startsWith(`${svc}-`) && !name.includes("_replaced_"));
  if (running.length === 0) return undefined;
  // The wanted version when it runs, else the newest one listed (docker lists newest first).
  const [name, image] = running.find(([n]) => n === containerName(s.service, s.role, s.destination, s.version)) ?? running[0];
  const observed: AppHostInputs = { ...s, version: name.slice(svc.length + 1), image };

  const env = await exec(c, readFileScript(envFilePath(s.service, s.destination, s.role)), { step: "reading the env file" });
  observed.secrets = { ...s.secrets, env: env.code === 0 ? parseEnvFile(env.stdout) : {} };

  if (s.proxy) {
    const list = await exec(c, line(proxyListArgv(s.proxyContainer)), { step: "kamal-proxy list" });
    const route = list.code === 0 ? parseProxyList(list.stdout).find((r) => r.service === svc) : undefined;
    if (!route) {
      observed.proxy = undefined;
    } else {
      observed.proxy = { ...s.proxy, hosts: route.hosts, pathPrefixes: route.pathPrefixes, ssl: route.tls };
      observed.maintenance = { ...s.maintenance, enabled: route.state === "stopped" };
    }
  }
  return observed;
}

/**
 * Adopts a role's container that already runs on a host (deployed by Kamal or by hand with Kamal's
 * names and labels): the inputs that would produce it, built like a program's (`normalizeApp` with
 * what the host shows: service/role/destination labels, version from the name, the image, clear
 * env, labels, cmd, volumes, the env file, kamal-proxy's route; Berth's defaults for the rest), so
 * a program with the same settings then previews 0 changes. SSH settings come from the provider
 * configuration (`berth:user`, `berth:port`, `berth:privateKeyPath`, `berth:knownHostsPath`,
 * `berth:hostKeys`).
 */
async function adopt(id: string, urn: string): Promise<{ id: string; inputs: AppHostInputs } | undefined> {
  const slash = id.indexOf("/");
  if (slash <= 0) throw new Error(`berth:index:AppHost: cannot import ${JSON.stringify(id)}: the id is \`<host>/<service>-<role>-<destination>\`, e.g. \`10.0.0.11/shop-web-production\``);
  const [host, name] = [id.slice(0, slash), id.slice(slash + 1)];
  const ssh = normalizeSsh(providerSsh(), "berth provider configuration");
  const c = connectionFor(ssh, host);
  const ps = await run(c, "listing Kamal's containers", line(labelledContainersArgv()));
  const found = ps.stdout
    .split("\n")
    .map((l) => l.split("\t"))
    .find(([, svc, role, dest]) => svc && role && serviceName(svc, role, dest ?? "") === name);
  if (!found) return undefined;
  const [container, service, role, destination = ""] = found;
  const info = JSON.parse((await run(c, `inspecting ${container}`, line(inspectJsonArgv("container", container)))).stdout);
  const image: string = info.Config.Image;
  const imageInfo = JSON.parse((await run(c, `inspecting ${image}`, line(inspectJsonArgv("image", image)))).stdout);
  const envFile = await exec(c, readFileScript(envFilePath(service, destination, role)), { step: "reading the env file" });
  const secretEnv = envFile.code === 0 ? parseEnvFile(envFile.stdout) : {};
  const imageEnv = new Set<string>(imageInfo.Config?.Env ?? []);
  const clear: Record<string, string> = {};
  for (const kv of (info.Config.Env ?? []) as string[]) {
    const i = kv.indexOf("=");
    const [k, v] = [kv.slice(0, i), kv.slice(i + 1)];
    if (imageEnv.has(kv) || k.startsWith("KAMAL_") || k in secretEnv) continue;
    clear[k] = v;
  }
  const imageLabels: Record<string, string> = imageInfo.Config?.Labels ?? {};
  const labels = Object.fromEntries(
    Object.entries((info.Config.Labels ?? {}) as Record<string, string>).filter(([k, v]) => !["service", "role", "destination"].includes(k) && imageLabels[k] !== v),
  );
  const cmd: string[] = JSON.stringify(info.Config.Cmd) === JSON.stringify(imageInfo.Config?.Cmd) ? [] : (info.Config.Cmd ?? []);
  const restart = info.HostConfig.RestartPolicy ?? {};
  const log = info.HostConfig.LogConfig ?? {};
  const list = await exec(c, line(proxyListArgv()), { step: "kamal-proxy list" });
  const route = list.code === 0 ? parseProxyList(list.stdout).find((r) => r.service === name) : undefined;
  const appPort = Number(route?.targets[0]?.split(":").pop());
  const version = container.slice(name.length + 1);
  const cfg = normalizeApp({
    service,
    destination,
    image,
    version,
    roles: {
      [role]: {
        hosts: [host],
        cmd,
        env: { clear },
        labels,
        volumes: info.HostConfig.Binds ?? [],
        options: { restart: restart.MaximumRetryCount ? `${restart.Name}:${restart.MaximumRetryCount}` : restart.Name || "no" },
        logging: { ...(log.Type && log.Type !== "json-file" ? { driver: log.Type } : {}), options: log.Config ?? {} },
        proxy: route ? { hosts: route.hosts, pathPrefixes: route.pathPrefixes, ...(appPort ? { appPort } : {}) } : false,
      },
    },
    env: { secret: secretEnv },
    proxyRun: { network: info.HostConfig.NetworkMode },
    maintenance: { enabled: route?.state === "stopped" },
    ssh: providerSsh(),
  } as unknown as AppArgs);
  const spec = appHostSpec(cfg, role, host);
  return {
    id,
    inputs: { ...spec, primary: role === "web", owner: ownerOf(urn), connection: c, secrets: appHostSecrets(cfg, role, host), delayBeforeSeconds: 0 },
  };
}

/** `<project>/<stack>` of a URN (`urn:pulumi:<stack>::<project>::…`), as the component records it. */
function ownerOf(urn: string): string {
  const [head, project] = urn.split("::");
  return `${project}/${head.split(":").pop()}`;
}

export const appHostResource: ResourceDef<AppHostInputs> = {
  token: APP_HOST_TOKEN,
  inputs: appHostSchema,
  secretInputs: ["connection", "secrets", "preflight"],
  replaceOnChanges: ["host", "service", "role", "destination"],

  adjustDiff(changes) {
    // The other hosts of the deploy change with the program's host list, not with this host; how
    // long a deploy waits for the lock changes nothing on the host.
    // The role's boot groups change with the program's host list too.
    const ignored = ["preflight", "bootGroups"];
    return Object.fromEntries(Object.entries(changes).filter(([p]) => p !== "lockWaitSeconds" && !ignored.some((k) => p === k || p.startsWith(`${k}[`) || p.startsWith(`${k}.`))));
  },

  async create(s) {
    await locked(s, "deploy", async () => {
      await boot(s);
      await maintenance(s);
    });
    return { id: `${s.host}/${serviceName(s.service, s.role, s.destination)}` };
  },

  async update(_id, olds, news, changes) {
    await locked(news, "deploy", async () => {
      if (needsBoot(changes)) await boot(news);
      else await claim(news);
      await maintenance(news, olds.maintenance);
    });
  },

  async delete(_id, s) {
    await locked(s, "removal", () => remove(s));
  },

  async read(id, s, urn) {
    // `pulumi import berth:index:AppHost <name> <host>/<service>-<role>-<destination>`: no state yet.
    if (!s.connection) return adopt(id, urn);
    const observed = await observe(s);
    if (!observed) {
      await say(s, `${containerName(s.service, s.role, s.destination, s.version)} is not running; the next up deploys it`);
      return undefined;
    }
    return { id, inputs: observed };
  },
};
