import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { patchStore } from "../../sdk/provider/buildx-builder";
import { imageResource } from "../../sdk/provider/image";
import { BerthProvider } from "../../sdk/provider/provider";
import { execLocal, redact, runLocal } from "../../sdk/provider/local";
import type { ImageInputs } from "../../sdk/config/resources";

const IMAGE_URN = "urn:pulumi:dev::p::berth:index:Image$berth:index:Image::web-build";

describe("provider/buildx", () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-buildx-store-"));
    saved = process.env.BUILDX_CONFIG;
    process.env.BUILDX_CONFIG = dir;
    fs.mkdirSync(path.join(dir, "instances"));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BUILDX_CONFIG;
    else process.env.BUILDX_CONFIG = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const store = (nodes: Record<string, string>[]) =>
    fs.writeFileSync(path.join(dir, "instances", "b"), JSON.stringify({ Name: "b", Driver: "docker-container", Nodes: nodes.map((o, i) => ({ Name: `b${i}`, DriverOpts: o })) }));

  it("patchStore swaps the placeholders for the secret values on every node and keeps the file 0600", () => {
    store([{ image: "x", "env.HTTP_PROXY": "berth-secret:HTTP_PROXY" }, { "env.HTTP_PROXY": "berth-secret:HTTP_PROXY" }]);
    patchStore("b", { HTTP_PROXY: "http://u:pw@p:1" });
    const file = path.join(dir, "instances", "b");
    const out = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.deepEqual(
      out.Nodes.map((n: { DriverOpts: Record<string, string> }) => n.DriverOpts),
      [{ image: "x", "env.HTTP_PROXY": "http://u:pw@p:1" }, { "env.HTTP_PROXY": "http://u:pw@p:1" }],
    );
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600");
    assert.deepEqual(fs.readdirSync(path.join(dir, "instances")), ["b"], "a temp file was left behind");
  });

  it("patchStore refuses to go on when a node lacks the placeholder, without naming the value", () => {
    store([{ "env.HTTP_PROXY": "berth-secret:HTTP_PROXY" }, {}]);
    assert.throws(
      () => patchStore("b", { HTTP_PROXY: "http://u:pw-zz@p:1" }),
      (e: Error) => /does not hold the placeholder of env.HTTP_PROXY on every node/.test(e.message) && !e.message.includes("pw-zz"),
    );
  });

  it("refuses provenance max with a credentialed proxy before building, naming no secret", async () => {
    const inputs = {
      context: "/nonexistent",
      dockerfile: "/nonexistent/Dockerfile",
      contextHash: "sha256:0",
      buildArgs: {},
      ssh: [],
      platforms: [],
      tags: ["r/app:1"],
      labels: {},
      exports: { push: true, load: false },
      cacheFrom: [],
      cacheTo: [],
      noCache: false,
      pull: false,
      provenance: "max",
      secrets: { build: {}, proxyEnv: { HTTP_PROXY: "http://u:s3cr3t-pw@p:1" } },
    } as ImageInputs;
    await assert.rejects(imageResource.create(inputs), (e: Error) => /`provenance: "max"` records every build arg/.test(e.message) && !e.message.includes("s3cr3t-pw"));
  });

  it("diff: only build inputs count; the builder's proxy alone changes nothing", async () => {
    const base = { contextHash: "sha256:a", tags: ["r/a:1"], secrets: { build: { t: "1" }, proxyEnv: { HTTP_PROXY: "http://p:1" } } } as unknown as ImageInputs;
    const provider = new BerthProvider("0.0.0", "{}");
    const same = await provider.diff("id", IMAGE_URN, base, { ...base, secrets: { build: { t: "1" }, proxyEnv: { HTTP_PROXY: "http://p:2" } } });
    assert.equal(same.changes, false);
    const secret = await provider.diff("id", IMAGE_URN, base, { ...base, secrets: { build: { t: "2" }, proxyEnv: base.secrets.proxyEnv } });
    assert.equal(secret.changes, true);
    const ctx = await provider.diff("id", IMAGE_URN, base, { ...base, contextHash: "sha256:b" });
    assert.deepEqual([ctx.changes, ctx.replaces], [true, []]);
  });
});

describe("provider/local", () => {
  it("redacts secrets from output lines and errors, longest first", async () => {
    assert.equal(redact("u:pw and pw and http://u:pw@h", ["pw", "u:pw", "http://u:pw@h"]), "*** and *** and ***");
    const lines: string[] = [];
    await execLocal(["sh", "-c", "echo token=abc123; echo done"], { redact: ["abc123"], onLine: (l) => lines.push(l) });
    assert.deepEqual(lines, ["token=***", "done"]);
    await assert.rejects(runLocal("leaky step", ["sh", "-c", "echo key=abc123 >&2; exit 3"], { redact: ["abc123"] }), (e: Error) => /leaky step failed \(exit 3\)/.test(e.message) && e.message.includes("key=***") && !e.message.includes("abc123"));
  });

  it("passes secrets in the child's environment, not its argv", async () => {
    const r = await execLocal(["sh", "-c", 'printf %s "$SECRET_X"'], { env: { SECRET_X: "v4lue" } });
    assert.equal(r.stdout, "v4lue");
  });
});
