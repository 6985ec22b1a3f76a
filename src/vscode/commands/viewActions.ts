import * as vscode from 'vscode';
import { currentFolder } from '../config';
import { parentWildcard } from '../modelState';
import type { Services } from '../services';
import { changeEntry } from './allowDomain';
import { noFolder } from './util';

/** The entry a view item acts on (view.ts's Node.entry). */
const entryOf = (item: unknown): string | undefined => (item && typeof item === 'object' && 'entry' in item && typeof item.entry === 'string' ? item.entry : undefined);

async function onItem(s: Services, item: unknown, action: 'allow' | 'deny', map: (entry: string) => string | undefined = (e) => e): Promise<void> {
  const folder = currentFolder();
  if (!folder) return noFolder();
  const entry = entryOf(item);
  const target = entry && map(entry);
  if (!target) {
    void vscode.window.showErrorMessage(entry ? `${entry} has no parent below a top-level domain to allow: allow the name itself.` : 'Pick an item in the Hardened Container view.');
    return;
  }
  await changeEntry(s, folder, target, action);
}

/** The view's Allow on a blocked name or address. */
export const allowBlocked = (s: Services) => (item: unknown): Promise<void> => onItem(s, item, 'allow');
/** The view's Allow on every name under a blocked name's parent (api.example.com → *.example.com). */
export const allowBlockedParent = (s: Services) => (item: unknown): Promise<void> => onItem(s, item, 'allow', parentWildcard);
/** The view's Deny on an allowed name or CIDR. */
export const denyRule = (s: Services) => (item: unknown): Promise<void> => onItem(s, item, 'deny');
/** Reads the container again, with every check. */
export const refreshView = (s: Services) => (): void => s.model.refreshSoon();
