/**
 * The inputs of Berth's provider resources (`berth:index:AppHost`, `ProxyHost`, `Command`,
 * `BuildxBuilder`, `Image`): one zod schema per resource, the single source of truth for
 *
 *   - the TypeScript type the components build and the provider runs (`z.infer`),
 *   - the provider's `check` (a failure per property path),
 *   - the plugin's `schema.json` (sdk/provider/schema.ts derives it from these schemas).
 *
 * These are normalized values (defaults applied by the component's `normalize*`); the schemas check
 * shape only. Nested settings that already have a normalized TypeScript type in `config/` are typed
 * with it (`typed<T>()`), and show as `pulumi.json#/Any` in the plugin schema.
 */
import { z } from "zod";
import type { BuilderNodeConfig, BuilderTlsArgs, BuildxDriver } from "./builder";
import type { CacheArgs, ImageConfig } from "./image";
import type { DockerOptions, ProxyRunConfig, RoleProxyConfig } from "./proxy";
import type { Connection } from "../provider/ssh";

/** A nested object whose normalized type lives in `config/`: checked to be an object, typed as `T`. */
function typed<T>(what: string) {
  return z.custom<T>((v) => v !== null && typeof v === "object", { message: `must be ${what} (an object)` });
}

const str = (d: string) => z.string().describe(d);
const strMap = (d: string) => z.record(z.string(), z.string()).describe(d);
const secondsField = (d: string) => z.number().nonnegative().describe(d);
/** Kamal's local registry: set when the image is on `localhost:<port>` / `127.0.0.1:<port>`. */
const localRegistryPortField = z
  .number()
  .int()
  .min(1)
  .max(65535)
  .describe(
    "The port of the local registry on the deploying machine (the image is on `localhost:<port>` or `127.0.0.1:<port>`): the pull runs through an SSH reverse tunnel from the host's 127.0.0.1:<port> to the deploying machine's 127.0.0.1:<port>, open for the pull only. Absent: the provider still tunnels when the image reference itself is on `localhost:<port>`.",
  )
  .optional();

// ---------------------------------------------------------------------------------------------
// The connection (every host resource has one; stored as a secret)

export const jumpHostSchema = z.object({
  host: str("The jump host."),
  port: z.number().int().min(1).max(65535).describe("Its SSH port."),
  user: str("Its login user."),
  hostKey: str("Its pinned host public key, `<type> <base64>`.").optional(),
});

export const connectionSchema = z
  .object({
    host: str("The host to connect to."),
    port: z.number().int().min(1).max(65535).describe("SSH port."),
    user: str("Login user."),
    privateKey: str("PEM private key text.").optional(),
    privateKeyPath: str("Path of a private key file on the machine running Pulumi (`~/` is that user's home).").optional(),
    hostKey: str("Pinned host public key, `<type> <base64>`.").optional(),
    knownHostsPath: str("An OpenSSH known_hosts file to check the host key against.").optional(),
    allowUnknownHostKeys: z.boolean().describe("Accept any host key (insecure).").optional(),
    proxy: jumpHostSchema.describe("One jump host, reached with the same key.").optional(),
    connectTimeoutSeconds: secondsField("Seconds to wait for the SSH handshake.").optional(),
    keepaliveSeconds: secondsField("Seconds between SSH keepalives.").optional(),
  })
  .describe("How to reach the host over SSH (secret).") satisfies z.ZodType<Connection>;

/** Every host of the deploy, checked (connected, host key verified, Docker asked) before a resource changes its own host. */
const preflightField = () =>
  z
    .array(connectionSchema)
    .describe("Every host of the deploy: each is connected, its host key verified and Docker asked before this host changes (secret; never diffed).")
    .optional();

// ---------------------------------------------------------------------------------------------
// AppHost: one role of an AppService on one host

