/**
 * Image configuration: `normalizeImage` turns `ImageArgs` (plain values, secrets included) into a
 * validated `ImageConfig`, or throws one `BerthConfigError` listing every problem with its path.
 * Also the `.dockerignore` matcher the component hashes the build context with.
 */
import * as path from "node:path";
import { z } from "zod";
import { parseImage } from "./app";
import { platformList, uniqueList } from "./builder";
import { dict, evenWithFieldErrors, flag, isRecord, keyProblem, list, matching, mustBe, parse, problem, secret, show, strict, text, whenClean } from "./errors";

/** A build cache location. Equivalent to buildx's `--cache-to`/`--cache-from` `type=registry|local`. */
export type CacheArgs =
  | {
      /** A cache image in a registry. */
      type: "registry";
      /** Cache image reference, e.g. `registry.example.com/app:buildcache`. Equivalent to `ref=`. */
      ref: string;
      /**
       * `max` also caches the layers of intermediate stages (cache-to only). Equivalent to `mode=`.
       * @default "min"
       */
      mode?: "min" | "max";
    }
  | {
      /** A directory on this machine. */
      type: "local";
      /** Cache directory (`dest=` for cache-to, `src=` for cache-from). */
      path: string;
      /**
       * `max` also caches intermediate stages (cache-to only).
       * @default "min"
       */
      mode?: "min" | "max";
    };

/** An OCI image layout written on this machine. Equivalent to `--output type=oci`. */
export interface OciOutputArgs {
  /** Where to write it: a tarball, or a directory with `tar: false`. Equivalent to `dest=`. */
  dest: string;
  /**
   * Write a tarball.
   * @default true
   */
  tar?: boolean;
}

/** An image build, with plain (resolved) values. */
export interface ImageArgs {
  /** Build context directory. */
  context: string;
  /**
   * Dockerfile. Equivalent to `--file`.
   * @default - `Dockerfile` in the context
   */
  dockerfile?: string;
  /**
   * Stage to build. Equivalent to `--target`.
   * @default - the last stage
   */
  target?: string;
  /**
   * Build args (not secret: they are in argv and may be in the image's history). Equivalent to `--build-arg`.
   * @default {}
   */
  buildArgs?: Record<string, string>;
  /**
   * Build secrets by id, for `RUN --mount=type=secret,id=<id>`. Values never reach argv, logs or
   * the image: each is handed to buildx in its environment (`--secret id=<id>,env=…`).
   * @default {}
   */
  secrets?: Record<string, string>;
  /**
   * SSH agent sockets or keys for `RUN --mount=type=ssh`: `default`, or `<id>=<path>`. Equivalent to `--ssh`.
   * @default []
   */
  ssh?: string[];
  /**
   * Platforms to build; more than one makes a manifest list. Equivalent to `--platform`.
   * @default - the builder's native platform
   */
  platforms?: string[];
  /**
   * Image references to tag (`registry/repository:tag`). Equivalent to `-t`.
   * @default []
   */
  tags?: string[];
  /**
   * Image labels (`service` and `destination` are set from their own fields). Equivalent to `--label`.
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * The `service` label (Kamal checks it after pulling).
   * @default - no label
   */
  service?: string;
  /**
   * The `destination` label.
   * @default - no label (the `Image` component sets the stack name)
   */
  destination?: string;
  /**
   * Push to the tags' registry. Equivalent to `--output type=registry`.
   * @default true
   */
  push?: boolean;
  /**
   * Load into the local Docker engine. Equivalent to `--output type=docker`. A multi-platform
   * image can only be loaded into an engine that uses the containerd image store.
   * @default false
   */
  load?: boolean;
  /**
   * Write an OCI layout. Equivalent to `--output type=oci`.
   * @default - none
   */
  oci?: OciOutputArgs;
  /**
   * Caches to read. Equivalent to `--cache-from`.
   * @default []
   */
  cacheFrom?: CacheArgs[];
  /**
   * Caches to write. Equivalent to `--cache-to`.
   * @default []
   */
  cacheTo?: CacheArgs[];
  /**
   * Build without the cache. Equivalent to `--no-cache`.
   * @default false
   */
  noCache?: boolean;
  /**
   * Always pull base images. Equivalent to `--pull`.
   * @default false
   */
  pull?: boolean;
  /**
   * Provenance attestation: false, true (`min`) or `max`. Equivalent to `--provenance`.
   * @default - buildx's default (min for pushed images)
   */
  provenance?: boolean | "min" | "max";
  /**
   * SBOM attestation. Equivalent to `--sbom`.
   * @default - buildx's default, none
   */
  sbom?: boolean;
  /**
   * Network of `RUN` steps: `default`, `none` or `host` (needs the `network.host` entitlement). Equivalent to `--network`.
   * @default - "default"
   */
  network?: "default" | "none" | "host";
  /**
   * Builder name. Equivalent to `--builder`.
   * @default - buildx's current builder
   */
  builder?: string;
}

