/** Berth: zero-downtime container deploys to your own servers, as typed Pulumi components. */
export { Command, CommandArgs } from "./components/command";
export { BerthConfigError, Problem } from "./config/errors";
export { quote } from "./commands/shell";
export type { Connection } from "./provider/ssh";
export { AppService, AppServiceArgs, APP_SERVICE_TYPE } from "./components/app-service";
export { Proxy, ProxyArgs, PROXY_TYPE } from "./components/proxy";
export { AppHost, ProxyHost } from "./components/resources";
