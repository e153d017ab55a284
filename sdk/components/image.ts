/**
 * `Image`: `docker buildx build` as a resource. The component hashes the build context (files
 * after `.dockerignore`, and the Dockerfile) when the program runs, so an unchanged context
 * previews no change and runs no build. The build exports where the next step needs the image
 * (push, load, OCI) and outputs the pushed digest, which `AppService` deploys by digest.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError, show } from "../config/errors";
import { type ImageArgs as PlainImageArgs, dockerignoreMatcher, normalizeImage } from "../config/image";
import { providerFor } from "../provider/dynamic";
import type { ImageInputs, ImageOutputs } from "../provider/buildx";
import { BuildxBuilder } from "./buildx-builder";
import { plainWhenKnown, type DeepInput } from "./inputs";

/** The Pulumi type token of the Image component. */
export const IMAGE_TYPE = "berth:index:Image";

type Inputs<T> = DeepInput<T>;

export type ImageArgs = Omit<{ [K in keyof PlainImageArgs]: Inputs<PlainImageArgs[K]> }, "context" | "dockerfile" | "builder" | "destination"> & {
  /**
   * Build context directory, relative to the program's directory or absolute. A plain value: it is
   * hashed when the program runs.
   */
  context: string;
  /**
   * Dockerfile, relative to the program's directory or absolute. Equivalent to `--file`.
   * @default - `Dockerfile` in the context
   */
  dockerfile?: string;
  /**
   * The builder: a `BuildxBuilder` (its proxy also reaches `RUN` steps), or the name of an
   * existing buildx builder. Equivalent to `--builder`.
   * @default - buildx's current builder
   */
  builder?: BuildxBuilder | pulumi.Input<string>;
  /**
   * Pass a `BuildxBuilder`'s proxy to `RUN` steps as the HTTP_PROXY/HTTPS_PROXY/NO_PROXY build
   * args (from buildx's environment, never argv; BuildKit keeps them out of the image history).
   * @default true
   */
  useBuilderProxy?: boolean;
  /**
   * The `destination` label.
   * @default - the stack name, like `AppService`
   */
  destination?: string;
};

type ResourceInputs = { [K in keyof ImageInputs]: pulumi.Input<ImageInputs[K]> };

/** The build (`pulumi-nodejs:dynamic/berth:Image`). */
export class ImageBuild extends pulumi.dynamic.Resource {
  declare readonly digest: pulumi.Output<string>;
  declare readonly ref: pulumi.Output<string>;
  declare readonly contextHash: pulumi.Output<string>;
  constructor(name: string, args: ResourceInputs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      providerFor("image"),
      name,
      { ...args, digest: undefined, ref: undefined } as ResourceInputs & Partial<ImageOutputs>,
      { ...opts, additionalSecretOutputs: ["secrets", ...(opts.additionalSecretOutputs ?? [])] },
      "berth",
      "Image",
    );
  }
}

/** The ignore file buildx uses: `<Dockerfile>.dockerignore` if present, else `<context>/.dockerignore`. */
function ignoreFile(context: string, dockerfile: string): string | undefined {
  for (const f of [`${dockerfile}.dockerignore`, path.join(context, ".dockerignore")]) if (fs.existsSync(f)) return f;
  return undefined;
}

/**
 * sha256 over the context as BuildKit receives it: every file, directory and symlink not excluded
 * by the ignore file (path, type, executable bit, content), then the Dockerfile's content.
 */
export function hashContext(context: string, dockerfile: string): string {
  const problems = [];
  if (!fs.existsSync(context) || !fs.statSync(context).isDirectory()) problems.push({ path: "context", message: `must be a directory; got ${show(context)}, which ${fs.existsSync(context) ? "is not a directory" : "does not exist"}. Paths are relative to the program's directory.` });
  if (!fs.existsSync(dockerfile) || !fs.statSync(dockerfile).isFile()) problems.push({ path: "dockerfile", message: `must be a file; got ${show(dockerfile)}, which does not exist. Set \`dockerfile\`, or add a Dockerfile to the context.` });
  if (problems.length) throw new BerthConfigError("Image", problems);
  const ignore = ignoreFile(context, dockerfile);
  const excluded = dockerignoreMatcher(ignore ? fs.readFileSync(ignore, "utf8") : "");
  const h = createHash("sha256");
  const walk = (dir: string, rel: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, e.name);
      const out = excluded(r);
      if (e.isDirectory()) {
        if (!out) h.update(`d\0${r}\0`);
        // An excluded directory may still hold re-included (`!`) files.
        if (!out || excluded.hasExceptions) walk(full, r);
      } else if (out) {
        continue;
      } else if (e.isSymbolicLink()) {
        h.update(`l\0${r}\0${fs.readlinkSync(full)}\0`);
      } else if (e.isFile()) {
        const mode = fs.statSync(full).mode & 0o111 ? "x" : "-";
        h.update(`f\0${r}\0${mode}\0${createHash("sha256").update(fs.readFileSync(full)).digest("hex")}\0`);
      }
    }
  };
  walk(context, "");
  h.update(`dockerfile\0${createHash("sha256").update(fs.readFileSync(dockerfile)).digest("hex")}`);
  return `sha256:${h.digest("hex")}`;
}

