import * as assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { cleanupScript, pullScript, startScript, tolerateScript, writeSecretFileScript } from "../../sdk/commands/rollout";
import { knownHostKeys } from "../../sdk/provider/ssh";

describe("commands: rollout scripts", function () {
  it("writes a secret file from stdin, 0600, atomically", function () {
    assert.equal(
      writeSecretFileScript(".kamal/apps/shop-staging/env/roles/web.env"),
      "umask 077 && mkdir -p .kamal/apps/shop-staging/env/roles && cat > .kamal/apps/shop-staging/env/roles/web.env.tmp && chmod 600 .kamal/apps/shop-staging/env/roles/web.env.tmp && mv .kamal/apps/shop-staging/env/roles/web.env.tmp .kamal/apps/shop-staging/env/roles/web.env",
    );
  });

  it("always pulls a tag, and skips the pull of a present digest or retained image", function () {
    assert.equal(pullScript("reg.test/shop:v1", false), "docker pull reg.test/shop:v1");
    assert.equal(pullScript("reg.test/shop:v1", true), "docker image inspect --format '{{.Id}}' reg.test/shop:v1 >/dev/null 2>&1 || docker pull reg.test/shop:v1");
    const digest = `reg.test/shop@sha256:${"a".repeat(64)}`;
    assert.equal(pullScript(digest, false), `docker image inspect --format '{{.Id}}' ${digest} >/dev/null 2>&1 || docker pull ${digest}`);
  });

  it("renames an existing container of the same name out of the way before running (Kamal's _replaced_)", function () {
    assert.equal(
      startScript("shop-web-staging-v1", ["docker", "run", "--name", "shop-web-staging-v1", "img"], "00ff"),
      [
        ": berth-start-00ff",
        "if [ -n \"$(docker container ls --all --filter 'name=^shop-web-staging-v1$' --quiet)\" ]; then docker rename shop-web-staging-v1 shop-web-staging-v1_replaced_00ff; fi",
        "docker run --name shop-web-staging-v1 img >/dev/null",
        "docker container ls --all --filter 'name=^shop-web-staging-v1$' --quiet",
      ].join("\n"),
    );
  });

  it("stops the role's other containers and keeps the newest N stopped ones", function () {
    const s = cleanupScript({ service: "shop", role: "web", destination: "staging" }, "abc123", 5, 10);
    assert.equal(
      s,
      [
        "docker container ls --all --filter label=service=shop --filter label=destination=staging --filter label=role=web --format '{{.ID}}' --filter status=running --filter status=restarting | grep -v -x abc123 | xargs -r docker stop -t 10 >/dev/null || true",
        "docker container ls --all --filter label=service=shop --filter label=destination=staging --filter label=role=web --format '{{.ID}}' --filter status=exited --filter status=created --filter status=dead | grep -v -x abc123 | tail -n +6 | xargs -r docker rm >/dev/null || true",
      ].join("\n"),
    );
  });

  it("tolerates one expected failure and passes any other through", function () {
    assert.equal(
      tolerateScript(["docker", "exec", "kamal-proxy", "kamal-proxy", "remove", "shop-web"], "not found"),
      `out=$(docker exec kamal-proxy kamal-proxy remove shop-web 2>&1) || { printf '%s\\n' "$out" | grep -q 'not found' || { printf '%s\\n' "$out" >&2; exit 1; }; }`,
    );
  });
});

describe("provider: known_hosts matching", function () {
  const key = "AAAAC3NzaC1lZDI1NTE5AAAAIL1twGdgeuSiQuxDuSj0bmxGFt9CdF4UNr10owEGhlH6";
  it("matches plain, bracketed-port and hashed entries, and nothing else", function () {
    const salt = Buffer.from("0123456789abcdef0123");
    const hash = createHmac("sha1", salt).update("10.0.0.5").digest("base64");
    const file = [
      `# comment`,
      `10.0.0.1,web1 ssh-ed25519 ${key}`,
      `[10.0.0.2]:2222 ssh-ed25519 ${key}2`,
      `|1|${salt.toString("base64")}|${hash} ssh-ed25519 ${key}5`,
      `@revoked 10.0.0.1 ssh-ed25519 revoked`,
    ].join("\n");
    assert.deepEqual(knownHostKeys(file, "10.0.0.1", 22), [key]);
    assert.deepEqual(knownHostKeys(file, "web1", 22), [key]);
    assert.deepEqual(knownHostKeys(file, "10.0.0.2", 2222), [`${key}2`]);
    assert.deepEqual(knownHostKeys(file, "10.0.0.2", 22), []);
    assert.deepEqual(knownHostKeys(file, "10.0.0.5", 22), [`${key}5`]);
    assert.deepEqual(knownHostKeys(file, "10.0.0.9", 22), []);
  });
});
