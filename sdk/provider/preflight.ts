/**
 * Pre-flight (issue 11): before the first change a resource makes on its host, every host of the
 * deploy is connected (its host key verified) and its Docker answers `docker version`. A host that
 * fails stops every resource of the deploy before it changes anything: the failing host's own
 * resource reports why (once), the others say that they were not deployed because of it.
 *
 * `AppHost`, `ProxyHost` and `AccessoryHost` share it. Each host is checked once per plugin process
 * (the plugin runs for one `pulumi up`), per way of reaching it: two resources that pin different
 * host keys for the same host are each checked with their own.
 */
import { dockerVersionArgv } from "../commands/docker";
import { line } from "../commands/shell";
import { type Connection, RemoteCommandError, run } from "./ssh";
import { dockerMissingHint, dockerNotFound } from "./docker-host";

const checked = new Map<string, Promise<void>>();

/** How a connection reaches and verifies its host: the part of it a check depends on. */
function checkKey(c: Connection): string {
  return JSON.stringify([c.user, c.host, c.port, c.hostKey ?? "", c.knownHostsPath ?? "", c.allowUnknownHostKeys ?? false, c.proxy ?? null]);
}

/** Checks `own` and `others` (each once per process); throws naming the host(s) that failed. */
export async function preflight(own: Connection, others: readonly Connection[] = []): Promise<void> {
  const unique = [...new Map([own, ...others].map((c) => [checkKey(c), c])).values()];
  const results = await Promise.allSettled(
    unique.map((c) => {
      const key = checkKey(c);
      let p = checked.get(key);
      if (!p) {
        p = run(c, "pre-flight: asking Docker", line(dockerVersionArgv())).then(
          () => undefined,
          (e: unknown) => {
            // No `docker` at all: say how to have Berth install it (`ssh.bootstrap`).
            if (e instanceof RemoteCommandError && dockerNotFound(e.code, e.output)) throw new RemoteCommandError(e.host, "pre-flight: asking Docker", e.code, dockerMissingHint(e.host));
            throw e;
          },
        );
        checked.set(key, p);
      }
      return p;
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ conn: unique[i], error: r.reason as Error }] : []));
  if (failed.length === 0) return;
  const ownFailure = failed.find((f) => checkKey(f.conn) === checkKey(own));
  if (ownFailure) throw ownFailure.error;
  const hosts = [...new Set(failed.map((f) => f.conn.host))];
  throw new Error(`${own.host}: not deployed: pre-flight failed on ${hosts.join(", ")} (see its error); nothing was changed here`);
}
