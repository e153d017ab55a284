/** Property-level diffs for Berth's dynamic resources. */
import { isDeepStrictEqual } from "node:util";
import type * as pulumi from "@pulumi/pulumi";

/**
 * Compares `olds` and `news` over `keys` (top-level input names). Changes to keys in `replaceKeys`
 * force a replacement; keys not listed are ignored (e.g. SSH credentials, which may rotate
 * without redeploying).
 */
export function diffKeys(olds: any, news: any, keys: readonly string[], replaceKeys: readonly string[] = []): pulumi.dynamic.DiffResult {
  const changed = keys.filter((k) => !isDeepStrictEqual(olds?.[k], news?.[k]));
  const replaces = changed.filter((k) => replaceKeys.includes(k));
  return {
    changes: changed.length > 0,
    replaces,
    stables: keys.filter((k) => !changed.includes(k) && !replaceKeys.includes(k)),
    deleteBeforeReplace: false,
  };
}
