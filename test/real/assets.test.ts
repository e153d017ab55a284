/**
 * Issue 10, must-show 5: asset bridging (`assetPath`, Kamal's `asset_path`) and error pages
 * (`errorPagesPath`, Kamal's `error_pages_path`) on the lab's real hosts through the real engine.
 *
 * Each version's image carries an asset only it has (`/www/assets/app-v1.css`, `app-v2.css`). Rolling
 * v1 → v2 while two pollers ask every host, in turn, for the old asset, the new asset and `/`: the old
 * asset never answers anything but 200; the new one, once it answers 200, keeps answering 200,
 * and it answers 200 while `/` still says v1 (the old container serves it: it was merged into the old
 * volume before the switch); after the switch both answer 200 from v2. Maintenance shows the
 * program's own `503.html` with the message; editing the page previews as a change and the next up
 * serves it. The other version's directories are gone after the switch, and every asset and error
 * page directory after destroy.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService, AppServiceArgs } from "../../sdk";
import { backend, stateFile, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const SERVICE = "assetsapp";
const HOST_HEADER = "assetsapp.test";
const STACK = "lab";
const PROJECT = "berth-real-assets";
const MARKER = "berth-error-page-7c1e";

/** An image of the example app whose `/www/assets` holds `app-<version>.css` and `.hidden-<version>`. */
function assetImage(l: Lab, version: string): string {
  const app = appImage(l, `assets-${version}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-assets-image-"));
  try {
    fs.writeFileSync(
      path.join(dir, "Dockerfile"),
      [
        `FROM ${app}`,
        `RUN mkdir -p /www/assets && echo "body { content: '${version}'; }" > /www/assets/app-${version}.css && echo ${version} > /www/assets/.hidden-${version}`,
        "",
      ].join("\n"),
    );
    const ref = `${l.registry.plain}/berth/${SERVICE}:${version}`;
    execFileSync("docker", ["build", "-q", "-t", ref, dir], { stdio: "pipe", timeout: 300_000 });
    execFileSync("docker", ["push", "-q", ref], { stdio: "pipe", timeout: 300_000 });
    return ref;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Sample {
  host: string;
  v1: number;
  v2: number;
  root: string;
}

/** Asks each host in turn for both assets and `/` until stopped; every answer is recorded (an error as status 0). */
function poll(l: Lab) {
  let stopping = false;
  const samples: Sample[] = [];
  const status = (address: string, p: string) => get(address, HOST_HEADER, p, 80, 3000).then((r) => r, () => ({ status: 0, body: "" }));
  const loops = l.hosts.map(async (h) => {
    while (!stopping) {
      const v1 = await status(h.address, "/assets/app-v1.css");
      const v2 = await status(h.address, "/assets/app-v2.css");
      const root = await status(h.address, "/");
      samples.push({ host: h.address, v1: v1.status, v2: v2.status, root: root.status === 200 ? root.body.trim() : `status ${root.status}` });
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    async stop(): Promise<Sample[]> {
      stopping = true;
      await Promise.all(loops);
      return samples;
    },
  };
}

describe("real: asset bridging and error pages (issue 10, must-show 5)", function () {
  let l: Lab;
  let b: TestBackend;
  let stack: Stack;
  let args: AppServiceArgs;
  let images: Record<string, string>;
  let pages: string;
  let output = "";
  const appDir = `.kamal/apps/${SERVICE}-${STACK}`;
  const pagesDir = `.kamal/proxy/apps-config/${SERVICE}-${STACK}/error_pages`;

  const base = (version: string, extra: Partial<AppServiceArgs> = {}): AppServiceArgs => ({
    service: SERVICE,
    image: images[version],
    hosts: l.hosts.map((h) => h.address),
    proxy: { hosts: [HOST_HEADER], healthcheck: { intervalSeconds: 1 } },
    assetPath: "/www/assets:ro",
    errorPagesPath: pages,
    drainTimeoutSeconds: 5,
    deployTimeoutSeconds: 20,
    ssh: labSsh(l),
    ...extra,
  });
  const up = async () => {
    output = "";
    return stack.up({ onOutput: (o) => (output += o) });
  };
  const onHost = (h: string, cmd: string) => sshRun(l, h, cmd).trim();

  before(async function () {
    l = lab();
    b = await backend("berth-real-assets-");
    images = { v1: assetImage(l, "v1"), v2: assetImage(l, "v2") };
    pages = fs.mkdtempSync(path.join(os.tmpdir(), "berth-error-pages-"));
    fs.writeFileSync(path.join(pages, "503.html"), `<html><body><h1>${MARKER}</h1><p>{{ .Message }}</p></body></html>\n`);
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK, projectName: PROJECT, program: async () => ({ version: new AppService("app", args).version }) },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    try {
      if (stack) await stack.destroy();
    } catch {
      /* already gone */
    }
    for (const h of l?.hosts ?? []) {
      try {
        sshRun(l, h.address, `docker ps -aq --filter label=service=${SERVICE} | xargs -r docker rm -f; rm -rf ${appDir} .kamal/proxy/apps-config/${SERVICE}-${STACK}`);
      } catch {
        /* best effort */
      }
    }
    if (pages) fs.rmSync(pages, { recursive: true, force: true });
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("deploys v1: its asset (and dotfile) answers 200 from Kamal's asset volume, mounted read-only; the error pages are in Kamal's place", async function () {
    args = base("v1");
    const r = await up();
    assert.equal(r.summary.result, "succeeded");
    assert.match(output, new RegExp(`${SERVICE}-web-${STACK}: extracting the assets of v1 \\(/www/assets:ro\\)`));
    for (const h of l.hosts) {
      assert.equal((await get(h.address, HOST_HEADER, "/assets/app-v1.css")).status, 200);
      assert.equal((await get(h.address, HOST_HEADER, "/assets/.hidden-v1")).body.trim(), "v1");
      assert.equal((await get(h.address, HOST_HEADER, "/assets/app-v2.css")).status, 404);
      const home = onHost(h.address, 'printf %s "$HOME"');
      const mount = onHost(h.address, `docker inspect --format '{{range .Mounts}}{{.Source}} {{.Destination}} {{.RW}}{{end}}' ${SERVICE}-web-${STACK}-v1`);
      assert.equal(mount, `${home}/${appDir}/assets/volumes/web-v1 /www/assets false`);
      assert.notEqual(onHost(h.address, `docker exec ${SERVICE}-web-${STACK}-v1 touch /www/assets/x 2>/dev/null; echo $?`), "0", "the asset mount is writable");
      assert.equal(onHost(h.address, `ls -A ${appDir}/assets/extracted/web-v1 | sort | tr '\\n' ' '`), ".hidden-v1 app-v1.css");
      assert.equal(onHost(h.address, `cat ${pagesDir}/v1/503.html`), `<html><body><h1>${MARKER}</h1><p>{{ .Message }}</p></body></html>`);
      assert.equal(onHost(h.address, `docker container ls --all --quiet --filter name=^${SERVICE}-web-${STACK}-assets$`), "", "the extraction container was left behind");
    }
    // State holds the pages' content, never the local directory.
    const state = stateFile(b, PROJECT, STACK);
    assert.ok(!state.includes(pages), "the local error pages directory is in the state");
    assert.ok(state.includes(MARKER));
  });

  it("rolls v1 → v2: the old asset never fails; the new one is served by the old container before the switch; both answer 200 after", async function () {
    const poller = poll(l);
    await new Promise((r) => setTimeout(r, 1000));
    args = base("v2");
    const r = await up();
    await new Promise((r) => setTimeout(r, 1000));
    const samples = await poller.stop();
    assert.equal(r.summary.result, "succeeded");
    assert.ok(samples.length >= 40, `only ${samples.length} rounds were made`);
    const bridged = samples.filter((s) => s.v2 === 200 && s.root === "version assets-v1").length;
    console.log(`      ${samples.length} rounds; old asset non-200: ${samples.filter((s) => s.v1 !== 200).length}; new asset served by the old container: ${bridged}`);
    const oldFailed = samples.filter((s) => s.v1 !== 200);
    assert.deepEqual(oldFailed, [], `the old asset failed ${oldFailed.length} of ${samples.length} times`);
    for (const h of l.hosts) {
      const mine = samples.filter((s) => s.host === h.address);
      const firstNew = mine.findIndex((s) => s.v2 === 200);
      assert.ok(firstNew >= 0, `${h.address}: the new asset never answered 200`);
      const laterFailures = mine.slice(firstNew).filter((s) => s.v2 !== 200);
      assert.deepEqual(laterFailures, [], `${h.address}: the new asset failed after it had answered 200`);
      // Served by the old container: the new asset answered 200 and `/` right after still said v1.
      assert.ok(
        mine.some((s) => s.v2 === 200 && s.root === "version assets-v1"),
        `${h.address}: the old container never served the new asset: ${JSON.stringify(mine.map((s) => [s.v2, s.root]))}`,
      );
      assert.equal(mine[mine.length - 1].root, "version assets-v2");
      for (const asset of ["app-v1.css", "app-v2.css", ".hidden-v1", ".hidden-v2"]) {
        assert.equal((await get(h.address, HOST_HEADER, `/assets/${asset}`)).status, 200, `${h.address} /assets/${asset}`);
      }
    }
  });

  it("after the switch only v2's asset and error page directories are left", async function () {
    for (const h of l.hosts) {
      assert.equal(onHost(h.address, `ls ${appDir}/assets/extracted ${appDir}/assets/volumes | tr '\\n' ' '`), `${appDir}/assets/extracted: web-v2  ${appDir}/assets/volumes: web-v2`);
      assert.equal(onHost(h.address, `ls ${pagesDir}`), "v2");
      assert.equal(onHost(h.address, `ls -A ${appDir}/assets/volumes/web-v2 | sort | tr '\\n' ' '`), ".hidden-v1 .hidden-v2 app-v1.css app-v2.css");
    }
  });

  it("maintenance shows the program's 503.html with the message; an edited page previews as a change and is served after up", async function () {
    args = base("v2", { maintenance: { enabled: true, message: "Back at noon" } });
    assert.equal((await up()).summary.result, "succeeded");
    for (const h of l.hosts) {
      const page = await get(h.address, HOST_HEADER, "/");
      assert.equal(page.status, 503);
      assert.equal(page.body.trim(), `<html><body><h1>${MARKER}</h1><p>Back at noon</p></body></html>`);
    }
    fs.writeFileSync(path.join(pages, "503.html"), `<html><body><h2>${MARKER}-edited</h2><p>{{ .Message }}</p></body></html>\n`);
    const p = await stack.preview({ diff: true });
    assert.equal(p.changeSummary.update, 2, JSON.stringify(p.changeSummary));
    assert.match(p.stdout, /errorPages/);
    assert.equal((await up()).summary.result, "succeeded");
    for (const h of l.hosts) {
      const page = await get(h.address, HOST_HEADER, "/");
      assert.equal(page.status, 503);
      assert.equal(page.body.trim(), `<html><body><h2>${MARKER}-edited</h2><p>Back at noon</p></body></html>`);
    }
    args = base("v2");
    assert.equal((await up()).summary.result, "succeeded");
    for (const h of l.hosts) assert.equal((await get(h.address, HOST_HEADER, "/assets/app-v1.css")).status, 200);
  });

  it("destroy removes the containers, the asset directories and the error pages", async function () {
    await stack.destroy();
    for (const h of l.hosts) {
      assert.equal(onHost(h.address, `docker ps -aq --filter label=service=${SERVICE}`), "");
      assert.equal(onHost(h.address, `ls -d ${appDir}/assets ${pagesDir} 2>/dev/null || true`), "");
    }
  });
});
