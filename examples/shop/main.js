// The program is index.ts, compiled by `npx tsc -p .` (from the repository root) into
// dist/examples/shop/index.js. Pulumi runs this file so that the program's working directory is this
// one: `.kamal/secrets` and the build context `../app` are relative to it. Its exports are the stack outputs.
module.exports = require("../../dist/examples/shop/index.js");
