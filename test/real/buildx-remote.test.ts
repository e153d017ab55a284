/**
 * A `remote` BuildxBuilder: a buildkitd in a lab host, listening on tcp:// with mutual TLS (its
 * buildkitd.toml rendered by Berth's `buildkitdToml`), builds and pushes an image; a client
 * certificate from another CA is refused with a clear error, before buildx's 20-second timeout.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { BuildxBuilder, BuildxBuilderArgs, Image, buildkitdToml } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { Lab, lab, sshRun } from "../helpers/lab";

const PROJECT = "berth-real-remote";
const CONTAINER = "berth-test-remote-buildkitd";
const DIR = "/root/berth-test-remote-buildkitd";

function openssl(cwd: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** A CA, and a certificate it signs (`ext` as openssl extensions). */
function issue(cwd: string, ca: string, name: string, subject: string, ext: string): void {
  fs.writeFileSync(path.join(cwd, `${name}.ext`), ext);
  openssl(cwd, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
  openssl(cwd, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
}

function makeCa(cwd: string, name: string): void {
  openssl(cwd, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`);
}

/** Runs a command on a lab host with `input` on stdin. */
function sshInput(l: Lab, host: string, command: string, input: string | Buffer): void {
  execFileSync("ssh", ["-i", l.ssh.privateKeyPath, "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${l.ssh.knownHostsPath}`, "-o", "BatchMode=yes", `root@${host}`, command], { input, timeout: 60_000 });
}

describe("real: remote BuildxBuilder over mutual TLS", function () {
  let l: Lab;
  let b: TestBackend;
  let work: string;
  let pki: string;
  let host: string;
  const stacks: Stack[] = [];
  const read = (f: string) => fs.readFileSync(path.join(pki, f), "utf8");

  async function stackOf(name: string, builder: BuildxBuilderArgs & { name: string }, tag: string): Promise<Stack> {
    const s = await LocalWorkspace.createOrSelectStack(
      {
        stackName: name,
        projectName: PROJECT,
        program: async () => {
          const bx = new BuildxBuilder("builder", builder);
          const img = new Image("image", { context: path.join(work, "ctx"), builder: bx, tags: [tag] });
          return { digest: img.digest };
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    stacks.push(s);
    return s;
  }

  before(async function () {
    l = lab();
    host = l.hosts[0].address;
    b = await backend("berth-real-remote-");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-remote-work-"));
    pki = path.join(work, "pki");
    fs.mkdirSync(pki);
    makeCa(pki, "ca");
    issue(pki, "ca", "server", "/CN=buildkitd", `subjectAltName=IP:${host}\nextendedKeyUsage=serverAuth\n`);
    issue(pki, "ca", "client", "/CN=berth", "extendedKeyUsage=clientAuth\n");
    makeCa(pki, "other-ca");
    issue(pki, "other-ca", "intruder", "/CN=intruder", "extendedKeyUsage=clientAuth\n");
    fs.mkdirSync(path.join(work, "ctx"));
    fs.writeFileSync(path.join(work, "ctx", "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    fs.writeFileSync(path.join(work, "ctx", "hello.txt"), "built on a remote buildkitd\n");

    // buildkitd in the lab host: Berth renders its config (gRPC over tcp with mutual TLS, the lab CA for the TLS registry).
    const toml = buildkitdToml({
      grpc: { address: ["tcp://0.0.0.0:1234"], tls: { cert: "/etc/buildkit/server.pem", key: "/etc/buildkit/server.key", ca: "/etc/buildkit/ca.pem" } },
      registry: { [l.registry.tls]: { ca: ["/etc/buildkit/registry-ca.pem"] } },
      worker: { oci: { platforms: ["linux/amd64"] } },
    });
    sshRun(l, host, `docker rm -f ${CONTAINER} >/dev/null 2>&1; rm -rf ${DIR}; mkdir -p ${DIR}`);
    const files: Record<string, string> = { "buildkitd.toml": toml, "server.pem": read("server.pem"), "server.key": read("server.key"), "ca.pem": read("ca.pem"), "registry-ca.pem": fs.readFileSync(l.registry.caPath, "utf8") };
    for (const [name, content] of Object.entries(files)) sshInput(l, host, `cat > ${DIR}/${name}`, content);
    sshRun(l, host, `docker run -d --name ${CONTAINER} --privileged -p 1234:1234 -v ${DIR}:/etc/buildkit ${l.images.buildkit} --config /etc/buildkit/buildkitd.toml >/dev/null`);
    for (let i = 0; i < 30; i++) {
      if (/running server on/.test(sshRun(l, host, `docker logs ${CONTAINER} 2>&1 || true`))) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`buildkitd did not start in ${host}: ${sshRun(l, host, `docker logs ${CONTAINER} 2>&1 || true`)}`);
  });

  after(async function () {
    for (const s of stacks) await s.destroy().catch(() => undefined);
    for (const name of ["berth-remote", "berth-intruder"]) spawnSync("docker", ["buildx", "rm", name]);
    try {
      sshRun(l, host, `docker rm -f ${CONTAINER} >/dev/null 2>&1; rm -rf ${DIR}`);
    } catch {
      /* best effort */
    }
    if (b) fs.rmSync(b.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("5. builds and pushes through a buildkitd reached over tcp:// with mutual TLS; the client key stays secret", async function () {
    const tag = `${l.registry.tls}/berth-test/remote:${randomBytes(3).toString("hex")}`;
    const s = await stackOf("remote", { name: "berth-remote", driver: "remote", endpoint: `tcp://${host}:1234`, tls: { caPem: read("ca.pem"), certPem: read("client.pem"), keyPem: pulumi.secret(read("client.key")) } }, tag);
    let output = "";
    const r = await s.up({ onOutput: (o) => (output += o) });
    assert.equal(r.summary.result, "succeeded");
    assert.match(output, /builder berth-remote: checking mutual TLS with tcp:\/\/10\.77\.0\.11:1234/);
    const digest = r.outputs.digest.value as string;
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const get = (ref: string) =>
      JSON.parse(execFileSync("curl", ["-sf", "--cacert", l.registry.caPath, "-H", "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json", `https://${l.registry.tls}/v2/berth-test/remote/manifests/${ref}`], { encoding: "utf8" }));
    const index = get(digest);
    const amd64 = (index.manifests as { digest: string; platform: { architecture: string } }[]).find((m) => m.platform.architecture === "amd64")!;
    const layer = (get(amd64.digest).layers as { digest: string }[])[0].digest.slice("sha256:".length);
    // The build ran in the lab host's buildkitd: the pushed layer is in its content store.
    sshRun(l, host, `docker exec ${CONTAINER} test -e /var/lib/buildkit/runc-overlayfs/content/blobs/sha256/${layer}`);
    // The key: a 0600 file for buildx while the builder exists; never in state or output.
    const keyFile = path.join(os.homedir(), ".docker/buildx/berth-tls/berth-remote/berth-remote0/key.pem");
    assert.equal((fs.statSync(keyFile).mode & 0o777).toString(8), "600");
    const keyBody = read("client.key").split("\n")[1];
    assert.equal(output.includes(keyBody), false);
    assert.equal(spawnSync("grep", ["-rl", keyBody, b.dir]).status, 1, "the client key is in the backend's files");
    await s.destroy();
    assert.equal(fs.existsSync(path.dirname(keyFile)), false, "the TLS files outlived the builder");
    assert.doesNotMatch(execFileSync("docker", ["buildx", "ls"], { encoding: "utf8" }), /berth-remote/);
  });

  it("5. a client certificate from another CA is refused with a clear error, quickly, and leaves no builder", async function () {
    const s = await stackOf("intruder", { name: "berth-intruder", driver: "remote", endpoint: `tcp://${host}:1234`, tls: { caPem: read("ca.pem"), certPem: read("intruder.pem"), keyPem: pulumi.secret(read("intruder.key")) } }, `${l.registry.tls}/berth-test/remote:intruder`);
    const started = Date.now();
    let message = "";
    await s.up().then(
      () => assert.fail("a client certificate from another CA was accepted"),
      (e: Error) => (message = e.message),
    );
    assert.match(
      message,
      /builder berth-intruder: node berth-intruder0 \(tcp:\/\/10\.77\.0\.11:1234\): buildkitd refused the client certificate \(TLS alert: ERR_SSL_TLSV1_ALERT_UNKNOWN_CA\): `tls.certPem`\/`tls.keyPem` must be signed by the CA in buildkitd's `\[grpc.tls\] ca`\./,
    );
    assert.equal(message.includes(read("intruder.key").split("\n")[1]), false, "the key is in the error");
    assert.ok(Date.now() - started < 60_000);
    assert.doesNotMatch(execFileSync("docker", ["buildx", "ls"], { encoding: "utf8" }), /berth-intruder/);
    assert.equal(fs.existsSync(path.join(os.homedir(), ".docker/buildx/berth-tls/berth-intruder")), false);
  });
});
