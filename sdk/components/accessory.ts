/**
 * `Accessory`: Kamal's accessories (a database, a cache, a search engine… next to the app) as
 * Pulumi resources. One `AccessoryHost` resource per host carries that host's container, files,
 * directories and env file, so a preview shows each host's change (an image bump is a change of
 * `image` on each host, and nothing else).
 *
 * Placement is by `host`/`hosts`, or by `role`/`roles`/`tag`/`tags` of the app given as `app`
 * (the AppService's args: the accessory is created first, so the AppService can depend on it).
 * An AppService given `dependsOn: [accessory]` boots after every host of the accessory passed its
 * health check. Data is kept: an image change replaces the container and keeps its volumes and
 * directories, and `destroy` deletes data only with `deleteDataOnDestroy`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type AccessoryAppRef, type AccessoryConfig, accessoryDefaults, accessoryHostSecrets, accessoryHostSpec, appRoleHosts, normalizeAccessory, type PlainAccessoryArgs } from "../config/accessory";
import { imageLocalRegistryPort } from "../config/app";
import { BerthConfigError, type Problem } from "../config/errors";
import { proxyRunDefaults } from "../config/proxy";
import type { AccessoryHostSpec } from "../config/resources";
import { placeSecrets } from "../config/secrets";
import { connectionFor } from "../config/connection";
import type { AppServiceArgs } from "./app-service";
import { hasUnresolved, plainWhenKnown, secretPaths, type DeepInput } from "./inputs";
import { Proxy } from "./proxy";
import { AccessoryHost, type DockerHost } from "./resources";
import { checkBootstrapKnown, dockerHosts, plainBootstrap } from "./bootstrap";

/** The Pulumi type token of the Accessory component. */
export const ACCESSORY_TYPE = "berth:index:Accessory";

/** Settings that decide which resources exist: plain values, never Outputs. */
type Structural = "name" | "service" | "serviceName" | "destination" | "app" | "host" | "hosts" | "role" | "roles" | "tag" | "tags";

export type AccessoryArgs = Omit<{ [K in keyof PlainAccessoryArgs]: DeepInput<PlainAccessoryArgs[K]> }, Structural> & {
  /**
   * The accessory's name (the key under Kamal's `accessories`).
   * @default - the component's name
   */
  name?: string;
  /**
   * The service the accessory belongs to (Kamal's root `service`): the accessory's service name
   * is `<service>-<name>`. Required without `app`.
   * @default - the app's `service`
   */
  service?: string;
  /**
   * The accessory's own service name: container name, `service` label, kamal-proxy service and
   * `~/<serviceName>/` for its files and directories. Equivalent to Kamal's `accessories.<name>.service`.
   * @default - `<service>-<name>`
   */
  serviceName?: string;
  /**
   * The destination whose `.kamal/apps/<service>-<destination>` holds the env file.
   * @default - the app's destination (the stack name unless set), else none
   */
  destination?: string;
  /**
   * The AppService's args (not the AppService: the accessory comes first, so the AppService can
   * depend on it): its `service` and destination name the accessory, its roles and host tags
   * resolve `role`/`roles`/`tag`/`tags`, its `ssh` and `registry` are the defaults.
   * @default - none: an accessory-only stack (give `service`, and `host` or `hosts`)
   */
  app?: AppServiceArgs;
  /** One host. Exactly one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`. Equivalent to Kamal's `host`. */
  host?: string;
  /** Hosts. Equivalent to Kamal's `hosts`. */
  hosts?: string[];
  /** The hosts of one of the app's roles. Equivalent to Kamal's `role`. */
  role?: string;
  /** The hosts of these roles of the app. Equivalent to Kamal's `roles`. */
  roles?: string[];
  /** The app's hosts carrying this tag. Equivalent to Kamal's `tag`. */
  tag?: string;
  /** The app's hosts carrying any of these tags. Equivalent to Kamal's `tags`. */
  tags?: string[];
  /**
   * An existing `Proxy` to route through (with `proxy`).
   * @default - the accessory starts kamal-proxy on its hosts itself when `proxy` is set
   */
  kamalProxy?: Proxy;
};

/** A stand-in image while the real one may still be unknown (a new build at preview). */
const PLACEHOLDER_IMAGE = "berth.invalid/placeholder:placeholder";

