/**
 * Quickstart: one service on one host, behind kamal-proxy.
 *
 *   pulumi config set host 10.77.0.11
 *   pulumi config set hostKey "ssh-ed25519 AAAA..."      # pin the host's key
 *   pulumi config set privateKeyPath ~/.ssh/id_ed25519
 *   pulumi config set image registry.example.com/me/app:v1
 *   pulumi config set --secret secretToken s3cret
 *   pulumi up
 */
import * as pulumi from "@pulumi/pulumi";
import { AppService } from "../../sdk";

const config = new pulumi.Config();
const host = config.require("host");

const app = new AppService("app", {
  service: "demo",
  image: config.require("image"),
  hosts: [host],
  // No proxy hosts: this app answers every request that reaches kamal-proxy on the host.
  proxy: { appPort: 80, healthcheck: { path: "/up" } },
  env: {
    clear: { GREETING: config.get("greeting") ?? "hello" },
    secret: { SECRET_TOKEN: config.requireSecret("secretToken") },
  },
  ssh: {
    user: config.get("user") ?? "root",
    privateKeyPath: config.require("privateKeyPath"),
    hostKeys: { [host]: config.require("hostKey") },
  },
});

export const url = `http://${host}/`;
export const version = app.version;