export const containerSpecSchema = z.object({
  restartPolicy: str("`--restart` policy."),
  cmd: z.array(z.string()).describe("Command after the image (empty: the image's own)."),
  env: strMap("Clear environment variables, merged root < role < host tags (secret ones travel in `secrets`)."),
  labels: strMap("Custom labels (Berth's `service`, `role`, `destination` come first)."),
  options: typed<DockerOptions>("docker run options").describe("Extra `docker run` options."),
  logging: typed<{ driver?: string; options: Record<string, string> }>("logging settings").describe("Log driver and options."),
  volumes: z.array(z.string()).describe("`--volume` values."),
  stopTimeoutSeconds: secondsField("Seconds `docker stop` waits before killing.").optional(),
  network: str("The docker network shared with kamal-proxy."),
});

export const maintenanceSchema = z.object({
  enabled: z.boolean().describe("Maintenance mode on: kamal-proxy answers 503 with `message`."),
  message: str("The maintenance page's message.").optional(),
  drainTimeoutSeconds: secondsField("Seconds to drain requests when maintenance starts."),
});

export const appHostSecretsSchema = z.object({
  env: strMap("Secret environment variables, written to the 0600 env file."),
  registryPassword: str("Registry password (sent to `docker login` on stdin).").optional(),
  certificate: z.object({ certificatePem: z.string(), privateKeyPem: z.string() }).describe("The role's own TLS certificate and key.").optional(),
});

export const appHostSchema = z
  .object({
    host: str("The host as written in the role."),
    service: str("The service name (container names, labels, kamal-proxy service names)."),
    role: str("The role name."),
    destination: str("The destination (environment) name."),
    version: str("The version in the container name (`<service>-<role>-<destination>-<version>`)."),
    image: str("The image reference to run (a digest reference when built by an `Image`)."),
    primary: z.boolean().describe("Is this the primary role?"),
    container: containerSpecSchema.describe("The container's settings."),
    proxy: typed<Omit<RoleProxyConfig, "certificate"> & { customCertificate: boolean }>("kamal-proxy settings")
      .describe("kamal-proxy settings of a proxied role (absent: not proxied).")
      .optional(),
    proxyContainer: str("The kamal-proxy container on the host."),
    assetPath: str(
      "Kamal's `asset_path` of a proxied role, `/path[:options]` in the container: the new image's files there are merged with the running version's and mounted over it, so both versions' assets answer during the switch.",
    ).optional(),
    errorPages: strMap(
      "Custom error pages of a proxied role by file name (`503.html` → its HTML, Go `html/template`), from `errorPagesPath`: written to `.kamal/proxy/apps-config/<service>[-<destination>]/error_pages/<version>/` and passed to kamal-proxy's `--error-pages`.",
    ).optional(),
    deployTimeoutSeconds: secondsField("Seconds a new container has to become healthy."),
    drainTimeoutSeconds: secondsField("Seconds kamal-proxy drains the old container."),
    readinessDelaySeconds: secondsField("Seconds a non-proxied container must keep running to count as ready."),
    lockWaitSeconds: secondsField(
      "Seconds a deploy waits for the host's deploy lock while another automatic deploy holds it (a lock taken by hand fails it at once; never diffed).",
    ).optional(),
    retainContainers: z.number().int().nonnegative().describe("Stopped containers kept for rollback."),
    maintenance: maintenanceSchema.describe("Maintenance mode."),
    registry: z.object({ server: z.string(), username: z.string() }).describe("The registry to log in to.").optional(),
    localRegistryPort: localRegistryPortField,
    secretEnvNames: z.array(z.string()).describe("Names of the secret environment variables (their values are in `secrets`)."),
    owner: str("The stack that owns this role on the host, `<project>/<stack>`: another stack deploying the same service, role and destination there is refused.").optional(),
    connection: connectionSchema,
    preflight: preflightField(),
    secrets: appHostSecretsSchema.describe("Secret env, registry password, certificate (secret)."),
    delayBeforeSeconds: secondsField("Seconds to wait before booting (Kamal's `boot.wait` between host groups).").optional(),
    bootGroups: z
      .array(z.array(z.string()))
      .describe(
        "The role's hosts in boot groups (Kamal's `boot.limit`), when there is more than one group: one release across them, booted group after group, so a failure in a later group switches the earlier ones back (never diffed).",
      )
      .optional(),
  })
  .describe("One role of an `AppService` on one host: its container, its kamal-proxy route, its env file.");

