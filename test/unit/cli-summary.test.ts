import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { summarize, UNKNOWN } from "../../sdk/cli/summary";

/**
 * Previews shaped as `pulumi preview --json` (Pulumi 3.259) writes them: `steps[]` with `op`,
 * `urn`, `oldState`/`newState` (apitype.ResourceV3: `urn`, `custom`, `id`, `type`, `inputs`,
 * `outputs`, `parent`, `provider`), `diffReasons`, `replaceReasons`, `detailedDiff` (path →
 * `{kind, inputDiff}`); `changeSummary`; `diagnostics`. Secret inputs show as "[secret]", unknowns
 * as the unknown sentinel string.
 */
type Obj = Record<string, unknown>;

const STACK = "urn:pulumi:staging::shop";
const ROOT = `${STACK}::pulumi:pulumi:Stack::shop-staging`;
const PROVIDER = `${STACK}::pulumi:providers:berth::default_0_1_0::8c1d2e3f`;
const SECRET = "[secret]";
const DIGEST_V1 = `sha256:${"1".repeat(64)}`;

function urnOf(type: string, name: string, parents: string[] = []): string {
  return `${STACK}::${[...parents, type].join("$")}::${name}`;
}

function state(type: string, urn: string, inputs: Obj, outputs: Obj = inputs, custom = true): Obj {
  return { urn, custom, id: custom ? `${name(urn)}-id` : "", type, inputs, outputs, parent: ROOT, provider: custom ? `${PROVIDER}::04da6b54-80e4-46f7-96ec-b56ff0331ba9` : "" };
}

const name = (urn: string) => urn.split("::").pop()!;

/** One step; `detailed` lists changed paths (kind "update" unless given as `path=kind`). */
function step(op: string, type: string, urn: string, olds?: Obj, news?: Obj, detailed: string[] = [], extra: Obj = {}): Obj {
  const detailedDiff = Object.fromEntries(
    detailed.map((d) => {
      const [p, kind = "update"] = d.split("=");
      return [p, { kind, inputDiff: true }];
    }),
  );
  const diffReasons = [...new Set(detailed.map((d) => d.split(/[.[=]/)[0]))];
  return {
    op,
    urn,
    provider: `${PROVIDER}::04da6b54-80e4-46f7-96ec-b56ff0331ba9`,
    ...(olds ? { oldState: state(type, urn, olds) } : {}),
    ...(news ? { newState: state(type, urn, news) } : {}),
    ...(op === "update" || op === "replace" ? { diffReasons } : {}),
    detailedDiff: op === "same" ? null : detailedDiff,
    ...extra,
  };
}

const rootStep = (): Obj => ({ op: "same", urn: ROOT, oldState: state("pulumi:pulumi:Stack", ROOT, {}, {}, false), newState: state("pulumi:pulumi:Stack", ROOT, {}, {}, false), detailedDiff: null });

function preview(steps: Obj[], diagnostics: Obj[] = []): Obj {
  const changeSummary: Record<string, number> = {};
  for (const s of steps) changeSummary[s.op as string] = (changeSummary[s.op as string] ?? 0) + 1;
  return { config: { "shop:registryPassword": "[secret]" }, steps: [rootStep(), ...steps], ...(diagnostics.length ? { diagnostics } : {}), duration: 2143000000, changeSummary };
}

// ---------------------------------------------------------------------------------------------
// Berth's resources

const APP_HOST = "berth:index:AppHost";
const APP_SERVICE = "berth:index:AppService";
const appHostUrn = (role: string, host: string) => urnOf(APP_HOST, `shop-${role}-${host}`, [APP_SERVICE]);

function appHost(role: "web" | "worker", host: string, over: Obj = {}): Obj {
  const web = role === "web";
  return {
    host,
    service: "shop",
    role,
    destination: "staging",
    version: "v1",
    image: "registry.test/shop:v1",
    primary: web,
    container: {
      restartPolicy: "unless-stopped",
      cmd: web ? [] : ["bin/jobs"],
      env: { RAILS_ENV: "production", LOG_LEVEL: "info" },
      labels: {},
      options: {},
      logging: { options: {} },
      volumes: [],
      network: "kamal",
    },
    ...(web
      ? {
          proxy: {
            hosts: ["shop.test"],
            appPort: 3000,
            healthcheck: { path: "/up", intervalSeconds: 1, timeoutSeconds: 5 },
            responseTimeoutSeconds: 30,
            buffering: { requests: true, responses: true },
            pathPrefixes: [],
            ssl: false,
            logging: { requestHeaders: [], responseHeaders: [] },
            customCertificate: false,
          },
        }
      : {}),
    proxyContainer: "kamal-proxy",
    deployTimeoutSeconds: 30,
    drainTimeoutSeconds: 30,
    readinessDelaySeconds: 7,
    retainContainers: 5,
    maintenance: { enabled: false, drainTimeoutSeconds: 30 },
    registry: { server: "registry.test", username: "deploy" },
    secretEnvNames: ["DB_PASSWORD"],
    connection: SECRET,
    secrets: SECRET,
    delayBeforeSeconds: 0,
    ...over,
  };
}

/** Deep-merges `over` into a copy of `base` (objects merge, everything else replaces). */
function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b) ? merge(b as Obj, v as Obj) : v;
  }
  return out;
}

