/**
 * Progress lines from the provider to the engine's log, so `pulumi up` shows one line per host and
 * phase under the resource doing the work. The lines go through `@pulumi/pulumi`'s log module,
 * which talks to the engine (the provider's host) whose address the plugin is started with; with
 * no engine (unit tests), they go to stderr.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as pulumi from "@pulumi/pulumi";

const current = new AsyncLocalStorage<{ urn: string }>();

/** Runs `fn` with log lines attributed to the resource `urn`. */
export function withResource<T>(urn: string, fn: () => Promise<T>): Promise<T> {
  return current.run({ urn }, fn);
}

/** Logs one informational line (never pass secret text). */
export async function progress(message: string): Promise<void> {
  const urn = current.getStore()?.urn;
  if (!process.env.PULUMI_NODEJS_ENGINE) {
    process.stderr.write(`${message}\n`);
    return;
  }
  // The log module needs only the resource's URN; a provider has no Resource object for it.
  const resource = urn ? ({ urn: pulumi.output(urn) } as unknown as pulumi.Resource) : undefined;
  await pulumi.log.info(message, resource);
}
