import * as vscode from 'vscode';
import { currentFolder, readConfig, writeWorkspaceConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

/**
 * Flips hardenedDevcontainers.runtime in the workspace's .vscode/settings.json. While the
 * folder's container runs under the current runtime it asks first: the container keeps
 * running, and the status bar then speaks of the other runtime's (none yet).
 */
export const toggleRuntime = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  try {
    const current = readConfig(folder.uri).runtime;
    const next = current === 'podman' ? 'docker' : 'podman';
    const running = s.model.state?.runtime === current ? s.model.state.report?.container : undefined;
    if (running?.running) {
      const choice = await vscode.window.showWarningMessage(
        `The hardened ${current} container ${running.name} is running for ${folder.name}. Switch the runtime to ${next} anyway? The ${current} container keeps running until you stop it; Reopen would start a second one under ${next}.`,
        { modal: true }, `Switch to ${next}`);
      if (choice !== `Switch to ${next}`) return;
    }
    await writeWorkspaceConfig(folder.uri, 'runtime', next);
  } catch (e) {
    await reportError(s, e);
  }
};
