import * as vscode from 'vscode';
import { stripAnsi } from '../base/text';
import type { LogLevel } from '../base/runner';
import { DISPLAY_NAME } from './ids';

/** One LogOutputChannel for the extension: our steps and the devcontainers CLI's JSON stream. */
export class Log implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel(DISPLAY_NAME, { log: true });

  /** Our lines and the CLI's; commands at debug, the CLI's harmless noise at trace, never an ANSI escape. */
  readonly line = (raw: string, level: LogLevel = 'info'): void => {
    const text = stripAnsi(raw);
    if (text.startsWith('warning:')) this.channel.warn(text.slice('warning:'.length).trim());
    else if (text.startsWith('$ ') || level === 'debug') this.channel.debug(text);
    else if (level === 'trace') this.channel.trace(text);
    else this.channel.info(text);
  };

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
