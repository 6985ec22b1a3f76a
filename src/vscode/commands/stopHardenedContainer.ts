import * as vscode from 'vscode';
import { down } from '../../ops/down';
import { closeTerminals } from '../bringUp';
import { currentFolder, readConfig } from '../config';
import type { Services } from '../services';
import { noFolder, reportError } from './util';

export const stopHardenedContainer = (s: Services) => async (): Promise<void> => {
  const folder = currentFolder();
  if (!folder) return noFolder();
  s.model.busy('stopping');
  closeTerminals(s);
  try {
    const removed = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Stopping the hardened container of ${folder.name}…` },
      () => down(folder.uri.fsPath, readConfig(folder.uri), s.log.line));
    s.model.busy(undefined);
    void vscode.window.showInformationMessage(removed.length ? `Stopped and removed the hardened container of ${folder.name}.` : `${folder.name} has no hardened container.`);
  } catch (e) {
    s.model.busy(undefined, (e as Error).message.split('\n')[0]);
    await reportError(s, e);
  }
};
