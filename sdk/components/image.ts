/**
 * `Image`: `docker buildx build` as a resource. The component hashes the build context (files
 * after `.dockerignore`, and the Dockerfile) when the program runs, so an unchanged context
 * previews no change and runs no build. The build exports where the next step needs the image
 * (push, load, OCI) and outputs the pushed digest, which `AppService` deploys by digest.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfigError, hidingSecrets, mustBe, problemsOf } from "../config/errors";
import { type ImageArgs as PlainImageArgs, normalizeImage, writtenPathsSchema } from "../config/image";
import { BuildxBuilder } from "./buildx-builder";
import { hashContext } from "./context-hash";
import { ImageBuild } from "./resources";
import { argsProblem, knownProblems, plainProblems, secretPaths, throwProblems, valuesAt, type DeepInput } from "./inputs";
import { hookEnv, type HooksArgs } from "../config/hooks";
import { parseImage } from "../config/app";
import { hashOf, hookResource, resolveHooks } from "./hooks";

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
  /**
   * Kamal's `pre-build` hook, run on the machine running Pulumi before each build (when the
   * context or a setting changes), with `KAMAL_VERSION` = the first tag's tag. Other hooks in the
   * directory are not run by an Image. Plain values.
   * @default - no hooks
   * @example { path: ".kamal/hooks" }
   */
  hooks?: Pick<HooksArgs, "path" | "preBuild">;
};

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
    const bad = argsProblem(args, '`{ context: "./app", tags: ["registry.example.com/app:1.2.3"], … }`');
    if (bad) throw new BerthConfigError("Image", [bad]);
    const { builder, useBuilderProxy, context, dockerfile, hooks, ...rest } = args;
    // The context and Dockerfile are read now, so they must be plain, valid paths first.
    const plain = plainProblems(args, [["context"], ["dockerfile"]]);
    const paths = plain.length ? undefined : writtenPathsSchema.safeParse({ context, ...(dockerfile !== undefined ? { dockerfile } : {}) });
    throwProblems("Image", [
      ...plain,
      ...(paths && !paths.success ? problemsOf(paths.error) : []),
      ...(useBuilderProxy !== undefined && typeof useBuilderProxy !== "boolean"
        ? [{ path: "useBuilderProxy", message: mustBe("true or false", useBuilderProxy, "Set false to keep the builder's proxy away from `RUN` steps.") }]
        : []),
    ]);
    // Recorded relative to the project directory (where Pulumi.yaml is, and where the provider
    // runs), so the same program previews the same from any checkout. Paths are read from the
    // program's working directory, as Node does.
    const root = pulumi.runtime.getRootDirectory();
    const projectDir = path.isAbsolute(root) ? root : process.cwd();
    const hashed = hashContext(projectDir, path.resolve(context), dockerfile === undefined ? undefined : path.resolve(dockerfile));
    const builderName = builder instanceof BuildxBuilder ? builder.builderName : builder;
    const input = { ...rest, context: path.resolve(projectDir, hashed.context), dockerfile: path.resolve(projectDir, hashed.dockerfile), builder: builderName, destination: args.destination ?? pulumi.getStack() };

    throwProblems("Image", knownProblems(input, (known) => normalizeImage(known as unknown as PlainImageArgs)));
    this.contextHash = hashed.hash;
    const hookSources = resolveHooks("Image", hooks, ["pre-build"]);

    // Build args are not secrets (argv, image history): refuse a secret one rather than leak it.
    const argsAreSecret = pulumi.output((pulumi.output(args.buildArgs ?? {}) as unknown as { isSecret: Promise<boolean> }).isSecret);
    const inputSecrets = pulumi.output(secretPaths(input));
    const cfg = pulumi.all([pulumi.unsecret(pulumi.output(input)), argsAreSecret, inputSecrets]).apply(([a, secretArgs, paths]) => {
      if (secretArgs) {
        throw new BerthConfigError("Image", [{ path: "buildArgs", message: "holds a secret; build args appear in argv and can end up in the image. Pass it in `secrets` and read it with `RUN --mount=type=secret,id=<id>`." }]);
      }
      // What the user marked secret is never shown in a message.
      return hidingSecrets(valuesAt(a, paths), () => normalizeImage(a as unknown as PlainImageArgs));
    });
    const proxyEnv: pulumi.Output<Record<string, string>> = builder instanceof BuildxBuilder && useBuilderProxy !== false ? builder.proxyEnv : pulumi.output({} as Record<string, string>);

    // Kamal's pre-build: before the build, whenever the build runs (a new context or settings). The
    // paths in the trigger are the project-relative ones, so another checkout previews no change.
    const preBuild = hookSources["pre-build"]
      ? [
          hookResource(
            `${name}-hook-pre-build`,
            {
              hook: "pre-build",
              source: hookSources["pre-build"],
              env: cfg.apply((c) => hookEnv({ version: c.tags.length > 0 ? parseImage(c.tags[0])?.tag : undefined, destination: input.destination, hosts: [], command: "deploy" })),
              trigger: { context: this.contextHash, config: cfg.apply(({ secrets: _s, context: _c, dockerfile: _d, ...c }) => hashOf({ ...c, context: hashed.context, dockerfile: hashed.dockerfile })) },
              secretsTrigger: cfg.apply((c) => hashOf(c.secrets)),
            },
            { parent: this, dependsOn: builder instanceof BuildxBuilder ? [builder.resource] : [] },
          ),
        ]
      : [];

    this.resource = new ImageBuild(
      `${name}-build`,
      {
        context: hashed.context,
        dockerfile: hashed.dockerfile,
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
      { parent: this, dependsOn: [...(builder instanceof BuildxBuilder ? [builder.resource] : []), ...preBuild] },
    );
    this.digest = this.resource.digest;
    this.ref = this.resource.ref;
    this.tags = cfg.apply((c) => c.tags);
    this.registerOutputs({ digest: this.digest, ref: this.ref, tags: this.tags, contextHash: this.contextHash });
  }
}
