/**
 * Kamal's asset bridging and custom error pages, as scripts. Pure: no I/O.
 *
 * Assets (`asset_path`, proxied roles only): before the new container runs, the files under the
 * asset path are copied out of the new image into `.kamal/apps/<app>/assets/extracted/<role>-<version>`;
 * then `cp -rnT` merges the new assets into the new version's volume directory
 * (`.kamal/apps/<app>/assets/volumes/<role>-<version>`, mounted over the asset path), the new
 * assets into the old version's volume directory (the old container serves them too), and the old
 * extracted assets into the new volume directory (the new container still serves the old ones).
 * So during and after the switch a page of either version finds every asset it names. After a
 * successful boot the other versions' directories go.
 *
 * Error pages (`error_pages_path`): the pages are written to
 * `.kamal/proxy/apps-config/<app>/error_pages/<version>/` and kamal-proxy reads them from
 * `/home/kamal-proxy/.apps-config/<app>/error_pages/<version>` (`--error-pages`); other versions'
 * directories go after a successful boot. `<app>` is `<service>[-<destination>]`.
 */
import { appDir, listContainersArgv, serviceName } from "./app";
import { docker } from "./docker";
import { HOST_APPS_CONFIG_DIR, PROXY_APPS_CONFIG_DIR } from "./proxy";
import { type Argv, line, quote } from "./shell";

/** One role of a service on a host, at one version. */
export interface AssetsRole {
  service: string;
  destination: string;
  role: string;
  version: string;
}

/** `<service>[-<destination>]`. */
function app(service: string, destination: string): string {
  return destination === "" ? service : `${service}-${destination}`;
}

/** `.kamal/apps/<app>/assets`, relative to the login user's home. */
export function assetsDir(service: string, destination: string): string {
  return `${appDir(service, destination)}/assets`;
}

/** `.kamal/apps/<app>/assets/extracted/<role>-<version>`: the assets copied out of the image. */
export function assetExtractedDir(r: AssetsRole): string {
  return `${assetsDir(r.service, r.destination)}/extracted/${r.role}-${r.version}`;
}

/** `.kamal/apps/<app>/assets/volumes/<role>-<version>`: what the container mounts over the asset path. */
export function assetVolumeDir(r: AssetsRole): string {
  return `${assetsDir(r.service, r.destination)}/volumes/${r.role}-${r.version}`;
}

/** Splits Kamal's `asset_path` (`/path[:options]`) into the container path and the mount options. */
export function splitAssetPath(assetPath: string): { path: string; options?: string } {
  const i = assetPath.indexOf(":");
  return i < 0 ? { path: assetPath } : { path: assetPath.slice(0, i), options: assetPath.slice(i + 1) };
}

/**
 * `--volume <home>/<volume dir>:<asset path>[:options]`. Docker needs an absolute host path for a
 * bind mount (Kamal writes `$PWD/…`); `home` is the login user's home on the host.
 */
export function assetVolumeArgs(r: AssetsRole, assetPath: string, home: string): string[] {
  if (!home.startsWith("/")) throw new Error(`assetVolumeArgs: home must be an absolute path; got ${JSON.stringify(home)}`);
  return ["--volume", `${home.replace(/\/+$/, "")}/${assetVolumeDir(r)}:${assetPath}`];
}

/** `<service>-<role>[-<destination>]-assets`: the short-lived container the assets are copied from. */
export function assetContainerName(r: AssetsRole): string {
  return `${serviceName(r.service, r.role, r.destination)}-assets`;
}

/**
 * Copies `<asset path>/.` out of `image` into the extracted directory (Kamal's `extract_assets`):
 * a container is created (never started) from the image, `docker container cp -L` copies the
 * files (symlinks followed), and the container is removed, also when the copy fails. A leftover
 * container of an interrupted run is removed first.
 */
