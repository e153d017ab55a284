/**
 * Asset bridging (`assetPath`, Kamal's `asset_path`) and error pages (`errorPagesPath`, Kamal's
 * `error_pages_path`): config, the exact scripts (Kamal's `commands/app/assets.rb`, `error_pages.rb`),
 * the asset volume in `docker run`, `--error-pages` on `kamal-proxy deploy`, reading the pages.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BerthConfigError } from "../../sdk/config/errors";
import { AppArgs, normalizeApp } from "../../sdk/config/app";
import { appHostSpec } from "../../sdk/config/app-host";
import { fromKamalConfig } from "../../sdk/config/kamal";
import { appRunArgv } from "../../sdk/commands/app";
import {
  assetContainerName,
  assetExtractedDir,
  assetVolumeArgs,
  assetVolumeDir,
  cleanupAssetsScript,
  cleanupErrorPagesScript,
  errorPagesPaths,
  extractAssetsScript,
  prepareErrorPagesScript,
  removeAssetsScript,
  removeErrorPagesScript,
  rolesOnHostArgv,
  splitAssetPath,
  swapErrorPagesScript,
  syncAssetsScript,
  writeErrorPageScript,
} from "../../sdk/commands/assets";
import { proxyDeployArgv } from "../../sdk/commands/proxy";
import { line } from "../../sdk/commands/shell";
import { readErrorPages } from "../../sdk/components/error-pages";

const base: AppArgs = { service: "app", image: "dhh/app:999", destination: "", roles: { web: { hosts: ["1.1.1.1"] }, workers: { hosts: ["1.1.1.2"] } } };
const web = { service: "app", destination: "", role: "web", version: "999" };
const staging = { service: "app", destination: "staging", role: "web", version: "999" };

function problems(args: Partial<AppArgs>): string[] {
  try {
    normalizeApp({ ...base, ...args } as AppArgs);
  } catch (e) {
    assert.ok(e instanceof BerthConfigError);
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return assert.fail("expected normalizeApp to throw");
}

describe("config assetPath and errorPagesPath", () => {
  it("the root assetPath applies to proxied roles only; a role's own wins", () => {
    const c = normalizeApp({ ...base, assetPath: "/public/assets" });
    assert.equal(c.roles.web.assetPath, "/public/assets");
    assert.equal(c.roles.workers.assetPath, undefined);
    const own = normalizeApp({ ...base, assetPath: "/public/assets", roles: { web: { hosts: ["1.1.1.1"], assetPath: "/rails/public/assets:ro" }, workers: { hosts: ["1.1.1.2"] } } });
    assert.equal(own.roles.web.assetPath, "/rails/public/assets:ro");
    assert.equal(appHostSpec(own, "web", "1.1.1.1").assetPath, "/rails/public/assets:ro");
    assert.equal("assetPath" in appHostSpec(own, "workers", "1.1.1.2"), false);
  });

  it("an assetPath on a role that is not proxied is an error at its path", () => {
    assert.deepEqual(problems({ roles: { web: { hosts: ["1.1.1.1"] }, workers: { hosts: ["1.1.1.2"], assetPath: "/public/assets" } } }), [
      "roles.workers.assetPath: is only used by a role behind kamal-proxy; got \"/public/assets\" on role `workers`, which is not proxied. Remove it, or route the role through kamal-proxy (`roles.workers.proxy`).",
    ]);
    // Proxied explicitly: fine.
    assert.equal(normalizeApp({ ...base, roles: { web: { hosts: ["1.1.1.1"] }, workers: { hosts: ["1.1.1.2"], assetPath: "/a", proxy: true } } }).roles.workers.assetPath, "/a");
  });

  it("an assetPath must be an absolute directory other than /, with optional mount options", () => {
    const expect =
      "must be an absolute directory in the container other than `/`, optionally with mount options (`/app/public/assets` or `/app/public/assets:ro`); got %s. It is mounted over that directory: no spaces or `:` in the path.";
    for (const bad of ["public/assets", "/", "/a b", "/a:ro:z", "/a:RO"]) {
      assert.deepEqual(problems({ assetPath: bad }), [`assetPath: ${expect.replace("%s", JSON.stringify(bad))}`]);
    }
    for (const good of ["/a", "/rails/public/assets/", "/a:ro", "/a:ro,z"]) assert.equal(normalizeApp({ ...base, assetPath: good }).roles.web.assetPath, good);
  });

  it("errorPagesPath is kept as written; empty is an error", () => {
    assert.equal(normalizeApp({ ...base, errorPagesPath: "error_pages" }).errorPagesPath, "error_pages");
    assert.deepEqual(problems({ errorPagesPath: " " }), [
      "errorPagesPath: must be a directory of error pages, relative to the program's directory; got \" \". For example \"error_pages\", holding `503.html`.",
    ]);
  });

  it("fromKamalConfig maps asset_path (root and role) and error_pages_path", () => {
    const { args, ignored } = fromKamalConfig(
      { service: "app", image: "dhh/app", asset_path: "/public/assets", error_pages_path: "error_pages", servers: { web: { hosts: ["1.1.1.1"], asset_path: "/rails/public/assets:ro" } } },
      { version: "999" },
    );
    assert.equal(args.assetPath, "/public/assets");
    assert.equal(args.errorPagesPath, "error_pages");
    assert.equal((args.roles as any).web.assetPath, "/rails/public/assets:ro");
    assert.deepEqual(ignored, []);
  });
});

describe("commands/assets paths (Kamal's role.rb)", () => {
  it("extracted and volume directories are .kamal/apps/<app>/assets/{extracted,volumes}/<role>-<version>", () => {
    assert.equal(assetExtractedDir(web), ".kamal/apps/app/assets/extracted/web-999");
    assert.equal(assetVolumeDir(web), ".kamal/apps/app/assets/volumes/web-999");
    assert.equal(assetVolumeDir(staging), ".kamal/apps/app-staging/assets/volumes/web-999");
    assert.equal(assetContainerName(web), "app-web-assets");
    assert.equal(assetContainerName(staging), "app-web-staging-assets");
  });

  it("splitAssetPath and the --volume argument (home-absolute; Kamal writes $PWD)", () => {
    assert.deepEqual(splitAssetPath("/public/assets"), { path: "/public/assets" });
    assert.deepEqual(splitAssetPath("/public/assets:ro"), { path: "/public/assets", options: "ro" });
    assert.deepEqual(assetVolumeArgs(web, "/public/assets:ro", "/home/deploy/"), ["--volume", "/home/deploy/.kamal/apps/app/assets/volumes/web-999:/public/assets:ro"]);
    assert.throws(() => assetVolumeArgs(web, "/public/assets", "home"), /home must be an absolute path/);
  });

  it("error pages: .kamal/proxy/apps-config/<app>/error_pages/<version> on the host, ~kamal-proxy/.apps-config/… in the proxy", () => {
    assert.deepEqual(errorPagesPaths("app", "", "999"), {
      hostRoot: ".kamal/proxy/apps-config/app/error_pages",
      hostDir: ".kamal/proxy/apps-config/app/error_pages/999",
      dir: "/home/kamal-proxy/.apps-config/app/error_pages/999",
    });
    assert.equal(errorPagesPaths("app", "staging", "999").dir, "/home/kamal-proxy/.apps-config/app-staging/error_pages/999");
  });
});

describe("commands/assets scripts", () => {
  it("extractAssetsScript: create, cp -L <path>/., rm (also when the copy fails)", () => {
    assert.equal(
      extractAssetsScript(web, "dhh/app:999", "/public/assets:ro"),
      [
        "set -e",
        "mkdir -p .kamal/apps/app/assets/extracted/web-999",
        "docker container rm app-web-assets >/dev/null 2>&1 || true",
        "docker container create --name app-web-assets dhh/app:999 >/dev/null",
        "docker container cp -L app-web-assets:/public/assets/. .kamal/apps/app/assets/extracted/web-999 || { docker container rm app-web-assets >/dev/null 2>&1; exit 1; }",
        "docker container rm app-web-assets >/dev/null",
      ].join("\n"),
    );
  });

  it("syncAssetsScript: new → new volume; with an old version also new → old volume and old extracted → new volume", () => {
    assert.equal(
      syncAssetsScript(web),
      ["set -e", "mkdir -p .kamal/apps/app/assets/volumes/web-999", "cp -rnT .kamal/apps/app/assets/extracted/web-999 .kamal/apps/app/assets/volumes/web-999"].join("\n"),
    );
    assert.equal(syncAssetsScript(web, "999"), syncAssetsScript(web));
    assert.equal(
      syncAssetsScript(web, "998"),
      [
        "set -e",
        "mkdir -p .kamal/apps/app/assets/volumes/web-999",
        "cp -rnT .kamal/apps/app/assets/extracted/web-999 .kamal/apps/app/assets/volumes/web-999",
        "cp -rnT .kamal/apps/app/assets/extracted/web-999 .kamal/apps/app/assets/volumes/web-998 2>/dev/null || true",
        "cp -rnT .kamal/apps/app/assets/extracted/web-998 .kamal/apps/app/assets/volumes/web-999 2>/dev/null || true",
      ].join("\n"),
    );
  });

  it("cleanupAssetsScript removes the role's other versions, never another role's (web-admin next to web)", () => {
    assert.equal(
      cleanupAssetsScript(web, ["workers", "web-admin"]),
      [
        "if [ -d .kamal/apps/app/assets/extracted ]; then find .kamal/apps/app/assets/extracted -mindepth 1 -maxdepth 1 -name 'web-*' '!' -name web-999 '!' -name 'web-admin-*' -exec rm -rf '{}' +; fi",
        "if [ -d .kamal/apps/app/assets/volumes ]; then find .kamal/apps/app/assets/volumes -mindepth 1 -maxdepth 1 -name 'web-*' '!' -name web-999 '!' -name 'web-admin-*' -exec rm -rf '{}' +; fi",
      ].join("\n"),
    );
  });

  it("removeAssetsScript removes every version of the role, then the empty assets directories", () => {
    assert.equal(
      removeAssetsScript({ service: "app", destination: "staging", role: "web" }),
      [
        "if [ -d .kamal/apps/app-staging/assets/extracted ]; then find .kamal/apps/app-staging/assets/extracted -mindepth 1 -maxdepth 1 -name 'web-*' -exec rm -rf '{}' +; fi",
        "if [ -d .kamal/apps/app-staging/assets/volumes ]; then find .kamal/apps/app-staging/assets/volumes -mindepth 1 -maxdepth 1 -name 'web-*' -exec rm -rf '{}' +; fi",
        "rmdir .kamal/apps/app-staging/assets/extracted .kamal/apps/app-staging/assets/volumes .kamal/apps/app-staging/assets 2>/dev/null || true",
      ].join("\n"),
    );
  });

  it("error pages: written to <dir>.new (0644), swapped in (0755), other versions removed after boot", () => {
    const p = errorPagesPaths("app", "", "999");
    assert.equal(prepareErrorPagesScript(p), "rm -rf .kamal/proxy/apps-config/app/error_pages/999.new && mkdir -p .kamal/proxy/apps-config/app/error_pages/999.new");
    assert.equal(writeErrorPageScript(p, "503.html"), "cat > .kamal/proxy/apps-config/app/error_pages/999.new/503.html && chmod 644 .kamal/proxy/apps-config/app/error_pages/999.new/503.html");
    assert.throws(() => writeErrorPageScript(p, "../x.html"), /not an error page name/);
    assert.equal(
      swapErrorPagesScript(p),
      "chmod 755 .kamal/proxy/apps-config/app/error_pages/999.new && rm -rf .kamal/proxy/apps-config/app/error_pages/999 && mv .kamal/proxy/apps-config/app/error_pages/999.new .kamal/proxy/apps-config/app/error_pages/999",
    );
    assert.equal(
      cleanupErrorPagesScript(p),
      "if [ -d .kamal/proxy/apps-config/app/error_pages ]; then find .kamal/proxy/apps-config/app/error_pages -mindepth 1 -maxdepth 1 '!' -name 999 -exec rm -rf '{}' +; fi",
    );
    assert.equal(
      removeErrorPagesScript("app", "staging"),
      "if [ -z \"$(docker container ls --all --filter label=service=app --filter label=destination=staging --format '{{.ID}}')\" ]; then rm -rf .kamal/proxy/apps-config/app-staging/error_pages; rmdir .kamal/proxy/apps-config/app-staging 2>/dev/null || true; fi",
    );
    assert.equal(line(rolesOnHostArgv("app", "")), "docker container ls --all --filter label=service=app --filter label=destination= --format '{{.Label \"role\"}}'");
  });
});

describe("asset volume in docker run, --error-pages in kamal-proxy deploy", () => {
  it("appRunArgv mounts the version's asset volume after the volumes, before the labels (Kamal's order)", () => {
    const cfg = normalizeApp({ ...base, volumes: ["/data:/data"], assetPath: "/public/assets" });
    assert.equal(
      line(appRunArgv(appHostSpec(cfg, "web", "1.1.1.1"), undefined, "/root")),
      "docker run --detach --restart unless-stopped --name app-web-999 --network kamal --env KAMAL_CONTAINER_NAME=app-web-999 --env KAMAL_VERSION=999 --env KAMAL_HOST=1.1.1.1 --env-file .kamal/apps/app/env/roles/web.env --log-opt max-size=10m --volume /data:/data --volume /root/.kamal/apps/app/assets/volumes/web-999:/public/assets --label service=app --label role=web --label destination dhh/app:999",
    );
    assert.throws(() => appRunArgv(appHostSpec(cfg, "web", "1.1.1.1")), /home is required when assetPath is set/);
    // No asset path: no volume, and no home needed.
    assert.doesNotMatch(line(appRunArgv(appHostSpec(cfg, "workers", "1.1.1.2"))), /assets/);
  });

  it("proxyDeployArgv ends with --error-pages=<apps-config dir of the version>", () => {
    const cfg = normalizeApp(base);
    const proxy = cfg.roles.web.proxy!;
    const argv = proxyDeployArgv({ service: "app-web", target: "abc:80", proxy, deployTimeoutSeconds: 30, drainTimeoutSeconds: 30, errorPages: errorPagesPaths("app", "", "999").dir });
    assert.equal(argv[argv.length - 1], "--error-pages=/home/kamal-proxy/.apps-config/app/error_pages/999");
  });
});

describe("components readErrorPages", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-pages-"));
    fs.mkdirSync(path.join(dir, "pages"));
    fs.writeFileSync(path.join(dir, "pages", "503.html"), "<p>{{ .Message }}</p>\n");
    fs.writeFileSync(path.join(dir, "pages", "404.html"), "<p>not here</p>\n");
    fs.writeFileSync(path.join(dir, "pages", "index.html"), "not a page");
    fs.writeFileSync(path.join(dir, "pages", "5000.html"), "not a page");
    fs.mkdirSync(path.join(dir, "empty"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads Kamal's {4??,5??}.html files, by name, relative to the base directory", () => {
    assert.deepEqual(readErrorPages(dir, "pages"), { "404.html": "<p>not here</p>\n", "503.html": "<p>{{ .Message }}</p>\n" });
    assert.deepEqual(Object.keys(readErrorPages("/", path.join(dir, "pages"))), ["404.html", "503.html"]);
  });

  it("a missing directory, or one without pages, is an error at errorPagesPath", () => {
    assert.throws(() => readErrorPages(dir, "nope"), (e: BerthConfigError) => e.problems[0].path === "errorPagesPath" && /does not exist/.test(e.problems[0].message));
    assert.throws(() => readErrorPages(dir, "empty"), (e: BerthConfigError) => e.problems[0].path === "errorPagesPath" && /at least one error page/.test(e.problems[0].message));
  });
});
