import * as vscode from 'vscode';
import { Log } from './log';
import { StatusBar } from './statusBar';

/** What the commands share. Built once in activate(). */
export class Services implements vscode.Disposable {
  readonly log = new Log();
  readonly statusBar = new StatusBar();
  /** Generated config lives here, never in the workspace. */
  readonly stateRoot: string;

  constructor(context: vscode.ExtensionContext) {
    this.stateRoot = context.globalStorageUri.fsPath;
  }

  dispose(): void {
    this.statusBar.dispose();
    this.log.dispose();
  }
}
