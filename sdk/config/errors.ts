/**
 * Berth's one error style for bad input: every problem names the field path in backticks, the bad
 * value, what is allowed and how to fix it. All problems are collected and thrown once.
 */
import { z } from "zod";

/** One problem with one field. */
export interface Problem {
  /** Field path, e.g. `roles.web.hosts[1]`. */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/** Thrown by every `normalize*` function; `problems` lists each bad field. */
export class BerthConfigError extends Error {
  constructor(
    readonly component: string,
    readonly problems: Problem[],
  ) {
    super(
      `Invalid ${component} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - \`${p.path}\`: ${p.message}`).join("\n"),
    );
    this.name = "BerthConfigError";
  }
}

/** Renders a zod path as `a.b[1].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(root)";
}

/** Shows a user's value in an error message, shortened. Never call it on a secret. */
export function show(value: unknown): string {
  let s: string;
  try {
    s = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Parses `input` with `schema`; on failure throws one BerthConfigError listing every issue with its
 * path. `prefix` is prepended to each path (e.g. `proxy`).
 */
export function parse<S extends z.ZodType>(component: string, schema: S, input: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const full = [...(prefix ? [prefix] : []), ...issue.path];
    return { path: formatPath(full), message: issue.message };
  });
  throw new BerthConfigError(component, problems);
}
