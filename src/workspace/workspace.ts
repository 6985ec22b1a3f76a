import * as path from 'node:path';
import { findConfigFile, readDevcontainerConfig, type DevcontainerConfig } from '../config/devcontainerConfig';
import { EngineClient, type ContainerItem } from '../base/engine';
import { HdcError, InputError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import { enginePath, type Settings } from '../config/settings';
import { stat } from 'node:fs/promises';
import { LABELS, workspaceLabels } from '../base/labels';
import { resolveExecutable } from '../base/executables';

/** A workspace folder with its devcontainer.json read and validated. */
export async function openWorkspace(folder: string): Promise<DevcontainerConfig & { workspaceFolder: string }> {
  const workspaceFolder = path.resolve(folder);
  try {
    if (!(await stat(workspaceFolder)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new InputError(`Workspace folder ${workspaceFolder} does not exist or is not a directory.`);
  }
  const file = await findConfigFile(workspaceFolder);
  return { workspaceFolder, ...(await readDevcontainerConfig(file)) };
}

export interface WorkspaceContainer {
  engine: EngineClient;
  container: ContainerItem;
  remoteUser: string;
  /** Where the workspace is mounted inside the container. */
  remoteWorkspaceFolder: string;
}

/** The engine for the configured runtime, with its path resolved (clear error if missing). */
export async function engineFor(settings: Settings): Promise<EngineClient> {
  return new EngineClient(settings.runtime, await resolveExecutable(enginePath(settings)));
}

/** Every container the CLI made for this workspace, found by the CLI's own labels. */
export async function findWorkspaceContainers(engine: EngineClient, workspaceFolder: string, configFile: string, options: RunOptions = {}): Promise<string[]> {
  return run(engine.findContainers(workspaceLabels(workspaceFolder, configFile)), options);
}

export async function getWorkspaceContainer(engine: EngineClient, workspaceFolder: string, configFile: string, options: RunOptions = {}): Promise<WorkspaceContainer | undefined> {
  const [id] = await findWorkspaceContainers(engine, workspaceFolder, configFile, options);
  if (!id) return undefined;
  const container = await run(engine.containerInspect(id), options);
  if (!container) return undefined;
  const mount = container.mounts.find((m) => m.source === workspaceFolder)
    ?? container.mounts.find((m) => workspaceFolder.startsWith(m.source + path.sep));
  const remoteWorkspaceFolder = mount
    ? path.posix.join(mount.destination, path.relative(mount.source, workspaceFolder).split(path.sep).join('/'))
    : '/';
  return { engine, container, remoteUser: container.labels[LABELS.remoteUser] ?? (container.user || 'root'), remoteWorkspaceFolder };
}

export async function requireWorkspaceContainer(engine: EngineClient, workspaceFolder: string, configFile: string, options: RunOptions = {}): Promise<WorkspaceContainer> {
  const found = await getWorkspaceContainer(engine, workspaceFolder, configFile, options);
  if (!found) {
    throw new HdcError(`No ${engine.runtime} container for ${workspaceFolder}.`, { fix: 'run `hdc up` (or "Reopen in Hardened Container") first', exitCode: 1 });
  }
  return found;
}
