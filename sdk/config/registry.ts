/**
 * Kamal's local registry: `registry.server: localhost:<port>` names a registry on the deploying
 * machine's loopback. The hosts cannot reach it, so each pull goes through an SSH reverse tunnel
 * (the host's sshd listens on the host's `127.0.0.1:<port>` and forwards to the deploying machine's
 * `127.0.0.1:<port>`), open for the pull only. Docker treats 127.0.0.0/8 registries as plain HTTP,
 * so the tunnel needs no TLS. Pure helpers: the config and the commands' tests use them.
 */
import type { z } from "zod";
import { mustBe, problem } from "./errors";

/** `localhost:<port>` or `127.0.0.1:<port>`: a registry on the deploying machine's loopback. */
const LOCAL_REGISTRY = /^(?:localhost|127\.0\.0\.1):([0-9]{1,5})$/;

/** What a local registry server looks like, for messages. */
export const LOCAL_REGISTRY_EXPECT = "`localhost:<port>` or `127.0.0.1:<port>`";

/** The port of a local registry server (`localhost:5555` → 5555); undefined for any other server. */
export function localRegistryPort(server: string | undefined): number | undefined {
  const m = server === undefined ? null : LOCAL_REGISTRY.exec(server);
  if (!m) return undefined;
  const port = Number(m[1]);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Is `server` the loopback name without a port (`localhost`, `127.0.0.1`)? A local registry needs one. */
export function isPortlessLoopback(server: string | undefined): boolean {
  return server === "localhost" || server === "127.0.0.1";
}

export const REGISTRY_PASSWORD_EXPECT = "a password or token";

/**
 * `registry.username` and `registry.password` are required, except for a local registry, which
 * needs no login (as in Kamal): there they go together or not at all.
 */
export function registryLoginCheck(
  r: { server?: unknown; username?: unknown; password?: unknown },
  ctx: z.core.$RefinementCtx<unknown>,
  userExpect: string,
  userFix?: string,
): void {
  const local = typeof r.server === "string" && localRegistryPort(r.server) !== undefined;
  const fix = local ? "A local registry needs no login: set both `username` and `password`, or neither." : undefined;
  if (local && r.username === undefined && r.password === undefined) return;
  if (r.username === undefined) problem(ctx, ["username"], mustBe(userExpect, undefined, fix ?? userFix));
  if (r.password === undefined) problem(ctx, ["password"], mustBe(REGISTRY_PASSWORD_EXPECT, undefined, fix));
}
