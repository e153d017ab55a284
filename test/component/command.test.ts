import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, registered, settle, value } from "../helpers/mocks";

describe("component: Command", function () {
  let berth: typeof import("../../sdk");
  before(async () => {
    installMocks();
    berth = await import("../../sdk");
  });

  it("registers one berth:index:Command custom resource with exactly its inputs, and no provider code or path", async function () {
    const c = new berth.Command("hello", { create: "echo hi", delete: "echo bye" });
    await value(c.urn);
    await settle();
    const r = registered.find((x) => x.name === "hello");
    assert.ok(r, "no resource registered");
    assert.equal(r.type, "berth:index:Command");
    assert.equal(r.inputs.create, "echo hi");
    assert.equal(r.inputs.delete, "echo bye");
    assert.equal(r.inputs.__provider, undefined);
    assert.equal(JSON.stringify(r.inputs).includes(process.cwd()), false, "a path of this checkout is in the inputs");
  });

  it("keeps stdin and the connection secret", async function () {
    const c = new berth.Command("secret", {
      create: "cat > /dev/null",
      stdin: pulumi.secret("s3cret"),
      connection: pulumi.secret({ host: "h", port: 22, user: "root" }),
    });
    assert.equal(await isSecret((c as any).stdin), true);
    assert.equal(await isSecret((c as any).connection), true);
    assert.equal(await isSecret(c.stdout), false);
  });
});
