import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vscode from 'vscode';
import { currentFolder, readConfig } from './config';
import { commandId, COMMANDS, PALETTE_WHEN, PREFIX, VIEW, type ContextKey } from './ids';
import type { Model, Services } from './services';

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

/** Fired when the model changed: the view reads its items again. */
let viewChanged: vscode.EventEmitter<void> | undefined;

/** The container model, created with the commands' bundle (the first command, the view, or a second after activation). */
function ensureModel(s: Services): Model {
  if (!s.modelLoaded) {
    const model = commandsEntry().createModel(s);
    s.setModel(model);
    model.onDidChange(() => viewChanged?.fire());
    model.start();
  }
  return s.model;
}

export function registerCommands(context: vscode.ExtensionContext, s: Services): void {
  for (const { name } of COMMANDS) {
    context.subscriptions.push(vscode.commands.registerCommand(commandId(name), (...args: unknown[]) => {
      ensureModel(s);
      return commandsEntry().handlers[name](s)(...args);
    }));
  }
}

/**
 * The "Hardened Container" view. Its items come from the model (commands' bundle), which
 * starts a second after activation so that activation itself stays cheap.
 */
export function registerView(context: vscode.ExtensionContext, s: Services): void {
  const changed = new vscode.EventEmitter<void>();
  viewChanged = changed;
  const provider: vscode.TreeDataProvider<vscode.TreeItem> = {
    onDidChangeTreeData: changed.event,
    getTreeItem: (item) => item,
    getChildren: (item) => ensureModel(s).children(item),
  };
  const view = vscode.window.createTreeView(VIEW, { treeDataProvider: provider });
  const timer = setTimeout(() => ensureModel(s), 1_000);
  context.subscriptions.push(view, changed, { dispose: () => clearTimeout(timer) });
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
      s.statusBar.show({ kind: 'error', runtime: s.statusBar.current.runtime, detail: (e as Error).message });
      return;
    }
    s.statusBar.setRuntime(settings.runtime, false);
    if (settings.runtime === 'docker') {
      const docker = settings;
      setTimeout(() => void commandsEntry().dockerRootful(docker).then((rootful) => s.statusBar.setRuntime('docker', rootful), () => undefined), 0);
    }
    if (s.modelLoaded) s.model.refreshSoon();
  };
  refresh();
  void vscode.workspace.findFiles('{.devcontainer/devcontainer.json,.devcontainer.json}', undefined, 1)
    .then((found) => setContext(PALETTE_WHEN, found.length > 0));
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration(PREFIX)) refresh();
  });
}
