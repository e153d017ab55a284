import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

const ssh = { privateKeyPath: "/k", hostKeys: { h1: "ssh-ed25519 AAAA1", h2: "ssh-ed25519 AAAA2", h3: "ssh-ed25519 AAAA3" } };

async function names(rs: pulumi.Resource[]): Promise<string[]> {
  await Promise.all(rs.map((r) => value(r.urn)));
  await settle();
  return registered.map((r) => `${r.type} ${r.name}`).sort();
}

describe("component: ssh.bootstrap (DockerHost)", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks(false, "staging");
    berth = await import("../../sdk");
  });
  beforeEach(() => (registered.length = 0));

  it("registers no DockerHost without the opt-in", async function () {
    const app = new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], ssh });
    const all = await names([app, ...Object.values(app.hostResources).flat()]);
    assert.deepEqual(all.filter((n) => n.includes("DockerHost")), []);
    assert.deepEqual(app.dockerHosts, []);
  });

  it("registers one DockerHost per host of the service (the own Proxy does not bootstrap again), with the host and its connection as a secret", async function () {
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1", "h2"] }, jobs: { hosts: ["h3"], cmd: ["jobs"] } },
      ssh: { ...ssh, bootstrap: true },
    });
    assert.equal(app.dockerHosts.length, 3);
    assert.deepEqual(app.proxy!.dockerHosts, []);
    const all = await names([app, ...app.dockerHosts, ...app.proxy!.hostResources, ...Object.values(app.hostResources).flat()]);
    assert.deepEqual(all, [
      "berth:index:AppHost shop-jobs-h3",
      "berth:index:AppHost shop-web-h1",
      "berth:index:AppHost shop-web-h2",
      "berth:index:AppService shop",
      "berth:index:DockerHost shop-docker-h1",
      "berth:index:DockerHost shop-docker-h2",
      "berth:index:DockerHost shop-docker-h3",
      "berth:index:Proxy shop-proxy",
      "berth:index:ProxyHost shop-proxy-h1",
      "berth:index:ProxyHost shop-proxy-h2",
    ]);
    const h3 = registered.find((r) => r.name === "shop-docker-h3")!;
    assert.deepEqual(Object.keys(h3.inputs).sort(), ["connection", "host"]);
    assert.equal(h3.inputs.host, "h3");
    const conn = app.dockerHosts[2] as unknown as { connection: pulumi.Output<Record<string, unknown>> };
    assert.equal(await isSecret(conn.connection), true);
    assert.deepEqual(await value(conn.connection), {
      host: "h3",
      port: 22,
      user: "root",
      allowUnknownHostKeys: false,
      connectTimeoutSeconds: 15,
      keepaliveSeconds: 30,
      privateKeyPath: "/k",
      hostKey: "ssh-ed25519 AAAA3",
    });
  });

  it("a Proxy with the opt-in bootstraps its hosts; an AppService routed through it bootstraps only the hosts it does not cover", async function () {
    const edge = new berth.Proxy("edge", { hosts: ["h1"], ssh: { ...ssh, bootstrap: true } });
    const app = new berth.AppService("shop", {
      service: "shop",
      image: "reg.test/shop:v1",
      roles: { web: { hosts: ["h1"] }, jobs: { hosts: ["h2"], cmd: ["jobs"] } },
      kamalProxy: edge,
      ssh: { ...ssh, bootstrap: true },
    });
    const all = await names([edge, app, ...edge.dockerHosts, ...app.dockerHosts]);
    assert.deepEqual(
      all.filter((n) => n.includes("DockerHost")),
      ["berth:index:DockerHost edge-docker-h1", "berth:index:DockerHost shop-docker-h2"],
    );
    assert.equal(app.dockerHosts.length, 2);
    assert.equal(app.dockerHosts[0], edge.dockerHosts[0]);
  });

  it("an Accessory with its app's opt-in bootstraps its hosts", async function () {
    const args = { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], ssh: { ...ssh, bootstrap: true } };
    const db = new berth.Accessory("db", { app: args, host: "h2", image: "reg.test/postgres:16" });
    const all = await names([db, ...db.dockerHosts, ...db.hostResources]);
    assert.deepEqual(
      all.filter((n) => n.includes("DockerHost")),
      ["berth:index:DockerHost db-docker-h2"],
    );
  });

  it("refuses `ssh.bootstrap` that is not a plain value, naming the field", function () {
    assert.throws(
      () => new berth.AppService("shop", { service: "shop", image: "reg.test/shop:v1", hosts: ["h1"], ssh: { ...ssh, bootstrap: pulumi.output(true) as any } }),
      /`ssh\.bootstrap`: must be a plain value, known when the program runs/,
    );
  });
});
