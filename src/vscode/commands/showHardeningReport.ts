import { renderMarkdownReport } from '../../ops/render';
import { status } from '../../ops/status';
import { currentFolder, readConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

/** The same live checks as `hdc status`, rendered read-only (reportDocuments.ts). */
export const showHardeningReport = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  try {
    const report = await status(folder.uri.fsPath, readConfig(folder.uri), s.stateRoot, s.log.line);
    await s.reports.show(folder.name, renderMarkdownReport(report, folder.name));
  } catch (e) {
    await reportError(s, e);
  }
};