export type AppHostInputs = z.infer<typeof appHostSchema>;
export type AppHostSecrets = z.infer<typeof appHostSecretsSchema>;
/** The non-secret part of an AppHost: what a reviewer sees in a preview. */
export type AppHostSpec = Omit<AppHostInputs, "connection" | "secrets" | "delayBeforeSeconds" | "bootGroups">;

// ---------------------------------------------------------------------------------------------
// ProxyHost: kamal-proxy on one host

export const proxyHostSchema = z
  .object({
    host: str("The host."),
    run: typed<ProxyRunConfig>("kamal-proxy run settings").describe("kamal-proxy's image, ports and docker options."),
    owner: str("Who uses the proxy: `<project>/<stack>/<name>`."),
    connection: connectionSchema,
    preflight: preflightField(),
  })
  .describe("kamal-proxy on one host, shared by every service and stack there.");

export type ProxyHostInputs = z.infer<typeof proxyHostSchema>;

// ---------------------------------------------------------------------------------------------
// Command

export const commandSchema = z
  .object({
    connection: connectionSchema.optional(),
    create: str("Shell text run on create (and on update when `update` is not set)."),
    update: str("Shell text run when an input changes.").optional(),
    delete: str("Shell text run on destroy.").optional(),
    stdin: str("Written to the command's standard input (secret-safe).").optional(),
    environment: strMap("Extra environment variables for a local command.").optional(),
    triggers: z.array(z.unknown()).describe("Any change replaces the resource.").optional(),
  })
  .describe("A shell command run on create, update and destroy, locally or over SSH.");

export type CommandInputs = z.infer<typeof commandSchema>;

export const commandOutputsSchema = z.object({
  stdout: str("Standard output of the last run."),
  stderr: str("Standard error of the last run."),
});

// ---------------------------------------------------------------------------------------------
// BuildxBuilder

/** What a builder node shows in state and previews: its settings without TLS material. */
export type BuilderNodeSpec = Omit<BuilderNodeConfig, "tls"> & { tls?: { serverName?: string } };

export const buildxBuilderSchema = z
  .object({
    name: str("The buildx builder name."),
    driver: z.enum(["docker-container", "remote", "kubernetes"]).describe("The buildx driver.") satisfies z.ZodType<BuildxDriver>,
    driverOptions: strMap("Plain driver options, in argv order."),
    nodes: z.array(typed<BuilderNodeSpec>("a builder node")).describe("Node 0 is created, the others appended."),
    secrets: z
      .object({
        env: strMap("Secret buildkitd environment."),
        proxyEnv: strMap("HTTP_PROXY / HTTPS_PROXY / NO_PROXY for RUN steps."),
        tls: z.array(typed<BuilderTlsArgs>("TLS files").nullable()).describe("TLS PEMs per node."),
      })
      .describe("Secret env, proxy and TLS material (secret)."),
  })
  .describe("A `docker buildx` builder.");

export type BuildxBuilderInputs = z.infer<typeof buildxBuilderSchema>;

// ---------------------------------------------------------------------------------------------
// Image

export const imageSchema = z
  .object({
    context: str("Build context, as written (relative to the Pulumi project directory)."),
    dockerfile: str("Dockerfile, as written (relative to the Pulumi project directory)."),
    contextHash: str("sha256 of the context as BuildKit receives it (after .dockerignore) and the Dockerfile."),
    target: str("`--target` stage.").optional(),
    buildArgs: strMap("`--build-arg` values."),
    ssh: z.array(z.string()).describe("`--ssh` values."),
    platforms: z.array(z.string()).describe("`--platform` values."),
    tags: z.array(z.string()).describe("`--tag` values."),
    labels: strMap("`--label` values."),
    exports: typed<ImageConfig["exports"]>("exports").describe("Where the image goes: push, load, OCI."),
    cacheFrom: z.array(typed<CacheArgs>("a cache source")).describe("`--cache-from` sources."),
    cacheTo: z.array(typed<CacheArgs>("a cache destination")).describe("`--cache-to` destinations."),
    noCache: z.boolean().describe("`--no-cache`."),
    pull: z.boolean().describe("`--pull`."),
    provenance: z.union([z.boolean(), z.enum(["min", "max"])]).describe("`--provenance`.").optional(),
    sbom: z.boolean().describe("`--sbom`.").optional(),
    network: z.enum(["default", "none", "host"]).describe("`--network` for RUN steps.").optional(),
    builder: str("`--builder`.").optional(),
    trustedCaFiles: z.array(z.string()).describe("CA files the buildx client trusts besides the system's.").optional(),
    secrets: z
      .object({ build: strMap("Build secrets by id."), proxyEnv: strMap("The builder's proxy for RUN steps.") })
      .describe("Build secrets and proxy (secret)."),
  })
  .describe("A `docker buildx build`.");

