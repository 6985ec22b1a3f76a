import * as vscode from 'vscode';
import { down } from '../ops/down';
import { HdcError } from '../base/errors';
import { checkLines, verdict } from '../ops/render';
import { status as checkStatus } from '../ops/status';
import { up, type UpStep } from '../ops/up';
import { attach } from './attach';
import { readConfig } from './config';
import { DISPLAY_NAME } from './ids';
import type { Services } from './services';

const STEP_TITLE: Record<UpStep | 'verify' | 'remove', string> = {
  plan: 'Reading devcontainer.json', preflight: 'Checking the engine', prepare: 'Preparing', container: 'Container', readback: 'Reading the container back', firewall: 'Firewall',
  sidecar: 'Podman sidecar', lifecycle: 'Lifecycle commands', sudo: 'Revoking sudo', verify: 'Verifying', remove: 'Removing the old container',
};

/**
 * Reopen and Rebuild: a cancellable progress notification that names each step, the log,
 * the status bar, a last verification of every guarantee, then the attach hand-off.
 */
export async function bringUp(s: Services, folder: vscode.WorkspaceFolder, rebuild: boolean): Promise<void> {
  const settings = readConfig(folder.uri);
  s.statusBar.set('working', rebuild ? 'rebuilding' : 'starting');
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: DISPLAY_NAME, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      const report = (step: keyof typeof STEP_TITLE, detail: string): void => progress.report({ message: `${STEP_TITLE[step]}: ${detail}` });
      if (rebuild) {
        report('remove', folder.name);
        await down(folder.uri.fsPath, settings, s.log.line, controller.signal);
      }
      const r = await up({ workspaceFolder: folder.uri.fsPath, settings, stateRoot: s.stateRoot, signal: controller.signal, log: s.log.line, onStep: report });
      report('verify', 'checking every guarantee');
      const check = await checkStatus(folder.uri.fsPath, settings, s.stateRoot, s.log.line);
      for (const line of checkLines(check, 'log')) s.log.line(line);
      if (!check.ok) throw new HdcError(verdict(check, 'log'));
      return r;
    });
    s.statusBar.set('ready', result.containerName);
    await attach({ ...result, enginePath: result.plan.enginePath });
  } catch (e) {
    const message = e instanceof HdcError ? e.describe() : (e as Error).message;
    s.log.channel.error(message);
    s.statusBar.set('error', message.split('\n')[0]);
    const choice = await vscode.window.showErrorMessage(message.split('\n')[0], 'Show Log');
    if (choice === 'Show Log') s.log.show();
  }
}
