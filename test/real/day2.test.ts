/**
 * The Day-2 commands (`berth app|proxy|accessory …`) on a 2-host, 2-role stack deployed through the
 * real engine to the lab: the CLI runs as a child process (`node bin/berth …`), reads the stack with
 * `pulumi stack export --show-secrets`, and its transcript is compared with
 * test/real/fixtures/day2.golden.txt after `normalise` (below) replaced what changes from run to run.
 *
 * To regenerate the golden file after an intended change of output: `BERTH_UPDATE_GOLDEN=1` when
 * running this file, then review its diff.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Accessory, AppService, AppServiceArgs } from "../../sdk";
import { backend, REPO, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

const SERVICE = "daytwo";
const STACK = "day2";
const PROJECT = "berth-real-day2";
const SECRET = "d4y2-s3cr3t-9c41e7";
const GOLDEN = path.join(REPO, "test/real/fixtures/day2.golden.txt");

/**
 * What changes from run to run, replaced (each rule documented; the golden file holds the result):
 *   1. a 12-hex container id (docker ps, /etc/hostname of a container) → `<id>`;
 *   2. docker's CREATED column (`5 seconds ago`, `About a minute ago`) → `<created>`;
 *   3. docker's STATUS ages: `Up 5 seconds`, `Up About a minute` → `Up <age>`;
 *      `Exited (0) 5 seconds ago` → `Exited (0) <age>`;
 *   4. docker's column padding (it depends on the widest cell): 2+ spaces → 3 spaces; no trailing spaces.
 */
