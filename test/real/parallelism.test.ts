/**
 * One version per role needs all of a role's host updates in flight at once, so `AppService` warns
 * when a role has more hosts than the engine runs operations at once (`--parallel`). The real
 * engine and Berth's language host give the program that limit two ways: an environment variable
 * for a CLI program, the SDK's run state for an Automation API inline program. Both are previewed
 * here, below and at the limit. The hosts are never reached: a preview does not connect.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { backend, REPO, stack, type TestBackend } from "../helpers/engine";
import { nineHostApp } from "../helpers/nine-host-app";

const WARNING = /`hosts`: the web role's 9 hosts deploy at once to stay on one version, but this run of pulumi does at most (\d+) operations at once/;

describe("real: AppService warns when a role has more hosts than --parallel", function () {
  let b: TestBackend;
  const stacks: Stack[] = [];

  before(async function () {
    b = await backend("berth-parallel-");
  });

  after(async function () {
    for (const s of stacks) await s.workspace.removeStack(s.name).catch(() => undefined);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("a CLI program: warns at --parallel 8, not at --parallel 9", async function () {
    const s = await stack(b, path.join(REPO, "test/real/fixtures/parallel"), "dev");
    stacks.push(s);
    const low = await s.preview({ parallel: 8 });
    assert.equal(WARNING.exec(low.stdout)?.[1], "8", low.stdout);
    assert.match(low.stdout, /Run `pulumi up --parallel 9` or higher/);
    const enough = await s.preview({ parallel: 9 });
    assert.doesNotMatch(enough.stdout, /--parallel/, enough.stdout);
    assert.equal(enough.changeSummary.create, 21, JSON.stringify(enough.changeSummary)); // the stack, AppService, Proxy, 9 ProxyHosts, 9 AppHosts
  });

  it("an Automation API inline program: warns at parallel 8, not at 9", async function () {
    const workDir = fs.mkdtempSync(path.join(b.dir, "inline-"));
    const s = await LocalWorkspace.createOrSelectStack(
      { stackName: "inline", projectName: "berth-parallel-inline", program: async () => nineHostApp() },
      { workDir, pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    stacks.push(s);
    const low = await s.preview({ parallel: 8 });
    assert.equal(WARNING.exec(low.stdout)?.[1], "8", low.stdout);
    const enough = await s.preview({ parallel: 9 });
    assert.doesNotMatch(enough.stdout, /--parallel/, enough.stdout);
  });
});
