/**
 * `withReverseTunnel` (Kamal's local registry) against an in-process SSH server that implements
 * remote port forwarding the way sshd does. The "host" and this machine are the same machine here,
 * so the server binds the forwarded port on 127.0.0.2 (the host's loopback, standing in) and the
 * tunnel leads to this machine's 127.0.0.1 on the same port.
 */
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { Server, utils } from "ssh2";
import { presentScript, pullScript } from "../../sdk/commands/rollout";
import { closeAll, type Connection, pullThrough, viaTunnel, withReverseTunnel } from "../../sdk/provider/ssh";

const HOST_LOOPBACK = "127.0.0.2";

function pinned(publicKey: string): string {
  const key = utils.parseKey(publicKey);
  if (key instanceof Error) throw key;
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}

/** Connects to `host:port`, sends `text`, resolves what comes back before the other side closes or 300 ms of quiet. */
function roundTrip(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port }, () => sock.write(text));
    let got = "";
    let quiet: NodeJS.Timeout | undefined;
    sock.on("data", (d) => {
      got += d.toString();
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        sock.destroy();
        resolve(got);
      }, 300);
    });
    sock.on("error", reject);
  });
}

/** The error code of a connection attempt to `host:port` ("connected" when it connects). */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.on("connect", () => {
      sock.destroy();
      resolve("connected");
    });
    sock.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
  });
}

