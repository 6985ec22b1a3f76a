import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { DevcontainerConfigRecord } from './devcontainerConfig';
import type { UserIds } from './remoteUser';
import type { Runtime, Settings } from './settings';
import type { FirewallPolicy } from '../firewall/policy';
import { readOnlyOutside, WITHHELD_CAPS } from '../hardening/privilege';

/** Labels we put on every container we create, next to the devcontainers CLI's own. */
export const LABELS = {
  managed: 'hardened-devcontainers.managed',
  remoteUser: 'hardened-devcontainers.remote-user',
  runtime: 'hardened-devcontainers.runtime',
} as const;

/** The devcontainers CLI finds "its" container by these two labels. */
export const CLI_LABELS = {
  localFolder: 'devcontainer.local_folder',
  configFile: 'devcontainer.config_file',
} as const;

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
  /** The validated allowlist; undefined when the firewall is turned off. */
  firewall?: FirewallPolicy;
}

/**
 * The config handed to `devcontainer up --override-config`. The CLI reads it *instead of*
 * the user's devcontainer.json (relative paths still resolve against the user's file), so
 * it is the user's config plus our additions. Pure: tested without any engine.
 */
export function buildOverrideConfig(plan: HardenedPlan, hardening: string[] = [], userRunArgs = plan.config.runArgs, readOnly: string[] = [],
  extra: { mounts: string[]; containerEnv: Record<string, string> } = { mounts: [], containerEnv: {} }): DevcontainerConfigRecord {
  const name = userContainerName(plan.config.runArgs) !== undefined ? [] : ['--name', defaultContainerName(plan.workspaceFolder, plan.configFile)];
  const ours = [
    ...name,
    '--label', `${LABELS.managed}=true`,
    ...(plan.remoteUserName ? ['--label', `${LABELS.remoteUser}=${plan.remoteUserName}`] : []),
    '--label', `${LABELS.runtime}=${plan.runtime}`,
    // Last, so that nothing in the user's runArgs can undo them (e.g. a --cap-add).
    ...hardening,
  ];
  const override: DevcontainerConfigRecord = {
    ...plan.config,
    runArgs: [...(userRunArgs ?? []), ...ours],
    // NET_ADMIN/NET_RAW asked for here (an agent devcontainer's own firewall) are withheld.
    // The names as the engine reads them (trimmed, upper case, no CAP_), so " NET_ADMIN" cannot slip through.
    ...(Array.isArray(plan.config.capAdd) ? { capAdd: (plan.config.capAdd as unknown[]).map((c) => String(c).trim().toUpperCase().replace(/^CAP_/, '')).filter((c) => c && !(WITHHELD_CAPS as readonly string[]).includes(c)) } : {}),
    // After the user's mounts, so that they lie over the workspace mount and anything else.
    // The user's binds from outside the workspace go in read-only.
    ...(readOnly.length || extra.mounts.length || plan.config.mounts ? { mounts: [...(readOnlyOutside(plan.config.mounts, plan.workspaceMountSource ?? plan.workspaceFolder).mounts ?? []), ...extra.mounts, ...readOnly] } : {}),
    // Ours win: with the sidecar on, DOCKER_HOST must point at it.
    ...(Object.keys(extra.containerEnv).length ? { containerEnv: { ...plan.config.containerEnv, ...extra.containerEnv } } : {}),
  };
  if (plan.runtime === 'podman') {
    // The shim's keep-id:uid=U,gid=G already gives the remote user the bind mount; a
    // rebuilt "-uid" image would renumber the user and break that mapping.
    override.updateRemoteUserUID = false;
  }
  return override;
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

function userContainerName(runArgs: string[] | undefined): string | undefined {
  const args = runArgs ?? [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--name') return args[i + 1];
    if (args[i].startsWith('--name=')) return args[i].slice('--name='.length);
  }
  return undefined;
}

/** Labels that identify this workspace's container, exactly as the CLI writes them. */
export function workspaceLabels(workspaceFolder: string, configFile: string): Record<string, string> {
  return { [CLI_LABELS.localFolder]: workspaceFolder, [CLI_LABELS.configFile]: configFile };
}