/** What the accessory needs of the app's args: names and structure (plain), ssh and registry (inputs). */
function appRef(app: AppServiceArgs | undefined): (Omit<AccessoryAppRef, "ssh" | "registry"> & Pick<AppServiceArgs, "ssh" | "registry">) | undefined {
  if (!app) return undefined;
  return {
    service: app.service,
    destination: app.destination ?? pulumi.getStack(),
    roles: appRoleHosts(app),
    ...(app.ssh !== undefined ? { ssh: app.ssh } : {}),
    ...(app.registry !== undefined ? { registry: app.registry } : {}),
  };
}

/**
 * Where a secret may go in an accessory's args: `ssh`, `registry.password`, `env.secret`,
 * `env.clear` (moved to the 0600 env file), a file's `content`, and the app's `ssh` and registry
 * password. Anywhere else it would land in argv, `docker inspect` or plain state: refused.
 */
function placeAccessorySecrets(args: Record<string, unknown>, paths: readonly (readonly (string | number)[])[]): { args: Record<string, unknown>; problems: Problem[]; secretFiles: number[] } {
  const secretFiles: number[] = [];
  const rest: (readonly (string | number)[])[] = [];
  for (const p of paths) {
    if (p[0] === "files" && p.length === 3 && p[2] === "content") secretFiles.push(Number(p[1]));
    else if (p[0] === "app" && (p[1] === "ssh" || (p[1] === "registry" && p[2] === "password"))) continue;
    else if (p[0] === "app") {
      // The AppService validates its own args; the accessory only reads names and structure.
      continue;
    } else rest.push(p);
  }
  const placed = placeSecrets(args, rest);
  return { args: placed.args, problems: placed.problems, secretFiles };
}

/** Reads the `local` files (relative to the project directory); one problem per file that cannot be read. */
function fileContents(cfg: AccessoryConfig): string[] {
  const problems: Problem[] = [];
  const contents = cfg.files.map((f, i) => {
    if ("content" in f.source) return f.source.content;
    try {
      return fs.readFileSync(path.resolve(f.source.local), "utf8");
    } catch (e) {
      problems.push({ path: `files[${i}].local`, message: `must be a readable file; got ${JSON.stringify(f.source.local)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}). Paths are relative to the Pulumi project directory.` });
      return "";
    }
  });
  if (problems.length > 0) throw new BerthConfigError("Accessory", problems);
  return contents;
}

export class Accessory extends pulumi.ComponentResource {
  /** The per-host resources, in host order (an escape hatch: `dependsOn`, transforms). */
  readonly hostResources: AccessoryHost[];
  /** The hosts the accessory runs on, resolved from its placement. */
  readonly hosts: string[];
  /** The accessory's service name: its container name (`<service>-<name>`). */
  readonly serviceName: string;
  /** The kamal-proxy the accessory routes through, when `proxy` is set. */
  readonly proxy?: Proxy;
  /**
   * With `ssh.bootstrap` (its own or its app's): Docker on each host (installed from its
   * distribution's packages when missing), in host order; kamal-proxy and the accessory wait for
   * them. Empty otherwise.
   */
  readonly dockerHosts: DockerHost[];

