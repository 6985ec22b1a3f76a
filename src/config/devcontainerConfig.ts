import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { InputError } from '../base/errors';
import { positionOf } from '../base/jsonc';
import { IMAGE_REFERENCE } from '../base/engine';

/** The parts of devcontainer.json we read. Everything else is carried through untouched. */
export interface DevcontainerConfigRecord {
  image?: string;
  build?: { dockerfile?: string; context?: string; options?: unknown };
  dockerFile?: string;
  dockerComposeFile?: string | string[];
  remoteUser?: string;
  containerUser?: string;
  runArgs?: string[];
  mounts?: unknown[];
  containerEnv?: Record<string, string>;
  workspaceFolder?: string;
  updateRemoteUserUID?: boolean;
  [key: string]: unknown;
}

export interface DevcontainerConfig {
  /** Absolute path of the devcontainer.json that was read. */
  file: string;
  config: DevcontainerConfigRecord;
}

/** Where the Dev Containers extension looks, in its order. */
export const CONFIG_CANDIDATES = [path.join('.devcontainer', 'devcontainer.json'), '.devcontainer.json'];

export async function findConfigFile(workspaceFolder: string): Promise<string> {
  for (const candidate of CONFIG_CANDIDATES) {
    const file = path.join(workspaceFolder, candidate);
    try {
      if ((await stat(file)).isFile()) return file;
    } catch {
      // try the next one
    }
  }
  throw new InputError(`No devcontainer.json in ${workspaceFolder}.`,
    `create ${CONFIG_CANDIDATES[0]} (or ${CONFIG_CANDIDATES[1]}) in the workspace, or pass the right folder`);
}

export async function readDevcontainerConfig(file: string): Promise<DevcontainerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`Cannot read ${file}: ${(e as Error).message}`);
  }
  return { file, config: parseDevcontainerConfig(text, file) };
}

/** Parses JSONC the way the devcontainers CLI does, but stops at the first error with its position. */
export function parseDevcontainerConfig(text: string, file: string): DevcontainerConfigRecord {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false }) as unknown;
  if (errors.length > 0) {
    const first = errors[0];
    const { line, column } = positionOf(text, first.offset);
    throw new InputError(`${file}:${line}:${column}: ${describeParseError(first)}; devcontainer.json is not valid JSON with comments.`,
      'fix the syntax at that position (the file was not changed)');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(`${file} must contain a JSON object, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`);
  }
  const config = value as DevcontainerConfigRecord;
  checkTypes(config, file);
  return config;
}

