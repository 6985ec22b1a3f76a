import { currentFolder, readConfig, writeWorkspaceConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

/** Flips hardenedDevcontainers.runtime in the workspace's .vscode/settings.json. */
export const toggleRuntime = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  try {
    const next = readConfig(folder.uri).runtime === 'podman' ? 'docker' : 'podman';
    await writeWorkspaceConfig(folder.uri, 'runtime', next);
  } catch (e) {
    await reportError(s, e);
  }
};
