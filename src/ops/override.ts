import { type HardenedPlan, defaultContainerName, userContainerName } from '../workspace/plan';
import { LABELS } from '../base/labels';
import { WITHHELD_CAPS, readOnlyOutside } from '../hardening/privilege';
import type { DevcontainerConfigRecord } from '../config/devcontainerConfig';

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
    ...(Object.keys(extra.containerEnv).length ? { containerEnv: { ...plan.config.containerEnv, ...extra.containerEnv } } : {}) };
  if (plan.runtime === 'podman') {
    // The shim's keep-id:uid=U,gid=G already gives the remote user the bind mount; a
    // rebuilt "-uid" image would renumber the user and break that mapping.
    override.updateRemoteUserUID = false;
  }
  return override;
}
