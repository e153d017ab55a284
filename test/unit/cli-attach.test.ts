/**
 * `berth app exec -i` with a real terminal on this side: `bin/berth` runs under `script` (a pty),
 * reads the stack from a stand-in `pulumi`, and connects to an in-process SSH server. Ctrl-C typed
 * on the terminal must reach the command on the host (the terminal is in raw mode), not stop
 * `berth`.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Server, utils } from "ssh2";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const shown = (v: unknown) => ({ [SIG]: SECRET_SIG, plaintext: JSON.stringify(v) });

describe("cli/day2: exec --interactive on a real terminal", function () {
  this.timeout(60_000); // child processes, on a loaded machine

  const hostKeys = utils.generateKeyPairSync("ed25519");
  const userKeys = utils.generateKeyPairSync("ed25519");
  const BIN = path.resolve(__dirname, "../../../bin/berth");
  /** What the host's command received, and whether it had a terminal. */
  const seen = { input: "", pty: false, command: "" };
  let tcp: net.Server;
  let dir: string;

  const ssh = new Server({ hostKeys: [hostKeys.private] }, (client) => {
    client
      .on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])))
      .on("ready", () =>
        client.on("session", (accept) => {
          const session = accept();
          let pty = false;
          session.on("pty", (ok) => {
            pty = true;
            ok?.();
          });
          session.on("exec", (ok, _reject, info) => {
            const stream = ok();
            if (info.command.startsWith("docker ps --latest --quiet")) {
              stream.write("0123456789ab\n");
              stream.exit(0);
              stream.end();
              return;
            }
            seen.command = info.command;
            seen.pty = pty;
            stream.write("ready\n");
            stream.on("data", (d: Buffer) => {
              seen.input += d.toString("latin1");
              if (seen.input.includes("\x03")) {
                stream.write("the interrupt reached the command\n");
                stream.exit(4);
                stream.end();
              }
            });
          });
        }),
      )
      .on("error", () => undefined);
  });

  before(async function () {
    tcp = net.createServer((socket) => ssh.injectSocket(socket));
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-attach-"));
    const key = utils.parseKey(hostKeys.public);
    if (key instanceof Error) throw key;
    const connection = {
      host: "127.0.0.1",
      port: (tcp.address() as net.AddressInfo).port,
      user: "root",
      privateKey: userKeys.private,
      hostKey: `${key.type} ${key.getPublicSSH().toString("base64")}`,
    };
    const inputs = {
      host: "127.0.0.1",
      service: "shop",
      role: "web",
      destination: "staging",
      version: "v2",
      image: "shop:v2",
      primary: true,
      container: { restartPolicy: "unless-stopped", cmd: [], env: {}, labels: {}, options: {}, logging: { options: {} }, volumes: [], network: "kamal" },
      proxyContainer: "kamal-proxy",
      connection: shown(connection),
    };
    const state = {
      version: 3,
      deployment: { manifest: {}, resources: [{ urn: "urn:pulumi:staging::shop::berth:index:AppService$berth:index:AppHost::app-web-127.0.0.1", custom: true, type: "berth:index:AppHost", inputs, outputs: inputs }] },
    };
    fs.writeFileSync(path.join(dir, "export.json"), JSON.stringify(state));
    fs.writeFileSync(path.join(dir, "pulumi"), `#!/bin/sh\ncat ${JSON.stringify(path.join(dir, "export.json"))}\n`, { mode: 0o755 });
  });

  after(async function () {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("Ctrl-C goes to the command on the host (raw mode), and berth exits with its status", async function () {
    const cmd = [process.execPath, BIN, "app", "exec", "-i", "--reuse", "--", "sh"].map((w) => `'${w}'`).join(" ");
    // `script` gives berth a terminal; what the test writes to script's input is typed on it.
    const child = spawn("script", ["-q", "-e", "-c", cmd, "/dev/null"], { env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir, TERM: "xterm" }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    for (let i = 0; i < 300 && !out.includes("ready"); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(out.includes("ready"), `the command did not start:\n${out}`);
    child.stdin.write("\x03");
    const code = await exited;
    assert.equal(code, 4, out);
    assert.ok(out.includes("the interrupt reached the command"), out);
    assert.equal(seen.command, "docker exec -it 0123456789ab sh");
    assert.equal(seen.pty, true);
  });
});
