/**
 * Invalid inputs fail at preview through the provider's `check`, naming the property path, for
 * every resource type the plugin serves (issue 8, must-show 7). The components validate first;
 * this registers the resources directly, as a program or another component could, so only the
 * plugin stands between the bad value and a host.
 */
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { AccessoryHost, AppHost, BuildxBuilderResource, CommandResource, ImageBuild, ProxyHost } from "../../sdk/components/resources";
import { backend, TestBackend } from "../helpers/engine";

const conn = { host: "10.77.0.11", port: 22, user: "root" };

/** Each resource type, registered with one bad property, and the path its check failure names. */
const CASES: { type: string; path: string; make: () => void }[] = [
  { type: "AppHost", path: "retainContainers", make: () => new AppHost("bad", { retainContainers: "five" } as any) },
  { type: "ProxyHost", path: "owner", make: () => new ProxyHost("bad", { host: "h", run: {}, owner: 7, connection: conn } as any) },
  { type: "Command", path: "create", make: () => new CommandResource("bad", { create: ["echo", "hi"] } as any) },
  { type: "BuildxBuilder", path: "driver", make: () => new BuildxBuilderResource("bad", { name: "b", driver: "docker", driverOptions: {}, nodes: [], secrets: pulumi.secret({ env: {}, proxyEnv: {}, tls: [] }) } as any) },
  { type: "Image", path: "tags", make: () => new ImageBuild("bad", { context: "app", dockerfile: "app/Dockerfile", contextHash: "sha256:0", tags: "app:1" } as any) },
  { type: "AccessoryHost", path: "host", make: () => new AccessoryHost("bad", { host: 42 } as any) },
];

describe("real: the provider's check names the bad property, for every resource type", function () {
  let b: TestBackend;
  before(async () => (b = await backend("berth-check-")));

  for (const c of CASES) {
    it(`berth:index:${c.type}: \`${c.path}\``, async function () {
      const s = await LocalWorkspace.createOrSelectStack(
        { stackName: "check", projectName: `berth-real-check-${c.type.toLowerCase()}`, program: async () => c.make() },
        { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
      );
      let message = "";
      try {
        await s.preview();
      } catch (e) {
        message = (e as Error).message;
      }
      assert.match(message, new RegExp(`berth:index:${c.type}`), message);
      assert.match(message, new RegExp(`\`${c.path}\``), message);
      assert.doesNotMatch(message, /^\s+at .*\.js:\d+/m, "a stack trace in the output");
    });
  }
});
