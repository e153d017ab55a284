/**
 * Shell composition: the one quoting function and the small composers every command in Berth is
 * built with. Commands are argv arrays (`string[]`); they become shell text only here.
 */

/** A command as an argument vector, e.g. `["docker", "ps", "--quiet"]`. */
export type Argv = readonly string[];

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one word for a POSIX shell. Safe words pass through; anything else is wrapped in single
 * quotes, with embedded single quotes written as `'\''`.
 */
export function quote(word: string): string {
  if (word === "") return "''";
  if (SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Renders an argv as one shell command line. */
export function line(argv: Argv): string {
  return argv.map(quote).join(" ");
}

/** `a && b && c`: stop at the first failure. */
export function chain(...commands: (Argv | string)[]): string {
  return commands.map(render).join(" && ");
}

/** `a; b; c`: run all, whatever each returns. */
export function combine(...commands: (Argv | string)[]): string {
  return commands.map(render).join("; ");
}

/** `a | b`. */
export function pipe(...commands: (Argv | string)[]): string {
  return commands.map(render).join(" | ");
}

/** `a || b`: b runs only when a fails. */
export function orElse(a: Argv | string, b: Argv | string): string {
  return `${render(a)} || ${render(b)}`;
}

/** A command rendered as text: argv is quoted; a string is taken as already-rendered shell. */
export function render(c: Argv | string): string {
  return typeof c === "string" ? c : line(c);
}

/** A script: `set -eu` followed by the given lines. */
export function script(...lines: (Argv | string)[]): string {
  return ["set -eu", ...lines.map(render)].join("\n");
}

/**
 * Waits while `condition` (a shell command) succeeds, checking once a second, for at most
 * `timeoutSeconds` (rounded up, at least 1): exits 0 once it fails, 1 if it still holds then.
 */
export function waitWhileScript(condition: string, timeoutSeconds: number): string {
  return `i=0; while ${condition}; do i=$((i + 1)); if [ "$i" -ge ${Math.max(1, Math.ceil(timeoutSeconds))} ]; then exit 1; fi; sleep 1; done`;
}
