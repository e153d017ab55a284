/**
 * The shop: every seed in one program (issue 9, must-show 7).
 *
 * - seed 000: a `BuildxBuilder` (docker-container) behind an HTTP proxy, trusting the private CA of
 *   the registry it pushes to, NO_PROXY for that registry;
 * - seed 001: the builder's buildkitd.toml from a preset chosen per stack (`test` for staging,
 *   `production` for production, or `buildkitdPreset`);
 * - seeds 002/004: an `Image` of examples/app pushed to the private-CA registry; `AppService` runs its
 *   digest (`image.ref`), so a later push of the same tag by the other stack cannot change what runs;
 * - roles `web` (behind kamal-proxy) and `jobs` (no proxy);
 * - accessories `db` (Postgres) and `cache` (Redis) on the first host, one pair per stack;
 * - secrets from Kamal's `.kamal/secrets` file via `SecretAlias`;
 * - `staging` and `production` stacks on the same hosts (the destination is the stack name).
 *
 *   pulumi stack select staging && pulumi up
 *   pulumi stack select production && pulumi up
 *
 * Everything site-specific is stack config (see README.md); the lab's values are in
 * /run/berth-lab/lab.json. test/real/example-shop.test.ts deploys both stacks from a copy of this directory.
 */
import * as pulumi from "@pulumi/pulumi";
import { Accessory, AppService, AppServiceArgs, BuildxBuilder, Image, SecretAlias } from "../../sdk";

const config = new pulumi.Config();
const stack = pulumi.getStack();
const service = config.get("service") ?? "shop";
const hosts = config.requireObject<string[]>("hosts");
const [dbHost] = hosts;
const registry = config.require("registry"); // the private-CA registry, e.g. 10.77.0.1:5443
const baseRegistry = config.get("baseRegistry"); // a plain-HTTP registry holding the base image, if any

// Secrets: Kamal's .kamal/secrets (relative to this project), one alias per key.
const secretKeyBase = new SecretAlias("secret-key-base", { from: { dotenv: { key: "SECRET_KEY_BASE" } } });
const dbPassword = new SecretAlias("db-password", { from: { dotenv: { key: "DB_PASSWORD" } } });

// Seed 000 + 001: the builder. Its buildx name is per stack, so staging and production never share one.
const proxyUrl = config.requireSecret("proxyUrl");
const preset = config.get("buildkitdPreset") ?? (stack === "production" ? "production" : "test");
const builder = new BuildxBuilder("builder", {
  name: `${service}-builder-${stack}`,
  image: config.get("buildkitImage"),
  network: "host",
  buildkitdFlags: ["--allow-insecure-entitlement", "security.insecure"],
  proxy: {
    http: proxyUrl,
    https: proxyUrl,
    noProxy: [registry, "127.0.0.1", "localhost", ...(config.getObject<string[]>("noProxy") ?? [])],
  },
  config: {
    preset: preset as "development" | "test" | "production",
    registry: {
      [registry]: { ca: [config.require("registryCaPath")] },
      ...(baseRegistry ? { [baseRegistry]: { http: true } } : {}),
    },
  },
});

// Seed 002/004: build examples/app, push it to the private-CA registry, deploy its digest.
const image = new Image("web", {
  context: "../app",
  builder,
  service,
  platforms: ["linux/amd64"],
  tags: [`${registry}/${service}/web:${stack}`],
  buildArgs: {
    BASE: config.get("baseImage") ?? "berth-lab/base:1",
    VERSION: config.get("appVersion") ?? stack,
    SERVICE: service,
  },
});

const dbPort = config.requireNumber("dbPort");
const cachePort = config.requireNumber("cachePort");
const dbName = `${service}-db-${stack}`;

const app: AppServiceArgs = {
  service,
  image: image.ref,
  roles: {
    web: { hosts },
    jobs: { hosts, proxy: false, cmd: ["/run.sh"], env: { clear: { PORT: "8080" } } },
  },
  proxy: { hosts: config.requireObject<string[]>("domains"), healthcheck: { intervalSeconds: 1 } },
  env: {
    clear: {
      DATABASE_URL: `postgres://postgres@${dbHost}:${dbPort}/shop`,
      REDIS_URL: `redis://${dbHost}:${cachePort}/0`,
    },
    secret: { SECRET_KEY_BASE: secretKeyBase.value, DATABASE_PASSWORD: dbPassword.value },
  },
  boot: { limit: "50%", waitSeconds: 1 },
  readinessDelaySeconds: 1,
  deployTimeoutSeconds: 30,
  drainTimeoutSeconds: 2,
  ssh: { user: "root", privateKeyPath: config.require("privateKeyPath"), hostKeys: config.requireObject<Record<string, string>>("hostKeys") },
};

// Accessories: Kamal names them `<service>-<name>` without the destination, so each stack sets its own
// `serviceName` and ports, and staging's and production's databases live side by side on the first host.
const db = new Accessory("db", {
  app,
  serviceName: dbName,
  host: dbHost,
  image: config.require("postgresImage"),
  port: `${dbHost}:${dbPort}:5432`,
  env: { clear: { POSTGRES_DB: "shop" }, secret: { POSTGRES_PASSWORD: dbPassword.value } },
  directories: ["data:/var/lib/postgresql/data"],
  healthcheck: { cmd: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"], timeoutSeconds: 90 },
});
const cache = new Accessory("cache", {
  app,
  serviceName: `${service}-cache-${stack}`,
  host: dbHost,
  image: config.require("redisImage"),
  port: `${dbHost}:${cachePort}:6379`,
  directories: ["data:/data"],
  healthcheck: { port: 6379 },
});

const shop = new AppService("app", app, { dependsOn: [db, cache] });

export const imageRef = image.ref;
export const builderName = builder.builderName;
export const buildkitdPreset = preset;
export const destination = shop.destination;
export const version = shop.version;
