/**
 * AppService with `assetPath` and `errorPagesPath`: the exact AppHost inputs (asset path on proxied
 * roles only; the pages' content, never the local path, on proxied hosts only).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, registered, settle, value } from "../helpers/mocks";

async function inputsOf(r: pulumi.CustomResource): Promise<Record<string, any>> {
  await value(r.urn);
  await settle();
  const reg = registered.find((x) => x.type === "berth:index:AppHost" && x.name === (r as any).__name);
  assert.ok(reg, "the AppHost was not registered");
  return reg.inputs;
}

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h3: "ssh-ed25519 AAAA3" } };

describe("component: AppService assets and error pages", function () {
  let berth: typeof import("../../sdk");
  let dir: string;
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-pages-"));
    fs.writeFileSync(path.join(dir, "503.html"), "<h1>down</h1><p>{{ .Message }}</p>\n");
    fs.writeFileSync(path.join(dir, "README.md"), "not a page");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => (registered.length = 0));

  it("passes assetPath and the pages' content to proxied hosts only; the local path is nowhere in the inputs", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1"] }, jobs: { hosts: ["h3"], cmd: ["jobs"] } },
      assetPath: "/www/assets:ro",
      errorPagesPath: dir,
      ssh,
    });
    const web = await inputsOf(app.hostResources.web[0]);
    assert.equal(web.assetPath, "/www/assets:ro");
    assert.deepEqual(web.errorPages, { "503.html": "<h1>down</h1><p>{{ .Message }}</p>\n" });
    const jobs = await inputsOf(app.hostResources.jobs[0]);
    assert.equal(jobs.assetPath, undefined);
    assert.equal(jobs.errorPages, undefined);
    assert.equal(JSON.stringify([web, jobs]).includes(dir), false, "the local directory leaked into the inputs");
  });

  it("refuses a missing error pages directory before any child, naming `errorPagesPath`", function () {
    assert.throws(
      () => new berth.AppService("bad", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], errorPagesPath: path.join(dir, "nope"), ssh }),
      (e: Error) => /`errorPagesPath`: must be a directory of error pages/.test(e.message),
    );
    assert.equal(registered.filter((r) => r.name.startsWith("bad")).length, 0);
  });
});
