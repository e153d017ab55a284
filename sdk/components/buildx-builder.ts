/**
 * `BuildxBuilder`: a `docker buildx` builder as a resource — what seed 000 creates by hand and
 * Kamal cannot: a `docker-container` builder behind a proxy trusting a private CA, a `remote`
 * buildkitd over mutual TLS, a `kubernetes` builder, or several nodes with their own platforms.
 * Any change of its settings recreates it (the preview names the field); destroy removes it and
 * its BuildKit containers.
 */
import * as pulumi from "@pulumi/pulumi";
import { type BuilderArgs, type BuilderConfig, type BuildkitdConfigArgs, normalizeBuildkitdConfig, normalizeBuilder } from "../config/builder";
import { renderBuildkitdToml } from "../commands/buildx";
import type { BuilderNodeSpec } from "../config/resources";
import { BuildxBuilderResource } from "./resources";
import { BerthConfigError, hidingSecrets } from "../config/errors";
import { argsProblem, knownProblems, plainProblems, secretPaths, throwProblems, valuesAt, type DeepInput } from "./inputs";

/** The Pulumi type token of the BuildxBuilder component. */
export const BUILDX_BUILDER_TYPE = "berth:index:BuildxBuilder";

type Inputs<T> = DeepInput<T>;

export type BuildxBuilderArgs = Omit<{ [K in keyof BuilderArgs]: Inputs<BuilderArgs[K]> }, "name"> & {
  /**
   * The buildx builder name (`docker buildx create --name`). A plain value: it names the BuildKit
   * containers (`buildx_buildkit_<name>0`) and is what `Image` passes to `--builder`.
   * @default - `<resource name>-<stack>`, so two stacks on one machine never share a builder
   */
  name?: string;
};

/** What a node shows in state and previews: its settings without TLS material. */
function specOf(n: BuilderConfig["nodes"][number]): BuilderNodeSpec {
  const { tls, ...rest } = n;
  return tls ? { ...rest, tls: tls.serverName !== undefined ? { serverName: tls.serverName } : {} } : rest;
}

export class BuildxBuilder extends pulumi.ComponentResource {
  /** The buildx builder name, for `--builder` and `docker buildx inspect`. */
  readonly builderName: string;
  /** The builder resource (an escape hatch: `dependsOn`, transforms). */
  readonly resource: BuildxBuilderResource;
  /** The normalized settings without secrets. */
  readonly driver: pulumi.Output<BuilderConfig["driver"]>;
  /** Every node's platforms, node by node. */
  readonly platforms: pulumi.Output<string[][]>;
  /**
   * HTTP_PROXY / HTTPS_PROXY / NO_PROXY of the builder (secret): `Image`s built with this builder
   * pass them to `RUN` steps.
   */
  readonly proxyEnv: pulumi.Output<Record<string, string>>;
  /**
   * The registry CA files of the nodes' buildkitd.toml. `Image` trusts them in the buildx client
   * too, which talks to the registry itself when it merges a multi-node manifest list.
   */
  readonly registryCaFiles: pulumi.Output<string[]>;

  constructor(name: string, args: BuildxBuilderArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super(BUILDX_BUILDER_TYPE, name, {}, opts);
    const bad = argsProblem(args, '`{ driver: "docker-container", … }`');
    if (bad) throw new BerthConfigError("BuildxBuilder", [bad]);
    this.builderName = args.name ?? `${name}-${pulumi.getStack()}`;
    const input = { ...args, name: this.builderName };

    // Before the builder resource: the name must be plain, and every part known now is valid; the
    // rest is validated when it resolves (still at preview).
    throwProblems("BuildxBuilder", [
      ...plainProblems(args, [["name"]]),
      ...knownProblems(input, (known) => normalizeBuilder(known as unknown as BuilderArgs)),
    ]);
    // `env` given as a secret is handled like `secretEnv` (never in argv or plain state).
    const envIsSecret = pulumi.output((pulumi.output(args.env ?? {}) as unknown as { isSecret: Promise<boolean> }).isSecret);
    const inputSecrets = pulumi.output(secretPaths(input));
    const cfg = pulumi.all([pulumi.unsecret(pulumi.output(input)), envIsSecret, inputSecrets]).apply(([a, envSecret, paths]) => {
      const plain = a as unknown as BuilderArgs;
      // What the user marked secret is never shown in a message.
      return hidingSecrets(valuesAt(a, paths), () =>
        normalizeBuilder(envSecret && plain.env ? { ...plain, env: undefined, secretEnv: { ...(plain.secretEnv ?? {}), ...plain.env } } : plain),
      );
    });

    this.resource = new BuildxBuilderResource(
      `${name}-builder`,
      {
        name: this.builderName,
        driver: cfg.apply((c) => c.driver),
        driverOptions: cfg.apply((c) => c.driverOptions),
        nodes: cfg.apply((c) => c.nodes.map(specOf)),
        secrets: pulumi.secret(cfg.apply((c) => ({ env: c.secretEnv, proxyEnv: c.proxyEnv, tls: c.nodes.map((n) => n.tls ?? null) }))),
      },
      { parent: this },
    );
    this.driver = cfg.apply((c) => c.driver);
    this.platforms = cfg.apply((c) => c.nodes.map((n) => n.platforms));
    this.proxyEnv = pulumi.secret(cfg.apply((c) => c.proxyEnv));
    this.registryCaFiles = cfg.apply((c) => [...new Set(c.nodes.flatMap((n) => Object.values(n.config?.registry ?? {}).flatMap((r) => r.ca ?? [])))]);
    this.registerOutputs({ builderName: this.builderName, driver: this.driver, platforms: this.platforms });
  }
}

/**
 * Renders a buildkitd.toml from the typed model (preset applied, validated), e.g. for a buildkitd
 * you run yourself and reach with the `remote` driver. Throws one `BerthConfigError` on bad input.
 */
export function buildkitdToml(config: BuildkitdConfigArgs): string {
  return renderBuildkitdToml(normalizeBuildkitdConfig(config, "buildkitdToml", "config"));
}
