import * as vscode from 'vscode';
import { changeAllowlist, classifyEntry, describeChange } from '../../ops/allowlist';
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

/**
 * Allows or denies one entry, live and in the workspace settings, with a progress
 * notification; the result says which rule changed and what an allowed name resolves to
 * (a name that resolves to nothing is a warning). Allow Domain…, and the view's and the
 * blocked notifications' Allow and Deny, all come here.
 */
export async function changeEntry(s: Services, folder: vscode.WorkspaceFolder, entry: string, action: 'allow' | 'deny'): Promise<boolean> {
  try {
    const change = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `${action === 'allow' ? 'Allowing' : 'Denying'} ${entry.trim()}…` },
      () => changeAllowlist(folder.uri.fsPath, readConfig(folder.uri), s.stateRoot, entry, action, s.log.line,
        (_folder, key, value) => writeWorkspaceConfig(folder.uri, key, value)));
    const { message, warning } = describeChange(change, action);
    s.log.line(warning ? `warning: ${message}` : message);
    void (warning ? vscode.window.showWarningMessage(message) : vscode.window.showInformationMessage(message));
    return true;
  } catch (e) {
    await reportError(s, e);
    return false;
  } finally {
    s.model.refreshSoon();
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
  await changeEntry(s, folder, entry, 'allow');
};
