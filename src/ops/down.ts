import { removeGuards } from '../firewall/dockerGuard';
import { removeSidecar, sidecarNames } from '../sidecar/sidecar';
import { containerNameOf } from '../workspace/plan';
import type { LogFn } from '../base/runner';
import { run } from '../base/runner';
import type { Settings } from '../config/settings';
import { engineFor, findWorkspaceContainers, openWorkspace } from '../workspace/workspace';

export interface DownOptions {
  /** Also remove the sidecar's graph volume (its images), as `hdc down --volumes`. */
  volumes?: boolean;
}

/** Stops and removes every container of the workspace, and its sidecar. Returns the removed ids. */
export async function down(workspaceFolder: string, settings: Settings, log: LogFn, signal?: AbortSignal, opts: DownOptions = {}): Promise<string[]> {
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineFor(settings);
  const ids = await findWorkspaceContainers(engine, ws.workspaceFolder, ws.file, { log, signal });
  for (const id of ids) await run(engine.removeContainer(id), { log, signal });
  // The docker firewall guard goes after the workspace that joined its namespace.
  if (engine.runtime === 'docker') ids.push(...await removeGuards(engine, ws.workspaceFolder, log));
  // The sidecar and its socket volume go whether or not the setting is still on; the graph
  // volume (its images) only when asked.
  if (engine.runtime === 'podman') {
    const names = sidecarNames(containerNameOf({ config: ws.config, workspaceFolder: ws.workspaceFolder, configFile: ws.file }), settings.podmanSidecar);
    ids.push(...await removeSidecar(engine, { workspaceFolder: ws.workspaceFolder, configFile: ws.file }, names, { removeGraph: opts.volumes, log, signal }));
  }
  return ids;
}