/** A normalized image build. `secrets` values are secrets. */
export interface ImageConfig {
  context: string;
  dockerfile: string;
  target?: string;
  buildArgs: Record<string, string>;
  secrets: Record<string, string>;
  ssh: string[];
  platforms: string[];
  tags: string[];
  /** `service` and `destination` first, then the others. */
  labels: Record<string, string>;
  exports: { push: boolean; load: boolean; oci?: { dest: string; tar: boolean } };
  cacheFrom: CacheArgs[];
  cacheTo: CacheArgs[];
  noCache: boolean;
  pull: boolean;
  provenance?: boolean | "min" | "max";
  sbom?: boolean;
  network?: "default" | "none" | "host";
  builder?: string;
}

export const imageDefaults = { push: true, load: false, dockerfile: "Dockerfile", ociTar: true } as const;

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_ID = /^[A-Za-z0-9_.-]+$/;
const SSH = /^[A-Za-z0-9_.-]+(?:=\S+)?$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const TAG_EXPECT = "an image reference with a tag, like `registry.example.com/app:1.2.3`";
const RESERVED_LABELS = ["service", "destination"];
/** Labels and build args together, in bytes (see the check). */
const MAX_BUILD_ARGV_BYTES = 1024 * 1024;

/** Linux paths are at most 4096 bytes (PATH_MAX). */
const PATH_RULES = { maxBytes: 4096, why: "Linux paths are at most 4096 bytes (PATH_MAX)." };
const absolute = (what: string) =>
  text(`an absolute path to ${what}`, undefined, PATH_RULES).superRefine((v, ctx) => {
    if (!path.isAbsolute(v)) problem(ctx, [], mustBe(`an absolute path to ${what}`, v));
  }, whenClean);

/**
 * The build context and Dockerfile as written (relative to the program's directory, or absolute),
 * checked before they are read: one line of text, not empty, at most PATH_MAX.
 */
export const writtenPathsSchema = strict({
  context: matching(/\S/, "a directory path", "For example `./app`.", PATH_RULES),
  dockerfile: matching(/\S/, "a file path", "For example `./app/Dockerfile`.", PATH_RULES).optional(),
});

const tag = () =>
  text(TAG_EXPECT).superRefine((v, ctx) => {
    const ref = parseImage(v);
    if (!ref || ref.digest !== undefined || ref.tag === undefined) {
      problem(ctx, [], mustBe(TAG_EXPECT, v, ref?.digest !== undefined ? "A digest is an output of the build (`Image.digest`), not a tag." : "Add `:<tag>`, e.g. `:latest` or a version."));
    }
  }, whenClean);

const modeSchema = z.enum(["min", "max"], { error: (iss) => mustBe("`min` or `max`", iss.input) });

