/**
 * The change detection of an `Image`: a content hash of the build context as BuildKit receives it
 * (after `.dockerignore`) and of the Dockerfile, with the paths recorded as the user wrote them, so
 * an unchanged context previewed from any checkout path, machine or CI runner gives the same result.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { BerthConfigError, show, type Problem } from "../config/errors";
import { DockerignoreError, dockerignoreMatcher, imageDefaults, type DockerignoreMatcher } from "../config/image";

/** A build context and Dockerfile as recorded in state, and their content hash. */
export interface HashedContext {
  /** The context directory relative to the project directory, with `/` (e.g. `app`, `.`). */
  context: string;
  /** The Dockerfile relative to the project directory, with `/` (e.g. `app/Dockerfile`). */
  dockerfile: string;
  /** `sha256:<hex>` of the context's files after `.dockerignore`, and of the Dockerfile. */
  hash: string;
}

/**
 * Hashes a build context for change detection and records its paths machine-independently.
 *
 * Paths (`context`, and `dockerfile`, default `<context>/Dockerfile`) are resolved against
 * `projectDir`, the Pulumi project directory, and returned relative to it with forward slashes:
 * `./app/` → `app`, `<projectDir>/app` → `app`, `../shared/app` stays `../shared/app`. An absolute
 * path outside `projectDir` is returned absolute (cleaned): it then differs per machine or checkout,
 * and so does every preview that records it.
 *
 * The hash is `sha256:<hex>` over what BuildKit receives: every file, directory and symlink of the
 * context that the ignore file does not exclude, in name order, each as its relative path, type,
 * executable bit (files), content hash (files) or target (symlinks); then the Dockerfile's content.
 * Not hashed: the context's absolute location, mtimes, owners, other mode bits, the order
 * `readdir` returns, and other file types (sockets, FIFOs, devices). The ignore file is
 * `<Dockerfile>.dockerignore` if it exists, else `<context>/.dockerignore`, as with buildx, and is
 * read with Docker's rules (see `dockerignoreMatcher`); a directory excluded by it is still walked
 * when the file has `!` exceptions, for the paths they re-include.
 *
 * Throws a `BerthConfigError` (paths `context`, `dockerfile`) when the context is not a directory,
 * the Dockerfile is not a file, or the ignore file has a pattern Docker refuses.
 */
export function hashContext(projectDir: string, context: string, dockerfile?: string): HashedContext {
  const root = path.resolve(projectDir);
  const contextPath = path.resolve(root, context);
  const dockerfileWritten = dockerfile ?? path.join(context, imageDefaults.dockerfile);
  const dockerfilePath = path.resolve(root, dockerfileWritten);
  const recorded = { context: asRecorded(root, context, contextPath), dockerfile: asRecorded(root, dockerfileWritten, dockerfilePath) };

  const problems: Problem[] = [];
  const contextStat = statOrUndefined(contextPath);
  if (!contextStat?.isDirectory()) {
    problems.push({ path: "context", message: `must be a directory; got ${show(context)}, which ${contextStat ? "is not a directory" : "does not exist"} (${show(contextPath)}). Paths are relative to the program's directory.` });
  }
  const dockerfileStat = statOrUndefined(dockerfilePath);
  if (!dockerfileStat?.isFile()) {
    problems.push({ path: "dockerfile", message: `must be a file; got ${show(recorded.dockerfile)}, which ${dockerfileStat ? "is not a file" : "does not exist"} (${show(dockerfilePath)}). Set \`dockerfile\`, or add a Dockerfile to the context.` });
  }
  if (problems.length) throw new BerthConfigError("Image", problems);

  const ignore = ignoreFile(contextPath, dockerfilePath, recorded);
  const h = createHash("sha256");
  try {
    walk(contextPath, "", dockerignoreMatcher(ignore?.content ?? ""), h);
  } catch (e) {
    // Docker refuses some patterns when it reads the file, others when it first uses them.
    if (!(e instanceof DockerignoreError) || !ignore) throw e;
    throw new BerthConfigError("Image", [{ path: ignore.field, message: `has an ignore file Docker refuses, ${show(ignore.shown)}: ${e.message} Fix or remove that line.` }]);
  }
  h.update(`dockerfile\0${fileDigest(dockerfilePath)}`);
  return { ...recorded, hash: `sha256:${h.digest("hex")}` };
}

/** `resolved` relative to `root` with `/`, or, when `written` is absolute and outside `root`, absolute. */
function asRecorded(root: string, written: string, resolved: string): string {
  const rel = path.relative(root, resolved);
  const outside = rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
  const kept = outside && path.isAbsolute(written) ? resolved : rel || ".";
  return kept.split(path.sep).join("/");
}

function statOrUndefined(p: string): fs.Stats | undefined {
  return fs.statSync(p, { throwIfNoEntry: false });
}

/** The ignore file buildx uses: `<Dockerfile>.dockerignore` if present, else `<context>/.dockerignore`. */
function ignoreFile(contextPath: string, dockerfilePath: string, recorded: { context: string; dockerfile: string }): { content: string; field: string; shown: string } | undefined {
  const candidates = [
    { file: `${dockerfilePath}.dockerignore`, field: "dockerfile", shown: `${recorded.dockerfile}.dockerignore` },
    { file: path.join(contextPath, ".dockerignore"), field: "context", shown: path.posix.join(recorded.context, ".dockerignore") },
  ];
  const found = candidates.find((c) => statOrUndefined(c.file)?.isFile());
  return found && { content: fs.readFileSync(found.file, "utf8"), field: found.field, shown: found.shown };
}

/**
 * Adds the entries under `dir` (relative path `rel`) in name order. The records are those of earlier
 * Berth versions: changing them changes every hash, and so rebuilds every `Image` on upgrade.
 */
function walk(dir: string, rel: string, excluded: DockerignoreMatcher, h: ReturnType<typeof createHash>): void {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const full = path.join(dir, e.name);
    const out = excluded(r);
    if (e.isDirectory()) {
      // An excluded directory is not sent, but paths under it that an exception re-includes are
      // (and the directory with them, which their paths already record).
      if (!out) h.update(`d\0${r}\0`);
      if (!out || excluded.hasExceptions) walk(full, r, excluded, h);
    } else if (out) {
      continue;
    } else if (e.isSymbolicLink()) {
      h.update(`l\0${r}\0${fs.readlinkSync(full)}\0`);
    } else if (e.isFile()) {
      const exec = fs.lstatSync(full).mode & 0o111 ? "x" : "-";
      h.update(`f\0${r}\0${exec}\0${fileDigest(full)}\0`);
    }
  }
}

const chunk = Buffer.alloc(1 << 16);

/** Hex sha256 of a file's content, read in chunks. */
function fileDigest(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) h.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}
