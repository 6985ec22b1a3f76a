import * as vscode from 'vscode';
import { EngineClient, type Runtime } from '../base/engine';
import { DEV_CONTAINERS_EXTENSION } from './ids';

export interface AttachTarget {
  containerId: string;
  containerName: string;
  remoteUser: string;
  remoteWorkspaceFolder: string;
  runtime: Runtime;
  enginePath: string;
}

/** The VS Code API that attaching uses; tests stub this boundary and nothing else. */
export interface AttachApi {
  hasExtension(id: string): boolean;
  dockerPathSetting(): string | undefined;
  setDockerPathSetting(value: string): Thenable<void>;
  ask(message: string, ...items: string[]): Thenable<string | undefined>;
  info(message: string): Thenable<unknown>;
  openFolder(uri: vscode.Uri): Thenable<unknown>;
  createTerminal(options: vscode.TerminalOptions): vscode.Terminal;
}

export const realAttachApi = (): AttachApi => ({
  hasExtension: (id) => vscode.extensions.getExtension(id) !== undefined,
  dockerPathSetting: () => vscode.workspace.getConfiguration('dev.containers').get<string>('dockerPath'),
  setDockerPathSetting: (value) => vscode.workspace.getConfiguration('dev.containers').update('dockerPath', value, vscode.ConfigurationTarget.Global),
  ask: (message, ...items) => vscode.window.showInformationMessage(message, { modal: true }, ...items),
  info: (message) => vscode.window.showInformationMessage(message),
  openFolder: (uri) => vscode.commands.executeCommand('vscode.openFolder', uri),
  createTerminal: (options) => vscode.window.createTerminal(options),
});

/** vscode-remote://attached-container+<hex of {"containerName":"/NAME"}>/<folder> */
export function attachedContainerUri(containerName: string, remoteWorkspaceFolder: string): vscode.Uri {
  const hex = Buffer.from(JSON.stringify({ containerName: `/${containerName}` }), 'utf8').toString('hex');
  return vscode.Uri.parse(`vscode-remote://attached-container+${hex}${remoteWorkspaceFolder.startsWith('/') ? '' : '/'}${remoteWorkspaceFolder}`);
}

/**
 * Hands the container to the editor: the Dev Containers extension's attached-container
 * window when it is installed (its docker path set to our engine, asking first when that
 * changes the user's setting), otherwise a terminal inside the container as the remote user.
 */
export async function attach(target: AttachTarget, api: AttachApi = realAttachApi()): Promise<'uri' | 'terminal' | 'declined'> {
  if (api.hasExtension(DEV_CONTAINERS_EXTENSION)) {
    const current = api.dockerPathSetting();
    if (current !== target.enginePath) {
      const choice = await api.ask(`The Dev Containers extension uses "${current ?? 'docker'}" to reach containers. Attaching to the hardened ${target.runtime} container needs "${target.enginePath}". Change dev.containers.dockerPath?`, 'Change and Attach');
      if (choice !== 'Change and Attach') return 'declined';
      await api.setDockerPathSetting(target.enginePath);
    }
    await api.openFolder(attachedContainerUri(target.containerName, target.remoteWorkspaceFolder));
    return 'uri';
  }
  const shell = new EngineClient(target.runtime, target.enginePath).loginShell(target.containerId, target.remoteUser, target.remoteWorkspaceFolder);
  const terminal = api.createTerminal({ name: `Hardened: ${target.containerName}`, shellPath: shell.command, shellArgs: shell.args });
  terminal.show();
  void api.info('The Dev Containers extension is not installed, so a terminal was opened inside the hardened container instead. Install it to reopen the whole window in the container.');
  return 'terminal';
}
