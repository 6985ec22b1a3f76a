import * as vscode from 'vscode';
import { changeAllowlist, classifyEntry } from '../../ops/allowlist';
import { currentFolder, readConfig, writeWorkspaceConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

/** Same validator as the firewall's settings: what the box accepts, the firewall accepts. */
export function validateAllowEntry(value: string): string | undefined {
  if (value.trim() === '') return 'Type a host name such as api.example.com, or a CIDR such as 203.0.113.0/24.';
  try {
    classifyEntry(value);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export const allowDomain = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  const entry = await vscode.window.showInputBox({
    title: 'Allow Domain…', prompt: 'Host name or CIDR the hardened container may reach (applied live, saved to the workspace settings)',
    placeHolder: 'api.example.com or 203.0.113.0/24', validateInput: validateAllowEntry, ignoreFocusOut: true,
  });
  if (entry === undefined) return;
  try {
    const change = await changeAllowlist(folder.uri.fsPath, readConfig(folder.uri), s.stateRoot, entry, 'allow', s.log.line,
      (_folder, key, value) => writeWorkspaceConfig(folder.uri, key, value));
    void vscode.window.showInformationMessage(change.live
      ? `Allowed ${change.entry}: live in the running container, and saved to ${change.settingsFile}.`
      : `Allowed ${change.entry}: saved to ${change.settingsFile}; it applies when the container comes up.`);
  } catch (e) {
    await reportError(s, e);
  }
};
