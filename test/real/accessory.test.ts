/**
 * Accessories on the lab's real hosts through the real engine (issue 9): Postgres and Redis from
 * the lab's Debian-built images next to the example app, data kept across an image change and
 * across destroy + up, data deleted only when asked (and named in the preview), an
 * accessory-only stack, and placement by role and tag.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Accessory, AccessoryArgs, AppService, AppServiceArgs } from "../../sdk";
import { line } from "../../sdk/commands/shell";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const PG_PASSWORD = `pg-${randomBytes(8).toString("hex")}`;
const REGISTRY_PASSWORD = `reg-${randomBytes(8).toString("hex")}`;
const SVC = `acc${randomBytes(2).toString("hex")}`;
const SOLO = `${SVC}solo`;
const PLACE = `${SVC}place`;
// Published ports of this run: other runs of this file may share the lab's hosts.
const PG_PORT = 20000 + (randomBytes(2).readUInt16BE() % 20000);
const REDIS_PORT = PG_PORT + 1;

/** An inline-program stack whose program the test changes between runs. */
class ProgramStack {
  program: () => void = () => undefined;
  stack!: Stack;
  output = "";
  constructor(
    readonly b: TestBackend,
    readonly name: string,
  ) {}
  async init() {
    this.stack = await LocalWorkspace.createOrSelectStack(
      { stackName: this.name, projectName: "berth-real-accessory", program: async () => this.program() },
      { pulumiCommand: this.b.pulumi, envVars: this.b.envVars, secretsProvider: "passphrase" },
    );
    return this;
  }
  async up() {
    this.output = "";
    return this.stack.up({ onOutput: (o) => (this.output += o) });
  }
  async destroy() {
    this.output = "";
    return this.stack.destroy({ onOutput: (o) => (this.output += o) });
  }
}

