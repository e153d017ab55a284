import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { SshArgs, normalizeSsh } from "../../sdk/config/ssh";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-very-secret\n-----END OPENSSH PRIVATE KEY-----\n";

function problems(input: unknown): string[] {
  try {
    normalizeSsh(input as SshArgs, "AppService", "ssh");
  } catch (e) {
    assert.ok(e instanceof BerthConfigError);
    return e.problems.map((p) => `\`${p.path}\`: ${p.message}`);
  }
  assert.fail("expected normalizeSsh to throw");
}

describe("config/ssh normalizeSsh", () => {
  it("applies the defaults (Kamal: root, 22, keepalive 30)", () => {
    assert.deepEqual(normalizeSsh(undefined), {
      user: "root",
      port: 22,
      hostKeys: {},
      allowUnknownHostKeys: false,
      connectTimeoutSeconds: 15,
      keepaliveSeconds: 30,
      bootstrap: false,
    });
  });

  it("accepts Kamal's `user@host` jump host string, adding root@ and port 22 when missing", () => {
    assert.deepEqual(normalizeSsh({ proxy: "deploy@bastion.example.com:2222" }).proxy, { host: "bastion.example.com", user: "deploy", port: 2222 });
    assert.deepEqual(normalizeSsh({ proxy: "bastion" }).proxy, { host: "bastion", user: "root", port: 22 });
    assert.deepEqual(normalizeSsh({ proxy: "[2001:db8::1]:2200" }).proxy, { host: "2001:db8::1", user: "root", port: 2200 });
    assert.deepEqual(normalizeSsh({ proxy: { host: "10.0.0.1", user: "jump" } }).proxy, { host: "10.0.0.1", user: "jump", port: 22 });
  });

  it("keeps the key, host keys and known_hosts path", () => {
    const cfg = normalizeSsh({
      privateKey: KEY,
      hostKeys: { "10.0.0.5": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0 comment" },
      knownHostsPath: "/home/me/.ssh/known_hosts",
      allowUnknownHostKeys: true,
    });
    assert.equal(cfg.privateKey, KEY);
    assert.deepEqual(cfg.hostKeys, { "10.0.0.5": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0 comment" });
    assert.equal(cfg.knownHostsPath, "/home/me/.ssh/known_hosts");
    assert.equal(cfg.allowUnknownHostKeys, true);
  });

  it("`bootstrap` is an explicit opt-in: false unless set, and only true or false", () => {
    assert.equal(normalizeSsh({}).bootstrap, false);
    assert.equal(normalizeSsh({ bootstrap: true }).bootstrap, true);
    assert.deepEqual(problems({ bootstrap: "yes" }), ["`ssh.bootstrap`: must be true or false; got \"yes\". Write true or false."]);
  });

  it("rejects both privateKey and privateKeyPath", () => {
    assert.deepEqual(problems({ privateKey: KEY, privateKeyPath: "~/.ssh/id_ed25519" }), [
      "`ssh.privateKeyPath`: Only one of `privateKey` or `privateKeyPath` can be provided.",
    ]);
  });

  it("rejects a private key that is not PEM without showing it", () => {
    const lines = problems({ privateKey: "/home/me/.ssh/id_ed25519-secret-path" });
    assert.deepEqual(lines, [
      "`ssh.privateKey`: must be PEM text starting with `-----BEGIN … PRIVATE KEY-----`; got a value that is not shown because it is secret. Pass the key file's contents, or use `privateKeyPath` for a path.",
    ]);
    assert.ok(!lines.join("\n").includes("secret-path"));
  });

  it("rejects a known_hosts line given as a host key, and a key that names no host", () => {
    assert.deepEqual(problems({ hostKeys: { "10.0.0.5": "10.0.0.5 ssh-ed25519 AAAAC3Nz", "a b": "ssh-ed25519 AAAA" } }), [
      '`ssh.hostKeys.10.0.0.5`: must be an OpenSSH public key line like `ssh-ed25519 AAAA…`; got "10.0.0.5 ssh-ed25519 AAAAC3Nz". This looks like a known_hosts line: drop the leading host name.',
      '`ssh.hostKeys.a b`: must be keyed by a host name or IP address; got the key "a b". Use the host as written in `hosts`.',
    ]);
  });

  it("rejects bad ports, timeouts, jump hosts and unknown keys, all at once", () => {
    assert.deepEqual(problems({ port: 0, connectTimeoutSeconds: 0, keepaliveSeconds: -1, proxy: "a@b@c", keys_only: true }), [
      "`ssh.port`: must be an integer from 1 to 65535; got 0.",
      '`ssh.proxy`: must be `[user@]host[:port]` or an object `{ host, user?, port? }`; got "a@b@c". For example `deploy@bastion.example.com:2222`.',
      "`ssh.connectTimeoutSeconds`: must be an integer of at least 1; got 0.",
      "`ssh.keepaliveSeconds`: must be an integer of at least 0; got -1. Use 0 to turn keepalives off.",
      "`ssh`: has unknown key `keys_only`; allowed keys are `user`, `port`, `privateKey`, `privateKeyPath`, `hostKeys`, `knownHostsPath`, `allowUnknownHostKeys`, `proxy`, `connectTimeoutSeconds`, `keepaliveSeconds`, `bootstrap`. Remove it or check the spelling.",
    ]);
  });
});
