import type * as vscode from 'vscode';
import { registerCommands, watchConfiguration } from './vscode/register';
import { Services } from './vscode/services';

/** Builds the services, registers the commands and the status bar; nothing else. */
export function activate(context: vscode.ExtensionContext): void {
  const services = new Services(context);
  registerCommands(context, services);
  context.subscriptions.push(services, watchConfiguration(services));
}

export function deactivate(): void {}