/** Runs a command on a lab host with `input` on its stdin (a password never goes in argv). */
function sshInput(l: Lab, host: string, command: string, input: string): string {
  return execFileSync(
    "ssh",
    ["-i", l.ssh.privateKeyPath, "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${host}`, command],
    { encoding: "utf8", timeout: 120_000, input, stdio: ["pipe", "pipe", "pipe"] },
  );
}

function grepFiles(text: string, dir: string): string {
  try {
    return execFileSync("grep", ["-rl", "--", text, dir], { encoding: "utf8" }).trim();
  } catch (e) {
    if ((e as { status?: number }).status === 1) return "";
    throw e;
  }
}

describe("real: Accessory on lab hosts", function () {
  let l: Lab;
  let b: TestBackend;
  let h1: string;
  let h2: string;
  let pg: string;
  let pgNext: string;
  let redis: string;
  let app: string;
  let data: ProgramStack;

  /** psql from a client container built from the same Debian image, on `host`; the password on stdin. */
  function psql(host: string, network: "host" | "kamal", server: string, sql: string): string {
    const script = 'read -r PGPASSWORD; export PGPASSWORD; exec psql -h "$1" -p "$2" -U postgres -d shop -v ON_ERROR_STOP=1 -tA -c "$3"';
    // On the host's network: the published port; on the kamal network: the container's own 5432.
    const portNumber = network === "host" ? String(PG_PORT) : "5432";
    return sshInput(l, host, line(["docker", "run", "--rm", "-i", "--network", network, pg, "sh", "-c", script, "psql", server, portNumber, sql]), `${PG_PASSWORD}\n`).trim();
  }

  const appArgs = (): AppServiceArgs => ({
    service: SVC,
    image: app,
    hosts: [h1, h2],
    // The app on both hosts reaches Redis on host 1's address over the lab network.
    env: { clear: { REDIS_HOST: h1, REDIS_PORT: String(REDIS_PORT) } },
    proxy: { hosts: [`${SVC}.test`], healthcheck: { intervalSeconds: 1 } },
    deployTimeoutSeconds: 20,
    drainTimeoutSeconds: 2,
    ssh: labSsh(l),
  });

  let dbArgs: Partial<AccessoryArgs> = {};
  const dataProgram = (withApp = true) => () => {
    const a = appArgs();
    const db = new Accessory("db", {
      app: a,
      host: h1,
      image: pg,
      port: `127.0.0.1:${PG_PORT}:5432`,
      env: { clear: { POSTGRES_DB: "shop" }, secret: { POSTGRES_PASSWORD: pulumi.secret(PG_PASSWORD) } },
      directories: ["data:/var/lib/postgresql/data"],
      files: [
        { content: "berth accessory file\n", remote: "/etc/berth/motd", mode: "0644" },
        { content: pulumi.secret(`password=${PG_PASSWORD}\n`), remote: "/etc/berth/secret.conf" },
      ],
      healthcheck: { cmd: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"], timeoutSeconds: 90 },
      ...dbArgs,
    });
    const cache = new Accessory("cache", {
      app: a,
      host: h1,
      image: redis,
      port: `${h1}:${REDIS_PORT}:6379`,
      directories: ["data:/data"],
      healthcheck: { port: 6379 },
    });
    if (withApp) new AppService("app", a, { dependsOn: [db, cache] });
  };

  before(async function () {
    l = lab();
    b = await backend("berth-real-acc-");
    [h1, h2] = l.hosts.map((h) => h.address);
    pg = `${l.registry.plain}/berth-lab/postgres:1`;
    redis = `${l.registry.plain}/berth-lab/redis:1`;
    // "postgres 16.3 → 16.4": the lab's image with one more layer, under a new tag.
    pgNext = `${l.registry.plain}/berth/${SVC}-postgres:1.1`;
    execFileSync("docker", ["build", "-q", "-t", pgNext, "-"], { input: `FROM berth-lab/postgres:1\nLABEL berth.test.upgrade=${SVC}\n`, stdio: ["pipe", "pipe", "pipe"], timeout: 300_000 });
    execFileSync("docker", ["push", "-q", pgNext], { stdio: "pipe", timeout: 300_000 });
    app = appImage(l, SVC);
    data = await new ProgramStack(b, "data").init();
  });

  after(async function () {
    for (const name of ["data", "solo", "place", "proxied"]) {
      try {
        const s = await LocalWorkspace.selectStack({ stackName: name, projectName: "berth-real-accessory", program: async () => undefined }, { pulumiCommand: b.pulumi, envVars: b.envVars });
        await s.destroy();
      } catch {
        /* already gone */
      }
    }
    for (const h of l?.hosts ?? []) {
      try {
        sshRun(l, h.address, `docker ps -aq --filter name=^${SVC} | xargs -r docker rm -f; docker ps -aq --filter label=service=${SVC} | xargs -r docker rm -f; rm -rf ${SVC}-* ${SOLO}-* ${PLACE}-* .kamal/apps/${SVC}-* .kamal/apps/${SOLO} .kamal/apps/${PLACE}*`);
      } catch {
        /* best effort */
      }
    }
    // This run's images: the upgraded Postgres tag and the app build, on the hosts and here.
    const images = [pgNext, app].filter((i) => i !== undefined);
    for (const h of l?.hosts ?? []) {
      try {
        sshRun(l, h.address, `docker image rm ${images.join(" ")} >/dev/null 2>&1 || true`);
      } catch {
        /* best effort */
      }
    }
    for (const i of images) execFileSync("sh", ["-c", `docker image rm ${i} >/dev/null 2>&1 || true`]);
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  });

  it("1. Postgres and Redis from Debian-built images on one host, booted (healthy) before the app on two hosts that uses them", async function () {
    data.program = dataProgram();
    const r = await data.up();
    assert.equal(r.summary.result, "succeeded");
    const out = data.output;

    // Kamal's names and labels; Postgres published on the host's loopback only.
    const ps = sshRun(l, h1, `docker ps --format '{{.Names}} {{.Label "service"}}' --filter name=^${SVC}-`).trim().split("\n").sort();
    assert.ok(ps.includes(`${SVC}-db ${SVC}-db`) && ps.includes(`${SVC}-cache ${SVC}-cache`), ps.join("\n"));
    assert.equal(sshRun(l, h1, `docker port ${SVC}-db 5432`).trim(), `127.0.0.1:${PG_PORT}`);
    assert.equal(sshRun(l, h1, `docker port ${SVC}-cache 6379`).trim(), `${h1}:${REDIS_PORT}`);
    assert.equal(sshRun(l, h2, `docker ps -q --filter name=^${SVC}-db$`).trim(), "", "the accessory runs on its host only");

    // Order: each accessory passed its health check before the app's first host started.
    const dbBooted = out.indexOf(`${h1} ${SVC}-db: booted`);
    const cacheBooted = out.indexOf(`${h1} ${SVC}-cache: booted`);
    const appStarts = out.search(new RegExp(`${SVC}-web-data: pulling`));
    assert.ok(dbBooted >= 0 && cacheBooted >= 0 && appStarts > dbBooted && appStarts > cacheBooted, `order:\n${out}`);
    assert.match(out, new RegExp(`${SVC}-db: waiting for its health check`));

    // psql on the accessory's host: over the loopback binding, and by name on the kamal network.
    psql(h1, "host", "127.0.0.1", "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)");
    psql(h1, "host", "127.0.0.1", "INSERT INTO orders (item) VALUES ('written over loopback')");
    psql(h1, "kamal", `${SVC}-db`, "INSERT INTO orders (item) VALUES ('written over the kamal network')");
    assert.equal(psql(h1, "host", "127.0.0.1", "SELECT string_agg(item, ',' ORDER BY id) FROM orders"), "written over loopback,written over the kamal network");
    // The loopback binding keeps it off the network: host 2 is refused.
    assert.throws(() => psql(h2, "host", h1, "SELECT 1"), /Connection refused|could not connect/);

    // The example app on both hosts writes and reads Redis over the network (busybox nc → h1, the published Redis port).
    const kv = async (host: string, q: string) => (await get(host, `${SVC}.test`, `/cgi-bin/kv?${q}`)).body.trim();
    assert.equal(await kv(h1, "incr=hits"), "1");
    assert.equal(await kv(h2, "incr=hits"), "2");
    assert.equal(await kv(h1, "incr=hits"), "3");
    assert.deepEqual([await kv(h1, "get=hits"), await kv(h2, "get=hits")], ["3", "3"]);

    // Files and the env file, Kamal's paths; the secret only where it belongs.
    assert.equal(sshRun(l, h1, `stat -c '%a' .kamal/apps/${SVC}-data/env/accessories/db.env`).trim(), "600");
    assert.equal(sshRun(l, h1, `stat -c '%a' ${SVC}-db/etc/berth/motd ${SVC}-db/etc/berth/secret.conf`).trim(), "644\n600");
    assert.equal(sshRun(l, h1, `docker exec ${SVC}-db cat /etc/berth/motd`).trim(), "berth accessory file");
    assert.equal(sshRun(l, h1, `docker exec ${SVC}-db sh -c 'printf %s "$POSTGRES_PASSWORD"'`), PG_PASSWORD);
    // Not in the container's command line (docker keeps env-file values in its config, as with Kamal).
    assert.ok(!sshRun(l, h1, `docker inspect --format '{{json .Args}} {{json .Path}} {{json .Config.Cmd}}' ${SVC}-db`).includes(PG_PASSWORD), "the password is in the container's argv");
    assert.ok(!sshRun(l, h1, "ps -eo args").includes(PG_PASSWORD), "the password is in a host process's argv");
    assert.ok(!out.includes(PG_PASSWORD), "the password is in the CLI output");
    assert.equal(grepFiles(PG_PASSWORD, b.dir), "", "the password is in the state in clear");
  });

  it("1. an unchanged program previews 0 changes, also after a refresh that reads the hosts", async function () {
    const p = await data.stack.preview({ refresh: true });
    assert.deepEqual(Object.keys(p.changeSummary), ["same"], JSON.stringify(p.changeSummary));
  });

  it("2. an image change (a new tag) previews as `image` on the accessory's host, replaces the container and keeps the rows", async function () {
    const before = sshRun(l, h1, `docker inspect -f '{{.Id}}' ${SVC}-db`).trim();
    dbArgs = { image: pgNext };
    const p = await data.stack.preview({ diff: true });
    assert.deepEqual(p.changeSummary, { same: p.changeSummary.same, update: 1 }, JSON.stringify(p.changeSummary));
    assert.match(p.stdout, /~ berth:index:AccessoryHost: \(update\)/);
    assert.match(p.stdout, new RegExp(`image\\s*: "[^"]*berth-lab/postgres:1" => "[^"]*${SVC}-postgres:1\\.1"`));
    assert.doesNotMatch(p.stdout, /replace/);
    await data.up();
    assert.match(data.output, new RegExp(`${SVC}-db: stopped the previous container \\(kept as ${SVC}-db_replaced_[0-9a-f]+ until the new one is healthy\\)`));
    const after = sshRun(l, h1, `docker inspect -f '{{.Id}} {{.Config.Image}}' ${SVC}-db`).trim().split(" ");
    assert.notEqual(after[0], before);
    assert.equal(after[1], pgNext);
    assert.equal(sshRun(l, h1, `docker ps -aq --filter name=^${SVC}-db_replaced_`).trim(), "", "the set-aside container is removed once the new one is healthy");
    assert.equal(psql(h1, "host", "127.0.0.1", "SELECT count(*) FROM orders"), "2");
  });

  it("2. a change whose container fails its health check: up fails naming the host, step and logs; the previous container runs again, rows intact", async function () {
    const running = sshRun(l, h1, `docker inspect -f '{{.Id}}' ${SVC}-db`).trim();
    dbArgs = { image: pgNext, cmd: ["postgres", "-c", "no_such_setting=1"] };
    let error = "";
    try {
      await data.up();
    } catch (e) {
      error = (e as Error).message;
    }
    assert.match(error, new RegExp(`${h1.replace(/\./g, "\\.")}: waiting for ${SVC}-db to be healthy \\(the previous container is running again\\) failed \\(exit 1\\)`));
    assert.match(error, /unrecognized configuration parameter "no_such_setting"/);
    assert.ok(!error.includes(PG_PASSWORD));
    assert.equal(sshRun(l, h1, `docker inspect -f '{{.Id}} {{.State.Running}}' ${SVC}-db`).trim(), `${running} true`);
    assert.equal(sshRun(l, h1, `docker ps -aq --filter name=^${SVC}-db_replaced_`).trim(), "");
    assert.equal(psql(h1, "host", "127.0.0.1", "SELECT count(*) FROM orders"), "2");
    // The failed change was not recorded: the previous program previews 0 changes.
    dbArgs = { image: pgNext };
    const p = await data.stack.preview();
    assert.deepEqual(Object.keys(p.changeSummary), ["same"], JSON.stringify(p.changeSummary));
  });

  it("2. destroy removes the containers and env file and keeps the data; up again has every row", async function () {
    const d = await data.destroy();
    assert.equal(d.summary.result, "succeeded");
    assert.match(data.output, /keeping its data/);
    assert.equal(sshRun(l, h1, `docker ps -aq --filter name=^${SVC}-`).trim(), "");
    assert.equal(sshRun(l, h1, `ls .kamal/apps/${SVC}-data/env/accessories 2>/dev/null || true`).trim(), "");
    assert.equal(sshRun(l, h1, `cat ${SVC}-db/data/PG_VERSION`).trim(), "15");
    await data.up();
    assert.equal(psql(h1, "host", "127.0.0.1", "SELECT string_agg(item, ',' ORDER BY id) FROM orders"), "written over loopback,written over the kamal network");
    assert.equal((await get(h2, `${SVC}.test`, "/cgi-bin/kv?get=hits")).body.trim(), "3", "Redis kept its append-only file too");
  });

  it("2. deleteDataOnDestroy: the preview names what will be deleted; nothing reboots; destroy deletes it", async function () {
    const started = sshRun(l, h1, `docker inspect -f '{{.State.StartedAt}}' ${SVC}-db`).trim();
    dbArgs = { image: pgNext, deleteDataOnDestroy: true };
    const p = await data.stack.preview({ diff: true });
    assert.match(p.stdout, new RegExp(`~ dataDeletedOnDestroy\\s*: \\[\\s*\\+ \\[0\\]: "~/${SVC}-db"\\s*\\]`));
    await data.up();
    assert.equal(sshRun(l, h1, `docker inspect -f '{{.State.StartedAt}}' ${SVC}-db`).trim(), started, "recording the option rebooted the accessory");
    // The destroy preview's delete steps carry it (what `pulumi destroy --preview-only --json` shows).
    const deletes: Record<string, unknown> = {};
    await data.stack.previewDestroy({
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        if (m?.op === "delete" && m.type === "berth:index:AccessoryHost") deletes[m.urn.split("::").pop()!] = m.old?.inputs?.dataDeletedOnDestroy;
      },
    });
    assert.deepEqual(deletes, { [`db-${h1}`]: [`~/${SVC}-db`], [`cache-${h1}`]: [] });
    await data.destroy();
    assert.match(data.output, new RegExp(`${SVC}-db: deleting its data \\(deleteDataOnDestroy\\): ~/${SVC}-db`));
    assert.equal(sshRun(l, h1, `ls -d ${SVC}-db 2>/dev/null || echo gone`).trim(), "gone");
    // The cache did not ask for it: its data stays.
    assert.equal(sshRun(l, h1, `ls ${SVC}-cache/data`).trim().split("\n").includes("appendonlydir"), true);
  });

  it("3. an accessory-only stack (no AppService) deploys, previews 0 changes, destroys cleanly", async function () {
    const solo = await new ProgramStack(b, "solo").init();
    solo.program = () => {
      new Accessory("kv", {
        service: SOLO,
        hosts: [h1, h2],
        image: redis,
        healthcheck: { cmd: ["redis-cli", "ping"] },
        // The lab registry needs no login, but takes one: the password goes to `docker login` on stdin.
        registry: { server: l.registry.plain, username: "berth", password: pulumi.secret(REGISTRY_PASSWORD) },
        ssh: labSsh(l),
      });
    };
    const loginAfter = Math.floor(Date.now() / 1000) - 1;
    const r = await solo.up();
    assert.equal(r.summary.result, "succeeded");
    for (const h of [h1, h2]) {
      assert.equal(sshRun(l, h, `docker exec ${SOLO}-kv redis-cli ping`).trim(), "PONG");
      assert.equal(sshRun(l, h, `stat -c '%a' .kamal/apps/${SOLO}/env/accessories/kv.env`).trim(), "600");
    }
    for (const h of [h1, h2]) assert.match(solo.output, new RegExp(`${h.replace(/\./g, "\\.")} ${SOLO}-kv: logging in to ${l.registry.plain.replace(/\./g, "\\.")}`));
    assert.ok(Number(sshRun(l, h2, "stat -c %Y .docker/config.json").trim()) >= loginAfter, "docker login did not write its config");
    assert.ok(!solo.output.includes(REGISTRY_PASSWORD));
    assert.equal(grepFiles(REGISTRY_PASSWORD, b.dir), "", "the registry password is in the state in clear");
    const p = await solo.stack.preview();
    assert.deepEqual(Object.keys(p.changeSummary), ["same"], JSON.stringify(p.changeSummary));
    const d = await solo.destroy();
    assert.equal(d.summary.result, "succeeded");
    for (const h of [h1, h2]) {
      assert.equal(sshRun(l, h, `docker ps -aq --filter name=^${SOLO}-`).trim(), "");
      assert.equal(sshRun(l, h, `ls .kamal/apps/${SOLO}/env/accessories 2>/dev/null || true`).trim(), "");
    }
    assert.equal(JSON.parse(JSON.stringify(await solo.stack.exportStack())).deployment.resources?.length ?? 0, 0);
  });

  it("an accessory behind kamal-proxy answers by Host header; destroy removes its route", async function () {
    const proxied = await new ProgramStack(b, "proxied").init();
    proxied.program = () => {
      new Accessory("admin", { service: SOLO, host: h1, image: app, proxy: { host: `${SOLO}-admin.test`, healthcheck: { path: "/up" } }, ssh: labSsh(l) });
    };
    await proxied.up();
    assert.match(proxied.output, new RegExp(`${SOLO}-admin: routing through kamal-proxy`));
    const r = await get(h1, `${SOLO}-admin.test`);
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), `version ${SVC}`);
    assert.match(sshRun(l, h1, "docker exec kamal-proxy kamal-proxy list").replace(/\x1b\[[0-9;]*m/g, ""), new RegExp(`${SOLO}-admin\\s+${SOLO}-admin\\.test`));
    await proxied.destroy();
    assert.doesNotMatch(sshRun(l, h1, "docker exec kamal-proxy kamal-proxy list 2>/dev/null || true"), new RegExp(`${SOLO}-admin`));
    assert.equal(sshRun(l, h1, `docker ps -aq --filter name=^${SOLO}-admin$`).trim(), "");
  });

  it("4. placement by role and by tag resolves to the app's hosts; an unknown role or tag is a preview error naming it", async function () {
    const place = await new ProgramStack(b, "place").init();
    const roles = () => ({
      service: PLACE,
      image: app,
      roles: { web: { hosts: [h1] }, jobs: { hosts: [{ host: h2, tags: ["replica"] }] } },
      ssh: labSsh(l),
    });
    let placement: Partial<AccessoryArgs> = { tag: "replica" };
    place.program = () => {
      new Accessory("r", { app: roles(), image: redis, ...placement } as AccessoryArgs);
    };
    // By tag: deployed, and it runs on the tagged host only.
    await place.up();
    assert.equal(sshRun(l, h2, `docker ps --format '{{.Names}}' --filter name=^${PLACE}-r$`).trim(), `${PLACE}-r`);
    assert.equal(sshRun(l, h1, `docker ps -q --filter name=^${PLACE}-r$`).trim(), "");
    // By role: the preview moves it from the tagged host to the role's host, per host.
    placement = { role: "web" };
    const p = await place.stack.preview();
    assert.match(p.stdout, new RegExp(`\\+\\s+berth:index:AccessoryHost\\s+r-${h1.replace(/\./g, "\\.")}\\s+create`));
    assert.match(p.stdout, new RegExp(`-\\s+berth:index:AccessoryHost\\s+r-${h2.replace(/\./g, "\\.")}\\s+delete`));
    placement = { roles: ["web", "jobs"] };
    const both = await place.stack.preview();
    assert.deepEqual(both.changeSummary, { create: 1, same: both.changeSummary.same }, JSON.stringify(both.changeSummary));
    // Unknown names fail the preview, naming them and what the app has.
    placement = { role: "db" };
    await assert.rejects(place.stack.preview(), /`role`: must name a role of the app \(`web`, `jobs`\); got "db"/);
    placement = { tags: ["replica", "primary"] };
    await assert.rejects(place.stack.preview(), /`tags\[1\]`: must name a tag of the app's hosts \(one of `replica`\); got "primary"/);
    placement = { tag: "replica" };
    await place.destroy();
    assert.equal(sshRun(l, h2, `docker ps -aq --filter name=^${PLACE}-r$`).trim(), "");
  });
});
