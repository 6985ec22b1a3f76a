import { runTests } from '@vscode/test-electron';
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO } from '../support/testbed';

/**
 * The extension-host mocha suite (test/vscode/extension.test.cjs) in a real VS Code
 * extension host: @vscode/test-electron's runTests() with the project's code-server bridge
 * as the "VS Code executable" (test/support/vscodeRunner.mjs).
 */
describe('extension-host suite through runTests()', function () {
  this.timeout(600_000);
  let ws: string;
  before(() => {
    ws = mkdtempSync(path.join(tmpdir(), 'hdc-exthost-'));
    cpSync(path.join(REPO, 'examples', 'hello'), ws, { recursive: true });
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it('passes every extension-host test', async () => {
    const code = await runTests({
      vscodeExecutablePath: path.join(REPO, 'test', 'support', 'vscodeRunner.mjs'),
      extensionDevelopmentPath: REPO,
      extensionTestsPath: path.join(REPO, 'test', 'vscode', 'index.cjs'),
      launchArgs: [ws, '--disable-extensions'],
    }).catch((e: unknown) => {
      throw new Error(`the extension-host suite failed: ${(e as Error).message}`);
    });
    assert.equal(code, 0);
  });
});