const cacheSchema = z.unknown().transform((value, ctx): CacheArgs => {
  const expect = "`{ type: \"registry\", ref }` or `{ type: \"local\", path }`";
  const type = isRecord(value) ? value.type : undefined;
  const schema =
    type === "registry"
      ? strict({
          type: z.literal("registry"),
          ref: text("a cache image reference").superRefine((v, c) => {
            if (!parseImage(v) || parseImage(v)!.digest !== undefined) problem(c, [], mustBe("a cache image reference like `registry.example.com/app:buildcache`", v));
          }, whenClean),
          mode: modeSchema.optional(),
        })
      : type === "local"
        ? strict({ type: z.literal("local"), path: absolute("a cache directory"), mode: modeSchema.optional() })
        : undefined;
  if (!schema) {
    problem(ctx, isRecord(value) ? ["type"] : [], mustBe(isRecord(value) ? "`registry` or `local`" : expect, isRecord(value) ? value.type : value));
    return z.NEVER;
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data as CacheArgs;
  for (const issue of r.error.issues) problem(ctx, issue.path as PropertyKey[], issue.message);
  return z.NEVER;
});

/** The schema of `ImageArgs`; its output is the normalized `ImageConfig`. */
export const imageSchema = strict({
  context: absolute("the build context directory"),
  dockerfile: absolute("the Dockerfile").optional(),
  target: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a stage name").optional(),
  buildArgs: dict(text("a string", undefined, { chars: "data" }), "an object of build arg → value")
    .superRefine((args, ctx) => {
      for (const k of Object.keys(args ?? {})) if (keyProblem(k) === undefined && !ARG_NAME.test(k)) problem(ctx, [k], `must be named like a build arg (letters, digits and \`_\`, not starting with a digit); got ${show(k)}.`);
    })
    .optional(),
  secrets: dict(secret("a string"), "an object of secret id → secret value", undefined, true)
    .superRefine((s, ctx) => {
      for (const k of Object.keys(s ?? {})) if (keyProblem(k) === undefined && !SECRET_ID.test(k)) problem(ctx, [k], `must be a secret id (letters, digits, \`_\`, \`.\`, \`-\`); got ${show(k)}.`);
    })
    .optional(),
  ssh: list(matching(SSH, "`default` or `<id>=<path>`"), "a list of ssh sources").optional(),
  platforms: platformList().optional(),
  tags: uniqueList(tag(), "a list of image references").optional(),
  labels: dict(text("a string", undefined, { chars: "data" }), "an object of label → value")
    .superRefine((labels, ctx) => {
      for (const k of Object.keys(labels ?? {})) {
        if (keyProblem(k) !== undefined) continue; // reported by the map itself
        if (RESERVED_LABELS.includes(k)) problem(ctx, [k], `is set from the \`${k}\` field; got ${show(labels[k])} in \`labels\`. Set \`${k}\` instead.`);
        else if (!LABEL_KEY.test(k)) problem(ctx, [k], mustBe("a label name (letters, digits, `.`, `_`, `/`, `-`)", k, k.includes("=") ? "Docker splits `--label name=value` at the first `=`: write the name alone as the key." : 'For example "org.opencontainers.image.source".'));
      }
    })
    .optional(),
  service: matching(/^[a-z][a-z0-9_-]*$/, "lowercase letters, digits, `-` or `_`, starting with a letter", "Use the `AppService`'s `service`, e.g. \"shop\".").optional(),
  destination: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "letters, digits, `_`, `.` or `-`", 'For example "staging".').optional(),
  push: flag().optional(),
  load: flag().optional(),
  oci: strict({ dest: absolute("the OCI output"), tar: flag().optional() }).optional(),
  cacheFrom: list(cacheSchema, "a list of caches").optional(),
  cacheTo: list(cacheSchema, "a list of caches").optional(),
  noCache: flag().optional(),
  pull: flag().optional(),
  provenance: z.union([z.boolean(), z.enum(["min", "max"])], { error: (iss) => mustBe("true, false, `min` or `max`", iss.input) }).optional(),
  sbom: flag().optional(),
  network: z.enum(["default", "none", "host"], { error: (iss) => mustBe("`default`, `none` or `host`", iss.input) }).optional(),
  builder: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a builder name").optional(),
})
  .superRefine(
    (raw, ctx) => {
      const v = raw as Record<string, unknown>;
      const push = v.push ?? imageDefaults.push;
      const load = v.load ?? imageDefaults.load;
      const tags = Array.isArray(v.tags) ? v.tags : [];
      if (push === false && load !== true && v.oci === undefined) {
        problem(
          ctx,
          ["push"],
          "is false and neither `load` nor `oci` is set, so the image would stay only in the builder's cache (with the `docker-container` driver nothing is exported unless asked: seed 002's \"does not exist locally\"). Set `push`, `load` or `oci`.",
        );
      }
      if ((push === true || load === true) && tags.length === 0) {
        problem(ctx, ["tags"], `must name at least one image reference to ${push === true ? "push" : "load"}; got ${tags.length === 0 && v.tags === undefined ? "nothing" : "[]"}. Add e.g. \`registry.example.com/app:latest\`.`);
      }
      // buildx runs with argv (no shell): Linux caps argv and environment together at ARG_MAX
      // (2 MiB with the default 8 MiB stack); labels and build args stay well inside it.
      const bytes = (m: unknown) => (isRecord(m) ? Object.entries(m).reduce((n, [k, x]) => n + Buffer.byteLength(`${k}=${typeof x === "string" ? x : ""}`, "utf8") + 16, 0) : 0);
      const [labelBytes, argBytes] = [bytes(v.labels), bytes(v.buildArgs)];
      if (labelBytes + argBytes > MAX_BUILD_ARGV_BYTES) {
        problem(
          ctx,
          [labelBytes >= argBytes ? "labels" : "buildArgs"],
          `must keep labels and build args within ${MAX_BUILD_ARGV_BYTES} bytes together; got ${labelBytes + argBytes} bytes. They are \`docker buildx build\` arguments, and Linux caps a command's arguments at ARG_MAX: copy large data into the image from the context instead.`,
        );
      }
      if (Array.isArray(v.cacheFrom)) {
        v.cacheFrom.forEach((c, i) => {
          if (isRecord(c) && c.mode !== undefined) problem(ctx, ["cacheFrom", i, "mode"], "only applies to `cacheTo`: reading a cache has no mode. Remove it.");
        });
      }
    },
    evenWithFieldErrors,
  )
  .transform((v): ImageConfig => {
    const labels: Record<string, string> = {};
    if (v.service !== undefined) labels.service = v.service;
    if (v.destination !== undefined) labels.destination = v.destination;
    Object.assign(labels, v.labels ?? {});
    const cfg: ImageConfig = {
      context: v.context,
      dockerfile: v.dockerfile ?? path.join(v.context, imageDefaults.dockerfile),
      buildArgs: v.buildArgs ?? {},
      secrets: v.secrets ?? {},
      ssh: v.ssh ?? [],
      platforms: v.platforms ?? [],
      tags: v.tags ?? [],
      labels,
      exports: {
        push: v.push ?? imageDefaults.push,
        load: v.load ?? imageDefaults.load,
        ...(v.oci ? { oci: { dest: v.oci.dest, tar: v.oci.tar ?? imageDefaults.ociTar } } : {}),
      },
      cacheFrom: (v.cacheFrom ?? []) as CacheArgs[],
      cacheTo: (v.cacheTo ?? []) as CacheArgs[],
      noCache: v.noCache ?? false,
      pull: v.pull ?? false,
    };
    if (v.target !== undefined) cfg.target = v.target;
    if (v.provenance !== undefined) cfg.provenance = v.provenance;
    if (v.sbom !== undefined) cfg.sbom = v.sbom;
    if (v.network !== undefined) cfg.network = v.network;
    if (v.builder !== undefined) cfg.builder = v.builder;
    return cfg;
  });

