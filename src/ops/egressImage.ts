import type { LogFn, RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import { EGRESS_IMAGE, egressImageDir, ensureEgressImage } from '../firewall/egressImage';
import { engineOf, type OpsDeps } from './deps';

/**
 * `hdc egress-image`: makes sure the engine has hdc's egress image (the docker guard's),
 * building it from this machine's Debian packages if it is missing. `up` does the same on
 * first use; the host set-up runs this ahead.
 */
export async function egressImage(settings: Settings, stateRoot: string, log: LogFn, progress: (what: string) => void, signal?: AbortSignal, deps: OpsDeps = {}): Promise<{ image: string; id: string; built: boolean }> {
  const engine = await engineOf(settings, deps);
  const options: RunOptions = { log, signal, runner: deps.runner };
  const { id, built } = await ensureEgressImage(engine, egressImageDir(stateRoot), options, progress);
  return { image: EGRESS_IMAGE, id, built };
}
