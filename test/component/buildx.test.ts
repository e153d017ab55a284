import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

const PASSWORD = "pr0xy-pa55word";

describe("component: BuildxBuilder", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  it("registers the component and one BuildxBuilder resource; the buildx name defaults to <name>-<stack>", async function () {
    const b = new berth.BuildxBuilder("corp", {
      image: "moby/buildkit:buildx-stable-1",
      proxy: { http: `http://alice:${PASSWORD}@10.77.0.1:8888`, noProxy: ["10.77.0.1:5443", "localhost"] },
      config: { preset: "test", registry: { "10.77.0.1:5443": { ca: ["/var/lib/berth-lab/tls/ca.crt"] } } },
      platforms: ["linux/amd64"],
    });
    await value(b.resource.urn);
    await settle();
    assert.deepEqual(registered.map((r) => `${r.type} ${r.name}`).sort(), ["berth:index:BuildxBuilder corp", "berth:index:BuildxBuilder corp-builder"]);
    assert.equal(b.builderName, "corp-staging");
    const inputs = registered.find((r) => r.type === "berth:index:BuildxBuilder" && r.name === "corp-builder")!.inputs;
    assert.equal(inputs.name, "corp-staging");
    assert.equal(inputs.driver, "docker-container");
    assert.deepEqual(inputs.driverOptions, { image: "moby/buildkit:buildx-stable-1", "env.NO_PROXY": "10.77.0.1:5443,localhost" });
    assert.equal(inputs.nodes.length, 1);
    assert.deepEqual(inputs.nodes[0].platforms, ["linux/amd64"]);
    assert.equal(inputs.nodes[0].config.worker.oci.maxParallelism, 6);
    assert.deepEqual(inputs.nodes[0].config.registry, { "10.77.0.1:5443": { ca: ["/var/lib/berth-lab/tls/ca.crt"] } });
  });

  it("keeps the proxy password only in the secret `secrets` input and the secret proxyEnv output", async function () {
    const b = new berth.BuildxBuilder("corp2", { proxy: { http: `http://alice:${PASSWORD}@10.77.0.1:8888`, https: `http://alice:${PASSWORD}@10.77.0.1:8888` }, env: { FOO: "bar" } });
    const res = b.resource as any;
    assert.equal(await isSecret(res.secrets), true);
    assert.deepEqual((await value(res.secrets)).env, { HTTP_PROXY: `http://alice:${PASSWORD}@10.77.0.1:8888`, HTTPS_PROXY: `http://alice:${PASSWORD}@10.77.0.1:8888` });
    for (const key of ["driverOptions", "nodes", "name", "driver"]) {
      assert.equal(await isSecret(res[key]), false, key);
      assert.equal(JSON.stringify(await value(res[key])).includes(PASSWORD), false, `${key} holds the password`);
    }
    assert.deepEqual(await value(res.driverOptions), { "env.FOO": "bar" });
    assert.equal(await isSecret(b.proxyEnv), true);
    assert.deepEqual(await value(b.proxyEnv), { HTTP_PROXY: `http://alice:${PASSWORD}@10.77.0.1:8888`, HTTPS_PROXY: `http://alice:${PASSWORD}@10.77.0.1:8888` });
  });

  it("a secret `env` (e.g. from config) is passed like `secretEnv`, never as a driver option", async function () {
    const b = new berth.BuildxBuilder("corp3", { env: pulumi.secret({ TOKEN: "t0ken-value" }) as any });
    const res = b.resource as any;
    assert.deepEqual(await value(res.driverOptions), {});
    assert.deepEqual((await value(res.secrets)).env, { TOKEN: "t0ken-value" });
  });

  it("remote with mutual TLS: the PEMs only in `secrets`, the node shows its server name", async function () {
    const tls = { caPem: "-----BEGIN CERTIFICATE-----\nCA", certPem: "-----BEGIN CERTIFICATE-----\nCL", keyPem: "-----BEGIN PRIVATE KEY-----\nK3Y-SECRET", serverName: "buildkitd" };
    const b = new berth.BuildxBuilder("rb", { name: "remote-b", driver: "remote", endpoint: "tcp://10.77.0.11:1234", tls, appendNodes: [{ endpoint: "tcp://10.77.0.12:1234", platforms: ["linux/arm64"] }] });
    const res = b.resource as any;
    assert.deepEqual(await value(res.nodes), [
      { name: "remote-b0", endpoint: "tcp://10.77.0.11:1234", platforms: [], buildkitdFlags: [], tls: { serverName: "buildkitd" } },
      { name: "remote-b1", endpoint: "tcp://10.77.0.12:1234", platforms: ["linux/arm64"], buildkitdFlags: [] },
    ]);
    assert.deepEqual((await value(res.secrets)).tls, [tls, null]);
    assert.equal(JSON.stringify(await value(res.nodes)).includes("K3Y-SECRET"), false);
    assert.deepEqual(await value(b.platforms), [[], ["linux/arm64"]]);
  });

  it("rejects bad settings before registering anything, naming every field", function () {
    assert.throws(
      () => new berth.BuildxBuilder("bad", { config: { worker: { oci: { maxParallelism: -1, reservedSpace: "10QB", platforms: ["linux/amd46"] } } } }),
      (e: Error) =>
        e.name === "BerthConfigError" &&
        /`config.worker.oci.maxParallelism`/.test(e.message) &&
        /`config.worker.oci.reservedSpace`/.test(e.message) &&
        /`config.worker.oci.platforms\[0\]`/.test(e.message),
    );
    assert.equal(registered.filter((r) => r.name.startsWith("bad")).length, 0);
  });
});