export class Image extends pulumi.ComponentResource {
  /** The build resource (an escape hatch: `dependsOn`, transforms). */
  readonly resource: ImageBuild;
  /** The digest buildx reports: the pushed manifest list or manifest. */
  readonly digest: pulumi.Output<string>;
  /** `repository@sha256:…` of the first tag when pushed (deploy this), else the first tag. */
  readonly ref: pulumi.Output<string>;
  /** The tags given. */
  readonly tags: pulumi.Output<string[]>;
  /** Hash of the context and Dockerfile; a build runs only when it (or another input) changes. */
  readonly contextHash: string;

  constructor(name: string, args: ImageArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(IMAGE_TYPE, name, {}, opts);
    const { builder, useBuilderProxy, context, dockerfile, ...rest } = args;
    const contextDir = path.resolve(context);
    const dockerfilePath = dockerfile !== undefined ? path.resolve(dockerfile) : path.join(contextDir, "Dockerfile");
    const builderName = builder instanceof BuildxBuilder ? builder.builderName : builder;
    const input = { ...rest, context: contextDir, dockerfile: dockerfilePath, builder: builderName, destination: args.destination ?? pulumi.getStack() };

    plainWhenKnown(input, (plain) => normalizeImage(plain as unknown as PlainImageArgs));
    this.contextHash = hashContext(contextDir, dockerfilePath);

    // Build args are not secrets (argv, image history): refuse a secret one rather than leak it.
    const argsAreSecret = pulumi.output((pulumi.output(args.buildArgs ?? {}) as unknown as { isSecret: Promise<boolean> }).isSecret);
    const cfg = pulumi.all([pulumi.unsecret(pulumi.output(input)), argsAreSecret]).apply(([a, secretArgs]) => {
      if (secretArgs) {
        throw new BerthConfigError("Image", [{ path: "buildArgs", message: "holds a secret; build args appear in argv and can end up in the image. Pass it in `secrets` and read it with `RUN --mount=type=secret,id=<id>`." }]);
      }
      return normalizeImage(a as unknown as PlainImageArgs);
    });
    const proxyEnv: pulumi.Output<Record<string, string>> = builder instanceof BuildxBuilder && useBuilderProxy !== false ? builder.proxyEnv : pulumi.output({} as Record<string, string>);

    this.resource = new ImageBuild(
      `${name}-build`,
      {
        context: contextDir,
        dockerfile: dockerfilePath,
        contextHash: this.contextHash,
        target: cfg.apply((c) => c.target as string),
        buildArgs: cfg.apply((c) => c.buildArgs),
        ssh: cfg.apply((c) => c.ssh),
        platforms: cfg.apply((c) => c.platforms),
        tags: cfg.apply((c) => c.tags),
        labels: cfg.apply((c) => c.labels),
        exports: cfg.apply((c) => c.exports),
        cacheFrom: cfg.apply((c) => c.cacheFrom),
        cacheTo: cfg.apply((c) => c.cacheTo),
        noCache: cfg.apply((c) => c.noCache),
        pull: cfg.apply((c) => c.pull),
        provenance: cfg.apply((c) => c.provenance as boolean),
        sbom: cfg.apply((c) => c.sbom as boolean),
        network: cfg.apply((c) => c.network as "default"),
        builder: cfg.apply((c) => c.builder as string),
        trustedCaFiles: builder instanceof BuildxBuilder ? builder.registryCaFiles : [],
        secrets: pulumi.secret(pulumi.all([cfg, proxyEnv]).apply(([c, p]) => ({ build: c.secrets, proxyEnv: p }))),
      },
      { parent: this, dependsOn: builder instanceof BuildxBuilder ? [builder.resource] : [] },
    );
    this.digest = this.resource.digest;
    this.ref = this.resource.ref;
    this.tags = cfg.apply((c) => c.tags);
    this.registerOutputs({ digest: this.digest, ref: this.ref, tags: this.tags, contextHash: this.contextHash });
  }
}
