import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import { readWorkspaceSettingsFile, SECTION, type SettingKey } from './settings';

/**
 * Writes one workspace setting the way VS Code does: a minimal JSONC edit that keeps the
 * user's comments and formatting. Used by `hdc` when VS Code is not running; only on an
 * explicit command of the user (hdc allow / deny).
 */
export async function writeWorkspaceSetting(workspaceFolder: string, key: SettingKey, value: unknown): Promise<string> {
  const { file } = await readWorkspaceSettingsFile(workspaceFolder); // validates the syntax first
  const current = await readFile(file, 'utf8').catch(() => '{}\n');
  const edits = modify(current, [`${SECTION}.${key}`], value, { formattingOptions: { insertSpaces: true, tabSize: 2, eol: '\n' } });
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, applyEdits(current, edits));
  return file;
}
