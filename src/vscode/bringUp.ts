import * as vscode from 'vscode';
import { down } from '../ops/down';
import { HdcError } from '../base/errors';
import { noLinks } from '../base/text';
import { checkLines, verdict } from '../ops/render';
import { status as checkStatus } from '../ops/status';
import { up, type UpStep } from '../ops/up';
import { attach, realAttachApi } from './attach';
import { attachedContainerConfig, hostReach, withoutHostReach } from './attachConfig';
import { readConfig } from './config';
import { DEV_CONTAINERS_EXTENSION, DISPLAY_NAME } from './ids';
import type { Services } from './services';

const STEP_TITLE: Record<UpStep | 'verify' | 'remove', string> = {
  plan: 'Reading devcontainer.json', preflight: 'Checking the engine', prepare: 'Preparing', container: 'Container', readback: 'Reading the container back', firewall: 'Firewall',
  sidecar: 'Podman sidecar', lifecycle: 'Lifecycle commands', sudo: 'Revoking sudo', verify: 'Verifying', remove: 'Removing the old container',
};

/**
 * Reopen and Rebuild: a cancellable progress notification that names each step, the log,
 * the status bar, a last check of every guarantee (the firewall's and sudo's from the up's
 * own verification moments ago; the view runs every check again at its next poll), then
 * the attach hand-off.
 */
export async function bringUp(s: Services, folder: vscode.WorkspaceFolder, rebuild: boolean): Promise<void> {
  const settings = readConfig(folder.uri);
  s.model.busy(rebuild ? 'rebuilding' : 'starting');
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: DISPLAY_NAME, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      // Our step names, and the devcontainers CLI's own progress steps as it words them
      // (renderCliLogLine keeps the commands it runs out of these); commands go to the log only.
      const report = (step: keyof typeof STEP_TITLE, detail: string, origin: 'hdc' | 'cli' = 'hdc'): void =>
        progress.report({ message: noLinks(origin === 'cli' ? detail : `${STEP_TITLE[step]}: ${detail}`) });
      if (rebuild) {
        report('remove', folder.name);
        closeTerminals(s);
        await down(folder.uri.fsPath, settings, s.log.line, controller.signal);
      }
      const r = await up({ workspaceFolder: folder.uri.fsPath, settings, stateRoot: s.stateRoot, signal: controller.signal, log: s.log.line, onStep: report });
      report('verify', 'checking every guarantee');
      const check = await checkStatus(folder.uri.fsPath, settings, s.stateRoot, s.log.line, {}, { containerId: r.containerId, sudo: r.sudo, firewall: r.firewall });
      for (const line of checkLines(check, 'log')) s.log.line(line);
      s.model.accept(check, true);
      if (!check.ok) throw new HdcError(verdict(check, 'log'));
      return r;
    });
    s.model.busy(undefined);
    // The state first: the window paints `hardened ✓` before the terminal (or the new
    // window) takes the renderer for a moment.
    await new Promise((r) => setTimeout(r, 150));
    let config = attachedContainerConfig(result.editor, result);
    // The repository (hostile, by this extension's threat model) chose these: the user agrees
    // to them, or the window attaches without them.
    const reach = hostReach(config);
    // Only a window that attaches (the Dev Containers extension) applies them; the terminal does not.
    if (reach.length && vscode.extensions.getExtension(DEV_CONTAINERS_EXTENSION)) {
      const apply = 'Apply Them';
      const choice = await vscode.window.showWarningMessage('The devcontainer asks the attached window for extensions, settings or forwarded ports that reach beyond the container.',
        { modal: true, detail: `${reach.slice(0, 40).join('\n')}${reach.length > 40 ? `\n… and ${reach.length - 40} more` : ''}\n\nAn extension of kind "ui" runs on this computer; settings apply to this window; forwarded ports open on this computer's loopback.` },
        apply, 'Attach Without Them');
      if (choice !== apply) config = withoutHostReach(config);
    }
    await attach({ ...result, enginePath: result.plan.enginePath, config }, { ...realAttachApi(s.globalStorageParent, s.stateRoot), createTerminal: (options) => openTerminal(s, options) });
  } catch (e) {
    const message = e instanceof HdcError ? e.describe() : (e as Error).message;
    const failure = noLinks(message.split('\n')[0]);
    s.log.channel.error(message);
    s.model.busy(undefined, failure);
    const choice = await vscode.window.showErrorMessage(failure, 'Show Log');
    if (choice === 'Show Log') s.log.show();
  }
}

/** A terminal into the container that Stop and Rebuild close themselves (no "terminated with exit code" toast). */
export function openTerminal(s: Services, options: vscode.TerminalOptions): vscode.Terminal {
  const terminal = vscode.window.createTerminal(options);
  s.terminals.add(terminal);
  return terminal;
}

/** Closes the terminals we opened into the container, before the container goes away. */
export function closeTerminals(s: Services): void {
  for (const t of s.terminals) t.dispose();
  s.terminals.clear();
}