export function extractAssetsScript(r: AssetsRole, image: string, assetPath: string): string {
  const c = assetContainerName(r);
  const dir = assetExtractedDir(r);
  const rm = line(docker("container", "rm", c));
  return [
    "set -e",
    line(["mkdir", "-p", dir]),
    `${rm} >/dev/null 2>&1 || true`,
    `${line(docker("container", "create", "--name", c, image))} >/dev/null`,
    `${line(docker("container", "cp", "-L", `${c}:${splitAssetPath(assetPath).path}/.`, dir))} || { ${rm} >/dev/null 2>&1; exit 1; }`,
    `${rm} >/dev/null`,
  ].join("\n");
}

/** `cp -rnT <from> <to>`: merges a directory's files into another without overwriting any. */
export function copyContentsArgv(from: string, to: string): Argv {
  return ["cp", "-rnT", from, to];
}

/**
 * Kamal's `sync_asset_volumes`: the new assets into the new volume directory; then, when a
 * previous version runs, the new assets into its volume directory and its extracted assets into
 * the new one. The cross copies may find nothing (a previous version deployed without assets).
 */
export function syncAssetsScript(r: AssetsRole, oldVersion?: string): string {
  const newExtracted = assetExtractedDir(r);
  const newVolume = assetVolumeDir(r);
  const lines = ["set -e", line(["mkdir", "-p", newVolume]), line(copyContentsArgv(newExtracted, newVolume))];
  if (oldVersion !== undefined && oldVersion !== r.version) {
    const old = { ...r, version: oldVersion };
    lines.push(`${line(copyContentsArgv(newExtracted, assetVolumeDir(old)))} 2>/dev/null || true`);
    lines.push(`${line(copyContentsArgv(assetExtractedDir(old), newVolume))} 2>/dev/null || true`);
  }
  return lines.join("\n");
}

/**
 * `find <dir> -mindepth 1 -maxdepth 1 -name '<role>-*' ! -name <keep> … -exec rm -rf {} +`, for a
 * directory that may not exist. Directories of other roles whose name starts with `<role>-` (role
 * `web-admin` next to role `web`) are not the role's: `otherRoles` excludes them.
 */
function removeSiblingsScript(dir: string, role: string, keep: string | undefined, otherRoles: readonly string[]): string {
  const others = otherRoles.filter((o) => o !== role && o.startsWith(`${role}-`));
  const argv = [
    "find",
    dir,
    "-mindepth",
    "1",
    "-maxdepth",
    "1",
    "-name",
    `${role}-*`,
    ...(keep !== undefined ? ["!", "-name", keep] : []),
    ...others.flatMap((o) => ["!", "-name", `${o}-*`]),
    "-exec",
    "rm",
    "-rf",
    "{}",
    "+",
  ];
  return `if [ -d ${quote(dir)} ]; then ${line(argv)}; fi`;
}

/**
 * After a successful boot: the role's extracted and volume directories of every other version
 * (Kamal's `clean_up_assets`). `otherRoles`: the other roles of the service on the host.
 */
export function cleanupAssetsScript(r: AssetsRole, otherRoles: readonly string[] = []): string {
  const base = assetsDir(r.service, r.destination);
  const keep = `${r.role}-${r.version}`;
  return [removeSiblingsScript(`${base}/extracted`, r.role, keep, otherRoles), removeSiblingsScript(`${base}/volumes`, r.role, keep, otherRoles)].join("\n");
}

/**
 * `pulumi destroy` of the role on the host: all its asset directories, then the `assets`
 * directories themselves once empty.
 */
export function removeAssetsScript(r: Omit<AssetsRole, "version">, otherRoles: readonly string[] = []): string {
  const base = assetsDir(r.service, r.destination);
  return [
    removeSiblingsScript(`${base}/extracted`, r.role, undefined, otherRoles),
    removeSiblingsScript(`${base}/volumes`, r.role, undefined, otherRoles),
    `${line(["rmdir", `${base}/extracted`, `${base}/volumes`, base])} 2>/dev/null || true`,
  ].join("\n");
}

