/** From normalized SSH settings and a host to the provider's Connection. */
import type { SshConfig } from "./ssh";
import type { Connection } from "../provider/ssh";

export function connectionFor(ssh: SshConfig, host: string): Connection {
  const c: Connection = {
    host,
    port: ssh.port,
    user: ssh.user,
    allowUnknownHostKeys: ssh.allowUnknownHostKeys,
    connectTimeoutSeconds: ssh.connectTimeoutSeconds,
    keepaliveSeconds: ssh.keepaliveSeconds,
  };
  if (ssh.privateKey !== undefined) c.privateKey = ssh.privateKey;
  if (ssh.privateKeyPath !== undefined) c.privateKeyPath = ssh.privateKeyPath;
  if (ssh.hostKeys[host] !== undefined) c.hostKey = ssh.hostKeys[host];
  if (ssh.knownHostsPath !== undefined) c.knownHostsPath = ssh.knownHostsPath;
  if (ssh.proxy) {
    c.proxy = { host: ssh.proxy.host, port: ssh.proxy.port, user: ssh.proxy.user };
    if (ssh.hostKeys[ssh.proxy.host] !== undefined) c.proxy.hostKey = ssh.hostKeys[ssh.proxy.host];
  }
  return c;
}
