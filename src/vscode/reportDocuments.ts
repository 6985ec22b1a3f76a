import * as vscode from 'vscode';
import { PREFIX } from './ids';

/** The scheme of the hardening report's read-only documents. */
export const REPORT_SCHEME = `${PREFIX.toLowerCase()}-report`;

/**
 * The hardening report as a virtual, read-only document: never an Untitled editor that asks
 * to be saved. Shown rendered (the built-in Markdown preview) where that exists.
 */
export class ReportDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, this);

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  /** Sets the folder's report and shows it: rendered when the Markdown preview is there, else as a read-only document. */
  async show(folderName: string, markdown: string): Promise<vscode.Uri> {
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/Hardening report: ${folderName.replace(/[/\\]/g, '_')}.md` });
    this.contents.set(uri.toString(), markdown);
    this.changed.fire(uri);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch {
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { preview: true });
    }
    return uri;
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}
