/**
 * Runs a process on this machine (the one running Pulumi): shell text through `/bin/sh -c`, or an
 * argv directly (no shell). Secrets travel in `env` or `stdin`, never in the command. A failure
 * is a `RemoteCommandError` on host `localhost` naming the step, the exit code and the last lines.
 */
import { spawn } from "node:child_process";
import type { Argv } from "../commands/shell";
import { ExecResult, RemoteCommandError } from "./ssh";

export interface LocalOptions {
  /** Extra environment (merged over this process's). */
  env?: Record<string, string>;
  /** Written to stdin. */
  stdin?: string;
  /** Called with each complete output line (stdout and stderr), as it arrives. */
  onLine?: (line: string) => void;
  /** Texts replaced by `***` in the error (and in what `onLine` sees). */
  redact?: readonly string[];
}

/** Replaces every occurrence of each non-empty secret in `text` with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of [...secrets].filter((x) => x.length > 0).sort((a, b) => b.length - a.length)) out = out.split(s).join("***");
  return out;
}

/** Runs `command`; resolves with its exit code and output whatever the code. */
export function execLocal(command: string | Argv, o: LocalOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const [file, args] = typeof command === "string" ? ["/bin/sh", ["-c", command]] : [command[0], command.slice(1)];
    const child = spawn(file, args, { env: { ...process.env, ...(o.env ?? {}) }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    const feed = (d: Buffer) => {
      if (!o.onLine) return;
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) o.onLine(redact(l, o.redact));
    };
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      feed(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      feed(d);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (partial && o.onLine) o.onLine(redact(partial, o.redact));
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(o.stdin ?? "");
  });
}

/** Runs `command`; rejects with a `RemoteCommandError` (host `localhost`) unless it exits 0. */
export async function runLocal(step: string, command: string | Argv, o: LocalOptions = {}): Promise<ExecResult> {
  const r = await execLocal(command, o);
  if (r.code !== 0) throw new RemoteCommandError("localhost", step, r.code, redact(`${r.stdout}\n${r.stderr}`, o.redact));
  return r;
}
