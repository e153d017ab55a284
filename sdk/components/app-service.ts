/**
 * `AppService`: what `kamal deploy` does, as Pulumi resources. One `AppHost` resource per role and
 * host carries that host's version, image and settings, so a preview shows a version bump as a
 * change of `version`/`image` on each host of each role, and nothing else.
 *
 * Order (Kamal's): the primary role first, in boot groups of `boot.limit` hosts (the provider boots
 * a role's groups in order as one release, so a later group's failure switches the earlier ones
 * back); the other roles only after every primary host is live, so an unhealthy primary keeps them
 * on the old version (Kamal's barrier).
 */
import * as pulumi from "@pulumi/pulumi";
import { type AppArgs, bootGroups, normalizeApp, parallelismWarning, primaryOf, proxiedRole } from "../config/app";
import { localRegistryPort } from "../config/registry";
import type { ProxyArgs } from "../config/proxy";
import { appHostSecrets, appHostSpec, type ProxyRef } from "../config/app-host";
import { BerthConfigError, hidingSecrets, isRecord, mustBe } from "../config/errors";
import type { AppHostSpec } from "../config/resources";
import { placeSecrets } from "../config/secrets";
import { serviceName } from "../commands/app";
import { connectionFor } from "../config/connection";
import { argsProblem, hasUnresolved, isUnresolved, knownProblems, plainProblems, secretPaths, throwProblems, valuesAt, type DeepInput } from "./inputs";
import { Proxy } from "./proxy";
import { SecretAlias } from "./secret-alias";
import { readErrorPages } from "./error-pages";
import { AppHost, type DockerHost, type Hook } from "./resources";
import { checkBootstrapKnown, dockerHosts, plainBootstrap } from "./bootstrap";
import { hookEnv, hookSecretsProblems, type HookName, type HooksArgs, SECRET_HOOKS } from "../config/hooks";
import { hashOf, hookResource, resolveHooks } from "./hooks";

/** The Pulumi type token of the AppService component. */
export const APP_SERVICE_TYPE = "berth:index:AppService";

type Inputs<T> = DeepInput<T>;

type RoleArgs = NonNullable<AppArgs["roles"]>[string];

export type AppServiceArgs = Omit<{ [K in keyof AppArgs]: Inputs<AppArgs[K]> }, "destination" | "hosts" | "roles" | "service" | "errorPagesPath"> & {
  /**
   * A local directory of kamal-proxy error pages (`404.html`, `503.html`…), relative to the
   * program's directory. A plain value: the pages are read when the program runs, and their content
   * (not the path) goes to each proxied host. Equivalent to Kamal's `error_pages_path`.
   * @default - kamal-proxy's own pages
   */
  errorPagesPath?: string;
  /** The service name: container names, labels and kamal-proxy service names start with it. */
  service: string;
  /**
   * Hosts of the implicit `web` role (Kamal's `servers: [...]`). Only one of `hosts` or `roles`.
   * Hosts are plain values: they decide which resources exist.
   */
  hosts?: AppArgs["hosts"];
  /** Roles by name, each with its hosts (plain values) and its settings. */
  roles?: { [role: string]: Pick<RoleArgs, "hosts"> & Omit<{ [K in keyof RoleArgs]: Inputs<RoleArgs[K]> }, "hosts"> };
  /**
   * The environment: part of container and kamal-proxy service names, and the `destination` label.
   * @default - the stack name, so `staging` and `production` stacks never collide
   */
  destination?: string;
  /**
   * An existing `Proxy` to route through.
   * @default - the AppService starts kamal-proxy on its proxied hosts itself (with `proxyRun`)
   */
  kamalProxy?: Proxy;
  /**
   * Kamal's hooks, run on the machine running Pulumi at Kamal's moments of a deploy: a directory
   * like Kamal's `hooks_path` and/or a file or inline command per hook. They run on the first `up`
   * and on each `up` that changes the deploy (never on an unchanged program); a failing `pre-*` hook
   * stops the deploy before any host is touched. Plain values. See docs/deploy.md, "Hooks".
   * @default - no hooks
   * @example { path: ".kamal/hooks" }
   */
  hooks?: AppHooksArgs;
};

