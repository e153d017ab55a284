/**
 * Kamal's local registry in the config: `registry.server: localhost:<port>` needs no login, the image
 * must be on it, and each host's AppHost / AccessoryHost carries the port its pull tunnels.
 */
import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { type AppArgs, imageLocalRegistryPort, normalizeApp } from "../../sdk/config/app";
import { appHostSecrets, appHostSpec } from "../../sdk/config/app-host";
import { accessoryHostSecrets, accessoryHostSpec, normalizeAccessory, type PlainAccessoryArgs } from "../../sdk/config/accessory";
import { fromKamalConfig } from "../../sdk/config/kamal";
import { localRegistryPort } from "../../sdk/config/registry";

const base: AppArgs = { service: "app", image: "localhost:5555/app:999", destination: "", hosts: ["1.1.1.1"] };

/** The problem lines of the BerthConfigError `fn` throws. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, `expected a BerthConfigError, got ${String(e)}`);
    return e.message
      .split("\n")
      .slice(1)
      .map((l) => l.replace(/^ {2}- /, ""));
  }
  assert.fail("expected a BerthConfigError");
}

describe("config: local registry (registry.server localhost:<port>)", () => {
  it("localRegistryPort: `localhost:<port>` and `127.0.0.1:<port>` only", () => {
    assert.equal(localRegistryPort("localhost:5555"), 5555);
    assert.equal(localRegistryPort("127.0.0.1:5000"), 5000);
    assert.equal(localRegistryPort("localhost"), undefined);
    assert.equal(localRegistryPort("localhost:0"), undefined);
    assert.equal(localRegistryPort("localhost:70000"), undefined);
    assert.equal(localRegistryPort("10.77.0.1:5000"), undefined);
    assert.equal(localRegistryPort("registry.localhost:5000"), undefined);
    assert.equal(localRegistryPort(undefined), undefined);
  });

  it("imageLocalRegistryPort reads the image's registry", () => {
    assert.equal(imageLocalRegistryPort("localhost:5555/app:1"), 5555);
    assert.equal(imageLocalRegistryPort(`127.0.0.1:5000/acme/app@sha256:${"ab".repeat(32)}`), 5000);
    assert.equal(imageLocalRegistryPort("ghcr.io/acme/app:1"), undefined);
    assert.equal(imageLocalRegistryPort("app:1"), undefined);
  });

  it("a local registry needs no credentials (Kamal's `kamal init` uses localhost:5555): no login, the port on each AppHost", () => {
    const c = normalizeApp({ ...base, registry: { server: "localhost:5555" } });
    assert.deepEqual(c.registry, { server: "localhost:5555" });
    const spec = appHostSpec(c, "web", "1.1.1.1");
    assert.equal(spec.registry, undefined);
    assert.equal(spec.localRegistryPort, 5555);
    assert.deepEqual(appHostSecrets(c, "web", "1.1.1.1"), { env: {} });
  });

  it("a local registry with credentials logs in as any other", () => {
    const c = normalizeApp({ ...base, registry: { server: "localhost:5555", username: "me", password: "pw-123" } });
    const spec = appHostSpec(c, "web", "1.1.1.1");
    assert.deepEqual(spec.registry, { server: "localhost:5555", username: "me" });
    assert.equal(spec.localRegistryPort, 5555);
    assert.equal(appHostSecrets(c, "web", "1.1.1.1").registryPassword, "pw-123");
  });

  it("an image on the local registry tunnels without any `registry` setting; other images do not", () => {
    assert.equal(appHostSpec(normalizeApp(base), "web", "1.1.1.1").localRegistryPort, 5555);
    assert.equal(appHostSpec(normalizeApp({ ...base, image: "127.0.0.1:5000/app:1" }), "web", "1.1.1.1").localRegistryPort, 5000);
    assert.ok(!("localRegistryPort" in appHostSpec(normalizeApp({ ...base, image: "ghcr.io/acme/app:1" }), "web", "1.1.1.1")));
  });

  it("any other registry still needs `username` and `password`", () => {
    assert.deepEqual(
      problems(() => normalizeApp({ ...base, image: "ghcr.io/acme/app:1", registry: { server: "ghcr.io" } })),
      [
        "`registry.username`: must be a user name without spaces or `:`; got nothing. Set the registry user alone; the password goes in `password`.",
        "`registry.password`: must be a password or token; got nothing.",
      ],
    );
  });

  it("on a local registry, `username` and `password` go together or not at all", () => {
    assert.deepEqual(problems(() => normalizeApp({ ...base, registry: { server: "localhost:5555", username: "me" } })), [
      "`registry.password`: must be a password or token; got nothing. A local registry needs no login: set both `username` and `password`, or neither.",
    ]);
    assert.deepEqual(problems(() => normalizeApp({ ...base, registry: { server: "localhost:5555", password: "pw-123" } })), [
      "`registry.username`: must be a user name without spaces or `:`; got nothing. A local registry needs no login: set both `username` and `password`, or neither.",
    ]);
  });

  it("the image must be on the local registry `registry.server` names", () => {
    assert.deepEqual(problems(() => normalizeApp({ ...base, image: "app:999", registry: { server: "localhost:5555" } })), [
      "`image`: must be on the local registry `localhost:5555` (`registry.server`); got \"app:999\". Name it there, e.g. `localhost:5555/app:999`.",
    ]);
    assert.deepEqual(problems(() => normalizeApp({ ...base, image: "127.0.0.1:5555/app:999", registry: { server: "localhost:5555" } })), [
      "`image`: must be on the local registry `localhost:5555` (`registry.server`); got \"127.0.0.1:5555/app:999\". Name it there, e.g. `localhost:5555/app:999`.",
    ]);
  });

  it("a loopback registry without a port is refused, as server and in the image", () => {
    assert.deepEqual(problems(() => normalizeApp({ ...base, image: "localhost/app:999" })), [
      "`image`: must be an image on a local registry `localhost:<port>` or `127.0.0.1:<port>`; got \"localhost/app:999\". A local registry needs its port, e.g. `localhost:5555/app:1`.",
    ]);
    assert.deepEqual(problems(() => normalizeApp({ ...base, registry: { server: "localhost" } })), [
      "`registry.server`: must be a registry host; a local registry is `localhost:<port>` or `127.0.0.1:<port>`; got \"localhost\". Add the port of the registry on this machine, e.g. `localhost:5555`.",
      "`registry.username`: must be a user name without spaces or `:`; got nothing. Set the registry user alone; the password goes in `password`.",
      "`registry.password`: must be a password or token; got nothing.",
    ]);
  });

  it("an accessory on a local registry: no credentials needed, its server in front of the image, the port on each AccessoryHost", () => {
    const a: PlainAccessoryArgs = { service: "shop", name: "db", image: "postgres:16.4", host: "10.0.0.1", registry: { server: "localhost:5555" } };
    const c = normalizeAccessory(a);
    assert.equal(c.image, "localhost:5555/postgres:16.4");
    const spec = accessoryHostSpec(c, "10.0.0.1");
    assert.equal(spec.registry, undefined);
    assert.equal(spec.localRegistryPort, 5555);
    assert.deepEqual(accessoryHostSecrets(c, []), { env: {}, files: [] });
    // A public image next to an app on a local registry pulls directly.
    assert.ok(!("localRegistryPort" in accessoryHostSpec(normalizeAccessory({ ...a, registry: undefined }), "10.0.0.1")));
    assert.deepEqual(
      problems(() => normalizeAccessory({ ...a, registry: { server: "localhost:5555", username: "me" } } as PlainAccessoryArgs)),
      ["`registry.password`: must be a password or token; got nothing. A local registry needs no login: set both `username` and `password`, or neither."],
    );
    assert.deepEqual(
      problems(() => normalizeAccessory({ ...a, registry: { server: "ghcr.io" } } as PlainAccessoryArgs)),
      ["`registry.username`: must be a user name; got nothing.", "`registry.password`: must be a password or token; got nothing."],
    );
  });

  it("kamal-proxy's image cannot come from the local registry (it is not pulled through the tunnel)", () => {
    assert.deepEqual(problems(() => normalizeApp({ ...base, proxyRun: { image: { registry: "localhost:5555" } } })), [
      "`proxyRun.image.registry`: must be a registry the hosts can reach; got \"localhost:5555\". kamal-proxy's image is not pulled through the local registry's SSH tunnel (only app and accessory images are): push it to a registry the hosts reach, or leave `registry` out for Docker Hub.",
    ]);
  });

  it("fromKamalConfig: Kamal's `registry: { server: localhost:5555 }` becomes an image on it, with no login", () => {
    const { args } = fromKamalConfig({ service: "app", image: "app", servers: ["1.1.1.1"], registry: { server: "localhost:5555" } }, { version: "v1" });
    assert.equal(args.image, "localhost:5555/app:v1");
    assert.equal(args.registry, undefined);
    const c = normalizeApp({ ...(args as AppArgs), destination: "" });
    assert.equal(appHostSpec(c, "web", "1.1.1.1").localRegistryPort, 5555);
  });
});
