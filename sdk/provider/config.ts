/**
 * The provider's own configuration (`pulumi config set berth:<key> …`), which Pulumi hands to the
 * default provider at `Configure`. Berth's resources carry their own SSH connection; this is only
 * used where there is none yet: `pulumi import` of a container that already runs on a host.
 *
 *   berth:user, berth:port, berth:privateKeyPath, berth:knownHostsPath,
 *   berth:hostKeys (JSON object host → "<type> <base64>"), berth:allowUnknownHostKeys
 */
import type { SshArgs } from "../config/ssh";

let current: Record<string, unknown> = {};

/** Records the configuration the engine sent (values as strings or JSON, as Pulumi stores them). */
export function setProviderConfig(values: Record<string, unknown>): void {
  current = { ...values };
}

function parsed(key: string): unknown {
  const v = current[key];
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** The SSH settings of the provider configuration, as `AppService`'s `ssh` takes them. */
export function providerSsh(): SshArgs {
  const out: Record<string, unknown> = {};
  for (const key of ["user", "privateKeyPath", "knownHostsPath"]) if (current[key] !== undefined) out[key] = String(current[key]);
  if (current.port !== undefined) out.port = Number(parsed("port"));
  if (current.hostKeys !== undefined) out.hostKeys = parsed("hostKeys");
  if (current.allowUnknownHostKeys !== undefined) out.allowUnknownHostKeys = parsed("allowUnknownHostKeys") === true;
  return out as SshArgs;
}