/** An AppService's hooks: Kamal's, and the secrets Kamal exports to some of them. */
export interface AppHooksArgs extends HooksArgs {
  /**
   * Secrets in the environment of the `pre-connect`, `pre-deploy` and `post-deploy` hooks, as Kamal
   * exports `.kamal/secrets` to those three: variable name → value (a `SecretAlias`, its `value`, a
   * Pulumi secret or a string). Held in state only as a secret, and replaced by `***` in the hooks'
   * output in the log and in errors. A changed value is recorded; it does not run the hooks.
   * @default - none
   * @example { SLACK_WEBHOOK_URL: slack.value }
   */
  secrets?: Record<string, pulumi.Input<string> | SecretAlias>;
}

/** Paths of the args that decide which resources exist, so must be plain values. */
const STRUCTURE = [["service"], ["destination"], ["hosts"], ["hosts", "*"], ["hosts", "*", "host"], ["roles"], ["roles", "*"], ["roles", "*", "hosts"], ["roles", "*", "hosts", "*"], ["roles", "*", "hosts", "*", "host"], ["primaryRole"]];

/** The role names of `args`, primary first, and each role's hosts as written. */
function structure(args: AppServiceArgs): { primary: string; roles: [string, string[]][] } {
  const raw = args.roles ?? { web: { hosts: args.hosts ?? [] } };
  const names = Object.keys(raw);
  const primary = primaryOf(raw, typeof args.primaryRole === "string" ? args.primaryRole : undefined) ?? names[0];
  const ordered = [primary, ...names.filter((n) => n !== primary)].filter((n) => raw[n] !== undefined);
  return {
    primary,
    roles: ordered.map((n) => [n, (raw[n].hosts ?? []).map((h) => (typeof h === "string" ? h : h.host))]),
  };
}

/**
 * How many resource operations the engine runs at once (`pulumi up --parallel`), when the program
 * can tell: the language host sets `PULUMI_NODEJS_PARALLEL` for a program run by the CLI; an
 * Automation API inline program has it only in the SDK's run state.
 */
export function engineParallelism(): number | undefined {
  const fromEnv = Number(process.env.PULUMI_NODEJS_PARALLEL);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const p: unknown = require("@pulumi/pulumi/runtime/state").getStore()?.settings?.options?.parallel;
    return typeof p === "number" && Number.isInteger(p) && p > 0 ? p : undefined;
  } catch {
    return undefined;
  }
}

