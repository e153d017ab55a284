/**
 * The real Pulumi engine, Berth's language host and Berth's Command resource, end to end:
 * preview shows the create, up runs it, a changed input previews as an update, an unchanged
 * program applies 0 changes, destroy runs the delete command.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import type { Stack } from "@pulumi/pulumi/automation";
import { backend, REPO, stack, stateFile, TestBackend } from "../helpers/engine";

const FIXTURE = path.join(REPO, "test/real/fixtures/command");

describe("real: the Pulumi engine", function () {
  let b: TestBackend;
  let s: Stack;
  let marker: string;

  before(async function () {
    b = await backend();
    s = await stack(b, FIXTURE, "dev");
    marker = path.join(b.dir, "deleted.txt");
    await s.setAllConfig({ message: { value: "hello from berth" }, marker: { value: marker } });
  });

  after(async function () {
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("is the version package.json pins", function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));
    const v = execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim();
    assert.equal(v, `v${pkg.dependencies["@pulumi/pulumi"]}`);
  });

  it("previews the create", async function () {
    const p = await s.preview();
    assert.equal(p.changeSummary.create, 2, JSON.stringify(p.changeSummary)); // the stack + the command
  });

  it("runs the command on up and returns its real stdout", async function () {
    const r = await s.up();
    assert.equal(r.summary.result, "succeeded");
    assert.equal(r.outputs.stdout.value, "hello from berth");
  });

  it("applies 0 changes when nothing changed", async function () {
    const p = await s.preview();
    assert.deepEqual(Object.keys(p.changeSummary).sort(), ["same"]);
    const r = await s.up();
    assert.deepEqual(Object.keys(r.summary.resourceChanges ?? {}).sort(), ["same"]);
  });

  it("previews a changed input as an update, then runs it", async function () {
    await s.setConfig("message", { value: "changed" });
    const p = await s.preview({ diff: true });
    assert.equal(p.changeSummary.update, 1, JSON.stringify(p.changeSummary));
    assert.match(p.stdout, /changed/);
    const r = await s.up();
    assert.equal(r.outputs.stdout.value, "changed");
    assert.match(stateFile(b, "berth-command-fixture", "dev"), /"stdout":"changed"/);
  });

  it("runs the delete command on destroy", async function () {
    assert.equal(fs.existsSync(marker), false);
    const r = await s.destroy();
    assert.equal(r.summary.result, "succeeded");
    assert.equal(fs.readFileSync(marker, "utf8").trim(), "deleted");
  });

  it("runs a program whose stack has no config values at all (config.get returns undefined)", async function () {
    const nb = await backend();
    try {
      const ns = await stack(nb, path.join(REPO, "test/real/fixtures/noconfig"), "empty");
      const r = await ns.up();
      assert.equal(r.summary.result, "succeeded");
      assert.equal(r.outputs.greeting.value, "unset");
    } finally {
      fs.rmSync(nb.dir, { recursive: true, force: true });
    }
  });
});
