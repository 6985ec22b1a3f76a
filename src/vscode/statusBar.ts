import * as vscode from 'vscode';
import type { Runtime } from '../base/engine';
import type { CommandId } from './ids';

export type State = 'idle' | 'working' | 'ready' | 'error';

const LABEL: Record<State, string> = { idle: '', working: ' $(sync~spin)', ready: ' $(shield) hardened ✓', error: ' $(error)' };
const SPOKEN: Record<State, string> = { idle: 'idle', working: 'working', ready: 'hardened', error: 'error' };

/**
 * The status-bar item: runtime plus state. A click toggles the runtime; the tooltip's
 * command links reach the rest. Docker running rootful shows the warning colours.
 */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('hardenedDevcontainers.status', vscode.StatusBarAlignment.Left, 100);
  private state: State = 'idle';
  private runtime: Runtime = 'podman';
  private detail = '';
  private rootfulDocker = false;

  constructor() {
    this.item.name = 'Hardened Dev Containers';
    this.item.command = 'hardenedDevcontainers.toggleRuntime' satisfies CommandId;
    this.render();
    this.item.show();
  }

  get current(): { state: State; runtime: Runtime } {
    return { state: this.state, runtime: this.runtime };
  }

  set(state: State, detail = ''): void {
    this.state = state;
    this.detail = detail;
    this.render();
  }

  setRuntime(runtime: Runtime, rootfulDocker: boolean): void {
    this.runtime = runtime;
    this.rootfulDocker = runtime === 'docker' && rootfulDocker;
    this.render();
  }

  private render(): void {
    this.item.text = `$(vm) ${this.runtime}${LABEL[this.state]}`;
    const warn = this.rootfulDocker && this.state !== 'error';
    this.item.backgroundColor = this.state === 'error'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.isTrusted = { enabledCommands: ['hardenedDevcontainers.toggleRuntime', 'hardenedDevcontainers.showLog', 'hardenedDevcontainers.rebuildHardenedContainer', 'hardenedDevcontainers.showHardeningReport', 'hardenedDevcontainers.reopenInHardenedContainer'] satisfies CommandId[] };
    tooltip.appendMarkdown(`**Hardened Dev Containers**: ${this.runtime}, ${SPOKEN[this.state]}${this.detail ? ` (${escape(this.detail)})` : ''}\n\n`);
    if (warn) tooltip.appendMarkdown('$(warning) Docker runs rootful: a container escape would be root on the host.\n\n');
    tooltip.appendMarkdown('[Toggle runtime](command:hardenedDevcontainers.toggleRuntime) · [Reopen](command:hardenedDevcontainers.reopenInHardenedContainer) · '
      + '[Rebuild](command:hardenedDevcontainers.rebuildHardenedContainer) · [Report](command:hardenedDevcontainers.showHardeningReport) · [Show Log](command:hardenedDevcontainers.showLog)');
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = {
      label: `Hardened Dev Containers: ${this.runtime}, ${SPOKEN[this.state]}${warn ? ', Docker rootful warning' : ''}. Click to toggle the container runtime.`,
      role: 'button',
    };
  }

  dispose(): void {
    this.item.dispose();
  }
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|]/g, '\\$&');
}
