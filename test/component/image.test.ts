import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

function context(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ctx-"));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

describe("component: Image", function () {
  let berth: typeof import("../../sdk");
  let hashContext: (context: string, dockerfile: string) => string;
  const dirs: string[] = [];
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
    const { hashContext: hash } = await import("../../sdk/components/context-hash");
    hashContext = (context, dockerfile) => hash(process.cwd(), context, dockerfile).hash;
  });
  beforeEach(() => (registered.length = 0));
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("registers one Image build with the normalized inputs, the builder's name and the destination label", async function () {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY a /a\n", a: "1" });
    dirs.push(ctx);
    const builder = new berth.BuildxBuilder("corp", { proxy: { http: "http://u:pw-9@10.77.0.1:8888", noProxy: ["10.77.0.1:5443"] } });
    const img = new berth.Image("app", {
      context: ctx,
      builder,
      service: "shop",
      tags: ["10.77.0.1:5443/shop:v1"],
      platforms: ["linux/amd64", "linux/arm64"],
      cacheTo: [{ type: "registry", ref: "10.77.0.1:5443/shop:cache", mode: "max" }],
      cacheFrom: [{ type: "registry", ref: "10.77.0.1:5443/shop:cache" }],
      buildArgs: { VERSION: "v1" },
      secrets: { token: pulumi.secret("bu1ld-s3cret") },
    });
    await value(img.resource.urn);
    await settle();
    assert.deepEqual(registered.filter((r) => r.name.startsWith("app")).map((r) => `${r.type} ${r.name}`).sort(), ["berth:index:Image app", "berth:index:Image app-build"]);
    const inputs = registered.find((r) => r.type === "berth:index:Image" && r.name === "app-build")!.inputs;
    assert.equal(inputs.context, ctx);
    assert.equal(inputs.dockerfile, path.join(ctx, "Dockerfile"));
    assert.equal(inputs.builder, "corp-staging");
    assert.deepEqual(inputs.tags, ["10.77.0.1:5443/shop:v1"]);
    assert.deepEqual(inputs.labels, { service: "shop", destination: "staging" });
    assert.deepEqual(inputs.exports, { push: true, load: false });
    assert.deepEqual(inputs.platforms, ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(inputs.cacheTo, [{ type: "registry", ref: "10.77.0.1:5443/shop:cache", mode: "max" }]);
    assert.equal(inputs.contextHash, img.contextHash);
    assert.match(img.contextHash, /^sha256:[0-9a-f]{64}$/);
    const secrets = (img.resource as any).secrets;
    assert.equal(await isSecret(secrets), true);
    assert.deepEqual(await value(secrets), { build: { token: "bu1ld-s3cret" }, proxyEnv: { HTTP_PROXY: "http://u:pw-9@10.77.0.1:8888", NO_PROXY: "10.77.0.1:5443" } });
    const plain = JSON.stringify({ ...inputs, secrets: undefined });
    assert.equal(plain.includes("bu1ld-s3cret"), false);
    assert.equal(plain.includes("pw-9"), false);
  });

  it("useBuilderProxy: false keeps the builder's proxy away from RUN steps", async function () {
    const ctx = context({ Dockerfile: "FROM scratch\n" });
    dirs.push(ctx);
    const builder = new berth.BuildxBuilder("corp2", { proxy: { http: "http://10.77.0.1:8888" } });
    const img = new berth.Image("app2", { context: ctx, builder, useBuilderProxy: false, tags: ["r/app:1"] });
    assert.deepEqual((await value((img.resource as any).secrets)).proxyEnv, {});
  });

  it("hashes the context as BuildKit receives it: .dockerignore'd files do not count, content, exec bit and Dockerfile do", function () {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY . /\n", "src/a.txt": "a", "debug.log": "x", ".dockerignore": "*.log\n" });
    dirs.push(ctx);
    const df = path.join(ctx, "Dockerfile");
    const h0 = hashContext(ctx, df);
    assert.equal(hashContext(ctx, df), h0, "not stable");
    fs.writeFileSync(path.join(ctx, "debug.log"), "changed");
    assert.equal(hashContext(ctx, df), h0, "an ignored file changed the hash");
    fs.writeFileSync(path.join(ctx, "src/a.txt"), "b");
    const h1 = hashContext(ctx, df);
    assert.notEqual(h1, h0);
    fs.chmodSync(path.join(ctx, "src/a.txt"), 0o755);
    const h2 = hashContext(ctx, df);
    assert.notEqual(h2, h1);
    fs.appendFileSync(df, "LABEL x=y\n");
    assert.notEqual(hashContext(ctx, df), h2);
    fs.mkdirSync(path.join(ctx, "empty"));
    const h3 = hashContext(ctx, df);
    fs.rmdirSync(path.join(ctx, "empty"));
    assert.notEqual(h3, hashContext(ctx, df), "an empty directory is copied by COPY . too");
  });

  it("uses <Dockerfile>.dockerignore over the context's .dockerignore, as buildx does", function () {
    const ctx = context({ "app.Dockerfile": "FROM scratch\n", "app.Dockerfile.dockerignore": "secret.txt\n", ".dockerignore": "", "secret.txt": "1" });
    dirs.push(ctx);
    const df = path.join(ctx, "app.Dockerfile");
    const h0 = hashContext(ctx, df);
    fs.writeFileSync(path.join(ctx, "secret.txt"), "2");
    assert.equal(hashContext(ctx, df), h0);
  });

  it("a missing context or Dockerfile fails before any resource is registered", function () {
    assert.throws(
      () => new berth.Image("nope", { context: "/does/not/exist", tags: ["r/app:1"] }),
      (e: Error) => e.name === "BerthConfigError" && /`context`: must be a directory; got "\/does\/not\/exist", which does not exist/.test(e.message) && /`dockerfile`/.test(e.message),
    );
    assert.equal(registered.filter((r) => r.name.startsWith("nope")).length, 0);
  });

  it("a build that exports nowhere fails at preview (seed 002)", function () {
    const ctx = context({ Dockerfile: "FROM scratch\n" });
    dirs.push(ctx);
    assert.throws(() => new berth.Image("nowhere", { context: ctx, tags: ["r/app:1"], push: false }), (e: Error) => /`push`: is false and neither `load` nor `oci` is set/.test(e.message));
  });

  it("refuses a secret build arg (build args are in argv)", async function () {
    const ctx = context({ Dockerfile: "FROM scratch\n" });
    dirs.push(ctx);
    const img = new berth.Image("secretarg", { context: ctx, tags: ["r/app:1"], buildArgs: { TOKEN: pulumi.secret("x") } });
    await assert.rejects((img.tags as any).promise(), (e: Error) => e.name === "BerthConfigError" && /`buildArgs`: holds a secret/.test(e.message));
  });
});
