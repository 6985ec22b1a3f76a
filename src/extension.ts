import type * as vscode from 'vscode';
import { attach } from './vscode/attach';
import { attachedContainerConfig, writeAttachedContainerConfig, type AttachedContainerConfig } from './vscode/attachConfig';
import { readConfig } from './vscode/config';
import { registerCommands, registerView, watchConfiguration } from './vscode/register';
import { Services } from './vscode/services';

/** What activate() returns: for other extensions and for the extension-host tests. */
export interface HardenedDevcontainersApi {
  readConfig: typeof readConfig;
  attach: typeof attach;
  attachedContainerConfig: typeof attachedContainerConfig;
  /** Writes a container's attached-container configuration where the Dev Containers extension of this product reads it. */
  writeAttachedContainerConfig: (containerName: string, config: AttachedContainerConfig) => Promise<string | undefined>;
  statusBar: () => Services['statusBar']['current'];
}

/** Builds the services, registers the commands, the view and the status bar; nothing else. */
export function activate(context: vscode.ExtensionContext): HardenedDevcontainersApi {
  const services = new Services(context);
  registerCommands(context, services);
  registerView(context, services);
  context.subscriptions.push(services, watchConfiguration(services));
  return {
    readConfig, attach, attachedContainerConfig, statusBar: () => services.statusBar.current,
    writeAttachedContainerConfig: (name, config) => writeAttachedContainerConfig(services.globalStorageParent, services.stateRoot, name, config),
  };
}

export function deactivate(): void {}