async function listen(server: net.Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

describe("provider/ssh reverse tunnel (local registry) against an in-process SSH server", function () {
  this.timeout(15_000);

  const hostKeys = utils.generateKeyPairSync("ed25519");
  const userKeys = utils.generateKeyPairSync("ed25519");
  const allowed = utils.parseKey(userKeys.public);
  if (allowed instanceof Error) throw allowed;

  /** The global requests the server received, in order: `tcpip-forward 127.0.0.1:<port>`, `cancel-…`. */
  let requests: string[] = [];
  /** The host-side listeners the server opened, by port. */
  const listeners = new Map<number, net.Server>();
  let tcp: net.Server;
  let conn: Connection;
  /** This machine's "registry": echoes what it gets, prefixed. */
  let registry: net.Server;
  let port: number;

  const ssh = new Server({ hostKeys: [hostKeys.private] }, (client) => {
    client
      .on("authentication", (ctx) => {
        const ok = ctx.method === "publickey" && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH()) && (!ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true);
        if (ok) ctx.accept();
        else ctx.reject(["publickey"]);
      })
      .on("ready", () => {
        client.on("session", (accept) => {
          accept().on("exec", (accept, _reject, info) => {
            const stream = accept();
            stream.write(`ran ${info.command}\n`);
            stream.exit(info.command === "fail" ? 1 : 0);
            stream.end();
          });
        });
        client.on("request", (accept, reject, name, info): void => {
          const { bindAddr, bindPort } = info as { bindAddr: string; bindPort: number };
          requests.push(`${name} ${bindAddr}:${bindPort}`);
          if (name === "tcpip-forward") {
            const host = net.createServer((socket) => {
              client.forwardOut(bindAddr, bindPort, socket.remoteAddress ?? "127.0.0.2", socket.remotePort ?? 0, (err, channel) => {
                if (err) {
                  socket.destroy();
                  return;
                }
                socket.pipe(channel).pipe(socket);
                socket.on("error", () => channel.destroy());
                channel.on("close", () => socket.destroy());
              });
            });
            listen(host, HOST_LOOPBACK, bindPort).then(
              () => {
                listeners.set(bindPort, host);
                accept?.();
              },
              () => reject?.(),
            );
          } else if (name === "cancel-tcpip-forward") {
            listeners.get(bindPort)?.close();
            listeners.delete(bindPort);
            accept?.();
          } else reject?.();
        });
      })
      .on("error", () => {
        /* connections closed by the tests */
      });
  });

  before(async () => {
    tcp = net.createServer((socket) => ssh.injectSocket(socket));
    await listen(tcp, "127.0.0.1");
    conn = { host: "127.0.0.1", port: (tcp.address() as net.AddressInfo).port, user: "deploy", privateKey: userKeys.private, hostKey: pinned(hostKeys.public), connectTimeoutSeconds: 5 };
    registry = net.createServer((s) => s.on("data", (d) => s.write(`registry got ${d.toString()}`)));
    port = await listen(registry, "127.0.0.1");
  });

  beforeEach(() => {
    requests = [];
  });

  afterEach(async () => {
    await closeAll();
  });

  after(async () => {
    await closeAll();
    for (const l of listeners.values()) l.close();
    await new Promise<void>((resolve) => registry.close(() => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  it("forwards the host's 127.0.0.1:<port> to this machine's 127.0.0.1:<port> while `fn` runs, then closes it", async () => {
    assert.equal(await connectOutcome(HOST_LOOPBACK, port), "ECONNREFUSED");
    const seen = await withReverseTunnel(conn, port, "pulling localhost:5555/app:1", () => roundTrip(HOST_LOOPBACK, port, "GET /v2/"));
    assert.equal(seen, "registry got GET /v2/");
    assert.deepEqual(requests, [`tcpip-forward 127.0.0.1:${port}`, `cancel-tcpip-forward 127.0.0.1:${port}`]);
    assert.equal(await connectOutcome(HOST_LOOPBACK, port), "ECONNREFUSED");
  });

  it("closes a connection still open through the tunnel when the tunnel closes", async () => {
    let held: net.Socket | undefined;
    const closed = await withReverseTunnel(conn, port, "pulling", async () => {
      held = net.connect({ host: HOST_LOOPBACK, port });
      const gone = new Promise<string>((resolve) => held!.on("close", () => resolve("closed")).on("error", () => undefined));
      await new Promise<void>((resolve) => held!.on("connect", () => resolve()));
      assert.equal(await new Promise<string>((resolve) => {
        held!.once("data", (d) => resolve(d.toString()));
        held!.write("HEAD /v2/");
      }), "registry got HEAD /v2/");
      // Wrapped: an async function returning the promise itself would wait for it.
      return { gone };
    }).then(({ gone }) => Promise.race([gone, new Promise<string>((r) => setTimeout(() => r("still open after 3 s"), 3000))]));
    assert.equal(closed, "closed");
  });

  it("two pulls on one host at the same time share one tunnel; the last one out closes it", async () => {
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    const first = withReverseTunnel(conn, port, "pulling a", async () => {
      await firstHolds;
      return "a";
    });
    // Let the first open the tunnel.
    await new Promise((r) => setTimeout(r, 200));
    const second = withReverseTunnel(conn, port, "pulling b", async () => {
      releaseFirst();
      await first;
      // The first is done; the tunnel is still open for this one.
      return roundTrip(HOST_LOOPBACK, port, "b");
    });
    assert.deepEqual(await Promise.all([first, second]), ["a", "registry got b"]);
    assert.deepEqual(requests, [`tcpip-forward 127.0.0.1:${port}`, `cancel-tcpip-forward 127.0.0.1:${port}`]);
    assert.equal(await connectOutcome(HOST_LOOPBACK, port), "ECONNREFUSED");
  });

  it("closes the tunnel when `fn` fails, and the failure is the pull's", async () => {
    const err = await pullThrough(conn, port, "pulling localhost:5555/app:1", "fail").then(
      () => assert.fail("expected a failure"),
      (e: Error) => e,
    );
    assert.match(err.message, /^127\.0\.0\.1: pulling localhost:5555\/app:1 failed \(exit 1\):\nran fail$/);
    assert.deepEqual(requests, [`tcpip-forward 127.0.0.1:${port}`, `cancel-tcpip-forward 127.0.0.1:${port}`]);
    assert.equal(await connectOutcome(HOST_LOOPBACK, port), "ECONNREFUSED");
  });

  it("a port already in use on the host fails naming the host, the step and the tunnel; nothing else runs", async () => {
    const squatter = net.createServer();
    await listen(squatter, HOST_LOOPBACK, port);
    let ran = false;
    try {
      const err = await withReverseTunnel(conn, port, "pulling localhost:5555/app:1", async () => {
        ran = true;
      }).then(
        () => assert.fail("expected a failure"),
        (e: Error) => e,
      );
      assert.equal(
        err.message,
        `127.0.0.1: pulling localhost:5555/app:1 failed: cannot open the SSH reverse tunnel from the host's 127.0.0.1:${port} to this machine's 127.0.0.1:${port}: Unable to bind to 127.0.0.1:${port}. Is something on the host already listening on its 127.0.0.1:${port}, or does its sshd forbid remote forwarding (\`AllowTcpForwarding\`)?`,
      );
      assert.equal(ran, false);
      assert.deepEqual(requests, [`tcpip-forward 127.0.0.1:${port}`]);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
    // The failed forward is forgotten: the next pull opens a new one.
    assert.equal(await withReverseTunnel(conn, port, "pulling", () => roundTrip(HOST_LOOPBACK, port, "again")), "registry got again");
  });

  it("nothing listening on this machine's port fails before any SSH request, naming the host and the step", async () => {
    const probe = net.createServer();
    const free = await listen(probe, "127.0.0.1");
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await withReverseTunnel(conn, free, "pulling localhost:5555/app:1", async () => "ran").then(
      () => assert.fail("expected a failure"),
      (e: Error) => e,
    );
    assert.equal(
      err.message,
      `127.0.0.1: pulling localhost:5555/app:1 failed: nothing answers on this machine's 127.0.0.1:${free} (ECONNREFUSED), where the SSH reverse tunnel from the host's 127.0.0.1:${free} to this machine's 127.0.0.1:${free} leads: start the local registry there first.`,
    );
    assert.deepEqual(requests, []);
  });

  it("pullThrough: an image already on the host (a retained or digest-pinned one) needs no tunnel and no running registry", async () => {
    const probe = net.createServer();
    const free = await listen(probe, "127.0.0.1");
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const r = await pullThrough(conn, free, "pulling localhost:5555/app@sha256:…", "docker pull x", "inspect-ok");
    assert.equal(r.stdout, "ran inspect-ok\n");
    assert.deepEqual(requests, []);
    // Not on the host: the pull goes through the tunnel.
    const pulled = await pullThrough(conn, port, "pulling localhost:5555/app@sha256:…", "docker pull x", "fail");
    assert.equal(pulled.stdout, "ran docker pull x\n");
    assert.deepEqual(requests, [`tcpip-forward 127.0.0.1:${port}`, `cancel-tcpip-forward 127.0.0.1:${port}`]);
  });

  it("pullThrough without a local registry port runs the pull directly, with no tunnel", async () => {
    const r = await pullThrough(conn, undefined, "pulling ghcr.io/acme/app:1", "docker pull ghcr.io/acme/app:1");
    assert.equal(r.stdout, "ran docker pull ghcr.io/acme/app:1\n");
    assert.deepEqual(requests, []);
    assert.equal(viaTunnel(undefined), "");
    assert.equal(viaTunnel(5555), " through an SSH tunnel to this machine's 127.0.0.1:5555");
  });
});

describe("commands/rollout presentScript", () => {
  it("is the check pullScript skips the pull on, or undefined when the pull always runs", () => {
    const digest = `localhost:5555/app@sha256:${"ab".repeat(32)}`;
    assert.equal(presentScript("localhost:5555/app:1", false), undefined);
    assert.equal(presentScript("localhost:5555/app:1", true), "docker image inspect --format '{{.Id}}' localhost:5555/app:1 >/dev/null 2>&1");
    assert.equal(presentScript(digest, false), `docker image inspect --format '{{.Id}}' ${digest} >/dev/null 2>&1`);
    assert.equal(pullScript(digest, false), `${presentScript(digest, false)} || docker pull ${digest}`);
    assert.equal(pullScript("localhost:5555/app:1", false), "docker pull localhost:5555/app:1");
  });
});
