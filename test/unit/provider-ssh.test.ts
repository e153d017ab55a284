import { strict as assert } from "node:assert";
import * as net from "node:net";
import { PassThrough } from "node:stream";
import { Server, utils } from "ssh2";
import type { ServerChannel } from "ssh2";
import { attach, client, closeAll, ConnectionLostError, dial, exec, RemoteCommandError, run } from "../../sdk/provider/ssh";
import type { Connection } from "../../sdk/provider/ssh";

/** `"<type> <base64>"` of an OpenSSH public key line. */
function pinned(publicKey: string): string {
  const key = utils.parseKey(publicKey);
  if (key instanceof Error) throw key;
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago and nothing here reuses it). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Whatever `p` rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    const value = await p;
    assert.fail(`expected a failure, got ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e as Error;
  }
}

describe("provider/ssh against an in-process SSH server", function () {
  this.timeout(15_000);

  const hostKeys = utils.generateKeyPairSync("ed25519");
  const userKeys = utils.generateKeyPairSync("ed25519");
  const strangerKeys = utils.generateKeyPairSync("ed25519");
  const allowed = utils.parseKey(userKeys.public);
  if (allowed instanceof Error) throw allowed;

  /** The open TCP connections the server accepted, so a command can cut them. */
  const sockets = new Set<net.Socket>();
  /** How many TCP connections the server has accepted. */
  let accepted = 0;
  let tcp: net.Server;
  let conn: Connection;

  /** The server's commands: each one behaves in a way a real host can. */
  function onExec(command: string, stream: ServerChannel): void {
    switch (command) {
      case "ok":
        stream.write("hello\n");
        stream.exit(0);
        stream.end();
        return;
      case "exit3":
        stream.write("working\n");
        stream.stderr.write("boom\n");
        stream.exit(3);
        stream.end();
        return;
      case "no-status":
        // Closes the channel without an exit-status or exit-signal request.
        stream.write("partial\n");
        stream.end();
        return;
      case "drop":
        // The connection dies mid-command (a host reboot, a NAT dropping the flow).
        stream.write("partial\n");
        setImmediate(() => {
          for (const s of sockets) s.destroy();
        });
        return;
      case "hang":
        // Never exits on its own.
        return;
      case "signal":
        stream.exit("KILL", false, "out of memory");
        stream.end();
        return;
      case "cat": {
        let input = "";
        stream.on("data", (d: Buffer) => (input += d.toString()));
        stream.on("end", () => {
          stream.write(input);
          stream.exit(0);
          stream.end();
        });
        return;
      }
      default:
        stream.stderr.write(`unknown command ${command}\n`);
        stream.exit(127);
        stream.end();
    }
  }

  /** The window sizes the server was told of. */
  const resizes: string[] = [];
  /** How many `follow` commands saw their channel closed by the client. */
  let followsClosed = 0;

  /** Says what terminal it got, echoes its input, and exits 5 at a `q` (as a shell's `exit 5`). */
  function onTerminal(stream: ServerChannel, pty: { term: string; cols: number; rows: number } | undefined): void {
    stream.write(pty ? `terminal ${pty.term} ${pty.cols}x${pty.rows}\n` : "no terminal\n");
    stream.on("data", (d: Buffer) => {
      const text = d.toString();
      stream.write(`got ${text.replace("q", "")}`);
      if (text.includes("q")) {
        stream.exit(5);
        stream.end();
      }
    });
  }

  /** A line every 20 ms until the client closes the channel. */
  function onFollow(stream: ServerChannel): void {
    let n = 0;
    const timer = setInterval(() => stream.write(`line ${++n}\n`), 20);
    let closed = false;
    const close = () => {
      clearInterval(timer);
      if (!closed) followsClosed += 1;
      closed = true;
    };
    stream.on("close", close).on("end", close).on("finish", close);
  }

  const ssh = new Server({ hostKeys: [hostKeys.private] }, (client) => {
    client
      .on("authentication", (ctx) => {
        const ok =
          ctx.method === "publickey" &&
          ctx.key.algo === allowed.type &&
          ctx.key.data.equals(allowed.getPublicSSH()) &&
          (!ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true);
        if (ok) ctx.accept();
        else ctx.reject(["publickey"]);
      })
      .on("ready", () => {
        client.on("session", (accept) => {
          const session = accept();
          let pty: { term: string; cols: number; rows: number } | undefined;
          session.on("pty", (accept, _reject, info) => {
            pty = { term: info.term, cols: info.cols, rows: info.rows };
            accept?.();
          });
          session.on("window-change", (accept, _reject, info) => {
            resizes.push(`${info.cols}x${info.rows}`);
            accept?.();
          });
          session.on("exec", (accept, _reject, info) => {
            const stream = accept();
            if (info.command === "terminal") return onTerminal(stream, pty);
            if (info.command === "follow") return onFollow(stream);
            onExec(info.command, stream);
          });
        });
      })
      .on("error", () => {
        /* the "drop" command cuts connections on purpose */
      });
  });

  before(async () => {
    tcp = net.createServer((socket) => {
      accepted += 1;
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      ssh.injectSocket(socket);
    });
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    conn = {
      host: "127.0.0.1",
      port: (tcp.address() as net.AddressInfo).port,
      user: "deploy",
      privateKey: userKeys.private,
      hostKey: pinned(hostKeys.public),
      connectTimeoutSeconds: 5,
    };
  });

  afterEach(async () => {
    await closeAll();
  });

  after(async () => {
    await closeAll();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  it("exec resolves exit 0 with the command's output", async () => {
    const r = await exec(conn, "ok");
    assert.deepEqual(r, { code: 0, stdout: "hello\n", stderr: "" });
  });

  it("exec writes stdin to the command and closes it", async () => {
    const r = await run(conn, "echoing stdin", "cat", { stdin: "a secret\n" });
    assert.equal(r.stdout, "a secret\n");
  });

  it("run throws a RemoteCommandError naming the host, the step and exit 3, with the last lines", async () => {
    const e = await rejection(run(conn, "pulling nginx", "exit3"));
    assert.ok(e instanceof RemoteCommandError);
    assert.equal(e.host, "127.0.0.1");
    assert.equal(e.step, "pulling nginx");
    assert.equal(e.code, 3);
    assert.equal(e.message, "127.0.0.1: pulling nginx failed (exit 3):\nworking\nboom");
  });

  it("a channel closed without an exit status rejects, naming the host and the step", async () => {
    const e = await rejection(run(conn, "kamal-proxy deploy", "no-status"));
    assert.ok(e instanceof ConnectionLostError);
    assert.ok(e instanceof RemoteCommandError, "callers catching RemoteCommandError still catch it");
    assert.equal(e.code, 255);
    assert.equal(
      e.message,
      "127.0.0.1: kamal-proxy deploy failed: the SSH connection was lost before the command reported an exit status " +
        "(the command's channel closed without one); it may or may not have finished on the host. Output so far:\npartial",
    );
  });

  it("exec also rejects on a missing exit status, naming the step it is given", async () => {
    const e = await rejection(exec(conn, "no-status", { step: "switching traffic" }));
    assert.ok(e instanceof ConnectionLostError);
    assert.match(e.message, /^127\.0\.0\.1: switching traffic failed: the SSH connection was lost before the command reported an exit status/);
  });

  it("exec without a step names the command instead", async () => {
    const e = await rejection(exec(conn, "no-status"));
    assert.match(e.message, /^127\.0\.0\.1: `no-status` failed: the SSH connection was lost/);
  });

  it("a connection destroyed mid-command rejects the command instead of hanging, and the next command reconnects", async () => {
    const e = await rejection(run(conn, "kamal-proxy deploy", "drop"));
    assert.ok(e instanceof ConnectionLostError);
    assert.equal(e.host, "127.0.0.1");
    assert.equal(e.step, "kamal-proxy deploy");
    assert.match(e.message, /^127\.0\.0\.1: kamal-proxy deploy failed: the SSH connection was lost before the command reported an exit status \(the connection (closed|failed: .+)\)/);
    assert.deepEqual(await exec(conn, "ok"), { code: 0, stdout: "hello\n", stderr: "" });
  });

  it("every command running on a connection that dies is rejected, not left hanging", async () => {
    const waiting = run(conn, "waiting for health", "hang");
    const e = await rejection(run(conn, "kamal-proxy deploy", "drop"));
    assert.ok(e instanceof ConnectionLostError);
    const w = await rejection(waiting);
    assert.ok(w instanceof ConnectionLostError);
    assert.match(w.message, /^127\.0\.0\.1: waiting for health failed: the SSH connection was lost before the command reported an exit status/);
  });

  it("a command that cannot start on a pooled connection that died unnoticed runs once on a new connection", async () => {
    assert.equal((await exec(conn, "ok")).code, 0);
    const dead = await client(conn);
    // What ssh2 does on a connection whose socket is gone before its close event was handled.
    dead.exec = (() => {
      throw new Error("Not connected");
    }) as typeof dead.exec;
    const before = accepted;
    assert.deepEqual(await exec(conn, "ok", { step: "writing the audit log" }), { code: 0, stdout: "hello\n", stderr: "" });
    assert.equal(accepted, before + 1, "one new connection");
    assert.notEqual(await client(conn), dead);
  });

  it("a command killed by a signal exits 255 with the signal in its output", async () => {
    const r = await exec(conn, "signal");
    assert.equal(r.code, 255);
    assert.equal(r.stderr, "killed by SIGKILL: out of memory\n");
    const e = await rejection(run(conn, "starting web", "signal"));
    assert.equal(e.message, "127.0.0.1: starting web failed (exit 255):\nkilled by SIGKILL: out of memory");
  });

  it("attach: a terminal of the given size and type, the input passed on as it comes, resizes, and the command's exit status", async () => {
    const input = new PassThrough();
    let out = "";
    const a = await attach(conn, "terminal", "an interactive command", { pty: { rows: 30, cols: 100, term: "xterm" }, stdin: input, onStdout: (d) => (out += d), onStderr: (d) => (out += d) });
    input.write("ls\n");
    a.resize(40, 120);
    await new Promise((r) => setTimeout(r, 50));
    input.write("q");
    assert.equal(await a.done, 5);
    assert.equal(out, "terminal xterm 100x30\ngot ls\ngot ");
    assert.deepEqual(resizes, ["120x40"]);
  });

  it("attach without a terminal passes the end of the input on", async () => {
    const input = new PassThrough();
    let out = "";
    const a = await attach(conn, "cat", "cat", { stdin: input, onStdout: (d) => (out += d), onStderr: () => undefined });
    input.end("to the host\n");
    assert.equal(await a.done, 0);
    assert.equal(out, "to the host\n");
  });

  it("attach: stop closes the command's channel on the host, and the output came as it was written", async () => {
    const lines: string[] = [];
    const a = await attach(conn, "follow", "following the log", { pty: { rows: 24, cols: 80, term: "xterm" }, onStdout: (d) => lines.push(d.toString()), onStderr: () => undefined });
    while (lines.join("").split("\n").length < 4) await new Promise((r) => setTimeout(r, 10));
    const before = followsClosed;
    a.stop();
    assert.equal(await a.done, 255);
    for (let i = 0; i < 100 && followsClosed === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(followsClosed, before + 1);
    assert.match(lines.join(""), /^line 1\nline 2\nline 3\n/);
  });

  it("attach: a connection that dies under it rejects naming the host and the step", async () => {
    const a = await attach(conn, "drop", "an interactive command", { pty: { rows: 24, cols: 80, term: "xterm" }, onStdout: () => undefined, onStderr: () => undefined });
    await assert.rejects(a.done, (e: Error) => e instanceof ConnectionLostError && /^127\.0\.0\.1: an interactive command failed: the SSH connection was lost/.test(e.message));
  });

  it("a wrong pinned host key fails at once, without retrying", async () => {
    const before = accepted;
    const t0 = Date.now();
    // Goes through the pool, so the default backoff applies: 0.5 s, 1 s, 2 s (3.5 s) if it were retried.
    const e = await rejection(run({ ...conn, hostKey: pinned(strangerKeys.public) }, "anything", "ok"));
    const took = Date.now() - t0;
    assert.equal(accepted - before, 1, "it connected more than once");
    assert.match(e.message, /^127\.0\.0\.1: cannot connect over SSH: the host key of 127\.0\.0\.1:\d+ \(SHA256:[^)]+\) does not match the pinned key/);
    assert.doesNotMatch(e.message, /attempts/);
    assert.ok(took < 1_500, `took ${took} ms, not well under the 3.5 s of backoff`);
  });

  it("a wrong pinned host key is refused even while a connection verified with the right key is open", async () => {
    assert.equal((await run(conn, "ok", "ok")).code, 0);
    const e = await rejection(run({ ...conn, hostKey: pinned(strangerKeys.public) }, "anything", "ok"));
    assert.match(e.message, /does not match the pinned key/);
    const e2 = await rejection(run({ ...conn, privateKey: strangerKeys.private }, "anything", "ok"));
    assert.match(e2.message, /All configured authentication methods failed/);
  });

  it("a refused client key fails at once, without retrying", async () => {
    const before = accepted;
    const t0 = Date.now();
    const e = await rejection(run({ ...conn, privateKey: strangerKeys.private }, "anything", "ok"));
    const took = Date.now() - t0;
    assert.equal(accepted - before, 1, "it connected more than once");
    assert.equal(e.message, "127.0.0.1: cannot connect over SSH: All configured authentication methods failed");
    assert.ok(took < 1_500, `took ${took} ms, not well under the 3.5 s of backoff`);
  });

  it("an unpinned host key is refused at once", async () => {
    const e = await rejection(exec({ ...conn, hostKey: undefined }, "ok"));
    assert.match(e.message, /is not pinned: set `ssh\.hostKeys\["127\.0\.0\.1"\]`/);
  });
});

describe("provider/ssh dial retries", function () {
  this.timeout(10_000);
  const keys = utils.generateKeyPairSync("ed25519");
  const retry = { attempts: 4, backoffMs: [50, 100, 200] };

  afterEach(async () => {
    await closeAll();
  });

  it("a port where nothing listens is retried, then fails naming the host and the attempts", async () => {
    const port = await closedPort();
    const t0 = Date.now();
    const e = await rejection(dial({ host: "127.0.0.1", port, user: "deploy", privateKey: keys.private, hostKey: pinned(keys.public) }, retry));
    const took = Date.now() - t0;
    assert.match(e.message, new RegExp(`^127\\.0\\.0\\.1: cannot connect over SSH after 4 attempts over \\d+\\.\\d s: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
    assert.ok(took >= 350, `the waits between attempts were skipped (${took} ms)`);
    assert.ok(took < 3_000, `took ${took} ms`);
  });

  it("a host that never answers the handshake is tried exactly `attempts` times", async () => {
    let accepted = 0;
    const silent = new Set<net.Socket>();
    const tcp = net.createServer((s) => {
      accepted += 1;
      silent.add(s);
    });
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    try {
      const port = (tcp.address() as net.AddressInfo).port;
      const e = await rejection(dial({ host: "127.0.0.1", port, user: "deploy", privateKey: keys.private, hostKey: pinned(keys.public), connectTimeoutSeconds: 0.2 }, retry));
      assert.match(e.message, /^127\.0\.0\.1: cannot connect over SSH after 4 attempts over \d+\.\d s: Timed out while waiting for handshake$/);
      assert.equal(accepted, 4);
    } finally {
      for (const s of silent) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  });
});
