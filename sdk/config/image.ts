/**
 * Image configuration: `normalizeImage` turns `ImageArgs` (plain values, secrets included) into a
 * validated `ImageConfig`, or throws one `BerthConfigError` listing every problem with its path.
 * Also the `.dockerignore` matcher the component hashes the build context with.
 */
import * as path from "node:path";
import { z } from "zod";
import { parseImage } from "./app";
import { platformList, uniqueList } from "./builder";
import { dict, evenWithFieldErrors, flag, isRecord, list, matching, mustBe, parse, problem, secret, show, strict, text } from "./errors";

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

const absolute = (what: string) =>
  text(`an absolute path to ${what}`).superRefine((v, ctx) => {
    if (!path.isAbsolute(v)) problem(ctx, [], mustBe(`an absolute path to ${what}`, v));
  });

const tag = () =>
  text(TAG_EXPECT).superRefine((v, ctx) => {
    const ref = parseImage(v);
    if (!ref || ref.digest !== undefined || ref.tag === undefined) {
      problem(ctx, [], mustBe(TAG_EXPECT, v, ref?.digest !== undefined ? "A digest is an output of the build (`Image.digest`), not a tag." : "Add `:<tag>`, e.g. `:latest` or a version."));
    }
  });

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
          }),
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
  buildArgs: dict(text(), "an object of build arg → value")
    .superRefine((args, ctx) => {
      for (const k of Object.keys(args ?? {})) if (!ARG_NAME.test(k)) problem(ctx, [k], `must be named like a build arg (letters, digits and \`_\`, not starting with a digit); got ${show(k)}.`);
    })
    .optional(),
  secrets: dict(secret("a string"), "an object of secret id → secret value")
    .superRefine((s, ctx) => {
      for (const k of Object.keys(s ?? {})) if (!SECRET_ID.test(k)) problem(ctx, [k], `must be a secret id (letters, digits, \`_\`, \`.\`, \`-\`); got ${show(k)}.`);
    })
    .optional(),
  ssh: list(matching(SSH, "`default` or `<id>=<path>`"), "a list of ssh sources").optional(),
  platforms: platformList().optional(),
  tags: uniqueList(tag(), "a list of image references").optional(),
  labels: dict(text(), "an object of label → value")
    .superRefine((labels, ctx) => {
      for (const k of Object.keys(labels ?? {})) {
        if (RESERVED_LABELS.includes(k)) problem(ctx, [k], `is set from the \`${k}\` field; got ${show(labels[k])} in \`labels\`. Set \`${k}\` instead.`);
        else if (!LABEL_KEY.test(k)) problem(ctx, [k], mustBe("a label name (letters, digits, `.`, `_`, `/`, `-`)", k));
      }
    })
    .optional(),
  service: matching(/^[a-z][a-z0-9_-]*$/, "lowercase letters, digits, `-` or `_`, starting with a letter").optional(),
  destination: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "letters, digits, `_`, `.` or `-`").optional(),
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

/** One `.dockerignore` rule. */
interface IgnoreRule {
  re: RegExp;
  exclude: boolean;
}

function patternToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += /[.+^${}()|[\]]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${re}$`);
}

/**
 * A `.dockerignore` matcher with Docker's rules: patterns are relative to the context (a leading
 * `/` is dropped), `*` and `?` stay within one path segment, `**` spans segments, `!` re-includes,
 * the last matching rule wins, and a pattern matching a directory matches everything under it.
 * Returns `(relativePath) => excluded`; `hasExceptions` tells a walker to look inside excluded directories.
 */
export function dockerignoreMatcher(content: string): ((relative: string) => boolean) & { hasExceptions: boolean } {
  const rules: IgnoreRule[] = [];
  for (const raw of content.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    let exclude = true;
    if (line.startsWith("!")) {
      exclude = false;
      line = line.slice(1).trim();
    }
    line = path.posix.normalize(line.replace(/^\/+/, "")).replace(/\/+$/, "");
    if (!line || line === ".") continue;
    rules.push({ re: patternToRegExp(line), exclude });
  }
  const match = (relative: string) => {
    const parts = relative.split("/");
    let excluded = false;
    for (const rule of rules) {
      // The path itself or any of its parent directories.
      for (let n = parts.length; n >= 1; n--) {
        if (rule.re.test(parts.slice(0, n).join("/"))) {
          excluded = rule.exclude;
          break;
        }
      }
    }
    return excluded;
  };
  return Object.assign(match, { hasExceptions: rules.some((r) => !r.exclude) });
}
