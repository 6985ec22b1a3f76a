import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { InputError } from './errors';
import { positionOf } from './jsonc';

export const RUNTIMES = ['podman', 'docker'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Every setting under `hardenedDevcontainers.*`, typed. Defaults match package.json. */
export interface Settings {
  runtime: Runtime;
  podmanPath: string;
  dockerPath: string;
  upTimeoutSeconds: number;
}

export const SECTION = 'hardenedDevcontainers';

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  runtime: 'podman',
  podmanPath: 'podman',
  dockerPath: 'docker',
  upTimeoutSeconds: 600,
});

/** Reads one setting by key; VS Code's configuration and a settings.json file both fit. */
export type SettingSource = (key: keyof Settings) => unknown;

/** Builds typed settings from any source, rejecting values of the wrong type or range. */
export function readSettings(source: SettingSource): Settings {
  return {
    runtime: parseRuntime(source('runtime') ?? DEFAULT_SETTINGS.runtime, `${SECTION}.runtime`),
    podmanPath: stringSetting(source, 'podmanPath'),
    dockerPath: stringSetting(source, 'dockerPath'),
    upTimeoutSeconds: numberSetting(source, 'upTimeoutSeconds', 10),
  };
}

export function parseRuntime(value: unknown, where = 'runtime'): Runtime {
  if (typeof value === 'string' && (RUNTIMES as readonly string[]).includes(value)) return value as Runtime;
  throw new InputError(`Unknown container runtime ${JSON.stringify(value)} (from ${where}).`,
    `use one of: ${RUNTIMES.join(', ')}`);
}

export function enginePath(settings: Settings): string {
  return settings.runtime === 'podman' ? settings.podmanPath : settings.dockerPath;
}

function stringSetting(source: SettingSource, key: 'podmanPath' | 'dockerPath'): string {
  const value = source(key) ?? DEFAULT_SETTINGS[key];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InputError(`${SECTION}.${key} must be a non-empty string, got ${JSON.stringify(value)}.`, `set it to an executable name or path, e.g. "${DEFAULT_SETTINGS[key]}"`);
  }
  return value;
}

function numberSetting(source: SettingSource, key: 'upTimeoutSeconds', min: number): number {
  const value = source(key) ?? DEFAULT_SETTINGS[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InputError(`${SECTION}.${key} must be a number of at least ${min}, got ${JSON.stringify(value)}.`);
  }
  return value;
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

/** A SettingSource over a flat settings.json object ("hardenedDevcontainers.runtime": ...). */
export function fileSource(values: Record<string, unknown>, overrides: Partial<Settings> = {}): SettingSource {
  return (key) => (key in overrides ? overrides[key] : values[`${SECTION}.${key}`]);
}
