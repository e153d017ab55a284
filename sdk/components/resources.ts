/**
 * Berth's provider resources as the program sees them: `pulumi.CustomResource`s of the `berth`
 * package, served by the `pulumi-resource-berth` plugin (sdk/provider). Their inputs are the types
 * of config/resources.ts; components create them.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AppHostInputs, BuildxBuilderInputs, CommandInputs, ImageInputs, ProxyHostInputs } from "../config/resources";
import { BERTH_VERSION } from "../version";
import type { AccessoryHostInputs } from "../config/resources";

/** Each input may be an Output. */
export type ResourceInputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** Options every Berth resource gets: the plugin's version, and its always-secret outputs. */
function options(opts: pulumi.CustomResourceOptions, secret: string[]): pulumi.CustomResourceOptions {
  return { version: BERTH_VERSION, ...opts, additionalSecretOutputs: [...secret, ...(opts.additionalSecretOutputs ?? [])] };
}

export const APP_HOST_TOKEN = "berth:index:AppHost";
export const PROXY_HOST_TOKEN = "berth:index:ProxyHost";
export const COMMAND_TOKEN = "berth:index:Command";
export const BUILDX_BUILDER_TOKEN = "berth:index:BuildxBuilder";
export const IMAGE_TOKEN = "berth:index:Image";

/** One role of an AppService on one host (`berth:index:AppHost`). */
export class AppHost extends pulumi.CustomResource {
  declare readonly host: pulumi.Output<string>;
  declare readonly version: pulumi.Output<string>;
  declare readonly image: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<AppHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(APP_HOST_TOKEN, name, args, options(opts, ["connection", "secrets"]));
  }
}

/** kamal-proxy on one host (`berth:index:ProxyHost`). */
export class ProxyHost extends pulumi.CustomResource {
  declare readonly host: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<ProxyHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(PROXY_HOST_TOKEN, name, args, options(opts, ["connection"]));
  }
}

/** A shell command (`berth:index:Command`). */
export class CommandResource extends pulumi.CustomResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<CommandInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(COMMAND_TOKEN, name, { ...args, stdout: undefined, stderr: undefined }, options(opts, ["connection", "stdin"]));
  }
}

/** A buildx builder (`berth:index:BuildxBuilder`). */
export class BuildxBuilderResource extends pulumi.CustomResource {
  declare readonly name: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<BuildxBuilderInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(BUILDX_BUILDER_TOKEN, name, args, options(opts, ["secrets"]));
  }
}

/** A build (`berth:index:Image`). */
export class ImageBuild extends pulumi.CustomResource {
  declare readonly digest: pulumi.Output<string>;
  declare readonly ref: pulumi.Output<string>;
  declare readonly contextHash: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<ImageInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(IMAGE_TOKEN, name, { ...args, digest: undefined, ref: undefined }, options(opts, ["secrets"]));
  }
}

export const ACCESSORY_HOST_TOKEN = "berth:index:AccessoryHost";

/** One accessory on one host (`berth:index:AccessoryHost`). */
export class AccessoryHost extends pulumi.CustomResource {
  declare readonly host: pulumi.Output<string>;
  declare readonly service: pulumi.Output<string>;
  declare readonly image: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<AccessoryHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(ACCESSORY_HOST_TOKEN, name, args, options(opts, ["connection", "secrets"]));
  }
}

export const HOOK_TOKEN = "berth:index:Hook";

/** One of Kamal's hooks, run on the machine running Pulumi (`berth:index:Hook`). */
export class Hook extends pulumi.CustomResource {
  declare readonly hook: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<import("../config/resources").HookInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(HOOK_TOKEN, name, args, options(opts, ["secretsTrigger", "secretEnv"]));
  }
}

export const DOCKER_HOST_TOKEN = "berth:index:DockerHost";

/** Docker on one host, installed from the distribution's packages when missing (`berth:index:DockerHost`; `ssh.bootstrap`). */
export class DockerHost extends pulumi.CustomResource {
  declare readonly host: pulumi.Output<string>;
  /** Berth installed Docker here (false: it was there already). */
  declare readonly installed: pulumi.Output<boolean>;
  /** The host's distribution (`PRETTY_NAME` of /etc/os-release). */
  declare readonly distribution: pulumi.Output<string>;
  /** The package manager Docker was installed with (empty when it was there already). */
  declare readonly packageManager: pulumi.Output<string>;
  /** The engine's version after the bootstrap. */
  declare readonly dockerVersion: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs<import("../config/resources").DockerHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(DOCKER_HOST_TOKEN, name, { ...args, installed: undefined, distribution: undefined, packageManager: undefined, dockerVersion: undefined }, options(opts, ["connection"]));
  }
}
