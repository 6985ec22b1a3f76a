import * as vscode from 'vscode';
import { DISPLAY_NAME } from './ids';

/** One LogOutputChannel for the extension: our steps and the devcontainers CLI's JSON stream. */
export class Log implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel(DISPLAY_NAME, { log: true });

  readonly line = (text: string): void => {
    if (text.startsWith('warning:')) this.channel.warn(text.slice('warning:'.length).trim());
    else if (text.startsWith('$ ')) this.channel.debug(text);
    else this.channel.info(text);
  };

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
