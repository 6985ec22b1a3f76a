import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { applyEdits, modify, parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { InputError } from '../base/errors';
import { positionOf } from '../base/jsonc';
import { SECTION, type SettingKey } from './settings';

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

/**
 * Settings for the headless CLI: the workspace's `.vscode/settings.json` (JSONC, as VS Code
 * reads it), or the defaults when there is none.
 */
export async function readWorkspaceSettingsFile(workspaceFolder: string): Promise<{ file: string; values: Record<string, unknown> }> {
  const file = path.join(workspaceFolder, '.vscode', 'settings.json');
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file, values: {} };
    throw e;
  }
  const errors: ParseError[] = [];
  const values = parse(content, errors, { allowTrailingComma: true, disallowComments: false }) as unknown;
  if (errors.length > 0) {
    const first = errors[0];
    const { line, column } = positionOf(content, first.offset);
    throw new InputError(`${file}:${line}:${column}: ${printParseErrorCode(first.error)} in workspace settings.`, 'fix the JSON syntax at that position');
  }
  if (values === undefined) return { file, values: {} };
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new InputError(`${file} must contain a JSON object.`);
  }
  return { file, values: values as Record<string, unknown> };
}

