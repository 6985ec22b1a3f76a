import * as vscode from 'vscode';
import { renderMarkdownReport } from '../../ops/render';
import { status } from '../../ops/status';
import { currentFolder, readConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

/** The same live checks as `hdc status`, as a Markdown document. */
export const showHardeningReport = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  try {
    const report = await status(folder.uri.fsPath, readConfig(folder.uri), s.stateRoot, s.log.line);
    const content = renderMarkdownReport(report, folder.name);
    const doc = await vscode.workspace.openTextDocument({ content, language: 'markdown' });
    await vscode.window.showTextDocument(doc, { preview: true });
  } catch (e) {
    await reportError(s, e);
  }
};
