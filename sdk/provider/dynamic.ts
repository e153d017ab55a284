/**
 * Berth's resources are Pulumi dynamic resources whose provider code lives in this package's
 * compiled `handlers` module. The provider object Pulumi serializes into state is a stub that only
 * captures that module's absolute path and a handler name, so state stays small and upgrading
 * Berth upgrades the code that runs (`require` at call time).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/** The compiled handlers module, resolved where this file was loaded from. */
const HANDLERS = path.join(__dirname, "handlers");

/** The Pulumi dynamic provider for the handler named `kind`. */
export function providerFor(kind: string): pulumi.dynamic.ResourceProvider {
  const modulePath = HANDLERS;
  const handler = () => require(modulePath).handlers[kind];
  return {
    create: (inputs: any) => handler().create(inputs),
    update: (id: string, olds: any, news: any) => handler().update(id, olds, news),
    delete: (id: string, props: any) => handler().delete(id, props),
    diff: (id: string, olds: any, news: any) => handler().diff(id, olds, news),
    read: (id: string, props: any) => (handler().read ? handler().read(id, props) : Promise.resolve({ id, props })),
  };
}

/** Did the serialized provider stub (`__provider`) change between the old and new inputs? */
export function providerChanged(olds: object, news: object): boolean {
  const [a, b] = [(olds as { __provider?: unknown }).__provider, (news as { __provider?: unknown }).__provider];
  return typeof a === "string" && typeof b === "string" && a !== b;
}
