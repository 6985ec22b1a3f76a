import * as vscode from 'vscode';
import { readSettings, SECTION, type Settings } from '../config/settings';

/** The typed settings of a workspace folder, read through VS Code's configuration API. */
export function readConfig(folder?: vscode.Uri): Settings {
  const config = vscode.workspace.getConfiguration(SECTION, folder);
  return readSettings((key) => config.get(key));
}

/** Writes one setting to the workspace folder's .vscode/settings.json; returns its path. */
export async function writeWorkspaceConfig(folder: vscode.Uri, key: string, value: unknown): Promise<string> {
  await vscode.workspace.getConfiguration(SECTION, folder).update(key, value, vscode.ConfigurationTarget.WorkspaceFolder);
  return vscode.Uri.joinPath(folder, '.vscode', 'settings.json').fsPath;
}

/** The folder the commands act on: the one of the active editor, else the first. */
export function currentFolder(): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
}
