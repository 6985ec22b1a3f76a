import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vscode from 'vscode';
import { currentFolder, readConfig } from './config';
import { commandId, COMMANDS, PALETTE_WHEN, PREFIX, type ContextKey } from './ids';
import type { Services } from './services';

type CommandsEntry = typeof import('./commandsEntry');

let entry: CommandsEntry | undefined;
/** Loads dist/extension-commands.cjs (next to this bundle) the first time it is needed. */
function commandsEntry(): CommandsEntry {
  if (!entry) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    entry = createRequire(import.meta.url)(path.join(here, 'extension-commands.cjs')) as CommandsEntry;
  }
  return entry;
}

export function registerCommands(context: vscode.ExtensionContext, s: Services): void {
  for (const { name } of COMMANDS) {
    context.subscriptions.push(vscode.commands.registerCommand(commandId(name), (...args: unknown[]) => commandsEntry().handlers[name](s)(...args)));
  }
}

const setContext = (key: ContextKey, value: unknown): Thenable<unknown> => vscode.commands.executeCommand('setContext', key, value);

/** Keeps the status bar on the configured runtime; checks rootful docker in the background. */
export function watchConfiguration(s: Services): vscode.Disposable {
  const refresh = (): void => {
    const folder = currentFolder();
    let settings;
    try {
      settings = readConfig(folder?.uri);
    } catch (e) {
      s.statusBar.set('error', (e as Error).message);
      return;
    }
    s.statusBar.setRuntime(settings.runtime, false);
    if (settings.runtime === 'docker') {
      const docker = settings;
      setTimeout(() => void commandsEntry().dockerRootful(docker).then((rootful) => s.statusBar.setRuntime('docker', rootful), () => undefined), 0);
    }
  };
  refresh();
  void vscode.workspace.findFiles('{.devcontainer/devcontainer.json,.devcontainer.json}', undefined, 1)
    .then((found) => setContext(PALETTE_WHEN, found.length > 0));
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration(PREFIX)) refresh();
  });
}