export function normalise(text: string): string {
  const age = String.raw`(?:Less than a second|About an? (?:second|minute|hour)|\d+ (?:seconds?|minutes?|hours?))`;
  return text
    .replace(/\b[0-9a-f]{12}\b/g, "<id>")
    .replace(new RegExp(`Exited \\((\\d+)\\) ${age} ago`, "g"), "Exited ($1) <age>")
    .replace(new RegExp(`${age} ago`, "g"), "<created>")
    .replace(new RegExp(`Up ${age}`, "g"), "Up <age>")
    .replace(/ {2,}/g, "   ")
    .replace(/ +$/gm, "");
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("real: Day-2 commands (berth app|proxy|accessory) on a 2-host, 2-role stack", function () {
  let l: Lab;
  let b: TestBackend;
  let stack: Stack;
  let h1: string;
  let h2: string;
  let image: string;
  let version = "v1";
  const transcript: string[] = [];

  const program = async () => {
    const args: AppServiceArgs = {
      service: SERVICE,
      image,
      version,
      roles: {
        web: { hosts: [h1, h2] },
        jobs: { hosts: [h1], cmd: ["sh", "-c", 'echo "daytwo jobs ready on $KAMAL_HOST"; trap "exit 0" TERM; while :; do sleep 1; done'] },
      },
      proxy: { hosts: ["daytwo.test"], healthcheck: { intervalSeconds: 1 } },
      env: { clear: { GREETING: "hello from daytwo" }, secret: { DAYTWO_TOKEN: pulumi.secret(SECRET) } },
      drainTimeoutSeconds: 2,
      deployTimeoutSeconds: 30,
      ssh: labSsh(l),
    };
    const cache = new Accessory("cache", {
      app: args,
      host: h2,
      image,
      cmd: ["sh", "-c", 'echo "daytwo cache ready"; trap "exit 0" TERM; while :; do sleep 1; done'],
      env: { clear: { CACHE_SIZE: "64m" } },
    });
    new AppService(SERVICE, args, { dependsOn: [cache] });
  };

  /** `node bin/berth <args> --stack day2 --cwd <the stack's project dir>`, with the test backend's environment. */
  function berth(args: string[]): Run {
    const dashdash = args.indexOf("--");
    const where = ["--stack", STACK, "--cwd", stack.workspace.workDir];
    const full = dashdash < 0 ? [...args, ...where] : [...args.slice(0, dashdash), ...where, ...args.slice(dashdash)];
    const r = spawnSync(process.execPath, [path.join(REPO, "bin/berth"), ...full], { encoding: "utf8", env: { ...process.env, ...b.envVars }, timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** `berth` as a running child (for `--follow` and `--interactive`): its output so far, and its exit code to come. */
  function berthLive(args: string[]) {
    const dashdash = args.indexOf("--");
    const where = ["--stack", STACK, "--cwd", stack.workspace.workDir];
    const full = dashdash < 0 ? [...args, ...where] : [...args.slice(0, dashdash), ...where, ...args.slice(dashdash)];
    const child = spawn(process.execPath, [path.join(REPO, "bin/berth"), ...full], { env: { ...process.env, ...b.envVars }, stdio: ["pipe", "pipe", "pipe"] });
    const live = { child, stdout: "", stderr: "", exited: new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1)))) };
    child.stdout.on("data", (d: Buffer) => (live.stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (live.stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    void live.exited.then(() => clearTimeout(timer));
    return live;
  }

  /** Waits (at most `seconds`) until `check` holds. */
  async function until(what: string, check: () => boolean, seconds = 30): Promise<void> {
    for (let i = 0; i < seconds * 10; i++) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`waited ${seconds} s for ${what}`);
  }

  /** Runs the command and appends it to the transcript: `$ berth …`, stdout, stderr lines as `! …`, `[exit N]`. */
  function record(args: string[]): Run {
    const r = berth(args);
    const shown = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
    transcript.push(`$ berth ${shown}`, r.stdout.replace(/\n$/, ""), ...r.stderr.split("\n").filter((x) => x !== "").map((x) => `! ${x}`), `[exit ${r.code}]`, "");
    return r;
  }

  before(async function () {
    l = lab();
    [h1, h2] = l.hosts.map((h) => h.address);
    b = await backend("berth-real-day2-");
    image = appImage(l, SERVICE);
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK, projectName: PROJECT, program },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
  });

  after(async function () {
    try {
      if (stack) await stack.destroy();
    } finally {
      for (const h of l?.hosts ?? []) {
        try {
          sshRun(l, h.address, `docker ps -aq --filter label=service=${SERVICE} | xargs -r docker rm -f; docker rm -f ${SERVICE}-cache 2>/dev/null || true`);
        } catch {
          /* best effort */
        }
      }
      if (b) fs.rmSync(b.dir, { recursive: true, force: true });
    }
  });

  it("1. deploys v1 then v2 of web (both hosts, behind kamal-proxy) and jobs (one host) and an accessory", async function () {
    for (const v of ["v1", "v2"]) {
      version = v;
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
    }
    for (const h of [h1, h2]) assert.equal((await get(h, "daytwo.test")).body.trim(), `version ${SERVICE}`);
    const ps = sshRun(l, h1, `docker ps -a --format '{{.Names}} {{.State}}' --filter label=service=${SERVICE}`).trim().split("\n").sort();
    assert.deepEqual(ps, [`${SERVICE}-jobs-${STACK}-v1 exited`, `${SERVICE}-jobs-${STACK}-v2 running`, `${SERVICE}-web-${STACK}-v1 exited`, `${SERVICE}-web-${STACK}-v2 running`]);
  });

  it("2. logs of one role, exec on one host, details, containers, accessory logs and exec: the golden transcript", async function () {
    record(["app", "details"]);
    record(["app", "containers"]);
    record(["app", "logs", "--role", "jobs"]);
    record(["app", "logs", "--role", "jobs", "--grep", "no such line"]);
    // A new container of the role's image: its clear env, and its secret env file (the value is not printed).
    record(["app", "exec", "--role", "web", "--host", h2, "--", "sh", "-c", 'echo "$GREETING"; test -n "$DAYTWO_TOKEN" && echo "DAYTWO_TOKEN is set"']);
    record(["app", "exec", "--reuse", "--role", "web", "--host", h2, "--", "sh", "-c", 'echo "$KAMAL_CONTAINER_NAME"']);
    record(["app", "exec", "--reuse", "--host", h1, "--", "cat", "/etc/hostname"]);
    record(["app", "exec", "--reuse", "--role", "web", "--", "sh", "-c", 'echo "on $KAMAL_HOST"; test "$KAMAL_HOST" != ' + h2]);
    record(["app", "logs", "--role", "web", "--host", "10.77.0.99"]);
    record(["accessory", "logs", "cache"]);
    record(["accessory", "exec", "cache", "--", "sh", "-c", 'echo "$CACHE_SIZE on $KAMAL_HOST"']);
    record(["accessory", "exec", "--reuse", "cache", "--", "cat", "/etc/hostname"]);
    const actual = `${normalise(transcript.join("\n")).replace(/\n+$/, "")}\n`;
    // No secret in anything the CLI printed (the env file's value stays on the host).
    assert.ok(!transcript.join("\n").includes(SECRET), "a secret value was printed");
    if (process.env.BERTH_UPDATE_GOLDEN === "1") fs.writeFileSync(GOLDEN, actual);
    const expected = fs.readFileSync(GOLDEN, "utf8");
    if (actual !== expected) fs.writeFileSync(path.join(b.dir, "..", "day2.actual.txt"), actual);
    assert.equal(actual, expected, `the transcript differs from ${path.relative(REPO, GOLDEN)} (actual written to ${path.join(b.dir, "..", "day2.actual.txt")})`);
  });

  it("3. proxy details and logs: kamal-proxy on each host of the stack, the exit code 0", async function () {
    const details = berth(["proxy", "details"]);
    assert.equal(details.code, 0, details.stderr);
    const blocks = details.stdout.split(/\n(?=Proxy Host: )/);
    assert.deepEqual(blocks.map((x) => x.split("\n")[0]), [`Proxy Host: ${h1}`, `Proxy Host: ${h2}`]);
    for (const block of blocks) assert.match(block, /\n[0-9a-f]{12} +\S*kamal-proxy\S* +.* Up .* kamal-proxy\n/);
    const logs = berth(["proxy", "logs", "-n", "3"]);
    assert.equal(logs.code, 0, logs.stderr);
    const logBlocks = logs.stdout.split(/\n(?=Proxy Host: )/);
    assert.deepEqual(logBlocks.map((x) => x.split("\n")[0]), [`Proxy Host: ${h1}`, `Proxy Host: ${h2}`]);
    for (const block of logBlocks) assert.ok(block.trim().split("\n").length <= 4, block);
  });

  it("logs --follow: the running container's lines as they come, on the host named; Ctrl-C ends it there too, exit 130", async function () {
    // `--[f]ollow`: the pattern must not match the command line of the shell running pgrep.
    const followed = () => sshRun(l, h1, "pgrep -f 'docker logs --tail 10 --[f]ollow' || true").trim();
    const f = berthLive(["app", "logs", "-f", "--role", "jobs", "--host", h1]);
    await until("the log's first line", () => f.stdout.includes(`daytwo jobs ready on ${h1}`));
    assert.equal(f.stderr, `Following logs on ${h1} (role jobs)...\n`);
    // A line written after the command started reaches it.
    sshRun(l, h1, `docker exec ${SERVICE}-jobs-${STACK}-v2 sh -c 'echo followed-line-after-start > /proc/1/fd/1'`);
    await until("the line written later", () => f.stdout.includes("followed-line-after-start"));
    assert.notEqual(followed(), "", "no docker logs --follow on the host");
    f.child.kill("SIGINT");
    assert.equal(await f.exited, 130);
    assert.equal(f.stdout, `daytwo jobs ready on ${h1}\nfollowed-line-after-start\n`);
    await until("docker logs --follow to end on the host", () => followed() === "", 10);
  });

  it("exec --interactive: a terminal on the host, this process's input, the command's exit status (in the running container and in a new one)", async function () {
    const reuse = berthLive(["app", "exec", "-i", "--reuse", "--role", "web", "--host", h2, "--", "sh"]);
    // The terminal echoes the input: each check is of what only the command's output can hold.
    reuse.child.stdin.write('echo "sum $((40+2)) on $KAMAL_HOST"; [ -t 0 ] && echo "a terminal: $((6*7))"; exit 7\n');
    assert.equal(await reuse.exited, 7, reuse.stderr);
    assert.ok(reuse.stdout.includes(`sum 42 on ${h2}`), reuse.stdout);
    assert.ok(reuse.stdout.includes("a terminal: 42"), reuse.stdout);
    assert.equal(reuse.stderr, `Launching interactive command on ${h2} (role web)...\n`);

    const containers = () => sshRun(l, h2, "docker ps -a --format '{{.Names}}' | sort").trim();
    const before = containers();
    const fresh = berthLive(["app", "exec", "--interactive", "--role", "web", "--host", h2, "--", "sh"]);
    fresh.child.stdin.write('echo "[$GREETING]"; exit 3\n');
    assert.equal(await fresh.exited, 3, fresh.stderr);
    assert.match(fresh.stdout, /\[hello from daytwo\]/);
    // The new container was removed (`--rm`).
    assert.equal(containers(), before);
  });

  it("4. a role whose container is not running: its host and role named on stderr, exit 1; the other hosts still answer", async function () {
    sshRun(l, h1, `docker stop ${SERVICE}-jobs-${STACK}-v2 >/dev/null`);
    const r = berth(["app", "logs", "-n", "1"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `berth app logs: ${h1} (role jobs): no running container of ${SERVICE}-jobs-${STACK}\nberth app logs: failed on 1 of 3\n`);
    assert.deepEqual(r.stdout.split("\n").filter((x) => x.startsWith("App Host: ")), [`App Host: ${h1} (role web)`, `App Host: ${h1} (role jobs)`, `App Host: ${h2} (role web)`]);
  });

  it("5. a stack that is not there: exit 1 naming it, nothing on stdout", async function () {
    const r = spawnSync(process.execPath, [path.join(REPO, "bin/berth"), "app", "details", "--stack", "no-such-stack", "--cwd", stack.workspace.workDir], {
      encoding: "utf8",
      env: { ...process.env, ...b.envVars },
    });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^berth app: cannot read the stack \(`pulumi stack export --show-secrets --stack no-such-stack` in .*\): .*no-such-stack/);
  });
});
