/**
 * Real-tier helpers: the real `pulumi` engine (built by scripts/install.sh) with a throwaway local
 * backend and the passphrase secrets provider. A missing toolchain is an error, never a skip.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as settings from "@pulumi/pulumi/runtime/settings";

export const REPO = path.resolve(__dirname, "../../..");

/**
 * The cause of the real tier's `14 UNAVAILABLE: No connection established. Last error: null`
 * (an inline program's first call to a fresh engine refused, about once in two full runs):
 * `@pulumi/pulumi` opens a gRPC client to each inline operation's engine and never closes it
 * (`disconnectSync` closes only the process-wide client, not the run's own `settings.monitor` and
 * `settings.engine`), and grpc-js shares its connections ("subchannels") across all clients of one
 * process by address. When a later engine listens on a port an earlier, finished one had (the
 * kernel hands out ephemeral ports again; a run has hundreds of operations), the new client is
 * given the old client's connection, still backing off after the first engine went away, and its
 * first call fails at once. `test/real/engine.test.ts` shows both halves. Giving every client
 * its own connection pool (`grpc.use_local_subchannel_pool`) removes the sharing; the SDK reads its
 * client options from this object when it creates each client.
 */
export const inlineClientOptions: Record<string, unknown> = (() => {
  const o = (settings as unknown as { grpcClientOptions?: Record<string, unknown> }).grpcClientOptions;
  if (!o) throw new Error("@pulumi/pulumi/runtime/settings no longer exports grpcClientOptions: see test/helpers/engine.ts");
  o["grpc.use_local_subchannel_pool"] = 1;
  return o;
})();

/** The directory holding the built `pulumi` (its parent is the PulumiCommand root). */
export function pulumiBinDir(): string {
  let bin: string;
  try {
    bin = execFileSync("sh", ["-c", "command -v pulumi"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("the `pulumi` CLI is not on PATH: run `bash scripts/install.sh` (or `npm test`, which runs it) first");
  }
  if (!fs.existsSync(path.join(path.dirname(bin), "pulumi-language-nodejs"))) {
    throw new Error(`no pulumi-language-nodejs next to ${bin}: run \`bash scripts/install.sh\``);
  }
  return path.dirname(fs.realpathSync(bin));
}

/** The plugin cache holding `resource-berth` (scripts/install.sh installs it; never a skip). */
export function berthPluginsDir(): string {
  const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".cache", "berth", "pulumi-home");
  const dir = path.join(home, "plugins");
  const version = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version as string;
  if (!fs.existsSync(path.join(dir, `resource-berth-v${version}`, "pulumi-resource-berth"))) {
    throw new Error(`Berth's provider plugin v${version} is not in ${dir}: run \`bash scripts/install.sh\` (or \`npm test\`) first`);
  }
  return dir;
}

export interface TestBackend {
  dir: string;
  envVars: Record<string, string>;
  pulumi: PulumiCommand;
}

/** A fresh local backend in a temp dir. */
export async function backend(prefix = "berth-real-"): Promise<TestBackend> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, "state"));
  fs.mkdirSync(path.join(dir, "home"));
  const envVars = {
    PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
    PULUMI_HOME: path.join(dir, "home"),
    PULUMI_CONFIG_PASSPHRASE: "berth-test-passphrase",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
  // Berth's provider plugin, installed by scripts/install.sh into the toolchain's PULUMI_HOME.
  fs.symlinkSync(berthPluginsDir(), path.join(dir, "home", "plugins"));
  const pulumi = await PulumiCommand.get({ root: path.dirname(pulumiBinDir()) });
  return { dir, envVars, pulumi };
}

/** A stack of the program in `workDir` (a directory with Pulumi.yaml). */
export async function stack(b: TestBackend, workDir: string, stackName: string): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack(
    { stackName, workDir },
    { pulumiCommand: b.pulumi, envVars: b.envVars, secretsProvider: "passphrase" },
  );
}

/** The stack's state file, raw, as it sits on disk. */
export function stateFile(b: TestBackend, project: string, stackName: string): string {
  return fs.readFileSync(path.join(b.dir, "state", ".pulumi", "stacks", project, `${stackName}.json`), "utf8");
}
