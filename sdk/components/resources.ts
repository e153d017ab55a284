/**
 * Berth's dynamic resources. Their provider code is in sdk/provider; components create them.
 */
import * as pulumi from "@pulumi/pulumi";
import { providerFor } from "../provider/dynamic";
import type { AppHostInputs } from "../provider/app";
import type { ProxyHostInputs } from "../provider/proxy";

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** One role of an AppService on one host (`pulumi-nodejs:dynamic/berth:AppHost`). */
export class AppHost extends pulumi.dynamic.Resource {
  declare readonly spec: pulumi.Output<AppHostInputs["spec"]>;
  constructor(name: string, args: Inputs<AppHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(providerFor("appHost"), name, args, { ...opts, additionalSecretOutputs: ["connection", "secrets"] }, "berth", "AppHost");
  }
}

/** kamal-proxy on one host (`pulumi-nodejs:dynamic/berth:ProxyHost`). */
export class ProxyHost extends pulumi.dynamic.Resource {
  declare readonly host: pulumi.Output<string>;
  constructor(name: string, args: Inputs<ProxyHostInputs>, opts: pulumi.CustomResourceOptions = {}) {
    super(providerFor("proxyHost"), name, args, { ...opts, additionalSecretOutputs: ["connection"] }, "berth", "ProxyHost");
  }
}
