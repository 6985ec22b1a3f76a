import type { EngineClient } from '../base/engine';
import type { Runner } from '../base/runner';
import type { Settings } from '../config/settings';
import { engineFor } from '../workspace/workspace';

/**
 * What an operation runs on, passed in: the runner that executes every call (real processes
 * unless a test passes a fake) and the engine (found from the settings unless given).
 */
export interface OpsDeps {
  runner?: Runner;
  engine?: EngineClient;
}

export const engineOf = async (settings: Settings, deps: OpsDeps): Promise<EngineClient> => deps.engine ?? engineFor(settings);