/** Where a version's error pages are: on the host (relative to home) and in kamal-proxy's container. */
export interface ErrorPagesPaths {
  /** `.kamal/proxy/apps-config/<app>/error_pages`. */
  hostRoot: string;
  /** `.kamal/proxy/apps-config/<app>/error_pages/<version>`. */
  hostDir: string;
  /** `/home/kamal-proxy/.apps-config/<app>/error_pages/<version>`: kamal-proxy's `--error-pages`. */
  dir: string;
}

/** Kamal's layout of the error pages of `version`. */
export function errorPagesPaths(service: string, destination: string, version: string): ErrorPagesPaths {
  const rel = `${app(service, destination)}/error_pages`;
  return { hostRoot: `${HOST_APPS_CONFIG_DIR}/${rel}`, hostDir: `${HOST_APPS_CONFIG_DIR}/${rel}/${version}`, dir: `${PROXY_APPS_CONFIG_DIR}/${rel}/${version}` };
}

/** The page names kamal-proxy serves (Kamal uploads `{4??,5??}.html`). */
export const ERROR_PAGE_NAME = /^[45][^/\\]{2}\.html$/;

/** Empties `<hostDir>.new`, where `writeErrorPageScript` writes each page before `swapErrorPagesScript`. */
export function prepareErrorPagesScript(p: ErrorPagesPaths): string {
  return line(["rm", "-rf", `${p.hostDir}.new`]) + " && " + line(["mkdir", "-p", `${p.hostDir}.new`]);
}

/**
 * Writes stdin to `<hostDir>.new/<name>`, readable by kamal-proxy's user (the pages are not
 * secret). `name` must be a page name (`503.html`).
 */
export function writeErrorPageScript(p: ErrorPagesPaths, name: string): string {
  if (!ERROR_PAGE_NAME.test(name)) throw new Error(`writeErrorPageScript: not an error page name: ${JSON.stringify(name)}`);
  const file = `${p.hostDir}.new/${name}`;
  return `cat > ${quote(file)} && ${line(["chmod", "644", file])}`;
}

/** Puts the written pages in place of the version's directory (readable by kamal-proxy's user). */
export function swapErrorPagesScript(p: ErrorPagesPaths): string {
  return [line(["chmod", "755", `${p.hostDir}.new`]), line(["rm", "-rf", p.hostDir]), line(["mv", `${p.hostDir}.new`, p.hostDir])].join(" && ");
}

/** After a successful boot: the error pages of every other version (Kamal's `clean_up_error_pages`). */
export function cleanupErrorPagesScript(p: ErrorPagesPaths): string {
  const version = p.hostDir.slice(p.hostRoot.length + 1);
  return `if [ -d ${quote(p.hostRoot)} ]; then ${line(["find", p.hostRoot, "-mindepth", "1", "-maxdepth", "1", "!", "-name", version, "-exec", "rm", "-rf", "{}", "+"])}; fi`;
}

/**
 * `pulumi destroy` of a role: when no container of the service and destination is left on the
 * host, its error pages (`.kamal/proxy/apps-config/<app>/error_pages`) go, and the app's
 * apps-config directory once empty.
 */
export function removeErrorPagesScript(service: string, destination: string): string {
  const p = errorPagesPaths(service, destination, "x");
  const left = line(listContainersArgv({ service, destination }, "{{.ID}}"));
  return `if [ -z "$(${left})" ]; then ${line(["rm", "-rf", p.hostRoot])}; ${line(["rmdir", p.hostRoot.slice(0, p.hostRoot.lastIndexOf("/"))])} 2>/dev/null || true; fi`;
}

/** The roles of the service and destination that have containers on the host, one per line. */
export function rolesOnHostArgv(service: string, destination: string): Argv {
  return listContainersArgv({ service, destination }, '{{.Label "role"}}');
}
