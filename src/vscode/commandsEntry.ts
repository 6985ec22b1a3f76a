/**
 * The commands and everything they pull in (the core, execa, jsonc-parser), bundled apart
 * from extension.cjs and loaded on the first command: activation stays cheap.
 */
import { preflight } from '../workspace/preflight';
import { engineFor } from '../workspace/workspace';
import type { Settings } from '../config/settings';
import { allowDomain } from './commands/allowDomain';
import { rebuildHardenedContainer } from './commands/rebuildHardenedContainer';
import { reopenInHardenedContainer } from './commands/reopenInHardenedContainer';
import { showHardeningReport } from './commands/showHardeningReport';
import { showLog } from './commands/showLog';
import { stopHardenedContainer } from './commands/stopHardenedContainer';
import { toggleRuntime } from './commands/toggleRuntime';
import type { CommandId } from './ids';
import type { Services } from './services';

export const commands: Record<CommandId, (s: Services) => (...args: unknown[]) => unknown> = {
  'hardenedDevcontainers.reopenInHardenedContainer': reopenInHardenedContainer,
  'hardenedDevcontainers.rebuildHardenedContainer': rebuildHardenedContainer,
  'hardenedDevcontainers.stopHardenedContainer': stopHardenedContainer,
  'hardenedDevcontainers.allowDomain': allowDomain,
  'hardenedDevcontainers.showHardeningReport': showHardeningReport,
  'hardenedDevcontainers.showLog': showLog,
  'hardenedDevcontainers.toggleRuntime': toggleRuntime,
};

/** True when the docker daemon runs as root (the status bar then warns). */
export async function dockerRootful(settings: Settings): Promise<boolean> {
  const report = await preflight(await engineFor(settings));
  return !(report.info?.rootless ?? true);
}
