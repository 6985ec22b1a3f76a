import * as vscode from 'vscode';
import type { StatusReport } from '../ops/status';
import { Log } from './log';
import type { ModelState } from './modelState';
import { ReportDocuments } from './reportDocuments';
import { StatusBar } from './statusBar';

/** The editor's live view of the folder's container (model.ts); what the commands and the view use of it. */
export interface Model extends vscode.Disposable {
  readonly state: ModelState | undefined;
  readonly onDidChange: vscode.Event<void>;
  start(): void;
  /** Read the container again now, with every check (after a change we made). */
  refreshSoon(): void;
  /** An operation owns the container (label), or ended (undefined; `failure` says what went wrong). */
  busy(label: string | undefined, failure?: string): void;
  /** A status an operation just took: shown at once. `leanedOnUp`: it took the up's own verifications, so a full check follows. */
  accept(report: StatusReport, leanedOnUp: boolean): void;
  /** The view's items under `element` (the roots when undefined). */
  children(element?: vscode.TreeItem): vscode.TreeItem[];
}

/** What the commands share. Built once in activate(); `model` arrives with the commands' bundle. */
export class Services implements vscode.Disposable {
  readonly log = new Log();
  readonly statusBar = new StatusBar();
  readonly reports = new ReportDocuments();
  /** The terminals we opened into the container: closed by us before Stop and Rebuild. */
  readonly terminals = new Set<vscode.Terminal>();
  /** Generated config lives here, never in the workspace. */
  readonly stateRoot: string;
  /** Where VS Code keeps every extension's global storage (the Dev Containers extension's too). */
  readonly globalStorageParent: string;
  private current: Model | undefined;

  constructor(context: vscode.ExtensionContext) {
    this.stateRoot = context.globalStorageUri.fsPath;
    this.globalStorageParent = vscode.Uri.joinPath(context.globalStorageUri, '..').fsPath;
  }

  get model(): Model {
    if (!this.current) throw new Error('the container model is not loaded yet');
    return this.current;
  }

  get modelLoaded(): boolean {
    return this.current !== undefined;
  }

  setModel(model: Model): void {
    this.current = model;
  }

  dispose(): void {
    this.current?.dispose();
    this.reports.dispose();
    this.statusBar.dispose();
    this.log.dispose();
  }
}
