import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Day2Error, Day2Help, Day2UsageError, parseDay2Args, plan, runTasks, type Task } from "../../sdk/cli/day2";
import { decodeState, parseStackExport, stackExportArgv, TOKENS } from "../../sdk/cli/stack";
import { ACCESSORY_HOST_TOKEN } from "../../sdk/provider/accessory-host";
import { APP_HOST_TOKEN } from "../../sdk/provider/app-host";
import { PROXY_HOST_TOKEN } from "../../sdk/provider/proxy-host";
import { main } from "../../sdk/cli/main";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";

/** A secret as `pulumi stack export --show-secrets` writes it. */
const shown = (v: unknown) => ({ [SIG]: SECRET_SIG, plaintext: JSON.stringify(v) });
const connection = (host: string) => ({ host, port: 22, user: "root", privateKey: KEY, hostKey: "ssh-ed25519 AAAAC3Nza" });

const container = { restartPolicy: "unless-stopped", cmd: [], env: {}, labels: {}, options: {}, logging: { options: {} }, volumes: [], network: "kamal" };

function appHost(host: string, role: string, extra: Record<string, unknown> = {}) {
  const inputs = {
    host,
    service: "shop",
    role,
    destination: "staging",
    version: "v2",
    image: "10.77.0.1:5000/shop:v2",
    primary: role === "web",
    container,
    proxyContainer: "kamal-proxy",
    deployTimeoutSeconds: 30,
    drainTimeoutSeconds: 30,
    readinessDelaySeconds: 7,
    retainContainers: 5,
    maintenance: { enabled: false, drainTimeoutSeconds: 30 },
    secretEnvNames: ["DB_PASSWORD"],
    connection: shown(connection(host)),
    secrets: shown({ env: { DB_PASSWORD: "hunter2" } }),
    ...extra,
  };
  return { urn: `urn:pulumi:staging::shop::berth:index:AppService$berth:index:AppHost::app-${role}-${host}`, custom: true, type: "berth:index:AppHost", inputs, outputs: inputs };
}

function exportOf(resources: unknown[]) {
  return { version: 3, deployment: { manifest: {}, resources: [{ urn: "urn:pulumi:staging::shop::pulumi:pulumi:Stack::shop-staging", type: "pulumi:pulumi:Stack" }, ...resources] } };
}

// In the order a state may hold them (the order concurrent creates finished in), not the program's.
const STACK_EXPORT = exportOf([
  appHost("10.0.0.12", "web"),
  appHost("10.0.0.11", "jobs"),
  appHost("10.0.0.11", "web"),
  {
    urn: "urn:pulumi:staging::shop::berth:index:Proxy$berth:index:ProxyHost::app-proxy-10.0.0.12",
    type: "berth:index:ProxyHost",
    inputs: { host: "10.0.0.12", run: { containerName: "kamal-proxy" }, owner: "shop/staging/app-proxy", connection: shown(connection("10.0.0.12")) },
  },
  {
    urn: "urn:pulumi:staging::shop::berth:index:Proxy$berth:index:ProxyHost::app-proxy-10.0.0.11",
    type: "berth:index:ProxyHost",
    inputs: { host: "10.0.0.11", run: { containerName: "kamal-proxy" }, owner: "shop/staging/app-proxy", connection: shown(connection("10.0.0.11")) },
  },
  {
    urn: "urn:pulumi:staging::shop::berth:index:Accessory$berth:index:AccessoryHost::db-10.0.0.13",
    type: "berth:index:AccessoryHost",
    inputs: {
      host: "10.0.0.13",
      service: "shop-db",
      app: "shop-staging",
      name: "db",
      image: "postgres:16.4",
      env: {},
      network: "kamal",
      volumes: [],
      files: [],
      directories: [],
      connection: shown(connection("10.0.0.13")),
    },
  },
]);

