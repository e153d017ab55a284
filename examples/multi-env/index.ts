/**
 * One service, two environments: each Pulumi stack (`staging`, `production`) is a Kamal
 * destination. Both may share hosts: containers, kamal-proxy routes, env files and images are
 * named per destination (the stack name), so deploying, rolling back or destroying one never
 * touches the other.
 *
 *   pulumi stack select staging && pulumi up
 *   pulumi stack select production && pulumi up
 */
import * as pulumi from "@pulumi/pulumi";
import { AppService } from "../../sdk";

const config = new pulumi.Config();
const webHosts = config.requireObject<string[]>("webHosts");
const jobHosts = config.getObject<string[]>("jobHosts") ?? [];
const hostKeys = config.requireObject<Record<string, string>>("hostKeys");

const app = new AppService("app", {
  service: "shop",
  image: config.require("image"),
  roles: {
    web: { hosts: webHosts },
    ...(jobHosts.length > 0 ? { jobs: { hosts: jobHosts, cmd: ["/run.sh"], env: { clear: { PORT: "8080" } } } } : {}),
  },
  proxy: { hosts: config.requireObject<string[]>("domains") },
  env: {
    clear: { GREETING: config.get("greeting") ?? "hello" },
    secret: { SECRET_TOKEN: config.requireSecret("secretToken") },
  },
  boot: { limit: "50%", waitSeconds: 2 },
  maintenance: { enabled: config.getBoolean("maintenance") ?? false, message: config.get("maintenanceMessage") },
  ssh: { privateKeyPath: config.require("privateKeyPath"), hostKeys },
});

export const destination = app.destination;
export const version = app.version;
