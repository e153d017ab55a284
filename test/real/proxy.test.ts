/**
 * Proxy with a custom image and run options; bad configurations rejected at preview, before any
 * host is touched; unknown and wrong host keys refused.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { AppService, AppServiceArgs, Command, Proxy } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, get, Lab, lab, labSsh, sshRun } from "../helpers/lab";

async function inlineStack(b: TestBackend, project: string, name: string, program: () => Promise<Record<string, unknown> | void>): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack({ stackName: name, projectName: project, program }, { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" });
}

describe("real: Proxy and bad input", function () {
  let l: Lab;
  let b: TestBackend;
  let image: string;

  before(async function () {
    l = lab();
    b = await backend();
    image = appImage(l, "v1");
  });
  after(() => b && fs.rmSync(b.dir, { recursive: true, force: true }));

  it("7. runs kamal-proxy from a custom image with other ports, a metrics port and debug, and routes through it", async function () {
    const host = l.hosts[1].address;
    const sharedBefore = sshRun(l, host, "docker ps -q --filter name=^kamal-proxy$").trim() !== "";
    const s = await inlineStack(b, "berth-real-proxy", "staging", async () => {
      const proxy = new Proxy("edge", {
        hosts: [host],
        ssh: labSsh(l),
        image: { registry: l.registry.plain, repository: "basecamp/kamal-proxy", version: "v0.9.2" },
        containerName: "kamal-proxy-edge",
        network: "edge",
        configVolume: "kamal-proxy-edge-config",
        httpPort: 8080,
        httpsPort: 8443,
        metricsPort: 9090,
        debug: true,
      });
      new AppService("app", { service: "edge-app", image, hosts: [host], kamalProxy: proxy, proxy: { hosts: ["edge.test"] }, ssh: labSsh(l) });
    });
    try {
      const r = await s.up();
      assert.equal(r.summary.result, "succeeded");
      const inspect = sshRun(l, host, "docker inspect --format '{{.Config.Image}} {{json .Config.Cmd}} {{json .HostConfig.PortBindings}}' kamal-proxy-edge");
      assert.match(inspect, new RegExp(`^${l.registry.plain}/basecamp/kamal-proxy:v0.9.2 \\["kamal-proxy","run","--debug","--metrics-port","9090"\\]`));
      assert.match(inspect, /"80\/tcp":\[\{"HostIp":"","HostPort":"8080"\}\]/);
      const res = await get(host, "edge.test", "/", 8080);
      assert.equal(res.body.trim(), "version v1");
      const metrics = sshRun(l, host, "docker exec kamal-proxy-edge wget -qO- http://127.0.0.1:9090/metrics");
      assert.match(metrics, /kamal_proxy|go_goroutines/);
      if (sharedBefore) assert.equal(sshRun(l, host, "docker inspect --format '{{.State.Running}}' kamal-proxy").trim(), "true", "the shared proxy is untouched");
    } finally {
      await s.destroy();
    }
    assert.equal(sshRun(l, host, "docker ps -a --filter name=kamal-proxy-edge --format '{{.Names}}'").trim(), "");
  });

  it("7. rejects a boolean root proxy and 10 other invalid configs at preview, naming the field, before any host is touched", async function () {
    const host = l.hosts[0].address;
    const ok: AppServiceArgs = { service: "bad", image, hosts: [host], ssh: labSsh(l) };
    const cases: [string, AppServiceArgs, RegExp][] = [
      ["boolean root proxy", { ...ok, proxy: true as any }, /`proxy`/],
      ["service name", { ...ok, service: "Bad Name" }, /`service`/],
      ["hosts and roles", { ...ok, roles: { web: { hosts: [host] } } }, /`hosts`|`roles`/],
      ["empty hosts", { ...ok, hosts: [] }, /`hosts`/],
      ["duplicate host", { ...ok, hosts: [host, host] }, /`hosts\[1\]`/],
      ["reserved label", { ...ok, labels: { service: "x" } }, /`labels\.service`/],
      ["restart policy", { ...ok, hosts: undefined, roles: { web: { hosts: [host], options: { restart: "sometimes" } } } }, /`roles\.web\.options\.restart`/],
      ["env name", { ...ok, env: { clear: { "1BAD": "x" } } }, /`env\.clear\.1BAD`/],
      ["ssl without hosts", { ...ok, proxy: { ssl: true } }, /`proxy\.ssl`|`proxy\.hosts`/],
      ["app port", { ...ok, proxy: { appPort: 70000 } }, /`proxy\.appPort`/],
      ["boot limit", { ...ok, boot: { limit: "150%" as any } }, /`boot\.limit`/],
      ["retain", { ...ok, retainContainers: 0 }, /`retainContainers`/],
      ["image", { ...ok, image: "Not An Image!" }, /`image`/],
      ["proxy version", { ...ok, proxyRun: { image: { version: "v0.8.0" } } }, /`proxyRun\.image\.version`/],
    ];
    // Everything these previews could have created on the host (other tests' services may come and go meanwhile).
    const traces = () => sshRun(l, host, "docker ps -a --filter label=service=bad --format '{{.Names}}'; ls -d .kamal/apps/bad* .berth/proxy/*/owners/berth-real-invalid* 2>/dev/null; true");
    const before = traces();
    for (const [what, args, field] of cases) {
      const s = await inlineStack(b, "berth-real-invalid", "staging", async () => {
        new AppService("app", args);
      });
      let message = "";
      try {
        await s.preview();
      } catch (e) {
        message = (e as Error).message;
      }
      assert.match(message, /Invalid AppService configuration/, `${what}: preview did not fail with a Berth config error:\n${message}`);
      assert.match(message, field, `${what}: the error does not name the field:\n${message}`);
    }
    assert.equal(before, "");
    assert.equal(traces(), "", "a preview touched the host");
  });

  it("refuses an unpinned host key and a wrong one, naming the host", async function () {
    const host = l.hosts[0].address;
    const run = async (ssh: AppServiceArgs["ssh"]) => {
      const s = await inlineStack(b, "berth-real-hostkey", "staging", async () => {
        new AppService("app", { service: "keys", image, hosts: [host], proxy: { hosts: ["keys.test"] }, ssh });
      });
      try {
        await s.up();
        return "";
      } catch (e) {
        return (e as Error).message;
      } finally {
        await s.cancel().catch(() => undefined);
      }
    };
    const unpinned = await run({ privateKeyPath: l.ssh.privateKeyPath });
    assert.match(unpinned, new RegExp(`the host key of ${host.replace(/\./g, "\\.")}:22 \\(SHA256:[^)]+\\) is not pinned`));
    const wrong = await run({ privateKeyPath: l.ssh.privateKeyPath, hostKeys: { [host]: l.hosts[1].hostKey } });
    assert.match(wrong, /does not match the pinned key/);
    assert.equal(sshRun(l, host, "docker ps -a --filter label=service=keys --format '{{.Names}}'").trim(), "");
  });

  it("serves TLS with the role's own certificate, uploaded 0600 over stdin, and redirects HTTP", async function () {
    const host = l.hosts[1].address;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`, "-days", "1", "-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test"], { stdio: "pipe" });
    const key = fs.readFileSync(`${dir}/key.pem`, "utf8");
    const cert = fs.readFileSync(`${dir}/cert.pem`, "utf8");
    fs.rmSync(dir, { recursive: true, force: true });
    const s = await inlineStack(b, "berth-real-tls", "staging", async () => {
      new AppService("app", {
        service: "tlsapp",
        image,
        hosts: [host],
        proxy: { hosts: ["tls.test"], ssl: { certificatePem: pulumi.secret(cert), privateKeyPem: pulumi.secret(key) } as any },
        ssh: labSsh(l),
      });
    });
    try {
      await s.up();
      const res = await new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
        const req = https.get({ host, port: 443, path: "/", servername: "tls.test", headers: { Host: "tls.test" }, rejectUnauthorized: false, timeout: 5000 }, (r) => {
          let body = "";
          const cn = String((r.socket as any).getPeerCertificate().subject?.CN ?? "");
          r.on("data", (d) => (body += d));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, body, cn }));
        });
        req.on("error", reject);
      });
      assert.equal(res.cn, "tls.test");
      assert.equal(res.status, 200);
      assert.equal(res.body.trim(), "version v1");
      assert.equal((await get(host, "tls.test")).status, 301);
      assert.equal(sshRun(l, host, "stat -c '%a' .kamal/proxy/apps-config/tlsapp-staging/tls/web/key.pem").trim(), "600");
      const stateHits = execFileSync("sh", ["-c", `grep -rlF -- "${key.split("\n")[1]}" ${b.dir} || true`], { encoding: "utf8" }).trim();
      assert.equal(stateHits, "", "the private key is in the state in clear");
    } finally {
      await s.destroy();
    }
  });

  it("reaches a host through a jump host, checking both host keys", async function () {
    const [jump, target] = l.hosts;
    const s = await inlineStack(b, "berth-real-jump", "staging", async () => {
      const c = new Command("which", {
        connection: {
          host: target.address,
          port: 22,
          user: "root",
          privateKeyPath: l.ssh.privateKeyPath,
          hostKey: target.hostKey,
          proxy: { host: jump.address, port: 22, user: "root", hostKey: jump.hostKey },
        },
        create: "docker info --format '{{.Name}}'; echo \"$SSH_CONNECTION\"",
      });
      return { out: c.stdout };
    });
    try {
      const r = await s.up();
      const [name, conn] = String(r.outputs.out.value).trim().split("\n");
      assert.equal(name, sshRun(l, target.address, "docker info --format '{{.Name}}'").trim());
      // The SSH connection arrived from the jump host's address, not from the gateway.
      assert.match(conn, new RegExp(`^${jump.address.replace(/\./g, "\\.")} `));
    } finally {
      await s.destroy();
    }
  });

  it("an unreachable host fails the up quickly, naming the host, and touches no other host", async function () {
    const live = l.hosts[0].address;
    const dead = "10.77.0.99"; // inside the lab's subnet, no host there
    const s = await inlineStack(b, "berth-real-dead", "staging", async () => {
      new AppService("app", { service: "deadhost", image, hosts: [live, dead], proxy: { hosts: ["dead.test"] }, ssh: { ...labSsh(l), connectTimeoutSeconds: 3 } });
    });
    let message = "";
    const t0 = Date.now();
    try {
      await s.up();
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /10\.77\.0\.99: cannot connect over SSH/);
    assert.ok(Date.now() - t0 < 60_000, "the failure took more than a minute");
    // The app waits for kamal-proxy on every host, so nothing of it started anywhere.
    assert.equal(sshRun(l, live, "docker ps -a --filter label=service=deadhost --format '{{.Names}}'").trim(), "");
    await s.destroy();
  });

  it("pulumi refresh notices a container removed by hand, and the next up redeploys it", async function () {
    const host = l.hosts[1].address;
    const s = await inlineStack(b, "berth-real-drift", "staging", async () => {
      new AppService("app", { service: "drift", image, hosts: [host], proxy: { hosts: ["drift.test"] }, ssh: labSsh(l) });
    });
    try {
      await s.up();
      assert.equal((await get(host, "drift.test")).body.trim(), "version v1");
      sshRun(l, host, "docker rm -f drift-web-staging-v1 >/dev/null");
      const broken = await get(host, "drift.test").then((r) => r.status, (e: Error) => e.message);
      assert.notEqual(broken, 200, "the app still answers after its container was removed");
      const before = await s.preview();
      assert.deepEqual(Object.keys(before.changeSummary), ["same"], "without a refresh Berth cannot know");
      let refreshOut = "";
      await s.refresh({ onOutput: (o) => (refreshOut += o) });
      assert.match(refreshOut, /drift-web-staging-v1 is not running; the next up deploys it/);
      const p = await s.preview();
      assert.equal(p.changeSummary.create, 1, JSON.stringify(p.changeSummary));
      await s.up();
      assert.equal((await get(host, "drift.test")).body.trim(), "version v1");
      const after = await s.preview();
      assert.deepEqual(Object.keys(after.changeSummary), ["same"]);
    } finally {
      await s.destroy();
    }
  });
});