describe("cli/day2: berth app|proxy|accessory", function () {
  describe("argument parsing", function () {
    it("logs with every option, in both spellings; Kamal's default of 100 lines", function () {
      assert.deepEqual(parseDay2Args("app", ["logs", "--stack", "staging", "--cwd=/srv/infra", "--role", "web,jobs", "--host", "10.0.0.11", "-n", "20", "--since=42m", "-g", "GET /up", "-T"]), {
        scope: "app",
        action: "logs",
        source: { stack: "staging", cwd: "/srv/infra" },
        roles: ["web", "jobs"],
        hosts: ["10.0.0.11"],
        logs: { lines: 20, since: "42m", grep: "GET /up", timestamps: true },
        reuse: false,
        interactive: false,
        env: {},
        cmd: [],
      });
      assert.deepEqual(parseDay2Args("app", ["logs"]).logs, { lines: 100 });
      assert.deepEqual(parseDay2Args("app", ["logs", "--grep", "-v"]).logs, { grep: "-v", lines: undefined });
      assert.deepEqual(parseDay2Args("proxy", ["logs", "--lines=0", "--hosts", "a,b", "--host", "c"]), {
        scope: "proxy",
        action: "logs",
        source: {},
        hosts: ["a", "b", "c"],
        logs: { lines: 0 },
        reuse: false,
        interactive: false,
        env: {},
        cmd: [],
      });
    });

    it("exec: options first, then the command as words (after `--` or at the first word that is not an option)", function () {
      assert.deepEqual(parseDay2Args("app", ["exec", "--reuse", "-e", "A=1", "--env=B=x=y", "--role", "web", "--", "sh", "-c", "echo $A --role"]), {
        scope: "app",
        action: "exec",
        source: {},
        roles: ["web"],
        logs: {},
        reuse: true,
        interactive: false,
        env: { A: "1", B: "x=y" },
        cmd: ["sh", "-c", "echo $A --role"],
      });
      assert.deepEqual(parseDay2Args("app", ["exec", "--host", "h", "ls", "-la", "--help"]).cmd, ["ls", "-la", "--help"]);
      assert.deepEqual(parseDay2Args("accessory", ["exec", "--reuse", "db", "psql", "-c", "select 1"]), {
        scope: "accessory",
        action: "exec",
        accessory: "db",
        source: {},
        logs: {},
        reuse: true,
        interactive: false,
        env: {},
        cmd: ["psql", "-c", "select 1"],
      });
      assert.deepEqual(parseDay2Args("accessory", ["logs", "-n", "5", "db"]).accessory, "db");
    });

    it("logs --follow (-f): Kamal's 10 lines first, unless --lines, --since or --grep say otherwise; exec --interactive (-i)", function () {
      assert.deepEqual(parseDay2Args("app", ["logs", "-f"]).logs, { follow: true, lines: 10 });
      assert.deepEqual(parseDay2Args("proxy", ["logs", "--follow", "-n", "50"]).logs, { follow: true, lines: 50 });
      assert.deepEqual(parseDay2Args("accessory", ["logs", "db", "-f", "--grep", "ERROR"]).logs, { follow: true, grep: "ERROR", lines: undefined });
      assert.deepEqual(parseDay2Args("app", ["logs", "-f", "--since", "5m"]).logs, { follow: true, since: "5m", lines: undefined });
      const i = parseDay2Args("app", ["exec", "-i", "--reuse", "--role", "web", "bin/rails", "console"]);
      assert.deepEqual([i.interactive, i.reuse, i.cmd], [true, true, ["bin/rails", "console"]]);
      assert.equal(parseDay2Args("accessory", ["exec", "--interactive", "db", "psql"]).interactive, true);
      assert.equal(parseDay2Args("app", ["exec", "ls"]).interactive, false);
    });

    it("bad usage: each message names the problem", function () {
      const cases: [Parameters<typeof parseDay2Args>, string][] = [
        [["app", []], "expected one of `logs`, `exec`, `details`, `containers`"],
        [["app", ["tail"]], "unknown action `tail`: expected one of `logs`, `exec`, `details`, `containers`"],
        [["proxy", ["exec"]], "unknown action `exec`: expected one of `logs`, `details`"],
        [["app", ["logs", "--tail"]], "unknown option `--tail`"],
        [["app", ["exec", "-f", "ls"]], "`-f` does not apply to `berth app exec`"],
        [["app", ["logs", "-i"]], "`-i` does not apply to `berth app logs`"],
        [["proxy", ["logs", "--follow=yes"]], "`--follow` takes no value"],
        [["app", ["details", "-n", "5"]], "`-n` does not apply to `berth app details`"],
        [["proxy", ["logs", "--role", "web"]], "`--role` does not apply to `berth proxy logs`"],
        [["app", ["logs", "--reuse"]], "`--reuse` does not apply to `berth app logs`"],
        [["app", ["logs", "--lines", "ten"]], "`--lines` must be a whole number of lines; got `ten`"],
        [["app", ["logs", "--lines"]], "`--lines` needs a value"],
        [["app", ["logs", "--role", "--host"]], "`--role` needs a value"],
        [["app", ["logs", "--role", "web,"]], "`--role` takes a comma-separated list without empty items; got `web,`"],
        [["app", ["logs", "--reuse=yes"]], "`--reuse` does not apply to `berth app logs`"],
        [["app", ["exec", "--reuse=yes", "ls"]], "`--reuse` takes no value"],
        [["app", ["exec", "-e", "1A=b", "ls"]], "`-e` takes `NAME=value`; got `1A=b`"],
        [["app", ["exec", "--role", "web"]], "no command given: `exec` needs the command to run, e.g. `-- cat /etc/hostname`"],
        [["app", ["exec", "--"]], "no command given: `exec` needs the command to run, e.g. `-- cat /etc/hostname`"],
        [["app", ["details", "extra"]], "unexpected argument `extra`"],
        [["app", ["details", "--", "ls"]], "`--` comes before a command, and only `exec` takes one"],
        [["accessory", ["logs"]], "expected the accessory's name"],
        [["accessory", ["exec", "--", "ls"]], "expected the accessory's name before `--`"],
        [["accessory", ["logs", "db", "redis"]], "unexpected argument `redis`"],
      ];
      for (const [args, message] of cases) {
        assert.throws(
          () => parseDay2Args(...args),
          (e: Error) => e instanceof Day2UsageError && e.message === message,
          `${args[0]} ${args[1].join(" ")}: expected ${message}`,
        );
      }
      assert.throws(() => parseDay2Args("app", ["logs", "-h"]), Day2Help);
      assert.throws(() => parseDay2Args("app", ["--help"]), Day2Help);
    });

    it("`berth app` with bad usage exits 2 with the message and the usage; `--help` exits 0", async function () {
      let out = "";
      let err = "";
      const io = { readStdin: async () => "", stdinIsTerminal: true, readFile: () => "", stdout: (t: string) => (out += t), stderr: (t: string) => (err += t) };
      assert.equal(await main(["app", "logs", "--tail"], io), 2);
      assert.match(err, /^berth app: unknown option `--tail`\n\nUsage: berth app logs\|exec\|details\|containers \[options\] \[-- <cmd…>\]\n/);
      assert.equal(out, "");
      assert.equal(await main(["proxy", "logs", "--help"], io), 0);
      assert.match(out, /^Usage: berth proxy logs\|details \[options\]\n\n.*\n\nOptions:\n/);
    });
  });

  describe("reading the stack", function () {
    it("the type tokens it looks for are the provider's", function () {
      assert.deepEqual(TOKENS, { app: APP_HOST_TOKEN, proxy: PROXY_HOST_TOKEN, accessory: ACCESSORY_HOST_TOKEN });
    });

    it("`pulumi stack export --show-secrets [--stack s]`", function () {
      assert.deepEqual(stackExportArgv(), ["pulumi", "stack", "export", "--show-secrets"]);
      assert.deepEqual(stackExportArgv("org/shop/staging"), ["pulumi", "stack", "export", "--show-secrets", "--stack", "org/shop/staging"]);
    });

    it("secrets shown by --show-secrets are decoded, nested ones too; an encrypted one is an error", function () {
      assert.deepEqual(decodeState({ a: shown({ b: [1, shown("x")] }), c: "plain" }), { a: { b: [1, "x"] }, c: "plain" });
      assert.throws(() => decodeState({ a: { [SIG]: SECRET_SIG, ciphertext: "v1:abc" } }), /encrypted in this export: export it with `--show-secrets`/);
    });

    it("finds each AppHost, ProxyHost and AccessoryHost with its connection", function () {
      const t = parseStackExport(STACK_EXPORT);
      assert.deepEqual(
        t.apps.map((a) => [a.host, a.role, a.primary, a.service, a.destination, a.version, a.image, a.connection.host, a.connection.privateKey === KEY]),
        [
          ["10.0.0.12", "web", true, "shop", "staging", "v2", "10.77.0.1:5000/shop:v2", "10.0.0.12", true],
          ["10.0.0.11", "jobs", false, "shop", "staging", "v2", "10.77.0.1:5000/shop:v2", "10.0.0.11", true],
          ["10.0.0.11", "web", true, "shop", "staging", "v2", "10.77.0.1:5000/shop:v2", "10.0.0.11", true],
        ],
      );
      // What is not needed is not kept: the secret env never reaches the CLI's targets.
      assert.ok(!JSON.stringify(t.apps).includes("hunter2"));
      assert.deepEqual(t.proxies.map((p) => [p.host, p.run.containerName]), [["10.0.0.12", "kamal-proxy"], ["10.0.0.11", "kamal-proxy"]]);
      assert.deepEqual(t.accessories.map((x) => [x.host, x.name, x.service]), [["10.0.0.13", "db", "shop-db"]]);
    });

    it("a resource without what the commands need fails naming the resource and the field, not its value", function () {
      const broken = appHost("10.0.0.11", "web");
      delete (broken.outputs as Record<string, unknown>).connection;
      assert.throws(() => parseStackExport(exportOf([{ ...broken, inputs: broken.outputs }])), (e: Error) => e.message.startsWith("the stack's berth:index:AppHost `app-web-10.0.0.11` has no usable `connection`") && !e.message.includes(KEY));
      assert.throws(() => parseStackExport({ nope: 1 }), /not a `pulumi stack export`: no `deployment`/);
    });
  });

  describe("planning: which host runs what, under which header", function () {
    const stack = parseStackExport(STACK_EXPORT);
    const shape = (tasks: Task[]) => tasks.map((t) => [t.header, t.where, t.connection.host]);

    it("app commands run per host and role: hosts in natural order, the primary role first; containers once per host", function () {
      assert.deepEqual(shape(plan(parseDay2Args("app", ["details"]), stack)), [
        ["App Host: 10.0.0.11 (role web)", "10.0.0.11 (role web)", "10.0.0.11"],
        ["App Host: 10.0.0.11 (role jobs)", "10.0.0.11 (role jobs)", "10.0.0.11"],
        ["App Host: 10.0.0.12 (role web)", "10.0.0.12 (role web)", "10.0.0.12"],
      ]);
      assert.deepEqual(shape(plan(parseDay2Args("app", ["logs", "--role", "web", "--host", "10.0.0.12"]), stack)), [["App Host: 10.0.0.12 (role web)", "10.0.0.12 (role web)", "10.0.0.12"]]);
      assert.deepEqual(shape(plan(parseDay2Args("app", ["containers"]), stack)), [
        ["App Host: 10.0.0.11", "10.0.0.11", "10.0.0.11"],
        ["App Host: 10.0.0.12", "10.0.0.12", "10.0.0.12"],
      ]);
      assert.deepEqual(shape(plan(parseDay2Args("app", ["containers", "--role", "jobs"]), stack)), [["App Host: 10.0.0.11", "10.0.0.11", "10.0.0.11"]]);
    });

    it("proxy and accessory commands: Kamal's `Proxy Host:` and `Accessory <name> Host:` headers", function () {
      assert.deepEqual(shape(plan(parseDay2Args("proxy", ["details"]), stack)), [
        ["Proxy Host: 10.0.0.11", "10.0.0.11", "10.0.0.11"],
        ["Proxy Host: 10.0.0.12", "10.0.0.12", "10.0.0.12"],
      ]);
      const many = { ...stack, proxies: ["10.0.0.2", "10.0.0.11", "10.0.0.1", "host-b", "host-a"].map((host) => ({ ...stack.proxies[0], host })) };
      assert.deepEqual(plan(parseDay2Args("proxy", ["details"]), many).map((t) => t.host), ["10.0.0.1", "10.0.0.2", "10.0.0.11", "host-a", "host-b"]);
      assert.deepEqual(shape(plan(parseDay2Args("accessory", ["logs", "db"]), stack)), [["Accessory db Host: 10.0.0.13", "10.0.0.13 (accessory db)", "10.0.0.13"]]);
      assert.deepEqual(shape(plan(parseDay2Args("accessory", ["exec", "shop-db", "true"]), stack)), [["Accessory db Host: 10.0.0.13", "10.0.0.13 (accessory db)", "10.0.0.13"]]);
    });

    it("unknown roles, hosts, services and accessories fail listing what the stack has", function () {
      const fails = (scope: "app" | "proxy" | "accessory", args: string[], message: string) =>
        assert.throws(() => plan(parseDay2Args(scope, args), stack), (e: Error) => e instanceof Day2Error && e.message === message, message);
      fails("app", ["logs", "--role", "worker"], "no role `worker` in shop: its roles are web, jobs");
      fails("app", ["logs", "--role", "jobs", "--host", "10.0.0.12"], "no role jobs on `10.0.0.12`: its hosts are 10.0.0.11");
      fails("app", ["logs", "--host", "10.0.0.12,10.0.0.99"], "no roles web, jobs on `10.0.0.99`: its hosts are 10.0.0.11, 10.0.0.12");
      fails("app", ["logs", "--service", "blog"], "the stack has no service `blog`: it has shop (destination staging)");
      fails("proxy", ["logs", "--host", "10.0.0.13"], "no kamal-proxy on `10.0.0.13`: its hosts are 10.0.0.11, 10.0.0.12");
      fails("accessory", ["logs", "redis"], "no accessory by the name of `redis` (the stack has db)");
      assert.throws(() => plan(parseDay2Args("app", ["details"]), { apps: [], proxies: [], accessories: [] }), /the stack has no AppService hosts/);
      const two = { ...stack, apps: [...stack.apps, { ...stack.apps[0], service: "blog" }] };
      assert.throws(() => plan(parseDay2Args("app", ["details"]), two), /^Error: the stack has several services \(blog \(destination staging\), shop \(destination staging\)\): choose one with `--service`$/);
      assert.equal(plan(parseDay2Args("app", ["details", "--service", "blog"]), two).length, 1);
    });
  });

  describe("running: output per host, failures named, the exit code", function () {
    const conn = { host: "10.0.0.11", port: 22, user: "root" };
    const runs = new Map<Task, () => Promise<string>>();
    const task = (header: string, host: string, run: () => Promise<string>): Task => {
      const t: Task = { header, host, where: `${host} (role web)`, connection: { ...conn, host }, command: async () => ({ script: "true", step: "test", kind: "list" }) };
      runs.set(t, run);
      return t;
    };
    const stub = (t: Task) => runs.get(t)!();

    it("prints each block in order (header, output, blank line) whatever finished first; exit 0", async function () {
      let out = "";
      let err = "";
      const code = await runTasks(
        [
          task("App Host: 10.0.0.11 (role web)", "10.0.0.11", () => new Promise((r) => setTimeout(() => r("one\ntwo\n"), 30))),
          task("App Host: 10.0.0.12 (role web)", "10.0.0.12", async () => ""),
          task("App Host: 10.0.0.13 (role web)", "10.0.0.13", async () => "three"),
        ],
        "app logs",
        (t) => (out += t),
        (t) => (err += t),
        stub,
      );
      assert.equal(code, 0);
      assert.equal(out, "App Host: 10.0.0.11 (role web)\none\ntwo\n\nApp Host: 10.0.0.12 (role web)\n\nApp Host: 10.0.0.13 (role web)\nthree\n\n");
      assert.equal(err, "");
    });

    it("a failing host is named on stderr and the exit code is 1; the others still print", async function () {
      let out = "";
      let err = "";
      const code = await runTasks(
        [
          task("App Host: 10.0.0.11 (role web)", "10.0.0.11", async () => "fine"),
          task("App Host: 10.0.0.12 (role web)", "10.0.0.12", async () => {
            throw new Error("10.0.0.12: cannot connect over SSH after 4 attempts over 3.5 s: connect ECONNREFUSED 10.0.0.12:22");
          }),
        ],
        "app logs",
        (t) => (out += t),
        (t) => (err += t),
        stub,
      );
      assert.equal(code, 1);
      assert.equal(out, "App Host: 10.0.0.11 (role web)\nfine\n\nApp Host: 10.0.0.12 (role web)\n\n");
      assert.equal(err, "berth app logs: 10.0.0.12 (role web): cannot connect over SSH after 4 attempts over 3.5 s: connect ECONNREFUSED 10.0.0.12:22\nberth app logs: failed on 1 of 2\n");
    });
  });

  describe("bin/berth reading the stack through `pulumi` on PATH", function () {
    this.timeout(60_000); // child processes, on a loaded machine
    const BIN = path.resolve(__dirname, "../../../bin/berth");
    let dir: string;
    let project: string;

    /** A stand-in `pulumi` that records its argv and working directory, then prints `export` (or fails). */
    function fakePulumi(exportDoc: unknown, exitCode = 0) {
      fs.writeFileSync(path.join(dir, "export.json"), JSON.stringify(exportDoc));
      fs.writeFileSync(
        path.join(dir, "pulumi"),
        `#!/bin/sh\nprintf '%s\\n' "$PWD" "$@" > ${JSON.stringify(path.join(dir, "argv"))}\n` +
          (exitCode === 0 ? `cat ${JSON.stringify(path.join(dir, "export.json"))}\n` : `echo "error: no stack named 'nope' found" >&2\nexit ${exitCode}\n`),
        { mode: 0o755 },
      );
    }
    const berth = (args: string[], PATH = `${dir}:/usr/bin:/bin`) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { PATH, HOME: dir } });

    beforeEach(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-day2-"));
      project = path.join(dir, "infra");
      fs.mkdirSync(project);
    });
    afterEach(function () {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("runs `pulumi stack export --show-secrets --stack <s>` in `--cwd`", function () {
      fakePulumi(exportOf([]));
      const r = berth(["app", "logs", "--stack", "org/shop/staging", "--cwd", project]);
      assert.equal(fs.readFileSync(path.join(dir, "argv"), "utf8"), `${project}\nstack\nexport\n--show-secrets\n--stack\norg/shop/staging\n`);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "berth app: the stack has no AppService hosts (no `berth:index:AppHost` in its state): has it been deployed?\n");
    });

    it("Pulumi's error, a missing `pulumi`, a missing directory: exit 1 with the reason", function () {
      fakePulumi({}, 255);
      let r = berth(["proxy", "details", "--stack", "nope", "--cwd", project]);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, `berth proxy: cannot read the stack (\`pulumi stack export --show-secrets --stack nope\` in ${project}): error: no stack named 'nope' found\n`);
      r = berth(["proxy", "details"], "/nonexistent");
      assert.equal(r.stderr, "berth proxy: cannot read the stack (`pulumi stack export --show-secrets`): `pulumi` is not on PATH\n");
      r = berth(["accessory", "logs", "db", "--cwd", path.join(dir, "gone")]);
      assert.equal(r.stderr, `berth accessory: cannot read the stack: \`--cwd\` ${path.join(dir, "gone")} is not a directory\n`);
      fakePulumi({ deployment: { resources: [{ urn: "urn:x::y::berth:index:ProxyHost::p", type: "berth:index:ProxyHost", inputs: { host: "h", run: {}, connection: { [SIG]: SECRET_SIG, ciphertext: "v1:zzz" } } }] } });
      r = berth(["proxy", "details", "--cwd", project]);
      assert.equal(r.stderr, "berth proxy: cannot read the stack: the stack's secrets are encrypted in this export: export it with `--show-secrets`\n");
    });
  });
});
