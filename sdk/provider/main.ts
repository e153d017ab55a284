/**
 * The entry point of the `pulumi-resource-berth` plugin: `node dist/sdk/provider/main.js <engine>`.
 * The engine's address must be known before `@pulumi/pulumi` loads (its log module reads it then),
 * so this file only sets it and starts the server.
 */
const engine = process.argv.slice(2).find((a) => !a.startsWith("-"));
if (engine) process.env.PULUMI_NODEJS_ENGINE = engine;

// eslint-disable-next-line @typescript-eslint/no-require-imports
(require("./serve") as typeof import("./serve")).serve(process.argv.slice(2)).catch((e: Error) => {
  process.stderr.write(`berth provider: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
