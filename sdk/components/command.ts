/**
 * `Command`: run a shell command on create, update and destroy, on this machine or on a host over
 * SSH. The escape hatch for anything Berth's typed components do not cover (the equivalent of a
 * Kamal hook), and Berth's replacement for @pulumi/command (whose provider plugin cannot be built
 * from the registries Berth installs from; see docs/toolchain.md). A custom resource of Berth's
 * provider: `stdout`/`stderr` are secret whenever an input is.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Connection } from "../provider/ssh";
import { CommandResource } from "./resources";

export interface CommandArgs {
  /** Where to run: omit for this machine; an SSH connection for a host. */
  connection?: pulumi.Input<Connection>;
  /** Shell text run when the resource is created (and on update when `update` is not set). */
  create: pulumi.Input<string>;
  /**
   * Shell text run when an input changes.
   * @default - `create` is run again
   */
  update?: pulumi.Input<string>;
  /**
   * Shell text run when the resource is destroyed.
   * @default - nothing runs
   */
  delete?: pulumi.Input<string>;
  /**
   * Text written to the command's standard input; the safe way to hand it a secret (it is stored
   * encrypted and never appears in argv or logs).
   */
  stdin?: pulumi.Input<string>;
  /** Extra environment variables for a local command. */
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Any change to these values replaces the resource (delete runs for the old one). */
  triggers?: pulumi.Input<unknown[]>;
}

/** `berth:index:Command`, served by Berth's provider plugin. */
export class Command extends CommandResource {
  constructor(name: string, args: CommandArgs, opts: pulumi.CustomResourceOptions = {}) {
    // `environment` may hold Outputs per value; the resource takes the resolved map.
    super(name, { ...args, environment: args.environment === undefined ? undefined : (pulumi.output(args.environment) as pulumi.Output<Record<string, string>>) }, opts);
  }
}
