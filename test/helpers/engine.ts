/**
 * Real-tier helpers: the real `pulumi` engine (built by scripts/install.sh) with a throwaway local
 * backend and the passphrase secrets provider. A missing toolchain is an error, never a skip.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";

export const REPO = path.resolve(__dirname, "../../..");

/**
 * The Automation API's inline programs (the program runs in this test process and talks gRPC to a
 * fresh engine for each operation) now and then fail before Berth is even reached, with the
 * program's own call to the engine refused: `14 UNAVAILABLE: No connection established. Last
 * error: null` (seen about once in two full real-tier runs, always at the program's first call).
 * That is a transport failure of the test harness, not a result of Berth: an inline operation
 * that fails with exactly it is run once more, and says so. Local programs (their own process)
 * never retry; any other failure is never retried. Not a fix of the cause, which is not found yet.
 */
const INLINE_TRANSPORT_FLAKE = /14 UNAVAILABLE: No connection established/;
for (const op of ["up", "preview", "refresh", "destroy"] as const) {
  const original = Stack.prototype[op] as (...a: unknown[]) => Promise<unknown>;
  (Stack.prototype as unknown as Record<string, unknown>)[op] = async function (this: Stack, ...a: unknown[]) {
    try {
      return await original.apply(this, a);
    } catch (e) {
      const inline = (this.workspace as { program?: unknown }).program !== undefined;
      if (!inline || !INLINE_TRANSPORT_FLAKE.test(String((e as Error)?.message ?? e))) throw e;
      process.stderr.write(`[berth real tier] ${op} of stack ${this.name}: the inline program lost its engine connection (14 UNAVAILABLE); running it once more\n`);
      return await original.apply(this, a);
    }
  };
}

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
