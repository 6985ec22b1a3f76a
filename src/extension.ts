import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {
  // Commands and the status bar arrive with the VS Code issue; the core is usable via `hdc`.
}

export function deactivate(): void {}
