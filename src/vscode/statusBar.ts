import * as vscode from 'vscode';
import type { Runtime } from '../base/engine';
import { commandId, DISPLAY_NAME, PREFIX, type CommandName } from './ids';
import type { StatusKind, StatusView } from './modelState';

export type State = StatusKind;

// Only `ready` says "hardened": every other state avoids the word (modelState.ts decides).
const LABEL: Record<State, string> = {
  idle: '', working: ' $(gear) working', ready: ' $(shield) hardened ✓', stopped: ' $(debug-stop) stopped', checking: ' $(watch) checking',
  failing: ' $(error) check failing', error: ' $(error)',
};
const SPOKEN: Record<State, string> = {
  idle: 'no container', working: 'working', ready: 'hardened', stopped: 'stopped', checking: 'checking', failing: 'a check is failing', error: 'error',
};
/** The tooltip's command links, in order; only these are enabled in it. */
const LINKS: [label: string, command: CommandName][] = [
  ['Toggle runtime', 'toggleRuntime'], ['Reopen', 'reopenInHardenedContainer'], ['Rebuild', 'rebuildHardenedContainer'],
  ['Report', 'showHardeningReport'], ['Show Log', 'showLog'],
];

/**
 * The status-bar item: runtime plus state. A click toggles the runtime; the tooltip's
 * command links reach the rest. Docker running rootful shows the warning colours.
 */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(`${PREFIX}.status`, vscode.StatusBarAlignment.Left, 100);
  private state: State = 'idle';
  private runtime: Runtime = 'podman';
  private detail = '';
  private rootfulDocker = false;

  constructor() {
    this.item.name = DISPLAY_NAME;
    this.item.command = commandId('toggleRuntime');
    this.render();
    this.item.show();
  }

  get current(): { state: State; runtime: Runtime } {
    return { state: this.state, runtime: this.runtime };
  }

  /** The model's view of the container (modelState.ts's statusView). */
  show(view: StatusView): void {
    this.state = view.kind;
    this.detail = view.detail;
    if (view.runtime !== this.runtime) this.rootfulDocker = false;
    this.runtime = view.runtime;
    this.render();
  }

  setRuntime(runtime: Runtime, rootfulDocker: boolean): void {
    this.runtime = runtime;
    this.rootfulDocker = runtime === 'docker' && rootfulDocker;
    this.render();
  }

  private render(): void {
    this.item.text = `$(vm) ${this.runtime}${LABEL[this.state]}`;
    const warn = this.rootfulDocker && this.state !== 'error' && this.state !== 'failing';
    this.item.backgroundColor = this.state === 'error' || this.state === 'failing'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.isTrusted = { enabledCommands: LINKS.map(([, name]) => commandId(name)) };
    tooltip.appendMarkdown(`**${DISPLAY_NAME}**: ${this.runtime}, ${SPOKEN[this.state]}${this.detail ? ` (${escape(this.detail)})` : ''}\n\n`);
    if (warn) tooltip.appendMarkdown('$(warning) Docker runs rootful: a container escape would be root on the host.\n\n');
    tooltip.appendMarkdown(LINKS.map(([label, name]) => `[${label}](command:${commandId(name)})`).join(' · '));
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = {
      label: `${DISPLAY_NAME}: ${this.runtime}, ${SPOKEN[this.state]}${warn ? ', Docker rootful warning' : ''}. Click to toggle the container runtime.`,
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
