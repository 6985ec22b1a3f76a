import { removeGuards } from '../firewall/dockerGuard';
import type { LogFn } from './runner';
import { run } from './runner';
import type { Settings } from './settings';
import { engineFor, findWorkspaceContainers, openWorkspace } from './workspace';

/** Stops and removes every container of the workspace. Returns the removed ids. */
export async function down(workspaceFolder: string, settings: Settings, log: LogFn, signal?: AbortSignal): Promise<string[]> {
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineFor(settings);
  const ids = await findWorkspaceContainers(engine, ws.workspaceFolder, ws.file, { log, signal });
  for (const id of ids) await run(engine.removeContainer(id), { log, signal });
  // The docker firewall guard goes after the workspace that joined its namespace.
  if (engine.runtime === 'docker') ids.push(...await removeGuards(engine, ws.workspaceFolder, log));
  return ids;
}
