import { SECTION } from '../config/settings';
import type * as handlers from './commands/index';

/** The prefix of every command id, context key and the status-bar item id: the settings' section. */
export const PREFIX = SECTION;

/** A command's name: its handler in commands/index.ts (module commands/NAME.ts) and its id's suffix. */
export type CommandName = keyof typeof handlers;
export type CommandId = `${typeof PREFIX}.${CommandName}`;

export interface CommandSpec {
  name: CommandName;
  /** The palette title, shown after the category, DISPLAY_NAME. */
  title: string;
  /** A codicon, `$(name)`. */
  icon: string;
  /** false: an action on a view item (it takes the item), hidden from the palette. */
  palette?: false;
}

/**
 * Every command, once. register.ts registers these; package.json's contributes.commands and
 * menus.commandPalette must list exactly these (test/unit/manifest.test.ts names what differs).
 * The handler module is only a type import here: extension.cjs stays free of the commands.
 */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'reopenInHardenedContainer', title: 'Reopen in Hardened Container', icon: '$(shield)' },
  { name: 'rebuildHardenedContainer', title: 'Rebuild Hardened Container', icon: '$(refresh)' },
  { name: 'stopHardenedContainer', title: 'Stop Hardened Container', icon: '$(debug-stop)' },
  { name: 'allowDomain', title: 'Allow Domain…', icon: '$(pass)' },
  { name: 'showHardeningReport', title: 'Show Hardening Report', icon: '$(checklist)' },
  { name: 'showLog', title: 'Show Log', icon: '$(output)' },
  { name: 'toggleRuntime', title: 'Toggle Container Runtime', icon: '$(vm)' },
  { name: 'refreshView', title: 'Refresh Hardened Container View', icon: '$(refresh)' },
  { name: 'allowBlocked', title: 'Allow', icon: '$(check)', palette: false },
  { name: 'allowBlockedParent', title: 'Allow Every Name Under Its Parent', icon: '$(check-all)', palette: false },
  { name: 'denyRule', title: 'Deny', icon: '$(circle-slash)', palette: false },
];

/** The "Hardened Container" view, in its own view container on the activity bar. */
export const VIEW_CONTAINER = 'hardenedDevcontainers';
export const VIEW = `${PREFIX}.container`;
/** The view's title actions, in order. */
export const VIEW_TITLE: readonly CommandName[] = ['reopenInHardenedContainer', 'rebuildHardenedContainer', 'stopHardenedContainer', 'showHardeningReport', 'showLog', 'refreshView'];
/** The view's items that carry actions (their contextValue), and the inline actions on each. */
export type ItemKind = 'blockedName' | 'blockedAddress' | 'allowedDomain' | 'allowedCidr';
export const ITEM_ACTIONS: readonly { item: ItemKind; commands: readonly CommandName[] }[] = [
  { item: 'blockedName', commands: ['allowBlocked', 'allowBlockedParent'] },
  { item: 'blockedAddress', commands: ['allowBlocked'] },
  { item: 'allowedDomain', commands: ['denyRule'] },
  { item: 'allowedCidr', commands: ['denyRule'] },
];

/** Settings of the editor only (hdc has no use for them), with their defaults. */
export const EDITOR_SETTINGS = { notifyBlocked: true } as const;

export const commandId = (name: CommandName): CommandId => `${PREFIX}.${name}`;

export type ContextKey = `${typeof PREFIX}.${'hasDevcontainer' | 'state'}`;

/** The extension's name as the user sees it (package.json displayName): the commands' category, the status bar, the log, notifications. */
export const DISPLAY_NAME = 'Hardened Dev Containers';
/** Every palette command is in the palette when the workspace has a devcontainer.json. */
export const PALETTE_WHEN: ContextKey = `${PREFIX}.hasDevcontainer`;

export const DEV_CONTAINERS_EXTENSION = 'ms-vscode-remote.remote-containers';
