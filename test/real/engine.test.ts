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

/**
 * The cause of the real tier's old `14 UNAVAILABLE: No connection established` (see
 * test/helpers/engine.ts): a gRPC client left open to a finished engine makes a later client to a
 * new engine on the same port fail at once, unless each client has its own connection pool, as the
 * harness now gives the SDK's clients.
 */
describe("real tier harness: inline programs' gRPC clients", function () {
  // The copy of grpc-js the SDK itself uses.
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [path.dirname(require.resolve("@pulumi/pulumi"))] })) as typeof import("@grpc/grpc-js");
  const codec = { serialize: (x: string) => Buffer.from(x), deserialize: (b: Buffer) => b.toString() };
  const def = { ping: { path: "/berth.test/Ping", requestStream: false, responseStream: false, requestSerialize: codec.serialize, requestDeserialize: codec.deserialize, responseSerialize: codec.serialize, responseDeserialize: codec.deserialize } };
  const Client = grpc.makeGenericClientConstructor(def, "Ping");
  const servers: import("@grpc/grpc-js").Server[] = [];
  const clients: import("@grpc/grpc-js").Client[] = [];

  const serve = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = new grpc.Server();
      s.addService(def, { ping: (_call: unknown, cb: (e: null, r: string) => void) => cb(null, "pong") });
      s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
      servers.push(s);
    });
  const ping = (c: import("@grpc/grpc-js").Client) =>
    new Promise<string>((resolve) => (c as unknown as { ping: (x: string, cb: (e: Error | null, r?: string) => void) => void }).ping("x", (e, r) => resolve(e ? e.message : String(r))));
  const client = (port: number, options: Record<string, unknown>) => {
    const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };

  /** Engine 1 answers, goes away with its client left open; engine 2 takes its port; a new client's first call. */
  async function secondEngineOnSamePort(options: Record<string, unknown>): Promise<string> {
    const port = await serve(0);
    const first = client(port, options);
    assert.equal(await ping(first), "pong");
    servers[servers.length - 1].forceShutdown();
    assert.match(await ping(first), /14 UNAVAILABLE/); // the leaked client now backs off
    await serve(port);
    return ping(client(port, options));
  }

  after(function () {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
  });

  it("with grpc-js's shared pool, the new client's first call fails: the old flake", async function () {
    assert.match(await secondEngineOnSamePort({}), /14 UNAVAILABLE: No connection established/);
  });

  it("with the options the harness gives the SDK's clients, it succeeds", async function () {
    const { inlineClientOptions } = await import("../helpers/engine");
    assert.equal(inlineClientOptions["grpc.use_local_subchannel_pool"], 1);
    const settings = require("@pulumi/pulumi/runtime/settings") as { grpcClientOptions: Record<string, unknown> };
    assert.equal(settings.grpcClientOptions, inlineClientOptions, "the SDK creates its clients with this object");
    assert.equal(await secondEngineOnSamePort(inlineClientOptions), "pong");
  });
});
