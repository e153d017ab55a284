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
import { type DockerHost, ProxyHost } from "./resources";
import { checkBootstrapKnown, dockerHosts, plainBootstrap } from "./bootstrap";
import { argsProblem, knownProblems, plainProblems, secretPaths, throwProblems, valuesAt } from "./inputs";
import type { HooksArgs } from "../config/hooks";
import { hashOf, hookResource, resolveHooks } from "./hooks";
import { hookEnv } from "../config/hooks";

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
  /**
   * More hosts of the same deploy that pre-flight checks (with `ssh`) before kamal-proxy changes on
   * any host: each is connected, its host key verified and its Docker asked, as `hosts` are. An
   * `AppService` passes every host of its roles, so a host that cannot be reached stops the deploy
   * before kamal-proxy starts anywhere. Plain values.
   * @default - only `hosts`
   */
  preflightHosts?: string[];
  /**
   * Kamal's `pre-proxy-reboot` and `post-proxy-reboot` hooks, run on the machine running Pulumi
   * around a reboot of kamal-proxy (a change of its run settings), with `KAMAL_HOSTS` = these hosts.
   * Other hooks in the directory are not run by a Proxy. Plain values.
   * @default - no hooks
   */
  hooks?: Pick<HooksArgs, "path" | "preProxyReboot" | "postProxyReboot">;
}

export class Proxy extends pulumi.ComponentResource {
  /** The per-host resources, in host order (an escape hatch: `dependsOn`, transforms). */
  readonly hostResources: ProxyHost[];
  /** The hosts kamal-proxy runs on. */
  readonly hosts: string[];
  /**
   * With `ssh.bootstrap`: Docker on each host (installed from its distribution's packages when
   * missing), in host order; kamal-proxy waits for all of them. Empty otherwise.
   */
  readonly dockerHosts: DockerHost[];
  /** The normalized run settings (container name, network, image, ports). */
  readonly run: pulumi.Output<ProxyRunConfig>;

  constructor(name: string, args: ProxyArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(PROXY_TYPE, name, {}, opts);
    const bad = argsProblem(args, '`{ hosts: ["10.0.0.1"], … }`');
    if (bad) throw new BerthConfigError("Proxy", [bad]);
    const { hosts, ssh, hooks, preflightHosts, ...runArgs } = args;
    // Before any host resource: the hosts must be plain, and every part known now is valid; the
    // rest is validated when it resolves.
    throwProblems("Proxy", [
      ...plainProblems(args, [["hosts"], ["hosts", "*"], ["preflightHosts"], ["preflightHosts", "*"], ["ssh", "bootstrap"]]),
      ...(preflightHosts === undefined || (Array.isArray(preflightHosts) && preflightHosts.length === 0)
        ? []
        : knownProblems({ hosts: preflightHosts }, (known) => normalizeProxyHosts(known as unknown as ProxyHostsArgs, "Proxy")).map((p) => ({ ...p, path: p.path.replace(/^hosts/, "preflightHosts") }))),
      ...knownProblems({ hosts, ssh, ...runArgs }, (known) => normalizeProxyHosts(known as unknown as ProxyHostsArgs, "Proxy")),
    ]);
    // What the user marked secret is never shown in a message.
    const runSecrets = pulumi.output(secretPaths(runArgs));
    const sshSecrets = pulumi.output(secretPaths(ssh ?? {}));
    const run = pulumi.all([pulumi.output(runArgs), runSecrets]).apply(([r, paths]) => hidingSecrets(valuesAt(r, paths), () => normalizeProxyRun(r as ProxyRunArgs, "Proxy")));
    const bootstrap = plainBootstrap(ssh);
    const sshCfg = pulumi.all([pulumi.output(ssh ?? {}), sshSecrets]).apply(([s, paths]) => {
      const cfg = hidingSecrets(valuesAt(s, paths), () => normalizeSsh(s as SshArgs, "Proxy", "ssh"));
      checkBootstrapKnown("Proxy", bootstrap, cfg);
      return cfg;
    });
    this.run = run;
    const owner = `${pulumi.getProject()}/${pulumi.getStack()}/${name}`;
    this.hosts = [...hosts];
    // Docker first (`ssh.bootstrap`), on every host of this Proxy.
    this.dockerHosts = bootstrap ? dockerHosts(name, hosts, sshCfg, this) : [];
    // The hosts wait for what this Proxy was told to wait for (an AppService's pre-deploy hook), and
    // for the pre-proxy-reboot hook; the post-proxy-reboot hook waits for every host.
    const sources = resolveHooks("Proxy", hooks, ["pre-proxy-reboot", "post-proxy-reboot"]);
    const hookOf = (hook: "pre-proxy-reboot" | "post-proxy-reboot", dependsOn: pulumi.Input<pulumi.Resource>[]) =>
      sources[hook]
        ? [
            hookResource(
              `${name}-hook-${hook}`,
              {
                hook,
                source: sources[hook]!,
                env: hookEnv({ hosts, command: "proxy", subcommand: "reboot" }),
                // A new run config is what reboots kamal-proxy (sdk/provider/proxy-host.ts).
                trigger: { run: run.apply((r) => hashOf(r)) },
                runOnCreate: false,
              },
              { parent: this, dependsOn },
            ),
          ]
        : [];
    const waitFor = opts.dependsOn === undefined ? [] : Array.isArray(opts.dependsOn) ? opts.dependsOn : [opts.dependsOn as pulumi.Input<pulumi.Resource>];
    const preReboot = hookOf("pre-proxy-reboot", waitFor as pulumi.Input<pulumi.Resource>[]);
    this.hostResources = hosts.map(
      (host) =>
        new ProxyHost(
          `${name}-${host}`,
          {
            connection: pulumi.secret(sshCfg.apply((s) => connectionFor(s, host))),
            // Pre-flight: every host of the deploy answers before kamal-proxy changes on this one.
            preflight: pulumi.secret(sshCfg.apply((s) => [...new Set([...hosts, ...(preflightHosts ?? [])])].map((h) => connectionFor(s, h)))),
            host,
            run,
            owner,
          },
          { parent: this, dependsOn: [...(waitFor as pulumi.Input<pulumi.Resource>[]), ...preReboot, ...this.dockerHosts] },
        ),
    );
    hookOf("post-proxy-reboot", this.hostResources);
    this.registerOutputs({ hosts: this.hosts });
  }
}