  constructor(name: string, args: AccessoryArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(ACCESSORY_TYPE, name, {}, opts);
    const { kamalProxy, image, app, ...rest } = args;
    const ref = appRef(app);
    const input: Record<string, unknown> = { ...rest, name: args.name ?? name, ...(ref ? { app: ref } : {}) };

    // Placement decides which resources exist: resolved now, so an unknown role or tag fails the preview.
    const structural = Object.fromEntries(Object.entries(input).filter(([k]) => ["name", "service", "serviceName", "destination", "host", "hosts", "role", "roles", "tag", "tags"].includes(k)));
    if (hasUnresolved(structural)) throw new BerthConfigError("Accessory", [{ path: "(root)", message: "`name`, `service`, `serviceName`, `destination` and the placement (`host`, `hosts`, `role`, `roles`, `tag`, `tags`) must be plain values: they decide which resources exist." }]);
    const shape = normalizeAccessory({ ...(structural as unknown as PlainAccessoryArgs), ...(ref ? { app: { service: ref.service, destination: ref.destination, roles: ref.roles } } : {}), image: PLACEHOLDER_IMAGE });
    this.hosts = shape.hosts;
    this.serviceName = shape.service;

    // Everything else: now when every value is known, otherwise when the Outputs resolve.
    plainWhenKnown({ ...input, image }, (plain) => fileContents(normalizeAccessory(plain as unknown as PlainAccessoryArgs)));
    const placed = pulumi.all([pulumi.unsecret(pulumi.output(input)), pulumi.output(secretPaths(input))]).apply(([a, paths]) => {
      const r = placeAccessorySecrets(a as Record<string, unknown>, paths);
      if (r.problems.length > 0) throw new BerthConfigError("Accessory", r.problems);
      // A file whose content is a secret is written 0600 unless its mode says otherwise.
      const files = (r.args.files as unknown[] | undefined)?.map((f, i) =>
        r.secretFiles.includes(i) && typeof f === "object" && f !== null && (f as { mode?: string }).mode === undefined ? { ...f, mode: accessoryDefaults.secretFileMode } : f,
      );
      return { ...r.args, ...(files ? { files } : {}) };
    });
    // Everything but the image is normalized without it, so a new build (its digest unknown at
    // preview) leaves only `image` unknown in each host's preview.
    const cfg = placed.apply((a) => normalizeAccessory({ ...a, image: PLACEHOLDER_IMAGE } as unknown as PlainAccessoryArgs));
    const imageRef = pulumi.all([placed, pulumi.unsecret(pulumi.output(image)), cfg]).apply(([a, img]) => normalizeAccessory({ ...a, image: img } as unknown as PlainAccessoryArgs).image);

    // `ssh.bootstrap`: Docker on every host first (the accessory's own Proxy does not bootstrap again).
    const sshArg = args.ssh ?? app?.ssh;
    const bootstrap = plainBootstrap(sshArg);
    if (typeof sshArg === "object" && sshArg !== null && hasUnresolved((sshArg as { bootstrap?: unknown }).bootstrap)) {
      throw new BerthConfigError("Accessory", [{ path: "ssh.bootstrap", message: "must be a plain value, known when the program runs: it decides whether Berth registers a `DockerHost` per host." }]);
    }
    this.dockerHosts = bootstrap
      ? dockerHosts(name, this.hosts, cfg.apply((c) => c.ssh), this)
      : [];
    cfg.apply((c) => checkBootstrapKnown("Accessory", bootstrap, c.ssh));
    const proxied = args.proxy !== undefined;
    this.proxy =
      kamalProxy ??
      (proxied
        ? new Proxy(`${name}-proxy`, { hosts: this.hosts, ssh: (bootstrap ? { ...(sshArg as object), bootstrap: false } : sshArg) as any }, { parent: this, dependsOn: this.dockerHosts })
        : undefined);
    const proxyContainer: pulumi.Input<string> = kamalProxy ? kamalProxy.run.apply((r) => r.containerName) : proxyRunDefaults.containerName;

    this.hostResources = this.hosts.map(
      (host) =>
        new AccessoryHost(
          `${name}-${host}`,
          {
            ...specFields(pulumi.all([cfg, proxyContainer]).apply(([c, pc]) => accessoryHostSpec(c, host, pc))),
            image: imageRef,
            localRegistryPort: imageRef.apply(imageLocalRegistryPort),
            connection: pulumi.secret(cfg.apply((c) => connectionFor(c.ssh, host))),
            // Pre-flight: every host of the accessory answers before it changes on this one.
            preflight: pulumi.secret(cfg.apply((c) => this.hosts.map((h) => connectionFor(c.ssh, h)))),
            secrets: pulumi.secret(cfg.apply((c) => accessoryHostSecrets(c, fileContents(c)))),
          },
          { parent: this, dependsOn: [...(this.proxy && proxied ? [this.proxy] : []), ...this.dockerHosts] },
        ),
    );
    this.registerOutputs({ hosts: this.hosts, serviceName: this.serviceName });
  }
}

/** Each field of the spec as its own Output, so one unknown field leaves the others known. */
function specFields(spec: pulumi.Output<AccessoryHostSpec>) {
  const f = <K extends keyof AccessoryHostSpec>(k: K) => spec.apply((s) => s[k]);
  return {
    host: f("host"),
    service: f("service"),
    app: f("app"),
    name: f("name"),
    port: f("port"),
    cmd: f("cmd"),
    env: f("env"),
    labels: f("labels"),
    restartPolicy: f("restartPolicy"),
    options: f("options"),
    logging: f("logging"),
    network: f("network"),
    volumes: f("volumes"),
    files: f("files"),
    directories: f("directories"),
    registry: f("registry"),
    proxy: f("proxy"),
    proxyContainer: f("proxyContainer"),
    healthcheck: f("healthcheck"),
    stopTimeoutSeconds: f("stopTimeoutSeconds"),
    dataDeletedOnDestroy: f("dataDeletedOnDestroy"),
    secretEnvNames: f("secretEnvNames"),
  };
}