/** The hooks an AppService runs itself (its Proxy runs the proxy-reboot hooks, an Image pre-build). */
const APP_HOOKS: HookName[] = ["pre-connect", "docker-setup", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"];

/** A stand-in image while the real one may still be unknown (a new build at preview): see `AppService`. */
const PLACEHOLDER_IMAGE = "berth.invalid/placeholder:placeholder";

/** The stand-in image; with a local registry (`registry.server: localhost:<port>`), one on it, as the real image must be. */
function placeholderImage(a: unknown): string {
  const server = isRecord(a) && isRecord(a.registry) ? a.registry.server : undefined;
  return typeof server === "string" && localRegistryPort(server) !== undefined ? `${server}/berth-placeholder:placeholder` : PLACEHOLDER_IMAGE;
}

export class AppService extends pulumi.ComponentResource {
  /** The per-host resources by role (an escape hatch: `dependsOn`, transforms). */
  readonly hostResources: Record<string, AppHost[]>;
  /** The kamal-proxy this service routes through, when any role is proxied. */
  readonly proxy?: Proxy;
  /** The environment name used in container and service names. */
  readonly destination: string;
  /** kamal-proxy service names by role (`<service>-<role>-<destination>`). */
  readonly serviceNames: Record<string, string>;
  /** The version being deployed. */
  readonly version: pulumi.Output<string>;
  /**
   * With `ssh.bootstrap`: Docker on every host of the service (installed from its distribution's
   * packages when missing), including those of a given `kamalProxy`; the `docker-setup` hook,
   * kamal-proxy and the app wait for them. Empty otherwise.
   */
  readonly dockerHosts: DockerHost[];

  constructor(name: string, args: AppServiceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(APP_SERVICE_TYPE, name, {}, opts);
    const bad = argsProblem(args, '`{ service, image, hosts: ["10.0.0.1"], … }`');
    if (bad) throw new BerthConfigError("AppService", [bad]);
    const { kamalProxy, image, version, hooks: allHooks, ...rest } = args;
    const { secrets: givenHookSecrets, ...hooks } = (isRecord(allHooks) ? allHooks : {}) as AppHooksArgs;
    // A SecretAlias stands for its value.
    const hookSecrets: unknown =
      isRecord(givenHookSecrets) && !isUnresolved(givenHookSecrets)
        ? Object.fromEntries(Object.entries(givenHookSecrets).map(([k, v]) => [k, v instanceof SecretAlias ? v.value : v]))
        : givenHookSecrets;
    const bootstrap = plainBootstrap(rest.ssh);
    this.destination = args.destination ?? pulumi.getStack();
    const input = { ...rest, destination: this.destination };

    // Before any child: what decides which resources exist must be plain, and every part known
    // now is validated now; the rest is validated when it resolves (still at preview).
    throwProblems("AppService", [
      ...plainProblems(args, [...STRUCTURE, ["errorPagesPath"], ["ssh", "bootstrap"]]),
      ...knownProblems({ ...input, image, version }, (known) => normalizeApp(known as unknown as AppArgs)),
      ...(isUnresolved(hookSecrets)
        ? [{ path: "hooks.secrets", message: "must be a plain map of names to values (each value may be an Output); got an Output. Write `{ NAME: value }` with the Output as the value." }]
        : hookSecretsProblems(hookSecrets, (n) => {
            const v = (hookSecrets as Record<string, unknown>)[n];
            return isUnresolved(v) ? undefined : v;
          })),
      ...(kamalProxy !== undefined && !(kamalProxy instanceof Proxy)
        ? [{ path: "kamalProxy", message: mustBe("a `Proxy` resource", kamalProxy, "Pass a `new Proxy(…)`, or omit it and the AppService runs kamal-proxy itself.") }]
        : []),
    ]);
    // A secret anywhere stays a secret: clear env values move to the env file, other fields refuse it.
    const placed = pulumi.all([pulumi.unsecret(pulumi.output(input)), pulumi.output(secretPaths(input))]).apply(([a, paths]) => {
      const r = placeSecrets(a as object, paths);
      if (r.problems.length > 0) throw new BerthConfigError("AppService", r.problems);
      return r.args;
    });
    // What the user marked secret is never shown in a message, whatever field it is in.
    const hidden = pulumi.all([pulumi.unsecret(pulumi.output(input)), pulumi.output(secretPaths(input))]).apply(([a, paths]) => valuesAt(a, paths));
    const releaseSecrets = pulumi.output(secretPaths({ image, version }));
    // Everything but the image and version is normalized without them, so a new build (its digest
    // unknown at preview) leaves only `image` and `version` unknown in each host's preview.
    const cfg = pulumi.all([placed, hidden]).apply(([a, h]) => hidingSecrets(h, () => normalizeApp({ ...(a as object), image: placeholderImage(a) } as unknown as AppArgs)));
    const release = pulumi
      .all([placed, pulumi.unsecret(pulumi.output(image)), pulumi.unsecret(pulumi.output(version)), cfg, hidden, releaseSecrets])
      .apply(([a, img, ver, , h, rs]) => {
        const c = hidingSecrets([...h, ...valuesAt({ image: img, version: ver }, rs)], () =>
          normalizeApp({ ...(a as object), image: img, version: ver } as unknown as AppArgs),
        );
        return { image: c.imageRef, version: c.version };
      });
    this.version = release.apply((r) => r.version);

    // The error pages are read now (relative to the program's directory); their content goes to each proxied host.
    const errorPages = typeof args.errorPagesPath === "string" ? readErrorPages(process.cwd(), args.errorPagesPath) : undefined;

    const { primary, roles } = structure(args);
    const crowded = parallelismWarning(roles, args.roles !== undefined, engineParallelism());
    if (crowded) void pulumi.log.warn(crowded, this);
    const hookSources = resolveHooks("AppService", isRecord(allHooks) ? hooks : allHooks, APP_HOOKS);
    // Validated again once every value is known (still at preview); a secret whatever was given.
    const secretEnv =
      hookSecrets === undefined
        ? undefined
        : pulumi.secret(
            pulumi.output(hookSecrets).apply((v) => {
              const bad = hookSecretsProblems(v, (n) => (v as Record<string, unknown>)[n]);
              if (bad.length > 0) throw new BerthConfigError("AppService", bad);
              return v as Record<string, string>;
            }),
          );
    this.serviceNames = Object.fromEntries(roles.map(([role]) => [role, serviceName(args.service, role, this.destination)]));

    // A given Proxy decides the container name and network; otherwise this service's `proxyRun`.
    const via: pulumi.Output<ProxyRef | undefined> = kamalProxy ? kamalProxy.run.apply((r) => ({ containerName: r.containerName, network: r.network })) : pulumi.output(undefined);

    // Kamal's hooks before any host is touched: pre-connect, docker-setup (first deploy), pre-deploy.
    const everyHost = allHosts(roles);
    const deployHook = (hook: HookName, suffix: string, hosts: string[], deps: pulumi.Input<pulumi.Resource>[], roleNames?: string[]): Hook[] => {
      const source = hookSources[hook];
      if (!source) return [];
      const once = hook === "docker-setup";
      return [
        hookResource(
          `${name}-hook-${hook}${suffix}`,
          {
            hook,
            source,
            // docker-setup runs once (on creation), so a version is not part of it.
            env: once
              ? hookEnv({ service: args.service, destination: this.destination, hosts, command: "deploy" })
              : release.apply((r) => hookEnv({ service: args.service, version: r.version, destination: this.destination, hosts, roles: roleNames, command: "deploy" })),
            trigger: once ? {} : hookTrigger,
            ...(once ? {} : { secretsTrigger: hookSecretsTrigger }),
            ...(secretEnv !== undefined && SECRET_HOOKS.includes(hook) ? { secretEnv } : {}),
          },
          { parent: this, dependsOn: deps },
        ),
      ];
    };
    // What the deploy changes: the image and every host's settings (secrets as a secret hash).
    const hookTrigger = pulumi.all([cfg, via, release]).apply(([c, v, r]) => ({
      image: r.image,
      config: hashOf({ version: r.version, hosts: roles.flatMap(([role, hs]) => hs.map((h) => appHostSpec(c, role, h, v ?? c.proxyRun))) }),
    }));
    const hookSecretsTrigger = cfg.apply((c) => hashOf(roles.flatMap(([role, hs]) => hs.map((h) => appHostSecrets(c, role, h)))));
    const preConnect = deployHook("pre-connect", "", everyHost, []);
    // `ssh.bootstrap`: Docker on every host (a given Proxy's own DockerHosts count), after pre-connect.
    const fromProxy = kamalProxy?.dockerHosts ?? [];
    const covered = new Set(fromProxy.length > 0 ? kamalProxy!.hosts : []);
    const sshCfg = cfg.apply((c) => {
      checkBootstrapKnown("AppService", bootstrap, c.ssh);
      return c.ssh;
    });
    this.dockerHosts = bootstrap
      ? [...fromProxy, ...dockerHosts(name, everyHost.filter((h) => !covered.has(h)), sshCfg, this, preConnect)]
      : [];
    // Kamal runs docker-setup at the end of `server bootstrap` (in `kamal setup`); Berth runs it on the
    // first deploy, after the DockerHosts of `ssh.bootstrap` (Docker installed where it was missing).
    const dockerSetup = deployHook("docker-setup", "", everyHost, [...preConnect, ...this.dockerHosts]);
    const beforeHosts: pulumi.Resource[] = [...preConnect, ...this.dockerHosts, ...dockerSetup, ...deployHook("pre-deploy", "", everyHost, [...preConnect, ...this.dockerHosts, ...dockerSetup])];

    // kamal-proxy on every host of a proxied role (unless the caller brought its own Proxy).
    const proxiedHosts = proxiedHostsOf(args, primary);
    this.proxy =
      kamalProxy ??
      (proxiedHosts === undefined || proxiedHosts.length > 0
        ? new Proxy(
            `${name}-proxy`,
            { ...((rest.proxyRun ?? {}) as object), hosts: proxiedHosts ?? allHosts(roles), preflightHosts: everyHost, ssh: (bootstrap ? { ...(rest.ssh as object), bootstrap: false } : rest.ssh) as any, ...(allHooks ? { hooks: { path: hooks.path, preProxyReboot: hooks.preProxyReboot, postProxyReboot: hooks.postProxyReboot } } : {}) },
            { parent: this, dependsOn: beforeHosts },
          )
        : undefined);

    this.hostResources = {};
    // A role's boot groups are one release: the provider boots them group after group (`bootGroups`)
    // and switches every group back when a later one fails, so the role's hosts are not chained here.
    // Its pre-app-boot hooks run before the role, its post-app-boot hooks after it; the other roles
    // (after the primary) wait for all of it; post-deploy waits for everything.
    let primaryDone: pulumi.Resource[] = [];
    const allDone: pulumi.Resource[] = [];
    for (const [role, hosts] of roles) {
      const resources: AppHost[] = [];
      const groups = bootGroups(hosts, typeof args.boot === "object" && args.boot && !hasUnresolved(args.boot) ? (args.boot as any).limit : undefined);
      const waits = [...beforeHosts, ...(this.proxy ? [this.proxy] : []), ...(role === primary ? [] : primaryDone)];
      const preBoot = groups.flatMap((group, g) => deployHook("pre-app-boot", `-${role}-${g + 1}`, group, waits, [role]));
      groups.forEach((group, g) => {
        const current = group.map(
          (host) =>
            new AppHost(
              `${name}-${role}-${host}`,
              {
                ...specFields(pulumi.all([cfg, via]).apply(([c, v]) => appHostSpec(c, role, host, v ?? c.proxyRun))),
                version: release.apply((r) => r.version),
                image: release.apply((r) => r.image),
                // From the settings, not the image: a new build's image is unknown at preview, and the
                // provider also finds a local registry in the image reference itself.
                localRegistryPort: cfg.apply((c) => localRegistryPort(c.registry?.server)),
                owner: `${pulumi.getProject()}/${pulumi.getStack()}`,
                preflight: pulumi.secret(cfg.apply((c) => everyHost.map((h) => connectionFor(c.ssh, h)))),
                connection: pulumi.secret(cfg.apply((c) => connectionFor(c.ssh, host))),
                secrets: pulumi.secret(cfg.apply((c) => appHostSecrets(c, role, host))),
                errorPages: cfg.apply((c) => (errorPages !== undefined && c.roles[role]?.proxy !== undefined ? errorPages : undefined)),
                delayBeforeSeconds: g === 0 ? 0 : cfg.apply((c) => c.boot.waitSeconds),
                ...(groups.length > 1 ? { bootGroups: groups } : {}),
              },
              {
                parent: this,
                dependsOn: [...waits, ...preBoot],
              },
            ),
        );
        resources.push(...current);
      });
      const postBoot = groups.flatMap((group, g) => deployHook("post-app-boot", `-${role}-${g + 1}`, group, resources, [role]));
      const roleDone: pulumi.Resource[] = [...resources, ...postBoot];
      this.hostResources[role] = resources;
      allDone.push(...roleDone);
      if (role === primary) {
        primaryDone = roleDone;
      }
    }
    deployHook("post-deploy", "", everyHost, allDone);
    this.registerOutputs({ destination: this.destination, serviceNames: this.serviceNames, version: this.version });
  }
}

/** Each field of the spec as its own Output, so one unknown field leaves the others known. */
function specFields(spec: pulumi.Output<AppHostSpec>) {
  const f = <K extends keyof AppHostSpec>(k: K) => spec.apply((s) => s[k]);
  return {
    host: f("host"),
    service: f("service"),
    role: f("role"),
    destination: f("destination"),
    primary: f("primary"),
    container: f("container"),
    proxy: f("proxy"),
    proxyContainer: f("proxyContainer"),
    assetPath: f("assetPath"),
    deployTimeoutSeconds: f("deployTimeoutSeconds"),
    drainTimeoutSeconds: f("drainTimeoutSeconds"),
    readinessDelaySeconds: f("readinessDelaySeconds"),
    lockWaitSeconds: f("lockWaitSeconds"),
    retainContainers: f("retainContainers"),
    maintenance: f("maintenance"),
    registry: f("registry"),
    secretEnvNames: f("secretEnvNames"),
  };
}

function allHosts(roles: [string, string[]][]): string[] {
  return [...new Set(roles.flatMap(([, hosts]) => hosts))];
}

/**
 * Hosts of proxied roles (Kamal: the primary role is proxied unless `proxy: false`, other roles
 * only with `proxy: true` or settings); undefined when a role's `proxy` is not known yet.
 */
function proxiedHostsOf(args: AppServiceArgs, primary: string): string[] | undefined {
  const raw = args.roles ?? { web: { hosts: args.hosts ?? [] } };
  const out: string[] = [];
  for (const [name, role] of Object.entries(raw)) {
    const p = (role as { proxy?: unknown }).proxy;
    if (hasUnresolved(p)) return undefined;
    const proxied = proxiedRole(name === primary, p === null ? undefined : (p as boolean | ProxyArgs | undefined));
    if (proxied) for (const h of role.hosts ?? []) {
      const host = typeof h === "string" ? h : h.host;
      if (!out.includes(host)) out.push(host);
    }
  }
  return out;
}
