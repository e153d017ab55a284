/**
 * `berth:index:ProxyHost`: kamal-proxy on one host. One proxy container serves every
 * service and every stack on the host; each Proxy resource that uses it leaves an owner file in
 * `~/.berth/proxy/<container>/owners/`, and the container is removed only when the last owner goes and no
 * service is routed through it any more. Before it changes anything, every host of the deploy
 * (`preflight`) is connected and its Docker asked (`preflight.ts`).
 */
import { createHash } from "node:crypto";
import type { ProxyRunConfig } from "../config/proxy";
import { proxyHostSchema, type ProxyHostInputs } from "../config/resources";
import { ensureNetworkScript } from "../commands/docker";
import { HOST_APPS_CONFIG_DIR, proxyContainerArgv, proxyDirsArgv, proxyListArgv, proxyOwnerArgv, proxyOwnerFile, proxyOwnersDir, proxyRunArgv } from "../commands/proxy";
import { containerStateScript, homeScript, listDirScript, runningContainerScript } from "../commands/rollout";
import { line } from "../commands/shell";
import { progress } from "./log";
import { preflight } from "./preflight";
import type { ResourceDef } from "./resource";
import { type Connection, exec, run } from "./ssh";

export const PROXY_HOST_TOKEN = "berth:index:ProxyHost";

const RUN_HASH_LABEL = "berth.proxy-run";

/** A short hash of the run settings, kept as a label on the container to spot a changed config. */
export function runHash(r: ProxyRunConfig): string {
  return createHash("sha256").update(JSON.stringify(r)).digest("hex").slice(0, 16);
}

const ownerFile = (r: ProxyRunConfig, owner: string) => proxyOwnerFile(r.containerName, owner);

/** What is on the host now: container state and its run-hash label, and the other owners. */
async function inspect(c: Connection, r: ProxyRunConfig, owner: string) {
  const st = await exec(c, containerStateScript(r.containerName, RUN_HASH_LABEL));
  const [running, hash] = st.code === 0 ? st.stdout.trim().split(" ") : ["absent", ""];
  const dir = proxyOwnersDir(r.containerName);
  const owners = (await exec(c, listDirScript(dir))).stdout.split("\n").filter((o) => o && `${dir}/${o}` !== ownerFile(r, owner));
  return { state: running === "true" ? "running" : running === "false" ? "stopped" : "absent", hash: hash === "<no value>" ? "" : hash, owners };
}

async function ensure(inp: ProxyHostInputs, replaceChanged: boolean): Promise<void> {
  const { connection: c, run: r, host } = inp;
  const want = runHash(r);
  const withLabel: ProxyRunConfig = { ...r, options: { ...r.options, label: [...labelsOf(r.options.label), `${RUN_HASH_LABEL}=${want}`] } };
  await run(c, `creating the ${r.network} network`, ensureNetworkScript(r.network));
  await run(c, "preparing the proxy directories", line(proxyDirsArgv(r.containerName)));
  const now = await inspect(c, r, inp.owner);
  const home = (await run(c, "reading the login user's home", homeScript())).stdout.trim();
  const runIt = () => run(c, `starting ${r.containerName} (${r.imageRef})`, line(proxyRunArgv(withLabel, `${home}/${HOST_APPS_CONFIG_DIR}`)));
  if (now.state === "absent") {
    await progress(`${host} kamal-proxy: starting ${r.imageRef}`);
    try {
      await runIt();
    } catch (e) {
      // Another stack may have started it at the same moment: fine if it runs with these settings.
      const again = await inspect(c, r, inp.owner);
      if (again.state !== "running" || again.hash !== want) throw e;
      await progress(`${host} kamal-proxy: started meanwhile by another stack with the same settings`);
    }
  } else if (now.hash !== want) {
    if (now.owners.length > 0 && now.hash !== "") {
      throw new Error(
        `${host}: kamal-proxy already runs there with other run settings, used by ${now.owners.join(", ")}. ` +
          "Every stack on one host must give its Proxy the same image and run options (as Kamal requires); align them, or use a separate host.",
      );
    }
    if (!replaceChanged && now.hash === "") {
      // A proxy Berth did not start (e.g. booted by Kamal): adopt it as it is.
      await progress(`${host} kamal-proxy: adopting the running container`);
      if (now.state === "stopped") await run(c, "starting kamal-proxy", line(proxyContainerArgv("start", r.containerName)));
    } else {
      await progress(`${host} kamal-proxy: rebooting with new run settings (routes are kept in its state volume)`);
      await run(c, "removing the old kamal-proxy container", line(proxyContainerArgv("remove", r.containerName)));
      await runIt();
    }
  } else if (now.state === "stopped") {
    await run(c, "starting kamal-proxy", line(proxyContainerArgv("start", r.containerName)));
  }
  await run(c, "recording the proxy's owner", line(proxyOwnerArgv("add", r.containerName, inp.owner)));
}

function labelsOf(v: string | true | string[] | undefined): string[] {
  if (v === undefined || v === true) return [];
  return Array.isArray(v) ? v : [v];
}

export const proxyHostResource: ResourceDef<ProxyHostInputs> = {
  token: PROXY_HOST_TOKEN,
  inputs: proxyHostSchema,
  secretInputs: ["connection", "preflight"],
  replaceOnChanges: ["host"],

  adjustDiff(changes) {
    // The other hosts of the deploy change with the program's host list, not with this host.
    return Object.fromEntries(Object.entries(changes).filter(([p]) => p !== "preflight" && !p.startsWith("preflight[") && !p.startsWith("preflight.")));
  },

  async create(inputs) {
    await preflight(inputs.connection, inputs.preflight);
    await ensure(inputs, false);
    return { id: `${inputs.host}/${inputs.run.containerName}` };
  },

  async update(_id, _olds, news, changes) {
    // A new key or jump host (of this host or of the deploy's others) is only recorded; anything
    // else reboots with the new settings.
    if (Object.keys(changes).some((p) => !p.startsWith("connection") && !p.startsWith("preflight"))) {
      await preflight(news.connection, news.preflight);
      await ensure(news, true);
    }
  },

  async delete(_id, props) {
    const { connection: c, run: r, host } = props;
    await run(c, "forgetting the proxy's owner", line(proxyOwnerArgv("remove", r.containerName, props.owner)));
    const now = await inspect(c, r, props.owner);
    if (now.state === "absent" || now.owners.length > 0) return;
    const routes = await exec(c, line(proxyListArgv(r.containerName)), { step: "kamal-proxy list" });
    const services = routes.stdout.split("\n").slice(1).filter((l) => l.trim() !== "");
    if (routes.code === 0 && services.length > 0) {
      await progress(`${host} kamal-proxy: still routes ${services.length} service(s); left running`);
      return;
    }
    await progress(`${host} kamal-proxy: no users left; removing the container`);
    await run(c, "removing kamal-proxy", line(proxyContainerArgv("remove", r.containerName)));
  },

  async read(id, props) {
    const r = await exec(props.connection, runningContainerScript(props.run.containerName), { step: "inspecting kamal-proxy" });
    if (r.code !== 0 || r.stdout.trim() === "") {
      await progress(`${props.host} ${props.run.containerName}: not running; the next up starts it`);
      return undefined;
    }
    return { id, inputs: props };
  },
};
