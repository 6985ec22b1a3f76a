/**
 * The commands and everything they pull in (the core, execa, jsonc-parser), bundled apart
 * from extension.cjs and loaded on the first command: activation stays cheap.
 */
import { preflight } from '../workspace/preflight';
import { engineFor } from '../workspace/workspace';
import type { Settings } from '../config/settings';
import * as all from './commands/index';
import type { CommandName } from './ids';
import { ContainerModel } from './model';
import { notifyBlocked } from './notifyBlocked';
import type { Model, Services } from './services';

/** The handlers by name; register.ts registers each under its id (COMMANDS in ids.ts). */
export const handlers: Record<CommandName, (s: Services) => (...args: unknown[]) => unknown> = all;

/** True when the docker daemon runs as root (the status bar then warns). */
export async function dockerRootful(settings: Settings): Promise<boolean> {
  const report = await preflight(await engineFor(settings));
  return !(report.info?.rootless ?? true);
}

/** The folder's container as the editor shows it (model.ts), with its blocked notifications. */
export function createModel(s: Services): Model {
  return new ContainerModel(s, (folder, entries) => void notifyBlocked(s, folder, entries));
}
