import * as vscode from 'vscode';
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
    const rows = report.checks.map((c) => `| ${c.ok ? (c.warning ? '⚠️' : '✅') : '❌'} | ${c.name} | ${c.evidence.replace(/\|/g, '\\|')} |`);
    const content = [
      `# Hardening report: ${folder.name}`, '',
      report.container ? `Container \`${report.container.name}\` (${report.runtime}) is ${report.container.status}.` : `No ${report.runtime} container for this folder.`, '',
      ...(rows.length ? ['| | guarantee | evidence |', '| --- | --- | --- |', ...rows, ''] : []),
      report.container?.running ? (report.ok ? '**Hardened: every check passed.**' : '**Not hardened: see the ❌ rows.**') : '',
    ].join('\n');
    const doc = await vscode.workspace.openTextDocument({ content, language: 'markdown' });
    await vscode.window.showTextDocument(doc, { preview: true });
  } catch (e) {
    await reportError(s, e);
  }
};
