/**
 * Reads an AppService's `errorPagesPath` when the program runs: the pages' content (not the path)
 * becomes part of each proxied host's inputs, so an edited page previews as a change, and the
 * same program previews the same from any checkout.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BerthConfigError, show } from "../config/errors";
import { ERROR_PAGE_NAME } from "../commands/assets";

/** The most bytes of error pages one service may have (they travel in each host's inputs and state). */
export const MAX_ERROR_PAGES_BYTES = 512 * 1024;

/**
 * The error pages in `dir` (relative to `baseDir`, or absolute): every `4??.html` and `5??.html`
 * file (Kamal's `{4??,5??}.html`), name → content, sorted by name. Throws a `BerthConfigError` at
 * `errorPagesPath` when the directory is missing, holds no page, or the pages are too large.
 */
export function readErrorPages(baseDir: string, dir: string): Record<string, string> {
  const where = path.resolve(baseDir, dir);
  const fail = (message: string): never => {
    throw new BerthConfigError("AppService", [{ path: "errorPagesPath", message }]);
  };
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(where);
  } catch {
    stat = undefined;
  }
  if (!stat?.isDirectory()) {
    fail(`must be a directory of error pages; got ${show(dir)}, which ${stat ? "is not a directory" : "does not exist"} (${show(where)}). Paths are relative to the program's directory.`);
  }
  const names = fs
    .readdirSync(where, { withFileTypes: true })
    .filter((e) => ERROR_PAGE_NAME.test(e.name) && fs.statSync(path.join(where, e.name)).isFile())
    .map((e) => e.name)
    .sort();
  if (names.length === 0) {
    fail(`must hold at least one error page named by its status (\`404.html\`, \`503.html\`…); got none in ${show(dir)}. Add e.g. a \`503.html\` (it shows the maintenance message as \`{{ .Message }}\`).`);
  }
  const pages: Record<string, string> = {};
  let bytes = 0;
  for (const name of names) {
    const content = fs.readFileSync(path.join(where, name), "utf8");
    bytes += Buffer.byteLength(content, "utf8");
    pages[name] = content;
  }
  if (bytes > MAX_ERROR_PAGES_BYTES) {
    fail(`must hold at most ${MAX_ERROR_PAGES_BYTES} bytes of error pages; got ${bytes} bytes in ${show(dir)}. Serve large images and styles from the app, and link them from the pages.`);
  }
  return pages;
}
