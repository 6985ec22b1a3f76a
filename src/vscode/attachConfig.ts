import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { EditorCustomizations } from '../config/devcontainerConfig';
import { DEV_CONTAINERS_EXTENSION } from './ids';

/**
 * The Dev Containers extension's "attached container configuration" of one container
 * (its attach documentation): what it applies when a window attaches to a container by
 * name. The CLI's `up` ran every lifecycle command but postAttach; that one is here.
 */
export interface AttachedContainerConfig {
  workspaceFolder: string;
  remoteUser: string;
  extensions: string[];
  settings: Record<string, unknown>;
  forwardPorts: (number | string)[];
  remoteEnv: Record<string, string>;
  postAttachCommand?: unknown;
}

export function attachedContainerConfig(editor: EditorCustomizations, target: { remoteUser: string; remoteWorkspaceFolder: string }): AttachedContainerConfig {
  const [only, ...rest] = editor.postAttachCommands;
  // Several sources (features, then devcontainer.json): the object form, which runs each.
  const postAttachCommand = rest.length ? Object.fromEntries(editor.postAttachCommands.map((c, i) => [`hdc-${i + 1}`, c])) : only;
  return {
    workspaceFolder: target.remoteWorkspaceFolder, remoteUser: target.remoteUser,
    extensions: editor.extensions, settings: editor.settings, forwardPorts: editor.forwardPorts, remoteEnv: editor.remoteEnv,
    ...(postAttachCommand !== undefined ? { postAttachCommand } : {}),
  };
}

/**
 * The configuration without what reaches past the container: extensions (a "ui" one runs in
 * the host's editor), settings (remote settings of the host's window) and forwarded ports.
 */
export function withoutHostReach(config: AttachedContainerConfig): AttachedContainerConfig {
  return { ...config, extensions: [], settings: {}, forwardPorts: [] };
}

/** What withoutHostReach leaves out, one line each, for a person to read before agreeing. */
export function hostReach(config: AttachedContainerConfig): string[] {
  return [
    ...config.extensions.map((e) => `extension ${e}`),
    ...Object.keys(config.settings).map((k) => `setting ${k}`),
    ...config.forwardPorts.map((p) => `forwarded port ${p}`),
  ];
}

/** A container name as hdc makes it (and as the file's name may carry it): nothing else is written. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Writes the configuration for the product in use: the Dev Containers extension's global
 * storage is a sibling of ours (VS Code, Insiders, VSCodium, Cursor alike). Only this
 * container's file is written, atomically; other containers' files are never touched. A
 * file of that name that hdc did not write (the name may come from the repository's
 * `runArgs --name`) is left alone: the result is undefined then. `ownDir` (our global
 * storage) keeps the list of the names hdc wrote.
 */
export async function writeAttachedContainerConfig(globalStorageParent: string, ownDir: string, containerName: string, config: AttachedContainerConfig): Promise<string | undefined> {
  if (!CONTAINER_NAME.test(containerName)) throw new Error(`refusing to write an attached-container configuration for the container name ${JSON.stringify(containerName)}`);
  const dir = path.join(globalStorageParent, DEV_CONTAINERS_EXTENSION, 'nameConfigs');
  const file = path.join(dir, `${containerName}.json`);
  const record = path.join(ownDir, 'attached-container-configs.json');
  const ours = await readFile(record, 'utf8').then((t) => JSON.parse(t) as unknown, () => []);
  const names = Array.isArray(ours) ? ours.filter((n): n is string => typeof n === 'string') : [];
  if (!names.includes(containerName) && await stat(file).then(() => true, () => false)) return undefined;
  await mkdir(dir, { recursive: true });
  if (!names.includes(containerName)) {
    await mkdir(ownDir, { recursive: true });
    await writeFile(record, `${JSON.stringify([...names, containerName].slice(-500))}\n`, { mode: 0o600 });
  }
  const tmp = `${file}.hdc-${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return file;
}
