/**
 * Progress lines from provider code to the Pulumi engine's log, so `pulumi up` shows one line per
 * host and phase while a rollout runs. The dynamic-provider process is started with the engine's
 * address as its first argument; without it (tests), lines go to stderr.
 */
import * as grpc from "@grpc/grpc-js";

let client: any | undefined;
let tried = false;

function engine(): any | undefined {
  if (tried) return client;
  tried = true;
  const address = process.argv[2];
  if (!address || !/^[\w.-]+:\d+$/.test(address)) return undefined;
  try {
    const services = require("@pulumi/pulumi/proto/engine_grpc_pb");
    client = new services.EngineClient(address, grpc.credentials.createInsecure());
  } catch {
    client = undefined;
  }
  return client;
}

/** Logs one informational line (never pass secret text). */
export function progress(message: string): Promise<void> {
  const c = engine();
  if (!c) {
    process.stderr.write(`${message}\n`);
    return Promise.resolve();
  }
  const pb = require("@pulumi/pulumi/proto/engine_pb");
  const req = new pb.LogRequest();
  req.setSeverity(pb.LogSeverity.INFO);
  req.setMessage(message);
  return new Promise((resolve) => c.log(req, () => resolve()));
}
