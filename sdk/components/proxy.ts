/**
 * `Proxy`: kamal-proxy on each of a set of hosts (Kamal's `proxy boot` and `proxy.run`).
 * One container per host is shared by every service and every stack there; a Proxy resource only
 * removes it when it was its last user and no route is left.
 */
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError, hidingSecrets } from "../config/errors";
import { normalizeProxyHosts, normalizeProxyRun, type ProxyHostsArgs, type ProxyRunArgs, type ProxyRunConfig } from "../config/proxy";
import { normalizeSsh, type SshArgs } from "../config/ssh";
import { connectionFor } from "../config/connection";
import { ProxyHost } from "./resources";
import { argsProblem, knownProblems, plainProblems, secretPaths, throwProblems, valuesAt } from "./inputs";

/** The Pulumi type token of the Proxy component. */
export const PROXY_TYPE = "berth:index:Proxy";

export interface ProxyArgs extends ProxyRunArgs {
  /**
   * Hosts to run kamal-proxy on: at least one, each once. Plain values (not Outputs): they decide
   * which resources exist.
   */
  hosts: string[];
  /**
   * How to reach the hosts.
   * @default - user `root`, port 22, the SSH agent, host keys required
   */
  ssh?: pulumi.Input<SshArgs>;
}

export class Proxy extends pulumi.ComponentResource {
  /** The per-host resources, in host order (an escape hatch: `dependsOn`, transforms). */
  readonly hostResources: ProxyHost[];
  /** The hosts kamal-proxy runs on. */
  readonly hosts: string[];
  /** The normalized run settings (container name, network, image, ports). */
  readonly run: pulumi.Output<ProxyRunConfig>;

  constructor(name: string, args: ProxyArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(PROXY_TYPE, name, {}, opts);
    const bad = argsProblem(args, '`{ hosts: ["10.0.0.1"], … }`');
    if (bad) throw new BerthConfigError("Proxy", [bad]);
    const { hosts, ssh, ...runArgs } = args;
    // Before any host resource: the hosts must be plain, and every part known now is valid; the
    // rest is validated when it resolves.
    throwProblems("Proxy", [
      ...plainProblems(args, [["hosts"], ["hosts", "*"]]),
      ...knownProblems(args, (known) => normalizeProxyHosts(known as unknown as ProxyHostsArgs, "Proxy")),
    ]);
    // What the user marked secret is never shown in a message.
    const runSecrets = pulumi.output(secretPaths(runArgs));
    const sshSecrets = pulumi.output(secretPaths(ssh ?? {}));
    const run = pulumi.all([pulumi.output(runArgs), runSecrets]).apply(([r, paths]) => hidingSecrets(valuesAt(r, paths), () => normalizeProxyRun(r as ProxyRunArgs, "Proxy")));
    const sshCfg = pulumi.all([pulumi.output(ssh ?? {}), sshSecrets]).apply(([s, paths]) => hidingSecrets(valuesAt(s, paths), () => normalizeSsh(s as SshArgs, "Proxy", "ssh")));
    this.run = run;
    const owner = `${pulumi.getProject()}/${pulumi.getStack()}/${name}`;
    this.hosts = [...hosts];
    this.hostResources = hosts.map(
      (host) =>
        new ProxyHost(
          `${name}-${host}`,
          { connection: pulumi.secret(sshCfg.apply((s) => connectionFor(s, host))), host, run, owner },
          { parent: this },
        ),
    );
    this.registerOutputs({ hosts: this.hosts });
  }
}
