/**
 * From a normalized `AppConfig` to the inputs of each `AppHost` (one role on one host): what the
 * provider runs and a preview shows. Pure: the component calls it, and so do the command tests.
 */
import { type AppConfig, imageLocalRegistryPort, isProxied, resolveEnv } from "./app";
import type { AppHostSecrets, AppHostSpec } from "./resources";

/** The kamal-proxy container and docker network the app's containers use. */
export interface ProxyRef {
  containerName: string;
  network: string;
}

/** The non-secret inputs of the `AppHost` of `role` on `host`. */
export function appHostSpec(c: AppConfig, role: string, host: string, via: ProxyRef = c.proxyRun): AppHostSpec {
  const r = c.roles[role];
  if (r === undefined) throw new Error(`appHostSpec: no role ${JSON.stringify(role)}`);
  const env = resolveEnv(c, role, host);
  const spec: AppHostSpec = {
    host,
    service: c.service,
    role,
    destination: c.destination,
    version: c.version,
    image: c.imageRef,
    primary: role === c.primaryRole,
    container: {
      restartPolicy: r.restartPolicy,
      cmd: r.cmd,
      env: env.clear,
      labels: r.labels,
      options: r.options,
      logging: r.logging,
      volumes: r.volumes,
      network: via.network,
    },
    proxyContainer: via.containerName,
    deployTimeoutSeconds: c.deployTimeoutSeconds,
    drainTimeoutSeconds: c.drainTimeoutSeconds,
    readinessDelaySeconds: c.readinessDelaySeconds,
    retainContainers: c.retainContainers,
    maintenance: c.maintenance,
    secretEnvNames: Object.keys(env.secret).sort(),
  };
  if (r.stopTimeoutSeconds !== undefined) spec.container.stopTimeoutSeconds = r.stopTimeoutSeconds;
  if (isProxied(r)) {
    const { certificate, ...rest } = r.proxy;
    spec.proxy = { ...rest, customCertificate: certificate !== undefined };
    if (r.assetPath !== undefined) spec.assetPath = r.assetPath;
  }
  if (c.registry?.username !== undefined) spec.registry = { server: c.registry.server, username: c.registry.username };
  // Only when set: how long this `up` waits for a lock changes nothing on the host (never diffed).
  if (c.lockWaitSeconds > 0) spec.lockWaitSeconds = c.lockWaitSeconds;
  const localPort = imageLocalRegistryPort(c.imageRef);
  if (localPort !== undefined) spec.localRegistryPort = localPort;
  return spec;
}

/** The secret inputs of the `AppHost` of `role` on `host`. */
export function appHostSecrets(c: AppConfig, role: string, host: string): AppHostSecrets {
  const s: AppHostSecrets = { env: resolveEnv(c, role, host).secret };
  if (c.registry?.password !== undefined) s.registryPassword = c.registry.password;
  const cert = c.roles[role]?.proxy?.certificate;
  if (cert) s.certificate = { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem };
  return s;
}
