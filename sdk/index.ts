/** Berth: zero-downtime container deploys to your own servers, as typed Pulumi components. */
export { Command, CommandArgs } from "./components/command";
export { BerthConfigError, Problem } from "./config/errors";
export { quote } from "./commands/shell";
export type { Connection } from "./provider/ssh";
export { AppService, AppServiceArgs, APP_SERVICE_TYPE } from "./components/app-service";
export { Proxy, ProxyArgs, PROXY_TYPE } from "./components/proxy";
export { AppHost, ProxyHost, ImageBuild, BuildxBuilderResource, APP_HOST_TOKEN, PROXY_HOST_TOKEN, COMMAND_TOKEN, BUILDX_BUILDER_TOKEN, IMAGE_TOKEN } from "./components/resources";
export type { AppHostInputs, ProxyHostInputs, CommandInputs, BuildxBuilderInputs, ImageInputs } from "./config/resources";
export { BERTH_VERSION } from "./version";
export { BuildxBuilder, BuildxBuilderArgs, BUILDX_BUILDER_TYPE, buildkitdToml } from "./components/buildx-builder";
export { Image, ImageArgs, IMAGE_TYPE } from "./components/image";
export { buildkitdPresets } from "./config/builder";
export type { BuildkitdConfigArgs, BuilderProxyArgs, BuilderTlsArgs, BuilderNodeArgs, KubernetesDriverArgs } from "./config/builder";
export type { CacheArgs } from "./config/image";
export { fromKamalConfig, KamalImport, KamalImportOptions } from "./config/kamal";