export type ImageInputs = z.infer<typeof imageSchema>;

export const imageOutputsSchema = z.object({
  digest: str("The digest buildx reports (`containerimage.digest`)."),
  ref: str("`repository@digest` of the first tag when pushed, else the first tag."),
});
export type ImageOutputs = ImageInputs & z.infer<typeof imageOutputsSchema>;

// ---------------------------------------------------------------------------------------------
// AccessoryHost: one accessory of an `Accessory` on one host

export const accessoryFileSchema = z.object({
  hostPath: str("Where it is written on the host, relative to the login user's home: `<service><remote>` (Kamal's layout)."),
  remote: str("Where it is mounted in the container."),
  mode: str("Its mode, octal (`chmod`)."),
  owner: str("`user[:group]` it is given to (`chown`).").optional(),
  options: str("Mount options after the paths (`ro`).").optional(),
});

export const accessoryDirectorySchema = z.object({
  hostPath: str("The directory on the host: relative to the login user's home (`<service>/<local>`), or absolute."),
  remote: str("Where it is mounted in the container."),
  mode: str("Its mode, octal (`chmod`).").optional(),
  owner: str("`user[:group]` it is given to (`chown`).").optional(),
  options: str("Mount options after the paths (`ro`).").optional(),
});

export const accessoryHealthcheckSchema = z.object({
  cmd: z.array(z.string()).describe("Run in the container with `docker exec`; exit 0 is healthy.").optional(),
  port: z.number().int().min(1).max(65535).describe("A TCP port of the container that must accept a connection.").optional(),
  intervalSeconds: secondsField("Seconds between checks."),
  timeoutSeconds: secondsField("Seconds the accessory has to become healthy."),
});

export const accessoryHostSecretsSchema = z.object({
  env: strMap("Secret environment variables, written to the 0600 env file."),
  registryPassword: str("Registry password (sent to `docker login` on stdin).").optional(),
  files: z.array(z.string()).describe("The content of each of `files`, in order (written over stdin, never argv)."),
});

export const accessoryHostSchema = z
  .object({
    host: str("The host."),
    service: str("The accessory's service name: its container name, `service` label and kamal-proxy service (Kamal's `<service>-<name>`)."),
    app: str("The app directory its env file lives in, `.kamal/apps/<app>` (`<service>[-<destination>]`)."),
    name: str("The accessory's name: its env file is `.kamal/apps/<app>/env/accessories/<name>.env`."),
    image: str("The image reference to run."),
    port: str("`--publish` value (`5432:5432`, `127.0.0.1:5432:5432`).").optional(),
    cmd: z.array(z.string()).describe("Command after the image (empty: the image's own)."),
    env: strMap("Clear environment variables (secret ones travel in `secrets`)."),
    labels: strMap("Custom labels (Kamal's `service` label comes first)."),
    restartPolicy: str("`--restart` policy."),
    options: typed<DockerOptions>("docker run options").describe("Extra `docker run` options."),
    logging: typed<{ driver?: string; options: Record<string, string> }>("logging settings").describe("Log driver and options."),
    network: str("The docker network (`--network`)."),
    volumes: z.array(z.string()).describe("Raw `--volume` values: nothing is created or copied."),
    files: z.array(accessoryFileSchema).describe("Files written on the host and mounted (their content is in `secrets.files`)."),
    directories: z.array(accessoryDirectorySchema).describe("Directories created on the host and mounted."),
    registry: z.object({ server: z.string(), username: z.string() }).describe("The registry to log in to before pulling.").optional(),
    localRegistryPort: localRegistryPortField,
    proxy: typed<Omit<RoleProxyConfig, "certificate">>("kamal-proxy settings").describe("kamal-proxy settings of an accessory behind kamal-proxy.").optional(),
    proxyContainer: str("The kamal-proxy container on the host."),
    healthcheck: accessoryHealthcheckSchema.describe("What must pass before the accessory counts as booted (absent: running).").optional(),
    stopTimeoutSeconds: secondsField("Seconds `docker stop` waits before killing the old container.").optional(),
    dataDeletedOnDestroy: z
      .array(z.string())
      .describe("What `destroy` deletes besides the container and env file: `~/<dir>`, `/<dir>`, `volume:<name>`. Empty (the default): the data is kept."),
    secretEnvNames: z.array(z.string()).describe("Names of the secret environment variables (their values are in `secrets`)."),
    owner: str("The stack that owns this role on the host, `<project>/<stack>`: another stack deploying the same service, role and destination there is refused.").optional(),
    connection: connectionSchema,
    preflight: preflightField(),
    secrets: accessoryHostSecretsSchema.describe("Secret env, registry password, file contents (secret)."),
  })
  .describe("One accessory (a database, a cache…) on one host: its container, files, directories and env file.");

