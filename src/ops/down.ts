import { removeGuards } from '../firewall/dockerGuard';
import { removeSidecar, sidecarNames } from '../sidecar/sidecar';
import { containerNameOf } from '../workspace/plan';
import type { LogFn, RunOptions } from '../base/runner';
import { run } from '../base/runner';
import type { Settings } from '../config/settings';
import { findWorkspaceContainers, openWorkspace } from '../workspace/workspace';
import { engineOf, type OpsDeps } from './deps';

export interface DownOptions {
  /** Also remove the sidecar's graph volume (its images), as `hdc down --volumes`. */
  volumes?: boolean;
}

/** Stops and removes every container of the workspace, and its sidecar. Returns the removed ids. */
export async function down(workspaceFolder: string, settings: Settings, log: LogFn, signal?: AbortSignal, opts: DownOptions = {}, deps: OpsDeps = {}): Promise<string[]> {
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineOf(settings, deps);
  const options: RunOptions = { log, signal, runner: deps.runner };
  const ids = await findWorkspaceContainers(engine, ws.workspaceFolder, ws.file, options);
  for (const id of ids) await run(engine.removeContainer(id), options);
  // The docker firewall guard goes after the workspace that joined its namespace.
  if (engine.runtime === 'docker') ids.push(...await removeGuards(engine, ws.workspaceFolder, options));
  // The sidecar and its socket volume go whether or not the setting is still on; the graph
  // volume (its images) only when asked.
  if (engine.runtime === 'podman') {
    const names = sidecarNames(containerNameOf({ config: ws.config, workspaceFolder: ws.workspaceFolder, configFile: ws.file }), settings.podmanSidecar);
    ids.push(...await removeSidecar(engine, { workspaceFolder: ws.workspaceFolder, configFile: ws.file }, names, { ...options, removeGraph: opts.volumes, log }));
  }
  return ids;
}
