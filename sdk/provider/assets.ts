/**
 * Asset bridging and error pages of one `AppHost` (see sdk/commands/assets.ts for what runs):
 * before the new container runs, its assets are extracted and merged with the running version's;
 * before kamal-proxy deploy, the error pages are written; after a successful boot, the other
 * versions' directories go; on destroy, the role's.
 */
import { containerName, serviceName } from "../commands/app";
import {
  cleanupAssetsScript,
  cleanupErrorPagesScript,
  errorPagesPaths,
  extractAssetsScript,
  prepareErrorPagesScript,
  removeAssetsScript,
  removeErrorPagesScript,
  rolesOnHostArgv,
  swapErrorPagesScript,
  syncAssetsScript,
  writeErrorPageScript,
} from "../commands/assets";
import { homeScript, runningRoleContainersScript } from "../commands/rollout";
import { line } from "../commands/shell";
import type { AppHostInputs } from "../config/resources";
import { progress } from "./log";
import { run } from "./ssh";

function say(s: AppHostInputs, phase: string): Promise<void> {
  return progress(`${s.host} ${serviceName(s.service, s.role, s.destination)}: ${phase}`);
}

/** The version of the role's running container (other than `<version>`'s own when another runs), if any. */
async function runningVersion(s: AppHostInputs): Promise<string | undefined> {
  const svc = serviceName(s.service, s.role, s.destination);
  const ps = await run(s.connection, "listing the role's containers", runningRoleContainersScript({ service: s.service, role: s.role, destination: s.destination }));
  const names = ps.stdout
    .split("\n")
    .map((l) => l.replace(/^\//, "").split("\t")[0])
    .filter((n) => n?.startsWith(`${svc}-`) && !n.includes("_replaced_"));
  const own = containerName(s.service, s.role, s.destination, s.version);
  const name = names.find((n) => n !== own) ?? names[0];
  return name === undefined ? undefined : name.slice(svc.length + 1);
}

/**
 * Kamal's asset step, before the new container runs: the new image's assets are extracted, then
 * merged with the running version's. Returns the login user's home (the asset volume's absolute
 * path starts there); undefined when the role has no asset path.
 */
export async function prepareAssets(s: AppHostInputs): Promise<string | undefined> {
  if (s.assetPath === undefined || !s.proxy) return undefined;
  const c = s.connection;
  const r = { service: s.service, destination: s.destination, role: s.role, version: s.version };
  const home = (await run(c, "reading the login user's home", homeScript())).stdout.trim();
  await say(s, `extracting the assets of ${s.version} (${s.assetPath})`);
  await run(c, `extracting the assets (${s.assetPath}) from ${s.image}`, extractAssetsScript(r, s.image, s.assetPath));
  const old = await runningVersion(s);
  await run(c, `merging the assets of ${s.version}${old && old !== s.version ? ` and ${old}` : ""}`, syncAssetsScript(r, old));
  return home;
}

/** Writes the role's error pages for its version; returns kamal-proxy's `--error-pages` directory (undefined: none). */
export async function uploadErrorPages(s: AppHostInputs): Promise<string | undefined> {
  if (s.errorPages === undefined || !s.proxy) return undefined;
  const c = s.connection;
  const p = errorPagesPaths(s.service, s.destination, s.version);
  await run(c, "preparing the error pages", prepareErrorPagesScript(p));
  for (const [name, content] of Object.entries(s.errorPages)) {
    await run(c, `writing the error page ${name}`, writeErrorPageScript(p, name), { stdin: content });
  }
  await run(c, "putting the error pages in place", swapErrorPagesScript(p));
  return p.dir;
}

/** kamal-proxy's `--error-pages` directory of the role's version, when it has pages. */
export function errorPagesDir(s: AppHostInputs): string | undefined {
  return s.errorPages !== undefined && s.proxy ? errorPagesPaths(s.service, s.destination, s.version).dir : undefined;
}

/** The other roles of the service and destination with containers on the host. */
async function otherRoles(s: AppHostInputs): Promise<string[]> {
  const r = await run(s.connection, "listing the service's roles on the host", line(rolesOnHostArgv(s.service, s.destination)));
  return [...new Set(r.stdout.split("\n").map((x) => x.trim()).filter((x) => x !== "" && x !== s.role))];
}

/** After a successful boot: the other versions' asset and error page directories (Kamal's order). */
export async function cleanUpAfterBoot(s: AppHostInputs): Promise<void> {
  if (s.assetPath !== undefined && s.proxy) {
    const r = { service: s.service, destination: s.destination, role: s.role, version: s.version };
    await run(s.connection, "removing stale asset directories", cleanupAssetsScript(r, await otherRoles(s)));
  }
  if (s.errorPages !== undefined && s.proxy) {
    await run(s.connection, "removing other versions' error pages", cleanupErrorPagesScript(errorPagesPaths(s.service, s.destination, s.version)));
  }
}

/** `pulumi destroy` of the role on the host (after its containers are gone): its asset directories, and the service's error pages once no role of it is left. */
export async function removeAssetsAndPages(s: AppHostInputs): Promise<void> {
  const others = await otherRoles(s);
  await run(s.connection, "removing the role's asset directories", removeAssetsScript({ service: s.service, destination: s.destination, role: s.role }, others));
  await run(s.connection, "removing the service's error pages when no role is left", removeErrorPagesScript(s.service, s.destination));
}
