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
];

export const commandId = (name: CommandName): CommandId => `${PREFIX}.${name}`;

export type ContextKey = `${typeof PREFIX}.${'hasDevcontainer' | 'state'}`;

/** The extension's name as the user sees it (package.json displayName): the commands' category, the status bar, the log, notifications. */
export const DISPLAY_NAME = 'Hardened Dev Containers';
/** Every command is in the palette when the workspace has a devcontainer.json. */
export const PALETTE_WHEN: ContextKey = `${PREFIX}.hasDevcontainer`;

export const DEV_CONTAINERS_EXTENSION = 'ms-vscode-remote.remote-containers';