export type AccessoryHostInputs = z.infer<typeof accessoryHostSchema>;
export type AccessoryHostSecrets = z.infer<typeof accessoryHostSecretsSchema>;
/** The non-secret part of an AccessoryHost: what a reviewer sees in a preview. */
export type AccessoryHostSpec = Omit<AccessoryHostInputs, "connection" | "secrets">;

// ---------------------------------------------------------------------------------------------
// Hook: one of Kamal's hooks, run on the machine running Pulumi

export const hookSchema = z
  .object({
    hook: z
      .enum(["docker-setup", "pre-connect", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy", "pre-proxy-reboot", "post-proxy-reboot"])
      .describe("Kamal's hook name."),
    path: str("The hook file, relative to the Pulumi project directory (executed as it is).").optional(),
    command: str("An inline hook: shell text run with `/bin/sh -c`.").optional(),
    contentHash: str("sha256 of the hook file: editing the hook is a change.").optional(),
    env: strMap("Kamal's hook environment that is the same on every run (`KAMAL_SERVICE`, `KAMAL_VERSION`, `KAMAL_HOSTS`, …)."),
    trigger: strMap("What the deploy changes (image, a hash of the settings): any change runs the hook."),
    secretsTrigger: str("A hash of the deploy's secret settings (secret): a change runs the hook.").optional(),
    secretEnv: strMap("Secrets exported to the hook (`hooks.secrets`; secret): only recorded when they change, never shown in its output.").optional(),
    runOnCreate: z.boolean().describe("Run the hook when the resource is created (false: only when `trigger` changes, e.g. a proxy reboot)."),
  })
  .describe("One of Kamal's hooks, run on the machine running Pulumi when `trigger` changes; its output goes to the `pulumi up` log.");

export type HookInputs = z.infer<typeof hookSchema>;

// ---------------------------------------------------------------------------------------------
// DockerHost: Docker installed from the distribution's packages (`ssh.bootstrap`)

export const dockerHostSchema = z
  .object({
    host: str("The host."),
    connection: connectionSchema,
  })
  .describe(
    "Docker on one host, installed from the host's distribution packages when it is missing (Kamal's `kamal server bootstrap`, without get.docker.com); created before kamal-proxy and the app on that host when `ssh.bootstrap` is set. Destroying it leaves Docker installed.",
  );

export type DockerHostInputs = z.infer<typeof dockerHostSchema>;

export const dockerHostOutputsSchema = z.object({
  installed: z.boolean().describe("Berth installed Docker on this host (false: it was there already)."),
  distribution: str("The host's distribution, from /etc/os-release (`PRETTY_NAME`)."),
  packageManager: str("The package manager Berth installed Docker with (empty when it did not install it)."),
  dockerVersion: str("The engine's version when the resource was created."),
});
export type DockerHostOutputs = z.infer<typeof dockerHostOutputsSchema>;
