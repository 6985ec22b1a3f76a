import * as vscode from 'vscode';
import { noLinks } from '../base/text';
import { changeEntry } from './commands/allowDomain';
import { VIEW } from './ids';
import { parentWildcard, type BlockedEntry } from './modelState';
import type { Services } from './services';

/**
 * "api.example.com was blocked … — Allow · Allow *.example.com · Show": the first of the
 * new blocks leads, the others are counted. Allow applies live, as `hdc allow` does.
 */
export async function notifyBlocked(s: Services, folder: vscode.WorkspaceFolder, entries: BlockedEntry[]): Promise<void> {
  const [first] = entries;
  if (!first) return;
  const more = entries.length > 1 ? ` (and ${entries.length - 1} more)` : '';
  const parent = first.kind === 'name' ? parentWildcard(first.value) : undefined;
  const allowParent = parent ? `Allow ${parent}` : undefined;
  const what = first.kind === 'name' ? first.value : `the address ${first.value}`;
  s.log.line(`blocked: ${entries.slice(0, 20).map((e) => `${e.kind} ${e.value}`).join(', ')}${entries.length > 20 ? ` and ${entries.length - 20} more` : ''}`);
  const choice = await vscode.window.showWarningMessage(noLinks(`${what} was blocked${more} by the firewall of ${folder.name}'s hardened container.`),
    'Allow', ...(allowParent ? [allowParent] : []), 'Show');
  if (choice === 'Allow') await changeEntry(s, folder, first.value, 'allow');
  else if (choice && choice === allowParent && parent) await changeEntry(s, folder, parent, 'allow');
  else if (choice === 'Show') await vscode.commands.executeCommand(`${VIEW}.focus`);
}
