import { realpath } from 'node:fs/promises';
import type { LogFn, RunOptions } from '../base/runner';
import { firewallAgentPath, firewallResolverPath } from '../base/paths';
import type { Settings } from '../config/settings';
import { EGRESS_IMAGE, EGRESS_KUBE_IMAGE, egressImageDir, ensureEgressImage, type SelfContained } from '../firewall/egressImage';
import { engineOf, type OpsDeps } from './deps';

/** What the cluster's egress image carries besides the packages: this Node, the resolver and the agent. */
export const selfContainedEgress = async (): Promise<SelfContained> => ({ node: await realpath(process.execPath), dist: [firewallResolverPath(), firewallAgentPath()] });

/**
 * `hdc egress-image`: makes sure the engine has hdc's egress image (the docker guard's),
 * building it from this machine's Debian packages if it is missing. `up` does the same on
 * first use; the host set-up runs this ahead. `--kube`: the self-contained one for a cluster.
 */
export async function egressImage(settings: Settings, stateRoot: string, log: LogFn, progress: (what: string) => void, signal?: AbortSignal, deps: OpsDeps = {}, kube = false): Promise<{ image: string; id: string; built: boolean }> {
  const engine = await engineOf(settings, deps);
  const options: RunOptions = { log, signal, runner: deps.runner };
  const { id, built } = await ensureEgressImage(engine, egressImageDir(stateRoot), options, progress, kube ? await selfContainedEgress() : undefined);
  return { image: kube ? EGRESS_KUBE_IMAGE : EGRESS_IMAGE, id, built };
}
