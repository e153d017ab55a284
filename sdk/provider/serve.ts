/**
 * Serves Berth's provider over gRPC with `@pulumi/pulumi/provider`'s `main`.
 *
 * Three additions. `main` ignores the provider configuration: Berth keeps it for `pulumi import`.
 * `main` cannot read a resource that has no properties yet (an import): Berth gives it empty ones.
 * And `main` answers `Diff` with changes and replacements only, so the engine would
 * compute the property diff itself and a preview could not say, e.g., that only `secrets.env.TOKEN`
 * changed. `main` registers its service implementation with `@grpc/grpc-js` (the instance
 * `@pulumi/pulumi` itself loads); Berth wraps that implementation's `diff` to add the detailed diff
 * its provider computed (Pulumi's `DetailedDiff`, `PropertyDiff` kinds) to the response.
 */
import * as path from "node:path";
import * as provider from "@pulumi/pulumi/provider";
import { BERTH_VERSION } from "../version";
import { BerthProvider, detailedDiffs, RESOURCES } from "./provider";
import type { DiffKind } from "./resource";
import { packageSchema } from "./schema";
import { setProviderConfig } from "./config";
import { reveal } from "./values";

const KINDS: Record<DiffKind, string> = {
  add: "ADD",
  "add-replace": "ADD_REPLACE",
  delete: "DELETE",
  "delete-replace": "DELETE_REPLACE",
  update: "UPDATE",
  "update-replace": "UPDATE_REPLACE",
};

type Callback = (err: unknown, resp: unknown) => void;
type Impl = Record<string, unknown> & {
  diff?: (call: { request: { getUrn(): string } }, cb: Callback) => unknown;
  configure?: (call: { request: any }, cb: Callback) => unknown;
  read?: (call: { request: any }, cb: Callback) => unknown;
};

/** Adds the detailed diff of `urn` (computed by BerthProvider.diff) to a DiffResponse. */
function addDetailedDiff(urn: string, resp: any): void {
  const d = detailedDiffs.get(urn);
  detailedDiffs.delete(urn);
  if (!d) return;
  const pb = require("@pulumi/pulumi/proto/provider_pb");
  resp.setDiffsList(d.diffs);
  const map = resp.getDetaileddiffMap();
  for (const [p, kind] of Object.entries(d.detailed)) {
    const pd = new pb.PropertyDiff();
    pd.setKind(pb.PropertyDiff.Kind[KINDS[kind]]);
    pd.setInputdiff(true);
    map.set(p, pd);
  }
  resp.setHasdetaileddiff(true);
}

function patchDiff(): void {
  const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (this: unknown, service: unknown, impl: Impl) {
    if (impl && typeof impl.configure === "function") {
      // `main` ignores the provider configuration; keep it for `pulumi import` (see config.ts).
      const configure = impl.configure.bind(impl);
      impl.configure = (call, cb) => {
        const args = call.request.getArgs?.()?.toJavaScript?.() ?? {};
        const vars: Record<string, string> = {};
        for (const [k, v] of call.request.getVariablesMap?.()?.entries?.() ?? []) vars[String(k).replace(/^berth:(config:)?/, "")] = v;
        setProviderConfig({ ...vars, ...reveal<Record<string, unknown>>(args) });
        return configure(call, cb);
      };
    }
    if (impl && typeof impl.read === "function") {
      // An import's Read has no properties yet; `main` would crash reading them.
      const read = impl.read.bind(impl);
      const { Struct } = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [pulumiDir] }));
      impl.read = (call, cb) => {
        if (!call.request.getProperties()) call.request.setProperties(new Struct());
        return read(call, cb);
      };
    }
    if (impl && typeof impl.diff === "function") {
      const diff = impl.diff.bind(impl);
      impl.diff = (call, cb) =>
        diff(call, (err, resp) => {
          if (!err && resp) addDetailedDiff(call.request.getUrn(), resp);
          cb(err, resp);
        });
    }
    return addService.call(this, service, impl);
  };
}

export function berthProvider(): BerthProvider {
  return new BerthProvider(BERTH_VERSION, JSON.stringify(packageSchema(BERTH_VERSION, RESOURCES)));
}

export async function serve(args: string[]): Promise<void> {
  patchDiff();
  await provider.main(berthProvider(), args);
}