function describeParseError(error: ParseError): string {
  return printParseErrorCode(error.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function checkTypes(config: DevcontainerConfigRecord, file: string): void {
  for (const key of ['image', 'remoteUser', 'containerUser', 'workspaceFolder', 'dockerFile'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') {
      throw new InputError(`${file}: "${key}" must be a string.`);
    }
  }
  if (typeof config.image === 'string' && !IMAGE_REFERENCE.test(config.image)) {
    throw new InputError(`${file}: "image" ${JSON.stringify(config.image)} is not an image reference.`, 'use a name such as "registry.example/team/image:tag"');
  }
  if (config.runArgs !== undefined && !(Array.isArray(config.runArgs) && config.runArgs.every((a) => typeof a === 'string'))) {
    throw new InputError(`${file}: "runArgs" must be an array of strings.`);
  }
  if (config.mounts !== undefined && !Array.isArray(config.mounts)) {
    throw new InputError(`${file}: "mounts" must be an array.`);
  }
  if (config.containerEnv !== undefined && (typeof config.containerEnv !== 'object' || config.containerEnv === null || Array.isArray(config.containerEnv))) {
    throw new InputError(`${file}: "containerEnv" must be an object of names to values.`);
  }
  checkBuildOptions(config.build?.options, file);
  // With both, the CLI tags what it builds with "image": a Dockerfile would replace an image
  // you or hdc rely on (a base image, the sidecar's), and hdc would read the named image's
  // user, not the built one's.
  if (config.image !== undefined && (config.build !== undefined || config.dockerFile !== undefined)) {
    throw new InputError(`${file}: both "image" and "build" are set; the devcontainers CLI would give the image it builds the name ${JSON.stringify(config.image)}, replacing that image for everything else that uses it.`,
      'keep one: "build" to build the image, or "image" to use one as it is');
  }
  if (config.dockerComposeFile !== undefined) {
    throw new InputError(`${file}: Docker Compose configurations are not supported yet.`,
      'use an "image" or "build" configuration for the hardened container');
  }
  if (config.image === undefined && config.build === undefined && config.dockerFile === undefined) {
    throw new InputError(`${file}: neither "image" nor "build" is set, so there is nothing to run.`,
      'add "image": "<name>" or "build": {"dockerfile": "Dockerfile"}');
  }
}

/**
 * build.options go straight onto the engine's build command line. Only flags that shape the
 * build itself pass; the rest could read the host into the image (--secret, --ssh,
 * --build-context), write outside it (--output, --cache-to, --iidfile), move a tag that hdc
 * or the user trust (-t: the sidecar's image, a base image), or label the image with what
 * the CLI reads back as configuration (--label devcontainer.metadata=…), so they are refused.
 */
export const BUILD_OPTIONS_ALLOWED = ['--build-arg', '--add-host', '--no-cache', '--pull', '--platform', '--progress'] as const;
const BUILD_FLAGS_WITHOUT_VALUE = new Set(['--no-cache', '--pull']);

export function checkBuildOptions(options: unknown, file: string): void {
  if (options === undefined) return;
  if (!Array.isArray(options) || !options.every((o) => typeof o === 'string')) throw new InputError(`${file}: "build.options" must be an array of strings.`);
  for (let i = 0; i < options.length; i++) {
    const arg = options[i] as string;
    const flag = arg.startsWith('--') ? arg.split('=')[0] : arg;
    if (!(BUILD_OPTIONS_ALLOWED as readonly string[]).includes(flag)) {
      throw new InputError(`${file}: "build.options" has ${JSON.stringify(arg)}, which hdc refuses: only ${BUILD_OPTIONS_ALLOWED.join(', ')} may shape the build (others can read host files into the image, write outside it, or retag an image hdc or you trust).`,
        'remove it from build.options');
    }
    if (!arg.includes('=') && !BUILD_FLAGS_WITHOUT_VALUE.has(flag)) i++; // its value
  }
}

/**
 * What an editor that attaches to the container needs of the CLI's merged configuration
 * (devcontainer.json, the features' metadata, the image label, in the CLI's order):
 * `customizations.vscode`'s extensions and settings, the ports, the remote environment and
 * the postAttachCommands, which the CLI's `up` does not run.
 */
export interface EditorCustomizations {
  extensions: string[];
  settings: Record<string, unknown>;
  forwardPorts: (number | string)[];
  remoteEnv: Record<string, string>;
  postAttachCommands: unknown[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Picks the editor's part out of the merged configuration (its `customizations.vscode` is a list, one per source). */
export function editorCustomizations(merged: Record<string, unknown>): EditorCustomizations {
  const vscode = isRecord(merged.customizations) && Array.isArray(merged.customizations.vscode) ? merged.customizations.vscode.filter(isRecord) : [];
  const extensions: string[] = [];
  for (const ext of vscode.flatMap((v) => (Array.isArray(v.extensions) ? v.extensions : []))) {
    if (typeof ext === 'string' && ext && !extensions.includes(ext)) extensions.push(ext);
  }
  const settings = Object.assign({}, ...vscode.map((v) => (isRecord(v.settings) ? v.settings : {}))) as Record<string, unknown>;
  const forwardPorts = (Array.isArray(merged.forwardPorts) ? merged.forwardPorts : []).filter((p): p is number | string => typeof p === 'number' || typeof p === 'string');
  const remoteEnv = Object.fromEntries(Object.entries(isRecord(merged.remoteEnv) ? merged.remoteEnv : {}).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const postAttachCommands = Array.isArray(merged.postAttachCommands) ? merged.postAttachCommands.filter((c) => c !== undefined && c !== null && c !== '') : [];
  return { extensions, settings, forwardPorts, remoteEnv, postAttachCommands };
}
