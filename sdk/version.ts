/** Berth's version: the npm package's, which is also the provider plugin's (`pulumi plugin ls`). */
import * as path from "node:path";

// Compiled to dist/sdk/version.js: the package.json two levels up is the package's (or the plugin's).
export const BERTH_VERSION: string = (require(path.join(__dirname, "..", "..", "package.json")) as { version: string }).version;
