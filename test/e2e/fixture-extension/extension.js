/* global require, module, Buffer -- CommonJS, loaded by the extension host */
/* eslint-disable @typescript-eslint/no-require-imports */
// Throwaway extension for the e2e smoke test: a command, a status-bar item and an output channel.
'use strict';
const vscode = require('vscode');

const MARKER = 'hdc-fixture-marker.txt';

function activate(context) {
  const output = vscode.window.createOutputChannel('HDC Fixture');
  output.appendLine('HDC fixture activated');

  const item = vscode.window.createStatusBarItem('hdcFixture.status', vscode.StatusBarAlignment.Left, 100);
  item.text = '$(beaker) HDC fixture';
  item.accessibilityInformation = { label: 'HDC fixture status', role: 'button' };
  item.command = 'hdcFixture.writeMarker';
  item.show();

  context.subscriptions.push(output, item, vscode.commands.registerCommand('hdcFixture.writeMarker', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) throw new Error('no workspace folder');
    const uri = vscode.Uri.joinPath(folder.uri, MARKER);
    await vscode.workspace.fs.writeFile(uri, Buffer.from(`written by the fixture in ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'}\n`));
    output.appendLine(`marker written: ${uri.fsPath}`);
    return uri.fsPath;
  }));
}

function deactivate() {}

module.exports = { activate, deactivate };
