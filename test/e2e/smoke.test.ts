// Smoke test of the real-VS-Code test infrastructure (needs `sudo bash scripts/code-server.sh` once):
//  1. test/support/vscodeRunner.mjs as runTests()'s vscodeExecutablePath runs a mocha suite in code-server's
//     extension host and reports its result: 0 when it passes, non-zero when a test fails;
//  2. test/support/codeServer.ts drives the workbench UI: palette commands, a status-bar item, the output
//     panel and the terminal, each checked by its effect.
// Run: npx mocha --no-config --node-option import=tsx --timeout 600000 test/e2e/smoke.test.ts
import { runTests } from '@vscode/test-electron';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import {
  installExtension, openWorkbench, REPO, startCodeServer, waitFor, type CodeServer, type Workbench,
} from '../support/codeServer';

const FIXTURE = path.join(REPO, 'test', 'e2e', 'fixture-extension');
const RUNNER = path.join(REPO, 'test', 'support', 'vscodeRunner.mjs');

/** Runs `fn` while copying everything written to stdout into the returned text (still printed). */
async function captureStdout<T>(fn: () => Promise<T>): Promise<{ result: T | Error; out: string }> {
  let out = '';
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return original(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return { result: await fn(), out };
  } catch (e) {
    return { result: e as Error, out };
  } finally {
    process.stdout.write = original;
  }
}

describe('e2e infrastructure: code-server + Playwright', function () {
  this.timeout(600_000);
  this.slow(60_000);
  let tmp: string;

  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hdc-e2e-smoke-'));
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('vscodeRunner.mjs as the vscodeExecutablePath of runTests()', () => {
    const run = (env: Record<string, string>) => captureStdout(() => runTests({
      vscodeExecutablePath: RUNNER,
      extensionDevelopmentPath: FIXTURE,
      extensionTestsPath: path.join(FIXTURE, 'test', 'index.js'),
      launchArgs: [path.join(tmp, 'workspace-tests'), '--disable-extensions'],
      extensionTestsEnv: { HDC_FIXTURE_ENV: 'passed-through', ...env },
    }));

    before(() => {
      mkdirSync(path.join(tmp, 'workspace-tests'));
    });

    it('exits 0 when the extension-host suite passes, and shows its output', async () => {
      const t0 = Date.now();
      const { result, out } = await run({});
      console.log(`      (runTests took ${Date.now() - t0} ms)`);
      assert.equal(result, 0, `runTests failed: ${String(result)}`);
      assert.match(out, /✔ registers its command/);
      assert.match(out, /3 passing/);
      assert.doesNotMatch(out, /failing/);
    });

    it('exits non-zero when a test fails', async () => {
      const { result, out } = await run({ HDC_FIXTURE_FAIL: '1' });
      assert.ok(result instanceof Error, 'runTests must reject');
      assert.equal((result as Error & { code?: number }).code, 1, String(result));
      assert.match(out, /1 failing/);
      assert.match(out, /deliberate failure/);
    });
  });

  describe('codeServer.ts driving the workbench', () => {
    let cs: CodeServer | undefined;
    let wb: Workbench | undefined;
    let workspace: string;

    before(async () => {
      workspace = path.join(tmp, 'workspace-ui');
      const extensionsDir = path.join(tmp, 'extensions');
      const vsix = path.join(tmp, 'hdc-e2e-fixture.vsix');
      mkdirSync(workspace);
      await execa(path.join(REPO, 'node_modules', '.bin', 'vsce'), [
        'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', vsix,
      ], { cwd: FIXTURE, stdin: 'ignore' });
      let t = Date.now();
      await installExtension(vsix, extensionsDir);
      console.log(`      (install ${Date.now() - t} ms)`);
      t = Date.now();
      cs = await startCodeServer({ workspace, extensionsDir });
      console.log(`      (code-server start ${Date.now() - t} ms)`);
      t = Date.now();
      wb = await openWorkbench(cs, workspace);
      console.log(`      (workbench ready ${Date.now() - t} ms)`);
    });

    afterEach(async function () {
      if (this.currentTest?.state === 'failed' && wb) {
        console.log(`      screenshot: ${await wb.screenshot(`smoke-${this.currentTest.title}`)}`);
      }
    });

    after(async () => {
      await wb?.close();
      await cs?.stop();
      if (cs) assert.ok(!existsSync(cs.userDataDir), 'stop() removes the temp dirs');
    });

    it("shows the installed extension's status-bar item", async () => {
      await wb!.statusBarItem('HDC fixture status').waitFor({ state: 'visible', timeout: 30_000 });
    });

    it("runs the extension's command from the palette", async () => {
      const marker = path.join(workspace, 'hdc-fixture-marker.txt');
      await wb!.runCommand('HDC Fixture: Write Marker');
      await waitFor('the marker file', async () => existsSync(marker), 15_000);
      assert.equal(readFileSync(marker, 'utf8'), 'written by the fixture in web\n');
    });

    it("reads the extension's output channel", async () => {
      await wb!.showOutputChannel('HDC Fixture');
      const text = await waitFor('the output channel text', async () => {
        const t = await wb!.outputText();
        return t.includes('marker written') ? t : undefined;
      }, 15_000);
      assert.match(text, /HDC fixture activated/);
    });

    it('runs a built-in command: a new terminal runs a shell in the workspace', async () => {
      const out = path.join(workspace, 'from-terminal.txt');
      await wb!.runCommand('Terminal: Create New Terminal');
      const input = wb!.page.locator('.part.panel .terminal-wrapper.active .xterm-helper-textarea');
      await input.waitFor({ state: 'attached', timeout: 30_000 });
      await waitFor('the terminal to take the focus', () => input.evaluate((el) => el === el.ownerDocument.activeElement), 15_000);
      await wb!.page.keyboard.type('pwd > from-terminal.txt');
      await wb!.page.keyboard.press('Enter');
      await waitFor('the file the shell writes', async () => existsSync(out) && readFileSync(out, 'utf8').trim() !== '', 30_000);
      assert.equal(readFileSync(out, 'utf8').trim(), workspace);
    });
  });
});
