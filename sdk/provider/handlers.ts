/**
 * Provider-side code of Berth's resources: what runs inside the Pulumi engine's dynamic-provider
 * process during `pulumi up` and `pulumi destroy`. Each handler receives plain resolved inputs.
 */
import type * as pulumi from "@pulumi/pulumi";
import { appHostHandler } from "./app";
import { buildxBuilderHandler, imageHandler } from "./buildx";
import { commandHandler } from "./command";
import { proxyHostHandler } from "./proxy";

/** A dynamic resource's provider methods. */
export interface Handler {
  create(inputs: any): Promise<pulumi.dynamic.CreateResult>;
  update(id: string, olds: any, news: any): Promise<pulumi.dynamic.UpdateResult>;
  delete(id: string, props: any): Promise<void>;
  diff(id: string, olds: any, news: any): Promise<pulumi.dynamic.DiffResult>;
  /** `pulumi refresh`: report what is really on the host (handlers without it keep their state). */
  read?(id: string, props: any): Promise<pulumi.dynamic.ReadResult>;
}

export const handlers: Record<string, Handler> = {
  appHost: appHostHandler,
  command: commandHandler,
  proxyHost: proxyHostHandler,
  buildxBuilder: buildxBuilderHandler,
  image: imageHandler,
};
