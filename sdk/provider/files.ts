/** Local files of the buildx resources: private temp dirs, 0600 files, buildx's config dir. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hasCredentials } from "../config/builder";


/** A private temp dir (0700), removed by `done`. */
export function tempDir(prefix: string): { dir: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return { dir, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function writePrivate(file: string, content: string): string {
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

/** buildx's config dir (`$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`, else `~/.docker/buildx`). */
export function buildxDir(): string {
  if (process.env.BUILDX_CONFIG) return process.env.BUILDX_CONFIG;
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), ".docker"), "buildx");
}

/** Where Berth keeps a remote builder's TLS files while it exists (buildx reads them on each connection). */
export function tlsDir(builder: string): string {
  return path.join(buildxDir(), "berth-tls", builder);
}

/** Credentialed proxy URLs, their `user:password` and their password: all redacted from output. */
export function proxySecrets(urls: string[]): string[] {
  const proxies = urls.filter(hasCredentials);
  const creds = proxies.map((p) => /\/\/([^@/]*)@/.exec(p)?.[1] ?? "").flatMap((c) => [c, c.split(":").slice(1).join(":")]);
  return [...proxies, ...creds];
}
