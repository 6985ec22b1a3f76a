import * as vscode from 'vscode';
import { engineFor } from '../core/workspace';
import { preflight } from '../core/preflight';
import { allowDomain } from './commands/allowDomain';
import { rebuildHardenedContainer } from './commands/rebuildHardenedContainer';
import { reopenInHardenedContainer } from './commands/reopenInHardenedContainer';
import { showHardeningReport } from './commands/showHardeningReport';
import { showLog } from './commands/showLog';
import { stopHardenedContainer } from './commands/stopHardenedContainer';
import { toggleRuntime } from './commands/toggleRuntime';
import { currentFolder, readConfig } from './config';
import type { CommandId, ContextKey } from './ids';
import type { Services } from './services';

const COMMANDS: Record<CommandId, (s: Services) => (...args: unknown[]) => unknown> = {
  'hardenedDevcontainers.reopenInHardenedContainer': reopenInHardenedContainer,
  'hardenedDevcontainers.rebuildHardenedContainer': rebuildHardenedContainer,
  'hardenedDevcontainers.stopHardenedContainer': stopHardenedContainer,
  'hardenedDevcontainers.allowDomain': allowDomain,
  'hardenedDevcontainers.showHardeningReport': showHardeningReport,
  'hardenedDevcontainers.showLog': showLog,
  'hardenedDevcontainers.toggleRuntime': toggleRuntime,
};

export function registerCommands(context: vscode.ExtensionContext, s: Services): void {
  for (const [id, make] of Object.entries(COMMANDS)) context.subscriptions.push(vscode.commands.registerCommand(id, make(s)));
}

const setContext = (key: ContextKey, value: unknown): Thenable<unknown> => vscode.commands.executeCommand('setContext', key, value);

/** Keeps the status bar on the configured runtime; checks rootful docker in the background. */
export function watchConfiguration(s: Services): vscode.Disposable {
  const refresh = (): void => {
    const folder = currentFolder();
    let runtime: 'podman' | 'docker' = 'podman';
    try {
      runtime = readConfig(folder?.uri).runtime;
    } catch (e) {
      s.statusBar.set('error', (e as Error).message);
      return;
    }
    s.statusBar.setRuntime(runtime, false);
    if (runtime === 'docker') {
      void engineFor(readConfig(folder?.uri)).then((engine) => preflight(engine)).then(
        (report) => s.statusBar.setRuntime('docker', !(report.info?.rootless ?? true)), () => undefined);
    }
  };
  refresh();
  void vscode.workspace.findFiles('{.devcontainer/devcontainer.json,.devcontainer.json}', undefined, 1)
    .then((found) => setContext('hardenedDevcontainers.hasDevcontainer', found.length > 0));
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('hardenedDevcontainers')) refresh();
  });
}
