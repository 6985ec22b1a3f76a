import type { LogFn } from './runner';
import type { Settings } from './settings';
import { engineFor, getWorkspaceContainer, openWorkspace } from './workspace';

/** What `hdc status --json` prints. Later checks (firewall, sudo) extend it. */
export interface StatusReport {
  workspaceFolder: string;
  configFile: string;
  runtime: Settings['runtime'];
  container: null | {
    id: string;
    name: string;
    status: string;
    running: boolean;
    remoteUser: string;
    remoteWorkspaceFolder: string;
  };
}

export async function status(workspaceFolder: string, settings: Settings, log: LogFn): Promise<StatusReport> {
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineFor(settings);
  const found = await getWorkspaceContainer(engine, ws.workspaceFolder, ws.file, { log });
  return {
    workspaceFolder: ws.workspaceFolder,
    configFile: ws.file,
    runtime: settings.runtime,
    container: found ? {
      id: found.container.id,
      name: found.container.name,
      status: found.container.status,
      running: found.container.running,
      remoteUser: found.remoteUser,
      remoteWorkspaceFolder: found.remoteWorkspaceFolder,
    } : null,
  };
}
