import { firewallBackend, type FirewallBackend } from '../firewall/backend';
import type { EngineClient } from '../base/engine';
import type { DevcontainerConfig } from '../config/devcontainerConfig';

/**
 * The firewall backend of a workspace's running container, for the operations that reach
 * into it after `up` (status, blocked, allow/deny): the same context each time.
 */
export function liveFirewall(engine: EngineClient, ws: DevcontainerConfig & { workspaceFolder: string }, firewallDir: string, guardImageSetting: string, containerName: string): FirewallBackend {
  return firewallBackend(engine, {
    firewallDir, workspaceFolder: ws.workspaceFolder, configFile: ws.file, userRunArgs: ws.config.runArgs,
    guardImageSetting, containerName,
  });
}
