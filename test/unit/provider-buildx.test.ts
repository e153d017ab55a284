import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { patchStore } from "../../sdk/provider/buildx-builder";
import { imageResource, pushRetry, retryablePushFailure } from "../../sdk/provider/image";
import { BerthProvider } from "../../sdk/provider/provider";
import { execLocal, redact, runLocal } from "../../sdk/provider/local";
import type { ImageInputs } from "../../sdk/config/resources";

/** An Image's inputs: one tag, pushed, nothing else set. */
const imageInputs = {
  context: ".",
  dockerfile: "Dockerfile",
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
  provenance: false,
  secrets: { build: {}, proxyEnv: {} },
} as unknown as ImageInputs;

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
    const inputs = { ...imageInputs, provenance: "max", secrets: { build: {}, proxyEnv: { HTTP_PROXY: "http://u:s3cr3t-pw@p:1" } } } as ImageInputs;
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

describe("provider/image: a failed upload is tried again", () => {
  // Output of a real failure (the lab's registry, BuildKit 0.2x): the image push and the cache
  // export sent one blob to one repository at the same moment.
  const raced = [
    "#10 ERROR: failed to push 10.77.0.1:5443/t/cached:1: errors:",
    "unknown: provided digest did not match uploaded content",
    '#11 ERROR: error writing layer blob: failed commit on ref "layer-sha256:71e4": failed to do request: Put "https://10.77.0.1:5443/v2/t/cached/blobs/uploads/x": failed to push',
    "ERROR: failed to build: failed to solve: failed to push 10.77.0.1:5443/t/cached:1: errors:",
    "unknown: provided digest did not match uploaded content",
  ].join("\n");
  const denied = "#10 ERROR: failed to push r/app:1: unexpected status from HEAD request to https://r/v2/app/blobs/x: 401 Unauthorized\nERROR: failed to build: failed to solve: failed to push r/app:1: unexpected status: 401 Unauthorized";
  const stepFailed = '#5 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1\nERROR: failed to build: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1';

  it("retryablePushFailure: an upload error is retried; a failed step or a refused login is not", () => {
    assert.equal(retryablePushFailure(raced), "failed to push 10.77.0.1:5443/t/cached:1: errors: unknown: provided digest did not match uploaded content");
    assert.ok(retryablePushFailure('ERROR: failed to solve: error writing layer blob: failed commit on ref "layer-sha256:1": no response'));
    assert.equal(retryablePushFailure(denied), undefined);
    assert.equal(retryablePushFailure(stepFailed), undefined);
    assert.equal(retryablePushFailure("ERROR: failed to solve: failed to push r/a:1: denied: requested access to the resource is denied"), undefined);
    // What the lab's TLS registry gives a builder without its CA (buildx-builder.test.ts "the same build without the CA").
    assert.equal(
      retryablePushFailure('ERROR: failed to build: failed to solve: failed to push 10.77.0.1:5443/t/noca:1: failed to do request: Head "https://10.77.0.1:5443/v2/t/noca/blobs/sha256:1": tls: failed to verify certificate: x509: certificate signed by unknown authority'),
      undefined,
    );
    assert.equal(retryablePushFailure('ERROR: failed to solve: failed to push r:5000/a:1: failed to do request: Head "https://r:5000/v2/": http: server gave HTTP response to HTTPS client'), undefined);
  });

  let dir: string;
  let savedPath: string | undefined;
  let savedWaits: number[];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-image-retry-"));
    savedPath = process.env.PATH;
    savedWaits = pushRetry.waitsMs;
    pushRetry.waitsMs = [10, 10];
  });
  afterEach(() => {
    process.env.PATH = savedPath;
    pushRetry.waitsMs = savedWaits;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A stand-in `docker` on PATH: its first `failures` calls print `output` and exit 1, then it writes the metadata file. */
  function standIn(failures: number, output: string): () => number {
    fs.writeFileSync(path.join(dir, "out.txt"), output + "\n");
    const script = [
      "#!/bin/sh",
      `n=$(cat '${dir}/calls' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '${dir}/calls'`,
      `if [ $n -le ${failures} ]; then cat '${dir}/out.txt' >&2; exit 1; fi`,
      'while [ $# -gt 0 ]; do if [ "$1" = --metadata-file ]; then printf \'{"containerimage.digest":"sha256:%064d"}\' 7 > "$2"; fi; shift; done',
    ].join("\n");
    fs.writeFileSync(path.join(dir, "docker"), script + "\n", { mode: 0o755 });
    process.env.PATH = `${dir}:${savedPath}`;
    return () => Number(fs.readFileSync(path.join(dir, "calls"), "utf8"));
  }
  const inputs = imageInputs;

  it("a raced upload succeeds on the next try", async () => {
    const calls = standIn(1, raced);
    const r = await imageResource.create(inputs);
    assert.equal(r.id, `sha256:${"0".repeat(63)}7`);
    assert.equal(calls(), 2);
  });

  it("gives up after three tries, saying so", async () => {
    const calls = standIn(5, raced);
    await assert.rejects(imageResource.create(inputs), (e: Error) => /docker buildx build of r\/app:1 \(try 3 of 3\) failed \(exit 1\)/.test(e.message) && /provided digest did not match/.test(e.message));
    assert.equal(calls(), 3);
  });

  it("a refused login and a failed step are not tried again", async () => {
    let calls = standIn(5, denied);
    await assert.rejects(imageResource.create(inputs), (e: Error) => /build of r\/app:1 failed \(exit 1\)/.test(e.message) && /401 Unauthorized/.test(e.message));
    assert.equal(calls(), 1);
    fs.rmSync(path.join(dir, "calls"));
    calls = standIn(5, stepFailed);
    await assert.rejects(imageResource.create(inputs), /did not complete successfully/);
    assert.equal(calls(), 1);
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
