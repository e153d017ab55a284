/**
 * `berth:index:Command`: runs `create` on create, `update` (or `create`) on change and `delete` on
 * destroy, locally or on a host over SSH. Berth's escape hatch (and Kamal-hook equivalent) for
 * anything its typed components do not do. Output is secret whenever an input is.
 */
import { randomBytes } from "node:crypto";
import { commandOutputsSchema, commandSchema, type CommandInputs } from "../config/resources";
import type { ResourceDef } from "./resource";
import { type ExecResult, run } from "./ssh";
import { runLocal } from "./local";

export const COMMAND_TOKEN = "berth:index:Command";

function exec(step: string, command: string, inputs: CommandInputs): Promise<ExecResult> {
  if (inputs.connection) return run(inputs.connection, step, command, { stdin: inputs.stdin });
  return runLocal(step, command, { env: inputs.environment, stdin: inputs.stdin });
}

/** Paths whose change alone does not re-run the command: a new key or user for the same host. */
function onlyCredentials(changes: Record<string, string>): boolean {
  return Object.keys(changes).every((p) => p.startsWith("connection") && p !== "connection.host" && p !== "connection");
}

export const commandResource: ResourceDef<CommandInputs, { stdout: string; stderr: string }> = {
  token: COMMAND_TOKEN,
  inputs: commandSchema,
  outputs: commandOutputsSchema,
  secretInputs: ["connection", "stdin"],
  secretOutputsWhenInputsSecret: ["stdout", "stderr"],
  replaceOnChanges: ["triggers"],

  async create(inputs) {
    const r = await exec("create", inputs.create, inputs);
    return { id: randomBytes(8).toString("hex"), outs: { stdout: r.stdout, stderr: r.stderr } };
  },
  async update(_id, _olds, news, changes) {
    if (onlyCredentials(changes)) return;
    const r = await exec("update", news.update ?? news.create, news);
    return { stdout: r.stdout, stderr: r.stderr };
  },
  async delete(_id, props) {
    if (props.delete) await exec("delete", props.delete, props);
  },
};
