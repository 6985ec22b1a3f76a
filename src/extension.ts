import type * as vscode from 'vscode';
import { attach } from './vscode/attach';
import { readConfig } from './vscode/config';
import { registerCommands, watchConfiguration } from './vscode/register';
import { Services } from './vscode/services';

/** What activate() returns: for other extensions and for the extension-host tests. */
export interface HardenedDevcontainersApi {
  readConfig: typeof readConfig;
  attach: typeof attach;
  statusBar: () => Services['statusBar']['current'];
}

/** Builds the services, registers the commands and the status bar; nothing else. */
export function activate(context: vscode.ExtensionContext): HardenedDevcontainersApi {
  const services = new Services(context);
  registerCommands(context, services);
  context.subscriptions.push(services, watchConfiguration(services));
  return { readConfig, attach, statusBar: () => services.statusBar.current };
}

export function deactivate(): void {}
