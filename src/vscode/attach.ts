import * as vscode from 'vscode';
import { EngineClient, type Runtime } from '../base/engine';
import { writeAttachedContainerConfig, type AttachedContainerConfig } from './attachConfig';
import { DEV_CONTAINERS_EXTENSION } from './ids';

export interface AttachTarget {
  containerId: string;
  containerName: string;
  remoteUser: string;
  remoteWorkspaceFolder: string;
  runtime: Runtime;
  enginePath: string;
  /** The Dev Containers extension's attached-container configuration for this container. */
  config?: AttachedContainerConfig;
}

/** The VS Code API that attaching uses; tests stub this boundary and nothing else. */
export interface AttachApi {
  hasExtension(id: string): boolean;
  dockerPathSetting(): string | undefined;
  setDockerPathSetting(value: string): Thenable<void>;
  ask(message: string, ...items: string[]): Thenable<string | undefined>;
  info(message: string, ...items: string[]): Thenable<string | undefined>;
  openFolder(uri: vscode.Uri): Thenable<unknown>;
  createTerminal(options: vscode.TerminalOptions): vscode.Terminal;
  /** Writes the attached-container configuration; returns its path (undefined: a file of that name is not ours). */
  writeNameConfig(containerName: string, config: AttachedContainerConfig): Thenable<string | undefined>;
  installExtension(id: string): Thenable<unknown>;
}

export const realAttachApi = (globalStorageParent: string, ownDir: string): AttachApi => ({
  hasExtension: (id) => vscode.extensions.getExtension(id) !== undefined,
  dockerPathSetting: () => vscode.workspace.getConfiguration('dev.containers').get<string>('dockerPath'),
  setDockerPathSetting: (value) => vscode.workspace.getConfiguration('dev.containers').update('dockerPath', value, vscode.ConfigurationTarget.Global),
  ask: (message, ...items) => vscode.window.showInformationMessage(message, { modal: true }, ...items),
  info: (message, ...items) => vscode.window.showInformationMessage(message, ...items),
  openFolder: (uri) => vscode.commands.executeCommand('vscode.openFolder', uri),
  createTerminal: (options) => vscode.window.createTerminal(options),
  writeNameConfig: (containerName, config) => writeAttachedContainerConfig(globalStorageParent, ownDir, containerName, config),
  installExtension: (id) => vscode.commands.executeCommand('workbench.extensions.installExtension', id),
});

/** vscode-remote://attached-container+<hex of {"containerName":"/NAME"}>/<folder> */
export function attachedContainerUri(containerName: string, remoteWorkspaceFolder: string): vscode.Uri {
  const hex = Buffer.from(JSON.stringify({ containerName: `/${containerName}` }), 'utf8').toString('hex');
  return vscode.Uri.parse(`vscode-remote://attached-container+${hex}${remoteWorkspaceFolder.startsWith('/') ? '' : '/'}${remoteWorkspaceFolder}`);
}

/**
 * Hands the container to the editor: the Dev Containers extension's attached-container
 * window when it is installed (its docker path set to our engine, asking first when that
 * changes the user's setting; the container's attached-container configuration written
 * first, so the window gets the devcontainer's customizations), otherwise a terminal inside
 * the container as the remote user, and an offer to install the extension.
 */
export async function attach(target: AttachTarget, api: AttachApi): Promise<'uri' | 'terminal' | 'declined'> {
  if (api.hasExtension(DEV_CONTAINERS_EXTENSION)) {
    const current = api.dockerPathSetting();
    if (current !== target.enginePath) {
      const choice = await api.ask(`The Dev Containers extension uses "${current ?? 'docker'}" to reach containers. Attaching to the hardened ${target.runtime} container needs "${target.enginePath}". Change dev.containers.dockerPath?`, 'Change and Attach');
      if (choice !== 'Change and Attach') return 'declined';
      await api.setDockerPathSetting(target.enginePath);
    }
    if (target.config && !await api.writeNameConfig(target.containerName, target.config)) {
      void api.info(`An attached-container configuration named ${target.containerName} exists that Hardened Dev Containers did not write: it was left as it is, so the window opens without the devcontainer's customizations.`);
    }
    await api.openFolder(attachedContainerUri(target.containerName, target.remoteWorkspaceFolder));
    return 'uri';
  }
  const shell = new EngineClient(target.runtime, target.enginePath).loginShell(target.containerId, target.remoteUser, target.remoteWorkspaceFolder);
  const terminal = api.createTerminal({ name: `Hardened: ${target.containerName}`, shellPath: shell.command, shellArgs: shell.args });
  terminal.show();
  void api.info('The Dev Containers extension is not installed, so a terminal was opened inside the hardened container instead. Install it to reopen the whole window in the container.', 'Install')
    .then((choice) => (choice === 'Install' ? api.installExtension(DEV_CONTAINERS_EXTENSION) : undefined));
  return 'terminal';
}