/** Validates an image build and applies the defaults. Throws one `BerthConfigError`. */
export function normalizeImage(input: ImageArgs, component = "Image", prefix = ""): ImageConfig {
  return parse(component, imageSchema, input, prefix);
}

// ---------------------------------------------------------------------------------------------
// .dockerignore
//
// Docker's rules, applied in the steps BuildKit and buildx apply them (moby/patternmatcher):
// reading the file (`ignorefile.ReadAll`), compiling each pattern (`patternmatcher.New` and
// `Pattern.compile`), and matching a path (`MatchesOrParentMatches`). Each step below says which.

/** A `.dockerignore` matcher: `(relativePath) => excluded`. */
export type DockerignoreMatcher = ((relative: string) => boolean) & {
  /** The file has `!` exceptions: a walker must look inside excluded directories for re-included paths. */
  hasExceptions: boolean;
};

/** Go's `unicode.IsSpace`, what `strings.TrimSpace` trims (JavaScript's `trim` also trims U+FEFF and not U+0085). */
const GO_SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+";
const GO_TRIM = new RegExp(`^${GO_SPACE}|${GO_SPACE}$`, "g");
const trimSpace = (s: string): string => s.replace(GO_TRIM, "");

/**
 * Go's `filepath.Clean` for `/`-separated paths: one `/` between names, no `.` names, a `..` removes
 * the name before it (and is dropped right after a leading `/`), no trailing `/`, `.` when empty.
 */
function cleanPath(p: string): string {
  const rooted = p.startsWith("/");
  const names: string[] = [];
  for (const name of p.split("/")) {
    if (name === "" || name === ".") continue;
    if (name !== "..") names.push(name);
    else if (names.length > 0 && names[names.length - 1] !== "..") names.pop();
    else if (!rooted) names.push("..");
  }
  const joined = names.join("/");
  return rooted ? `/${joined}` : joined || ".";
}

/** One pattern line of an ignore file. */
interface IgnoreLine {
  /** 1-based line number. */
  line: number;
  /** The line as written, trimmed (for messages). */
  text: string;
  /** The pattern as `ignorefile.ReadAll` returns it: `!` first for an exception. */
  pattern: string;
}

/**
 * `ignorefile.ReadAll`: a UTF-8 BOM is dropped from the first line; a line that starts with `#` (in
 * its first column) is a comment; the rest is trimmed and blank lines are skipped; after an optional
 * `!` (and spaces) the pattern is cleaned like `filepath.Clean` and one leading `/` is dropped.
 */
