/* global require, process, describe, it -- CommonJS mocha suite in the extension host */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const assert = require('assert');
const vscode = require('vscode');

describe('fixture extension in the real extension host', () => {
  it('registers its command', async () => {
    const ext = vscode.extensions.getExtension('hdc-test.hdc-e2e-fixture');
    assert.ok(ext, 'the extension under development is loaded');
    await ext.activate();
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('hdcFixture.writeMarker'), 'hdcFixture.writeMarker is registered');
  });

  it('sees the environment of runTests()', () => {
    assert.strictEqual(process.env.HDC_FIXTURE_ENV, 'passed-through');
  });

  it('runs in the web UI against a remote extension host', () => {
    assert.strictEqual(vscode.env.uiKind, vscode.UIKind.Web);
    assert.ok(vscode.env.remoteName, 'remoteName is set');
  });

  if (process.env.HDC_FIXTURE_FAIL === '1') {
    it('fails on purpose (the bridge must report it)', () => {
      assert.fail('deliberate failure');
    });
  }
});
