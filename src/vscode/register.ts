import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vscode from 'vscode';
import { currentFolder, readConfig } from './config';
import type { CommandId, ContextKey } from './ids';
import type { Services } from './services';

type CommandsEntry = typeof import('./commandsEntry');

const COMMAND_IDS: CommandId[] = [
  'hardenedDevcontainers.reopenInHardenedContainer', 'hardenedDevcontainers.rebuildHardenedContainer', 'hardenedDevcontainers.stopHardenedContainer',
  'hardenedDevcontainers.allowDomain', 'hardenedDevcontainers.showHardeningReport', 'hardenedDevcontainers.showLog', 'hardenedDevcontainers.toggleRuntime',
];

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
  for (const id of COMMAND_IDS) {
    context.subscriptions.push(vscode.commands.registerCommand(id, (...args: unknown[]) => commandsEntry().commands[id](s)(...args)));
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
    .then((found) => setContext('hardenedDevcontainers.hasDevcontainer', found.length > 0));
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('hardenedDevcontainers')) refresh();
  });
}
