import * as vscode from 'vscode';
import { down } from '../../ops/down';
import { currentFolder, readConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

export const stopHardenedContainer = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  try {
    const removed = await down(folder.uri.fsPath, readConfig(folder.uri), s.log.line);
    s.statusBar.set('idle');
    void vscode.window.showInformationMessage(removed.length ? `Stopped and removed the hardened container of ${folder.name}.` : `${folder.name} has no hardened container.`);
  } catch (e) {
    await reportError(s, e);
  }
};
