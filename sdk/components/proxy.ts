/**
 * `Proxy`: kamal-proxy on each of a set of hosts (Kamal's `proxy boot` and `proxy.run`).
 * One container per host is shared by every service and every stack there; a Proxy resource only
 * removes it when it was its last user and no route is left.
 */
import * as pulumi from "@pulumi/pulumi";
import { normalizeProxyRun, type ProxyRunArgs, type ProxyRunConfig } from "../config/proxy";
import { normalizeSsh, type SshArgs } from "../config/ssh";
import { connectionFor } from "../config/connection";
import { ProxyHost } from "./resources";
import { plainWhenKnown } from "./inputs";

/** The Pulumi type token of the Proxy component. */
export const PROXY_TYPE = "berth:index:Proxy";

export interface ProxyArgs extends ProxyRunArgs {
  /** Hosts to run kamal-proxy on. */
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
    const { hosts, ssh, ...runArgs } = args;
    // Validate what is known now, before any host is touched.
    plainWhenKnown(runArgs, (plain) => normalizeProxyRun(plain, "Proxy"));
    const run = pulumi.output(runArgs).apply((r) => normalizeProxyRun(r as ProxyRunArgs, "Proxy"));
    const sshCfg = pulumi.output(ssh ?? {}).apply((s) => normalizeSsh(s as SshArgs, "Proxy", "ssh"));
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
