/**
 * Kamal's audit log (`lib/kamal/commands/auditor.rb`): one line per mutating step, appended on the
 * host to `.kamal/<service>[-<destination>]-audit.log`, as
 * `[<recorded_at>] [<performer>] [<destination>] [<role>] <message>`. Pure: no I/O.
 *
 * Every field is escaped (control characters, line breaks and backslashes as `\n`, `\x1b`, `\\`;
 * `[` and `]` in a tag as `\x5b`/`\x5d`), so a hostile version or message cannot add a line, split
 * one, or forge a tag: the file stays one parseable line per event.
 */
import { quote } from "./shell";

/** `.kamal/<service>[-<destination>]-audit.log`, relative to the SSH user's home. */
export function auditLogPath(service: string, destination: string): string {
  return `.kamal/${[service, destination].filter((p) => p !== "").join("-")}-audit.log`;
}

const CONTROL = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `text` with backslashes, line breaks and every other control character written as escapes. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (ch) => NAMED[ch] ?? (ch.charCodeAt(0) > 0xff ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

function tag(text: string): string {
  return `[${escapeControl(text).replace(/\[/g, "\\x5b").replace(/\]/g, "\\x5d") || "-"}]`;
}

/** One audit event. */
export interface AuditEvent {
  /** ISO 8601, e.g. `2026-01-02T03:04:05Z`. */
  recordedAt: string;
  /** Who ran the deploy (the local user running Pulumi). */
  performer: string;
  /** Tagged when not empty, as in Kamal. */
  destination: string;
  role?: string;
  message: string;
}

/** `[<recorded_at>] [<performer>] [<destination>] [<role>] <message>`: one line, no line break. */
export function auditLine(e: AuditEvent): string {
  const tags = [e.recordedAt, e.performer, ...(e.destination !== "" ? [e.destination] : []), ...(e.role !== undefined ? [e.role] : [])].map(tag);
  return `${tags.join(" ")} ${escapeControl(e.message)}`;
}

/** Appends `line` (from `auditLine`) to `file`: `mkdir -p .kamal && printf '%s\n' '<line>' >> <file>`. */
export function auditLineScript(file: string, line: string): string {
  if (/[\r\n]/.test(line)) throw new Error("auditLineScript: an audit line cannot contain a line break (build it with auditLine)");
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
  return `mkdir -p ${quote(dir)} && printf '%s\\n' ${quote(line)} >> ${quote(file)}`;
}
