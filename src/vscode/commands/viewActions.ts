import * as vscode from 'vscode';
import { canAllow } from '../../ops/blocked';
import { currentFolder } from '../config';
import { parentWildcard } from '../modelState';
import type { Services } from '../services';
import { changeEntry } from './allowDomain';
import { noFolder } from './util';

/** The entry a view item acts on (view.ts's Node.entry). */
const entryOf = (item: unknown): string | undefined => (item && typeof item === 'object' && 'entry' in item && typeof item.entry === 'string' ? item.entry : undefined);

/**
 * The entry, if the view really shows it: a blocked value that Allow can take, or one of the
 * folder's own allow rules. A command link elsewhere could pass any argument; it changes
 * nothing that the view does not list.
 */
function listed(s: Services, entry: string | undefined, action: 'allow' | 'deny'): string | undefined {
  const state = s.model.state;
  if (!entry || !state) return undefined;
  if (action === 'allow') return state.blocked.some((e) => e.value === entry && canAllow(e)) ? entry : undefined;
  return [...state.rules.domains, ...state.rules.cidrs].includes(entry) ? entry : undefined;
}

async function onItem(s: Services, item: unknown, action: 'allow' | 'deny', map: (entry: string) => string | undefined = (e) => e): Promise<void> {
  const folder = currentFolder();
  if (!folder) return noFolder();
  const entry = listed(s, entryOf(item), action);
  const target = entry && map(entry);
  if (!target) {
    void vscode.window.showErrorMessage(entry ? `${entry} has no parent that a rule may cover (a public suffix, or a top-level domain): allow the name itself.` : 'Pick a blocked entry or an allow rule in the Hardened Container view.');
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