function readIgnoreFile(content: string): IgnoreLine[] {
  const out: IgnoreLine[] = [];
  content.split("\n").forEach((raw, i) => {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (i === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    if (line.startsWith("#")) return;
    let pattern = trimSpace(line);
    if (pattern === "") return;
    const text = pattern;
    const exception = pattern.startsWith("!");
    if (exception) pattern = trimSpace(pattern.slice(1));
    if (pattern !== "") {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    out.push({ line: i + 1, text, pattern: exception ? `!${pattern}` : pattern });
  });
  return out;
}

/** A `.dockerignore` pattern that Docker refuses: a build with it fails. */
export class DockerignoreError extends Error {
  constructor(
    /** 1-based line of the ignore file. */
    readonly line: number,
    /** The line as written (trimmed). */
    readonly text: string,
    reason: string,
  ) {
    super(`line ${line}: \`${text}\` ${reason}.`);
    this.name = "DockerignoreError";
  }
}

/** A pattern split like Go's `scanChunk`: leading `*`s, then up to the next `*` outside `[...]`. */
function scanChunk(p: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let i = 0;
  while (p[i] === "*") i++;
  const body = p.slice(i);
  let inClass = false;
  for (let j = 0; j < body.length; j++) {
    if (body[j] === "\\") {
      if (j + 1 < body.length) j++;
    } else if (body[j] === "[") inClass = true;
    else if (body[j] === "]") inClass = false;
    else if (body[j] === "*" && !inClass) return { star: i > 0, chunk: body.slice(0, j), rest: body.slice(j) };
  }
  return { star: i > 0, chunk: body, rest: [] };
}

/**
 * Go's `matchChunk`: the rest of `s` after `chunk` matched its start, `false`, or `"bad"` for a
 * syntax error. The whole chunk is checked even after a mismatch: `\` must escape a character;
 * a class `[…]` is an optional `^`, one or more members (a character, `\`-escaped character or
 * range `lo-hi`, none starting with an unescaped `-` or `]`) and `]`.
 */
function matchChunk(chunk: string[], s: string[]): string[] | false | "bad" {
  let c = 0;
  let k = 0;
  let failed = false;
  const member = (): number | undefined => {
    if (c >= chunk.length || chunk[c] === "-" || chunk[c] === "]") return undefined;
    if (chunk[c] === "\\" && ++c >= chunk.length) return undefined;
    const r = chunk[c++].codePointAt(0)!;
    return c < chunk.length ? r : undefined;
  };
  while (c < chunk.length) {
    failed ||= k >= s.length;
    if (chunk[c] === "[") {
      const r: number = failed ? -1 : s[k++].codePointAt(0)!;
      const negated = chunk[++c] === "^";
      if (negated) c++;
      let match = false;
      for (let n = 0; !(chunk[c] === "]" && n > 0); n++) {
        const lo = member();
        const hi = lo !== undefined && chunk[c] === "-" ? (c++, member()) : lo;
        if (lo === undefined || hi === undefined) return "bad";
        match ||= lo <= r && r <= hi;
      }
      c++;
      failed ||= match === negated;
    } else if (chunk[c] === "?") {
      if (!failed) failed = s[k++] === "/";
      c++;
    } else {
      if (chunk[c] === "\\" && ++c >= chunk.length) return "bad";
      if (!failed) failed = chunk[c] !== s[k++];
      c++;
    }
  }
  return failed ? false : s.slice(k);
}

/**
 * Whether Go's `filepath.Match(pattern, name)` fails with `ErrBadPattern`. Docker calls it with
 * `"."` to check each pattern, and it checks only as far as matching goes: `[a` is refused, `a*[`
 * is not (its regexp then fails at the first match).
 */
function goMatchRefuses(pattern: string, name: string): boolean {
  let p = Array.from(pattern);
  let rest = Array.from(name);
  next: while (p.length > 0) {
    const scan = scanChunk(p);
    p = scan.rest;
    if (scan.star && scan.chunk.length === 0) return false;
    const t = matchChunk(scan.chunk, rest);
    if (t === "bad") return true;
    if (t !== false && (t.length === 0 || p.length > 0)) {
      rest = t;
      continue;
    }
    for (let i = 0; scan.star && i < rest.length && rest[i] !== "/"; i++) {
      const u = matchChunk(scan.chunk, rest.slice(i + 1));
      if (u === "bad") return true;
      if (u !== false && !(p.length === 0 && u.length > 0)) {
        rest = u;
        continue next;
      }
    }
    return false;
  }
  return false;
}

type Range = [number, number];
const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
/** Go regexp's `[[:name:]]` classes (ASCII). */
const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: DIGIT,
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: WORD,
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};
/** Go regexp's `\d`, `\s`, `\w` (ASCII; the capital letter is the complement). */
const PERL_CLASSES: Record<string, Range[]> = { d: DIGIT, s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]], w: WORD };
/** Go regexp's C escapes. */
const C_ESCAPES: Record<string, number> = { a: 0x07, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
/** The one-letter Unicode categories of Go regexp's `\pL` (any case, as Go 1.25+ reads them). */
const UNICODE_CATEGORIES = "CLMNPSZ";
const own = <T>(table: Record<string, T>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

function complement(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

const codePoint = (n: number): string => `\\u{${n.toString(16)}}`;
const members = (ranges: Range[]): string => ranges.map(([lo, hi]) => (lo === hi ? codePoint(lo) : `${codePoint(lo)}-${codePoint(hi)}`)).join("");
const isOctal = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "7";

/** What a `\` escape of Go regexp stands for. */
type Escape = { char: number } | { members: string; negated?: boolean } | { assertion: string };

/**
 * Translates the Go regexp that Docker compiles a pattern to into an equivalent JavaScript one
 * (flag `u`), following Go's regexp/syntax with Perl flags for what Docker's compile can emit:
 * literals, `\`-escapes (punctuation, `\d\s\w`, `\pL`, C, octal and hex escapes, `\A \z \b \B`,
 * `\Q…\E`), classes (with `[:name:]`), `.`, `(…)?`, `*`, `^`, `$`, and the `|`, `{n,m}` that
 * Docker fails to escape. Throws the reason Go refuses it.
 */
function goRegexToJs(re: string): string {
  const cs = Array.from(re);
  let k = 0;
  // The escape after a `\` at cs[k - 1].
  const escape = (inClass: boolean): Escape => {
    const c = cs[k++];
    if (c === undefined) throw new Error("ends with a lone `\\`");
    const refused = () => new Error(`has \`\\${c}\`, which Docker reads as a regular-expression escape and refuses. Remove the \`\\\``);
    if (c.codePointAt(0)! < 0x80 && !/[A-Za-z0-9]/.test(c)) return { char: c.codePointAt(0)! };
    const perl = own(PERL_CLASSES, c.toLowerCase());
    if (perl) return { members: members(c === c.toLowerCase() ? perl : complement(perl)) };
    if (c === "p" || c === "P") {
      const category = (cs[k] ?? "").toUpperCase();
      if (category.length !== 1 || !UNICODE_CATEGORIES.includes(category)) throw refused();
      k++;
      return { members: `\\p{${category}}`, negated: c === "P" };
    }
    if (own(C_ESCAPES, c) !== undefined) return { char: C_ESCAPES[c] };
    if (c === "0" || (c >= "1" && c <= "7" && isOctal(cs[k]))) {
      let r = Number(c);
      for (let i = 0; i < 2 && isOctal(cs[k]); i++) r = r * 8 + Number(cs[k++]);
      return { char: r };
    }
    if (c === "x" && /^[0-9A-Fa-f]{2}$/.test(`${cs[k] ?? ""}${cs[k + 1] ?? ""}`)) {
      k += 2;
      return { char: parseInt(cs[k - 2] + cs[k - 1], 16) };
    }
    const assertion = own<string>({ A: "^", z: "$", b: "\\b", B: "\\B" }, c);
    if (assertion && !inClass) return { assertion };
    throw refused();
  };
  const classChar = (): number => {
    if (cs[k] !== "\\") return cs[k++].codePointAt(0)!;
    k++;
    const e = escape(true);
    if ("char" in e) return e.char;
    throw new Error("has a character range with a class (like `\\d`) as an end, which Docker refuses");
  };
  const parseClass = (): string => {
    const negated = cs[k] === "^";
    if (negated) k++;
    let body = "";
    for (let first = true; ; first = false) {
      if (k >= cs.length) throw new Error("has a character class `[...]` that is not closed, which Docker refuses");
      if (cs[k] === "]" && !first) {
        k++;
        return `[${negated ? "^" : ""}${body}]`;
      }
      if (cs[k] === "[" && cs[k + 1] === ":") {
        const end = cs.findIndex((c, j) => j >= k + 2 && c === ":" && cs[j + 1] === "]");
        if (end >= 0) {
          const name = cs.slice(k, end + 2).join("");
          const negatedName = name.startsWith("[:^");
          const named = own(POSIX_CLASSES, name.slice(negatedName ? 3 : 2, -2));
          if (!named) throw new Error(`has \`${name}\`, which is not a character class Docker knows`);
          body += members(negatedName ? complement(named) : named);
          k = end + 2;
          continue;
        }
      }
      if (cs[k] === "\\" && /^[dDsSwWpP]$/.test(cs[k + 1] ?? "")) {
        k++;
        const e = escape(true) as { members: string; negated?: boolean };
        body += e.negated ? e.members.replace("\\p", "\\P") : e.members;
        continue;
      }
      const lo = classChar();
      let hi = lo;
      if (cs[k] === "-" && k + 1 < cs.length && cs[k + 1] !== "]") {
        k++;
        hi = classChar();
        if (hi < lo) throw new Error("has a character range whose end comes before its start, which Docker refuses");
      }
      body += lo === hi ? codePoint(lo) : `${codePoint(lo)}-${codePoint(hi)}`;
    }
  };
  // A decimal for a repetition, as Go's `parseInt`: no leading zero; -1 when too big.
  const int = (): number | undefined => {
    if (!/^[0-9]$/.test(cs[k] ?? "") || (cs[k] === "0" && /^[0-9]$/.test(cs[k + 1] ?? ""))) return undefined;
    let n = 0;
    for (; /^[0-9]$/.test(cs[k] ?? ""); k++) n = n < 0 || n >= 1e8 ? -1 : n * 10 + Number(cs[k]);
    return n;
  };
  // `{min}`, `{min,}` or `{min,max}` after a `{` (max -1: none), or undefined when `{` is a literal.
  const repetition = (): { min: number; max: number } | undefined => {
    const start = k;
    let min = int();
    let max = min;
    if (min !== undefined && cs[k] === ",") {
      k++;
      max = cs[k] === "}" ? -1 : int();
      if (max !== undefined && max < -1) min = -1;
    }
    if (min !== undefined && max !== undefined && cs[k] === "}") {
      k++;
      return { min, max };
    }
    k = start;
    return undefined;
  };
  let out = "";
  // What a repetition would apply to: nothing (start, after `|` or `(`), an atom, or a repetition.
  let last: "none" | "atom" | "repeat" = "none";
  const repeat = (js: string, text: string) => {
    if (last !== "atom") throw new Error(`has a repetition \`${text}\` with ${last === "none" ? "nothing" : "another repetition"} before it, which Docker refuses`);
    out += js;
    last = "repeat";
  };
  while (k < cs.length) {
    const c = cs[k++];
    if (c === "\\" && cs[k] === "Q") {
      // `\Q…\E`: everything up to `\E` (or the end) is literal.
      let end = k + 1;
      while (end < cs.length && !(cs[end] === "\\" && cs[end + 1] === "E")) end++;
      const literal = cs.slice(k + 1, end);
      out += literal.map((l) => codePoint(l.codePointAt(0)!)).join("");
      if (literal.length > 0) last = "atom";
      k = end + 2;
    } else if (c === "\\") {
      const e = escape(false);
      out += "char" in e ? codePoint(e.char) : "members" in e ? `[${e.negated ? "^" : ""}${e.members}]` : `(?:${e.assertion})`;
      last = "atom";
    } else if (c === "[") {
      out += parseClass();
      last = "atom";
    } else if (c === "{") {
      const r = repetition();
      if (r === undefined) {
        out += codePoint(0x7b);
        last = "atom";
      } else if (r.min < 0 || r.min > 1000 || r.max > 1000 || (r.max >= 0 && r.min > r.max)) {
        throw new Error("has a repetition `{…}` with a count over 1000 or a minimum over its maximum, which Docker refuses");
      } else repeat(`{${r.min}${r.max === r.min ? "" : `,${r.max < 0 ? "" : r.max}`}}`, "{…}");
    } else if (c === "*" || c === "?") repeat(c, c);
    else if (c === "|" || c === "(") {
      out += c === "(" ? "(?:" : c;
      last = "none";
    } else {
      // JavaScript cannot repeat a bare `^` or `$`; Go can.
      out += c === "^" || c === "$" ? `(?:${c})` : c === "." ? "[^\\n]" : c === ")" ? c : codePoint(c.codePointAt(0)!);
      last = "atom";
    }
  }
  return out;
}

/**
 * `Pattern.compile`: how Docker matches one cleaned pattern against a path.
 * - literal only: the path equals the pattern;
 * - literal then a final `**`: the path starts with what is before the `**` (so `a**` matches `ab`);
 * - `**` first, then literal: the path ends with what follows the `**`, or is it without its `/`
 *   (`**` + `/a` matches `x/a` and `a`; `**` + `.log` matches `x.log`);
 * - else a regexp, anchored at both ends: `*` is `[^/]*`, `?` is `[^/]`, `**` (with the `/` after it)
 *   is any run of whole directories, also none, and a final `**` is anything; `\c` stays an escape
 *   and `[`, `]` stay a class.
 * A regexp that Go refuses fails when the pattern is first used, as in Docker: `fail` makes the error.
 */
function compilePattern(pattern: string, fail: (reason: string) => Error): (path: string) => boolean {
  const cs = Array.from(pattern);
  let kind: "exact" | "prefix" | "suffix" | "regexp" = "exact";
  let re = "^";
  for (let k = 0, first = true; k < cs.length; first = false) {
    const c = cs[k++];
    if (c === "*" && cs[k] === "*") {
      k++;
      if (cs[k] === "/") k++;
      if (k < cs.length) re += "(.*/)?";
      else if (kind !== "exact") re += ".*";
      kind = first ? "suffix" : k < cs.length || kind !== "exact" ? "regexp" : "prefix";
    } else if (c === "*") {
      re += "[^/]*";
      kind = "regexp";
    } else if (c === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (".+()$".includes(c)) re += `\\${c}`; // Docker means to escape `|{}` too, but its bitmap misses them.
    else if (c === "\\" && k < cs.length) {
      re += `\\${cs[k++]}`;
      kind = "regexp";
    } else if (c === "[" || c === "]") {
      re += c;
      kind = "regexp";
    } else re += c; // Also a final `\`, which then escapes the `$` below, as in Docker.
  }
  switch (kind) {
    case "exact":
      return (p) => p === pattern;
    case "prefix": {
      const prefix = pattern.slice(0, -2);
      return (p) => p.startsWith(prefix);
    }
    case "suffix": {
      const suffix = pattern.slice(2);
      return (p) => p.endsWith(suffix) || (suffix.startsWith("/") && p === suffix.slice(1));
    }
    case "regexp": {
      let js: RegExp;
      try {
        js = new RegExp(goRegexToJs(`${re}$`), "u");
      } catch (e) {
        const error = fail((e as Error).message);
        return () => {
          throw error;
        };
      }
      return (p) => js.test(p);
    }
  }
}

/** One compiled `.dockerignore` rule. */
interface IgnoreRule {
  test: (path: string) => boolean;
  exception: boolean;
}

/**
 * A `.dockerignore` matcher with Docker's rules (moby/patternmatcher, which buildx and BuildKit use).
 *
 * - Lines: a UTF-8 BOM is ignored; a line starting with `#` is a comment (` #x` is a pattern);
 *   whitespace around a pattern is trimmed; blank lines are skipped.
 * - Paths: relative to the context; cleaned like Go's `filepath.Clean` (`./a/`, `a//b`, `a/../b`);
 *   one leading `/` is dropped. A pattern that leaves the context (`../a`) matches nothing.
 * - Globs: `*` is any run of characters but `/`; `?` one character but `/`; `[abc]`, `[a-z]` and
 *   `[^a]` are classes (`[!a]` is not negated: it is `!` or `a`, as in Go); `\` escapes the next
 *   character; `**` spans any number of directories, also none (`**` + `/a` matches `a`).
 * - Order: `!pattern` re-includes; the last pattern matching a path decides; a pattern matching a
 *   directory matches everything under it, so an exception can re-include a file under an excluded
 *   directory.
 * - Docker's quirks are kept: it turns a pattern into a Go regexp, so `\d` is a digit and `\y` an error;
 *   `**` first then literal text is a suffix test (`**` + `.log` matches `a.log`).
 *
 * Throws a `DockerignoreError` naming the line for a pattern Docker refuses when it reads the file
 * (a lone `!`, a malformed class or `\`); the matcher throws one when it first uses a pattern whose
 * regexp Docker refuses (`\y`, `[z-a]`), as the build would fail there.
 */
export function dockerignoreMatcher(content: string): DockerignoreMatcher {
  const rules: IgnoreRule[] = [];
  for (const { line, text, pattern } of readIgnoreFile(content)) {
    // `patternmatcher.New` trims and cleans once more, then takes the `!` off.
    let p = trimSpace(pattern);
    if (p === "") continue;
    p = cleanPath(p);
    const exception = p.startsWith("!");
    if (exception) p = p.slice(1);
    if (exception && p === "") throw new DockerignoreError(line, text, "is a lone `!`: an exception needs a pattern after it");
    if (goMatchRefuses(p, ".")) {
      throw new DockerignoreError(line, text, "is not a pattern Docker accepts: a `[…]` class must have members and a closing `]`, a range cannot start with `-` or `]`, and a `\\` must escape a character. Escape a literal `[`, `]`, `-` or `\\` with `\\`");
    }
    rules.push({ test: compilePattern(p, (reason) => new DockerignoreError(line, text, reason)), exception });
  }
  const match = (relative: string): boolean => {
    const file = cleanPath(relative);
    if (file === "." || rules.length === 0) return false;
    const names = file.split("/");
    const parents = names.slice(0, -1).map((_, i) => names.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const rule of rules) {
      // An exception can only change an excluded path, an exclusion only an included one; as in
      // Docker, a rule that cannot change the result is not evaluated.
      if (rule.exception !== excluded) continue;
      if (rule.test(file) || parents.some(rule.test)) excluded = !rule.exception;
    }
    return excluded;
  };
  return Object.assign(match, { hasExceptions: rules.some((r) => r.exception) });
}