function hostStep(role: "web" | "worker", host: string, olds: Obj, news: Obj, detailed: string[], op = "update"): Obj {
  return step(op, APP_HOST, appHostUrn(role, host), olds, news, detailed);
}

const IMAGE = "berth:index:Image";
const imageUrn = urnOf(IMAGE, "shop-image-build", [IMAGE]);
const imageComponentUrn = urnOf(IMAGE, "shop-image");

function imageInputs(over: Obj = {}): Obj {
  return {
    context: "app",
    dockerfile: "app/Dockerfile",
    contextHash: "a".repeat(64),
    buildArgs: {},
    ssh: [],
    platforms: ["linux/amd64"],
    tags: ["registry.test/shop:v1"],
    labels: {},
    exports: { push: true, load: false },
    cacheFrom: [],
    cacheTo: [],
    noCache: false,
    pull: false,
    secrets: SECRET,
    ...over,
  };
}

const PROXY_HOST = "berth:index:ProxyHost";
const proxyHostUrn = (host: string) => urnOf(PROXY_HOST, `shop-proxy-${host}`, [APP_SERVICE, "berth:index:Proxy"]);
function proxyHost(host: string, imageRef = "basecamp/kamal-proxy:v0.9.0", over: Obj = {}): Obj {
  return {
    host,
    run: {
      image: { repository: "basecamp/kamal-proxy", version: imageRef.split(":")[1] },
      imageRef,
      httpPort: 80,
      httpsPort: 443,
      bindIps: [],
      publish: true,
      logMaxSize: "10m",
      debug: false,
      options: {},
      network: "kamal",
      containerName: "kamal-proxy",
      configVolume: "kamal-proxy-config",
    },
    owner: "shop/staging/shop",
    connection: SECRET,
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// The previews

/** v1 → v2 on 2 hosts × 2 roles: the image is rebuilt (new context), so its digest, and the hosts' image ref, are unknown. */
function versionBump(): Obj {
  const steps: Obj[] = [
    step("same", IMAGE, imageComponentUrn, {}, {}, [], { oldState: state(IMAGE, imageComponentUrn, {}, {}, false), newState: state(IMAGE, imageComponentUrn, {}, {}, false) }),
    step(
      "update",
      IMAGE,
      imageUrn,
      undefined,
      undefined,
      ["contextHash", "tags[0]"],
      {
        oldState: state(IMAGE, imageUrn, imageInputs(), { ...imageInputs(), digest: DIGEST_V1, ref: `registry.test/shop@${DIGEST_V1}` }),
        newState: state(IMAGE, imageUrn, imageInputs({ contextHash: "b".repeat(64), tags: ["registry.test/shop:v2"] }), {}),
      },
    ),
  ];
  for (const role of ["worker", "web"] as const) {
    for (const host of ["10.0.0.12", "10.0.0.11"]) {
      const old = appHost(role, host, { image: `registry.test/shop@${DIGEST_V1}` });
      steps.push(hostStep(role, host, old, { ...old, version: "v2", image: UNKNOWN }, ["image", "version"]));
    }
  }
  steps.push(step("same", PROXY_HOST, proxyHostUrn("10.0.0.11"), proxyHost("10.0.0.11"), proxyHost("10.0.0.11")));
  return preview(steps);
}

/** A clear env var added and a secret one changed on one host; maintenance on for the web role. */
function envAndMaintenance(): Obj {
  const on = { maintenance: { enabled: true, message: "Back at noon", drainTimeoutSeconds: 30 } };
  const w11 = appHost("web", "10.0.0.11", { version: "v2" });
  const w12 = appHost("web", "10.0.0.12", { version: "v2" });
  const k21 = appHost("worker", "10.0.0.21", { version: "v2" });
  return preview([
    hostStep("web", "10.0.0.11", w11, merge(w11, { ...on, container: { env: { FEATURE_SEARCH: "on" } } }), [
      "container.env.FEATURE_SEARCH=add",
      "maintenance.enabled",
      "maintenance.message=add",
      "secrets.env.DB_PASSWORD",
    ]),
    hostStep("web", "10.0.0.12", w12, merge(w12, on), ["maintenance.enabled", "maintenance.message=add"]),
    step("same", APP_HOST, appHostUrn("worker", "10.0.0.21"), k21, k21),
  ]);
}

/** New and removed hosts, routing and container settings, kamal-proxy, a builder, a command, a warning. */
function assorted(): Obj {
  const w11 = appHost("web", "10.0.0.11", { version: "v2" });
  const k21 = appHost("worker", "10.0.0.21", { version: "v2" });
  const k22 = appHost("worker", "10.0.0.22", { version: "v2" });
  const builderUrn = urnOf("berth:index:BuildxBuilder", "ci-builder-builder", ["berth:index:BuildxBuilder"]);
  const builder = (opts: Obj) => ({ name: "ci-builder", driver: "docker-container", driverOptions: opts, nodes: [{ name: "ci-builder0" }], secrets: SECRET });
  const commandUrn = urnOf("berth:index:Command", "migrate");
  const command = (create: string) => ({ create, connection: SECRET, stdin: SECRET, stdout: "", stderr: "" });
  const dnsUrn = urnOf("cloudflare:index/record:Record", "shop-dns");
  return preview(
    [
      hostStep(
        "web",
        "10.0.0.11",
        w11,
        merge(w11, { proxy: { healthcheck: { path: "/health" }, hosts: ["shop.test", "www.shop.test"] }, container: { cmd: ["bin/web", "--threads", "5"] }, deployTimeoutSeconds: 60 }),
        ["container.cmd", "deployTimeoutSeconds", "proxy.healthcheck.path", "proxy.hosts"],
      ),
      step("create", APP_HOST, appHostUrn("web", "10.0.0.13"), undefined, appHost("web", "10.0.0.13", { version: "v2" })),
      hostStep("worker", "10.0.0.21", k21, { ...k21, connection: SECRET }, ["connection.privateKey", "secrets.registryPassword"]),
      step("delete", APP_HOST, appHostUrn("worker", "10.0.0.22"), k22),
      step("update", PROXY_HOST, proxyHostUrn("10.0.0.11"), proxyHost("10.0.0.11"), proxyHost("10.0.0.11", "basecamp/kamal-proxy:v0.9.1", { run: { ...(proxyHost("10.0.0.11").run as Obj), imageRef: "basecamp/kamal-proxy:v0.9.1", image: { repository: "basecamp/kamal-proxy", version: "v0.9.1" }, debug: true } }), [
        "run.debug",
        "run.image.version",
        "run.imageRef",
      ]),
      step("create", PROXY_HOST, proxyHostUrn("10.0.0.13"), undefined, proxyHost("10.0.0.13")),
      step("replace", "berth:index:BuildxBuilder", builderUrn, builder({}), builder({ "env.BUILDKIT_STEP_LOG_MAX_SIZE": "10485760" }), ["driverOptions[\"env.BUILDKIT_STEP_LOG_MAX_SIZE\"]=add-replace"], { replaceReasons: ["driverOptions"] }),
      step("update", "berth:index:Command", commandUrn, command("bin/rails db:migrate"), command("bin/rails db:migrate && bin/rails db:seed"), ["create"]),
      step("update", "cloudflare:index/record:Record", dnsUrn, { name: "shop", content: "10.0.0.11", ttl: 300 }, { name: "shop", content: "10.0.0.11", ttl: 60 }, ["ttl"]),
    ],
    [
      { urn: commandUrn, message: "the command `migrate` runs on every update\n(set `update` to run something else)", severity: "warning" },
      { message: "loading the program", severity: "info" },
    ],
  );
}

// ---------------------------------------------------------------------------------------------

describe("cli/summary", () => {
  it("a version bump on 2 hosts × 2 roles with an image rebuild: exact Markdown", () => {
    assert.equal(
      summarize(versionBump()),
      [
        "**Berth preview**: 4 hosts change version, 1 image rebuilds",
        "",
        "### shop (staging)",
        "",
        "#### web",
        "",
        "- `10.0.0.11`: `v1` → `v2`",
        "  - image: `registry.test/shop@sha256:111111111111…` → (known after build)",
        "- `10.0.0.12`: `v1` → `v2`",
        "  - image: `registry.test/shop@sha256:111111111111…` → (known after build)",
        "",
        "#### worker",
        "",
        "- `10.0.0.11`: `v1` → `v2`",
        "  - image: `registry.test/shop@sha256:111111111111…` → (known after build)",
        "- `10.0.0.12`: `v1` → `v2`",
        "  - image: `registry.test/shop@sha256:111111111111…` → (known after build)",
        "",
        "### Images",
        "",
        "- `registry.test/shop:v2`: rebuilds (context changed, `tags` changed); digest `sha256:111111111111…` → (known after build)",
        "",
      ].join("\n"),
    );
  });

  it("env names (clear added, secret value changed) and maintenance on: exact Markdown", () => {
    assert.equal(
      summarize(envAndMaintenance()),
      [
        "**Berth preview**: env changes on 1 host, maintenance on for 2 hosts",
        "",
        "### shop (staging)",
        "",
        "#### web",
        "",
        "- `10.0.0.11`: `v2` (same version)",
        "  - env: `FEATURE_SEARCH` added; `DB_PASSWORD` secret value changed",
        "  - maintenance on: `Back at noon`",
        "- `10.0.0.12`: `v2` (same version)",
        "  - maintenance on: `Back at noon`",
        "",
      ].join("\n"),
    );
  });

  it("new and removed hosts, proxy routing, settings, kamal-proxy, a builder, a command, another resource, a warning: exact Markdown", () => {
    assert.equal(
      summarize(assorted()),
      [
        "**Berth preview**: 1 new host, 1 host removed, proxy settings change on 1 host, other settings change on 1 host, secret settings change on 1 host, 1 builder recreated, kamal-proxy changes on 2 hosts, 1 command changes, 1 other resource changes, 1 warning",
        "",
        "### shop (staging)",
        "",
        "#### web",
        "",
        "- `10.0.0.11`: `v2` (same version)",
        "  - `proxy.healthcheck.path`: `/up` → `/health`",
        '  - `proxy.hosts`: `["shop.test"]` → `["shop.test","www.shop.test"]`',
        "  - settings changed: `container.cmd`, `deployTimeoutSeconds`",
        "- `10.0.0.13`: + `v2` (new)",
        "  - image: `registry.test/shop:v1`",
        "",
        "#### worker",
        "",
        "- `10.0.0.21`: `v2` (same version)",
        "  - SSH connection changed",
        "  - registry password changed",
        "- `10.0.0.22`: - `v2` removed",
        "",
        "### Builders",
        "",
        "- `ci-builder`: recreated (`driverOptions` changed)",
        "",
        "### kamal-proxy",
        "",
        "- `10.0.0.11`: image `basecamp/kamal-proxy:v0.9.0` → `basecamp/kamal-proxy:v0.9.1`; settings changed: `run.debug`",
        "- `10.0.0.13`: starts kamal-proxy `basecamp/kamal-proxy:v0.9.0`",
        "",
        "### Commands",
        "",
        "- `migrate`: runs `create` (`create` changed)",
        "",
        "### Other resources",
        "",
        "- `cloudflare:index/record:Record` `shop-dns`: update (`ttl`)",
        "",
        "### Diagnostics",
        "",
        "- warning: `migrate`: ``the command `migrate` runs on every update``",
        "",
      ].join("\n"),
    );
  });

  it("never shows a value from `secrets`, `connection` or a secret property, nor any env value (even with --show-secrets)", () => {
    // `pulumi preview --json --show-secrets` prints secret values in clear; Pulumi's secret sentinel
    // object may appear too. Every value below must stay out of the Markdown; the names may show.
    const sentinel = (v: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
    const conn = (key: string) => ({ host: "10.0.0.11", port: 22, user: "SECRET-USER-deploy", privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${key}\n-----END OPENSSH PRIVATE KEY-----` });
    const w11 = appHost("web", "10.0.0.11", { connection: conn("SECRET-SSH-KEY-old-7f3a"), secrets: { env: { DB_PASSWORD: "SECRET-DB-old-91c2" }, registryPassword: "SECRET-REGISTRY-old-5e1d" } });
    const w11New = merge(
      { ...w11, connection: conn("SECRET-SSH-KEY-new-8b4c"), secrets: { env: { DB_PASSWORD: "SECRET-DB-new-44aa", API_TOKEN: "SECRET-API-TOKEN-0b7e" }, registryPassword: "SECRET-REGISTRY-new-6f2e" } },
      { container: { env: { LOG_LEVEL: "CLEAR-VALUE-debug-d00d" } }, secretEnvNames: ["API_TOKEN", "DB_PASSWORD"] },
    );
    const w12 = appHost("web", "10.0.0.12", { connection: sentinel("SECRET-SENTINEL-CONN-c0ffee"), secrets: sentinel("SECRET-SENTINEL-ENV-beef") });
    const w12New = { ...w12, version: sentinel("SECRET-VERSION-v9"), connection: sentinel("SECRET-SENTINEL-CONN-2-f00d"), secrets: sentinel("SECRET-SENTINEL-ENV-2-cafe") };
    const builderUrn = urnOf("berth:index:BuildxBuilder", "ci-builder-builder", ["berth:index:BuildxBuilder"]);
    const builder = (pem: string) => ({ name: "ci-builder", driver: "remote", driverOptions: {}, nodes: [{ name: "n0", endpoint: "tcp://buildkitd:1234" }], secrets: { env: {}, proxyEnv: {}, tls: [{ keyPem: pem }] } });
    const commandUrn = urnOf("berth:index:Command", "seed");
    const p = preview([
      hostStep("web", "10.0.0.11", w11, w11New, [
        "connection.privateKey",
        "container.env.LOG_LEVEL",
        "secretEnvNames",
        "secrets.env.API_TOKEN=add",
        "secrets.env.DB_PASSWORD",
        "secrets.registryPassword",
      ]),
      hostStep("web", "10.0.0.12", w12, w12New, ["connection.privateKey", "secrets.env.DB_PASSWORD", "version"]),
      step("update", IMAGE, imageUrn, imageInputs({ secrets: { build: { NPM_TOKEN: "SECRET-NPM-old-9a9a" }, proxyEnv: {} } }), imageInputs({ secrets: { build: { NPM_TOKEN: "SECRET-NPM-new-1b1b" }, proxyEnv: {} } }), ["secrets.build.NPM_TOKEN"]),
      step("replace", "berth:index:BuildxBuilder", builderUrn, builder("SECRET-TLS-KEY-old-3c3c"), builder("SECRET-TLS-KEY-new-4d4d"), ["secrets.tls[0].keyPem=update-replace"], { replaceReasons: ["secrets"] }),
      step("update", "berth:index:Command", commandUrn, { create: "bin/seed", stdin: "SECRET-STDIN-old-5e5e", connection: conn("SECRET-SSH-KEY-cmd-6f6f") }, { create: "bin/seed", stdin: "SECRET-STDIN-new-7a7a", connection: conn("SECRET-SSH-KEY-cmd-6f6f") }, ["stdin"]),
      step("update", PROXY_HOST, proxyHostUrn("10.0.0.11"), proxyHost("10.0.0.11", undefined, { connection: conn("SECRET-SSH-KEY-old-7f3a") }), proxyHost("10.0.0.11", undefined, { connection: conn("SECRET-SSH-KEY-new-8b4c") }), ["connection.privateKey"]),
    ]);
    const md = summarize(p);
    const everyValue = JSON.stringify(p).match(/SECRET-[A-Za-z0-9-]+|CLEAR-VALUE-[A-Za-z0-9-]+/g)!;
    assert.ok(everyValue.length >= 20, "the fixture holds the values to look for");
    for (const value of everyValue) assert.ok(!md.includes(value), `${value} is in the Markdown:\n${md}`);
    assert.ok(!md.includes("BEGIN OPENSSH"));
    // What it does say: names, and that something secret changed.
    assert.match(md, /- `10\.0\.0\.11`: `v1` \(same version\)\n {2}- env: `LOG_LEVEL` changed; `API_TOKEN` secret added; `DB_PASSWORD` secret value changed\n {2}- SSH connection changed\n {2}- registry password changed\n/);
    assert.match(md, /- `10\.0\.0\.12`: `v1` → \(secret\)\n {2}- env: `DB_PASSWORD` secret value changed\n {2}- SSH connection changed\n/);
    assert.match(md, /rebuilds \(build secret `NPM_TOKEN` changed\)/);
    assert.match(md, /- `ci-builder`: recreated \(`secrets` changed\)/);
    assert.match(md, /- `seed`: runs `create` \(`stdin` changed\)/);
    assert.match(md, /- `10\.0\.0\.11`: SSH connection changed/);
  });

  it("maintenance off and a new message; an update with nothing to show but `[secret]` inputs (no detailed diff)", () => {
    const on = (message: string) => ({ maintenance: { enabled: true, message, drainTimeoutSeconds: 30 } });
    const w11 = appHost("web", "10.0.0.11", on("Back at noon"));
    const w12 = appHost("web", "10.0.0.12", on("Back at noon"));
    const k21 = appHost("worker", "10.0.0.21");
    const p = preview([
      hostStep("web", "10.0.0.11", w11, appHost("web", "10.0.0.11"), ["maintenance.enabled", "maintenance.message=delete"]),
      hostStep("web", "10.0.0.12", w12, appHost("web", "10.0.0.12", on("Back at 1pm")), ["maintenance.message"]),
      // A provider that gives no detailed diff, and a change only inside "[secret]".
      { ...hostStep("worker", "10.0.0.21", k21, k21, []), detailedDiff: null, diffReasons: undefined },
    ]);
    assert.equal(
      summarize(p),
      [
        "**Berth preview**: maintenance off for 1 host, secret settings change on 1 host",
        "",
        "### shop (staging)",
        "",
        "#### web",
        "",
        "- `10.0.0.11`: `v1` (same version)",
        "  - maintenance off",
        "- `10.0.0.12`: `v1` (same version)",
        "  - maintenance message: `Back at noon` → `Back at 1pm`",
        "",
        "#### worker",
        "",
        "- `10.0.0.21`: `v1` (same version)",
        "  - secret or connection settings changed (values hidden)",
        "",
      ].join("\n"),
    );
  });

  it("reads a replacement the same from its one `replace` step or from all three (--show-replacement-steps)", () => {
    const old = appHost("web", "10.0.0.11", { destination: "stage" });
    const neu = appHost("web", "10.0.0.11", { version: "v2" });
    const urn = appHostUrn("web", "10.0.0.11");
    const detailed = ["destination=update-replace", "version"];
    const one = preview([step("replace", APP_HOST, urn, old, neu, detailed, { replaceReasons: ["destination"] })]);
    const three = preview([
      step("create-replacement", APP_HOST, urn, old, neu, detailed, { replaceReasons: ["destination"] }),
      step("replace", APP_HOST, urn, old, neu, detailed, { replaceReasons: ["destination"] }),
      step("delete-replaced", APP_HOST, urn, old, undefined),
    ]);
    const expected = [
      "**Berth preview**: 1 host changes version, 1 host replaced",
      "",
      "### shop (staging)",
      "",
      "#### web",
      "",
      "- `10.0.0.11`: `v1` → `v2`, replaced (`destination` changed)",
      "",
    ].join("\n");
    assert.equal(summarize(one), expected);
    assert.equal(summarize(three), expected);
  });

  it("orders by service, role and host (hosts in natural order), whatever the order of the steps", () => {
    const steps = ["10.0.0.10", "10.0.0.9", "app-2", "app-10"].flatMap((host) =>
      (["worker", "web"] as const).map((role) => {
        const old = appHost(role, host);
        return hostStep(role, host, old, { ...old, version: "v2" }, ["version"]);
      }),
    );
    const other = appHost("web", "10.0.0.1", { service: "admin" });
    steps.push(hostStep("web", "10.0.0.1", other, { ...other, version: "v2" }, ["version"]));
    const md = summarize(preview(steps));
    assert.equal(summarize(preview([...steps].reverse())), md);
    const order = [...md.matchAll(/^(?:### (.+)|#### (.+)|- `([^`]+)`)/gm)].map((m) => m[1] ?? m[2] ?? m[3]);
    assert.deepEqual(order, [
      "admin (staging)",
      "web",
      "10.0.0.1",
      "shop (staging)",
      "web",
      "10.0.0.9",
      "10.0.0.10",
      "app-2",
      "app-10",
      "worker",
      "10.0.0.9",
      "10.0.0.10",
      "app-2",
      "app-10",
    ]);
  });

  it("counts the Image resource, not the Image component of the same type token", () => {
    const component = state(IMAGE, imageComponentUrn, {}, {}, false);
    const p = preview([
      { op: "create", urn: imageComponentUrn, newState: component, detailedDiff: null },
      step("create", IMAGE, imageUrn, undefined, imageInputs()),
    ]);
    assert.equal(summarize(p), ["**Berth preview**: 1 new image", "", "### Images", "", "- `registry.test/shop:v1`: new image, digest (known after build)", ""].join("\n"));
  });

  it("refuses what is not a preview, naming the field", () => {
    assert.throws(() => summarize(null), /^Error: the input is not a JSON object: expected the output of `pulumi preview --json`$/);
    assert.throws(() => summarize([]), /the input is not a JSON object/);
    assert.throws(() => summarize({ steps: {} }), /^Error: `steps` is not a list: expected/);
    assert.throws(() => summarize({ steps: [{ urn: ROOT }] }), /^Error: `steps\[0\]\.op` is missing: expected/);
    assert.throws(() => summarize({ steps: [{ op: "update", urn: ROOT, newState: "x" }] }), /^Error: `steps\[0\]\.newState` is not an object/);
  });

  it("previews of only unchanged resources say No changes.", () => {
    const w = appHost("web", "10.0.0.11");
    const p = preview([step("same", APP_HOST, appHostUrn("web", "10.0.0.11"), w, w), step("same", PROXY_HOST, proxyHostUrn("10.0.0.11"), proxyHost("10.0.0.11"), proxyHost("10.0.0.11"))]);
    assert.equal(summarize(p), "**Berth preview**: No changes.\n");
    // What `pulumi preview --json` prints for an empty stack (`steps` omitted when empty).
    assert.equal(summarize({ changeSummary: {} }), "**Berth preview**: No changes.\n");
  });
});

describe("berth CLI", () => {
  const MAIN = path.join(__dirname, "../../sdk/cli/main.js");
  const BIN = path.join(__dirname, "../../../bin/berth");
  const berth = (args: string[], input?: string, entry = MAIN) => {
    const r = spawnSync(process.execPath, [entry, ...args], { input: input ?? "", encoding: "utf8", timeout: 20000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("`berth summary` reads the preview on stdin and prints the Markdown (exit 0)", () => {
    const p = envAndMaintenance();
    const r = berth(["summary"], JSON.stringify(p, null, 4));
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, summarize(p));
    assert.match(r.stdout, /^\*\*Berth preview\*\*: env changes on 1 host, maintenance on for 2 hosts\n/);
  });

  it("`berth summary <file>` reads the file; `bin/berth` runs the same", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-summary-"));
    try {
      const file = path.join(dir, "preview.json");
      fs.writeFileSync(file, JSON.stringify(versionBump()));
      const r = berth(["summary", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, summarize(versionBump()));
      const viaBin = berth(["summary", file], undefined, BIN);
      assert.equal(viaBin.code, 0, viaBin.stderr);
      assert.equal(viaBin.stdout, r.stdout);
      const missing = berth(["summary", path.join(dir, "nope.json")]);
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, `berth summary: cannot read ${path.join(dir, "nope.json")}: ENOENT\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bad JSON: one error line on stderr, nothing on stdout, exit 1, and the input is not echoed", () => {
    const r = berth(["summary"], '{"steps": [{"op": "update", "token": "SECRET-IN-BAD-JSON-77" ');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "berth summary: stdin is not valid JSON (Expected ',' or '}' after property value at line 1 column 62): expected the output of `pulumi preview --json`\n");
    assert.ok(!r.stderr.includes("SECRET-IN-BAD-JSON-77"), r.stderr);
    const garbage = berth(["summary"], "Previewing update (staging):\n");
    assert.equal(garbage.code, 1);
    assert.equal(garbage.stderr, "berth summary: stdin is not valid JSON (Unexpected token 'P'): expected the output of `pulumi preview --json`\n");
    const quoted = berth(["summary"], '{"token": SECRET-UNQUOTED}');
    assert.equal(quoted.stderr, "berth summary: stdin is not valid JSON (Unexpected token 'S'): expected the output of `pulumi preview --json`\n");
    const empty = berth(["summary"], "");
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, "berth summary: stdin is empty: expected the output of `pulumi preview --json`\n");
    const notPreview = berth(["summary"], "[1, 2]");
    assert.equal(notPreview.code, 1);
    assert.equal(notPreview.stderr, "berth summary: stdin: the input is not a JSON object: expected the output of `pulumi preview --json`\n");
  });

  it("usage: unknown or missing command → usage on stderr, exit 2; --help → usage on stdout, exit 0", () => {
    const unknown = berth(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, "");
    assert.match(unknown.stderr, /^berth: unknown command `frobnicate`\n\nUsage: berth <command> \[arguments\]\n\nCommands:\n(?: {2}berth .*\n)* {2}berth summary \[file\] {2,}\S/);
    const none = berth([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: berth <command>/);
    const help = berth(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: berth <command>/);
    const extra = berth(["summary", "a.json", "b.json"]);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /^berth summary: expected at most one file, got 2\n\nUsage: berth summary \[file\]/);
  });
});
