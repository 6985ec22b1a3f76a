import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { DevcontainerConfigRecord } from '../config/devcontainerConfig';
import type { UserIds } from './remoteUser';
import type { Runtime } from '../base/engine';
import type { Settings } from '../config/settings';

/** Everything `up` decided before it starts a process that changes anything. */
export interface HardenedPlan {
  workspaceFolder: string;
  configFile: string;
  config: DevcontainerConfigRecord;
  runtime: Runtime;
  /** Absolute path of the real engine, after preflight. */
  enginePath: string;
  settings: Settings;
  /** The remote user's name as the CLI picks it; undefined until a build makes the image. */
  remoteUserName?: string;
  /** Its ids, read from the image; for a build, read from the built image later. */
  remoteUser?: UserIds;
  /** The host folder the CLI mounts as the workspace (the git root, or workspaceMount's source). */
  workspaceMountSource?: string;
}


/**
 * A readable, stable name (`hdc-<folder>-<hash>`) unless runArgs name the container: it
 * shows in `podman ps`, and `up` needs no extra inspect to learn it.
 */
export function defaultContainerName(workspaceFolder: string, configFile: string): string {
  const base = path.basename(workspaceFolder).toLowerCase().replace(/[^a-z0-9_.-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 40) || 'workspace';
  const hash = createHash('sha256').update(`${workspaceFolder}\0${configFile}`).digest('hex').slice(0, 8);
  return `hdc-${base}-${hash}`;
}

/** The name the container gets: the one in the user's runArgs, else ours. */
export function containerNameOf(plan: Pick<HardenedPlan, 'config' | 'workspaceFolder' | 'configFile'>): string {
  return userContainerName(plan.config.runArgs) ?? defaultContainerName(plan.workspaceFolder, plan.configFile);
}

export function userContainerName(runArgs: string[] | undefined): string | undefined {
  const args = runArgs ?? [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--name') return args[i + 1];
    if (args[i].startsWith('--name=')) return args[i].slice('--name='.length);
  }
  return undefined;
}

