import * as vscode from 'vscode';
import { HdcError } from '../../base/errors';
import { noLinks } from '../../base/text';
import type { Services } from '../services';

export function noFolder(): void {
  void vscode.window.showErrorMessage('Open a folder with a .devcontainer/devcontainer.json first.');
}

/** An error for the user: the message, the fix, and the log one click away. */
export async function reportError(s: Services, e: unknown): Promise<void> {
  const message = e instanceof HdcError ? e.describe() : (e as Error).message;
  s.log.channel.error(message);
  if ((await vscode.window.showErrorMessage(noLinks(message), 'Show Log')) === 'Show Log') s.log.show();
}
