/**
 * The generic Command resource: runs `create` on create, `update` (or `create`) on change and
 * `delete` on destroy, locally or on a host over SSH. Berth's escape hatch (and Kamal-hook
 * equivalent) for anything its typed components do not do.
 */
import { randomBytes } from "node:crypto";
import type { Handler } from "./handlers";
import { Connection, ExecResult, run } from "./ssh";
import { runLocal } from "./local";
import { diffKeys } from "./diff";

/** Inputs of a Command, resolved. */
export interface CommandInputs {
  connection?: Connection;
  create: string;
  update?: string;
  delete?: string;
  /** Written to the command's stdin (secret-safe). */
  stdin?: string;
  /** Extra environment for local commands. */
  environment?: Record<string, string>;
  /** Any change to these replaces the resource. */
  triggers?: unknown[];
}

function exec(step: string, command: string, inputs: CommandInputs): Promise<ExecResult> {
  if (inputs.connection) return run(inputs.connection, step, command, { stdin: inputs.stdin });
  return runLocal(step, command, { env: inputs.environment, stdin: inputs.stdin });
}

const DIFF_KEYS = ["create", "update", "delete", "stdin", "environment"] as const;

export const commandHandler: Handler = {
  async create(inputs: CommandInputs) {
    const r = await exec("create", inputs.create, inputs);
    return { id: randomBytes(8).toString("hex"), outs: { ...inputs, stdout: r.stdout, stderr: r.stderr } };
  },
  async update(_id, _olds: CommandInputs, news: CommandInputs) {
    const r = await exec("update", news.update ?? news.create, news);
    return { outs: { ...news, stdout: r.stdout, stderr: r.stderr } };
  },
  async delete(_id, props: CommandInputs) {
    if (props.delete) await exec("delete", props.delete, props);
  },
  async diff(_id, olds: CommandInputs, news: CommandInputs) {
    const d = diffKeys(olds, news, [...DIFF_KEYS, "triggers", "connection"], ["triggers"]);
    // A new key or user for the same host does not re-run the command; a new host does.
    const hostChanged = (olds.connection?.host ?? "") !== (news.connection?.host ?? "");
    const changes = DIFF_KEYS.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) || hostChanged || d.replaces!.length > 0;
    return { ...d, changes };
  },
};
