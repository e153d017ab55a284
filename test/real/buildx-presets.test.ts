/**
 * The buildkitd.toml presets against the real buildkitd: each preset's rendered file starts a
 * BuildKit whose `buildctl debug workers` lists the preset's platforms, label and GC limits; and
 * seed 000's `[worker.oci] env` (which Berth refuses) is shown to be ignored by buildkitd.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { BuildxBuilder, buildkitdPresets } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { Lab, lab } from "../helpers/lab";

const PRESETS = ["development", "test", "production"] as const;

function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

describe("real: buildkitd.toml presets in the real buildkitd", function () {
  let l: Lab;
  let b: TestBackend;
  let stack: Stack;
  let work: string;

  before(async function () {
    l = lab();
    b = await backend("berth-real-presets-");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-presets-"));
    stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: "presets",
        projectName: "berth-real-presets",
        program: async () => {
          for (const preset of PRESETS) new BuildxBuilder(preset, { name: `berth-preset-${preset}`, image: l.images.buildkit, config: { preset } });
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    await stack?.destroy().catch(() => undefined);
    for (const p of PRESETS) spawnSync("docker", ["buildx", "rm", `berth-preset-${p}`]);
    spawnSync("docker", ["buildx", "rm", "berth-seed-env"]);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("2. every preset's rendered buildkitd.toml is accepted: buildkitd starts and lists the preset's platforms, label and GC limits", async function () {
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    // buildkitd reads "10GB" as 10 GiB and prints decimal gigabytes.
    const gib = (size: string) => `${(Number(size.replace("GB", "")) * 1073741824) / 1e9}GB`;
    for (const preset of PRESETS) {
      const workers = docker("exec", `buildx_buildkit_berth-preset-${preset}0`, "buildctl", "debug", "workers", "-v");
      const oci = buildkitdPresets[preset].worker!.oci!;
      const platforms = /^Platforms:\s+(\S+)/m.exec(workers)![1].split(",");
      assert.deepEqual(platforms.slice(0, oci.platforms!.length), oci.platforms, `${preset}:\n${workers}`);
      assert.match(workers, new RegExp(`^\\s+environment:\\s+${preset}$`, "m"));
      assert.match(workers, new RegExp(`Reserved space:\\s+${gib(oci.reservedSpace!).replace(".", "\\.")}`));
      assert.match(workers, new RegExp(`Maximum used space:\\s+${gib(oci.maxUsedSpace!).replace(".", "\\.")}`));
    }
    // The log settings: debug text logs in development, JSON in production.
    const logs = (name: string) => {
      const r = spawnSync("docker", ["logs", name], { encoding: "utf8" });
      return `${r.stdout}${r.stderr}`;
    };
    assert.match(logs("buildx_buildkit_berth-preset-development0"), /level=debug/);
    const prodLines = logs("buildx_buildkit_berth-preset-production0").split("\n").filter((x) => x.trim());
    assert.ok(prodLines.length > 0);
    for (const line of prodLines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    assert.equal(prodLines.some((x) => /"level":"(debug|info)"/.test(x)), false, "production logs below warn");
    await stack.destroy();
    for (const preset of PRESETS) assert.equal(docker("ps", "-a", "-q", "--filter", `name=buildx_buildkit_berth-preset-${preset}0`), "");
  });

  it("seed 000's `[worker.oci] env` proxy is ignored by buildkitd (why Berth refuses it): no request reaches tinyproxy", async function () {
    const toml = path.join(work, "seed000-env.toml");
    fs.writeFileSync(toml, `[registry."${l.registry.plain}"]\n  http = true\n[worker.oci]\n  env = ["HTTP_PROXY=${l.proxy.url}", "HTTPS_PROXY=${l.proxy.url}"]\n`);
    fs.mkdirSync(path.join(work, "ctx"));
    fs.writeFileSync(path.join(work, "ctx", "Dockerfile"), `FROM ${l.registry.plain}/berth-lab/base:1\nLABEL seed=000\n`);
    docker("buildx", "create", "--name", "berth-seed-env", "--driver", "docker-container", "--driver-opt", `image=${l.images.buildkit}`, "--buildkitd-config", toml, "--bootstrap");
    const start = fs.statSync(l.proxy.logPath).size;
    execFileSync("docker", ["buildx", "build", "--builder", "berth-seed-env", "--progress", "plain", "--output", "type=cacheonly", path.join(work, "ctx")], { stdio: "pipe" });
    const log = fs.readFileSync(l.proxy.logPath).subarray(start).toString("utf8");
    assert.doesNotMatch(log, /berth-lab\/base/, "the pull went through the proxy after all");
    const env = JSON.parse(docker("inspect", "-f", "{{json .Config.Env}}", "buildx_buildkit_berth-seed-env0")) as string[];
    assert.equal(env.some((e) => e.startsWith("HTTP_PROXY=")), false);
    docker("buildx", "rm", "berth-seed-env");
  });
});
