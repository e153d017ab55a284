/**
 * `ssh.bootstrap`: the components' side. When it is set, each host gets a `DockerHost` resource
 * (Docker from the distribution's packages when missing) that kamal-proxy, the app and accessories
 * on the deploy wait for. Whether it is set decides which resources exist, so it must be a plain
 * value; when the whole `ssh` is an Output it is checked once it resolves.
 */
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError } from "../config/errors";
import { connectionFor } from "../config/connection";
import type { SshConfig } from "../config/ssh";
import { isUnresolved } from "./inputs";
import { DockerHost } from "./resources";

/** `ssh.bootstrap` when it is known now; undefined when `ssh` itself is not a plain value yet. */
export function plainBootstrap(ssh: unknown): boolean | undefined {
  if (ssh === undefined || ssh === null) return false;
  if (isUnresolved(ssh) || typeof ssh !== "object") return undefined;
  const b = (ssh as { bootstrap?: unknown }).bootstrap;
  return b === true;
}

/**
 * Fails (at preview, when `ssh` resolves) if `ssh.bootstrap` is true but was not known when the
 * program ran, so no `DockerHost` was registered.
 */
export function checkBootstrapKnown(component: string, decided: boolean | undefined, ssh: SshConfig): void {
  if (decided === undefined && ssh.bootstrap) {
    throw new BerthConfigError(component, [
      {
        path: "ssh.bootstrap",
        message:
          "must be a plain value, known when the program runs: it decides whether Berth registers a `DockerHost` per host. Pass `ssh` as a plain object (its other fields may be Outputs) with `bootstrap: true`.",
      },
    ]);
  }
}

/** One `DockerHost` per host, named `<name>-docker-<host>`. */
export function dockerHosts(name: string, hosts: readonly string[], ssh: pulumi.Output<SshConfig>, parent: pulumi.Resource, dependsOn: pulumi.Input<pulumi.Resource>[] = []): DockerHost[] {
  return hosts.map(
    (host) => new DockerHost(`${name}-docker-${host}`, { host, connection: pulumi.secret(ssh.apply((s) => connectionFor(s, host))) }, { parent, dependsOn }),
  );
}
