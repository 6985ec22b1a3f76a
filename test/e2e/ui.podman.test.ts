import { execa } from 'execa';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { installExtension, openWorkbench, startCodeServer, waitFor, type CodeServer, type Workbench } from '../support/codeServer';
import { removeStaleEgressFixtures, startEgressFixture, type EgressFixture } from '../support/egressFixture';
import { BASE_IMAGE, chownTree, containersOf, destroyWorkspace, engine, hdc, makeWorkspace, REPO, requireEngine, TEST_UID, userEnv, type Result } from '../support/testbed';

/**
 * The product's main case as a user meets it: code-server running as the unprivileged test
 * user, with rootless Podman, the VSIX installed, driven by Playwright in Debian's Chromium.
 * The workspace sits on the egress fixture's internal network (allowed.test, blocked.test).
 */
describe('VS Code UI on rootless Podman: the view, blocked notifications, a truthful status bar', function () {
  this.timeout(600_000);
  let cs: CodeServer | undefined;
  let wb: Workbench | undefined;
  let fx: EgressFixture | undefined;
  let ws: string;
  let extensionsDir: string;

  /** Runs a command in the workspace as the remote user (through hdc, as the test user). */
  const inside = (args: string[]): Promise<Result> => hdc('podman', ['exec', ws, '--', ...args], { timeoutMs: 30_000 });
  const curl = (url: string): Promise<Result> => inside(['curl', '-sS', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url]);
  const statusLabel = async (): Promise<string> => (await wb!.statusBarItem(/Hardened Dev Containers/).getAttribute('aria-label')) ?? '';
  const hardened = async (): Promise<boolean> => /: podman, hardened\b/.test(await statusLabel());
  /** The notification toasts' texts (the notification centre is closed: toasts only). */
  const toasts = (): Promise<string[]> => wb!.page.locator('.notification-toast').allInnerTexts();
  /** A row of the view, by its label (exactly) or by a pattern over its whole text. */
  const viewRow = (label: string | RegExp) => wb!.page.locator('.pane-body .monaco-list-row').filter(typeof label === 'string'
    ? { has: wb!.page.locator('.label-name', { hasText: new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }) }
    : { hasText: label });

  async function reopen(): Promise<void> {
    await waitFor('the Reopen command in the palette', async () => {
      try {
        await wb!.runCommand('Hardened Dev Containers: Reopen in Hardened Container');
        return true;
      } catch {
        await wb!.page.keyboard.press('Escape');
        return false;
      }
    }, 60_000, 1_000);
    await waitFor('the status bar to say hardened', hardened, 300_000, 500);
  }

  async function openView(): Promise<void> {
    await wb!.runCommand('Hardened Dev Containers: Refresh Hardened Container View');
    await wb!.page.locator('.activitybar .action-item a[aria-label^="Hardened Container"]').first().click();
    await viewRow('Egress').first().waitFor({ state: 'visible', timeout: 30_000 });
  }

  before(async function () {
    await requireEngine('podman');
    const pkg = await execa('npm', ['run', '-s', 'package'], { cwd: REPO, reject: false });
    assert.equal(pkg.exitCode, 0, `npm run package failed:\n${pkg.stdout}\n${pkg.stderr}`);
    await removeStaleEgressFixtures('podman');
    fx = await startEgressFixture('podman');
    ws = makeWorkspace('podman');
    writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image: BASE_IMAGE, remoteUser: 'vscode', runArgs: ['--network', fx.network] }));
    writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({
      'hardenedDevcontainers.runtime': 'podman',
      'hardenedDevcontainers.firewall.presets': [], 'hardenedDevcontainers.firewall.allowedDomains': ['allowed.test'],
      'hardenedDevcontainers.firewall.dnsServers': [fx.dns],
      'hardenedDevcontainers.firewall.verifyAllowedTarget': 'allowed.test:80',
      // Not blocked.test's address: the test allows that name (and so its address).
      'hardenedDevcontainers.firewall.verifyBlockedTarget': `${fx.rogueDns}:80`,
    }, null, 2));
    chownTree(ws);
    extensionsDir = mkdtempSync(path.join(tmpdir(), 'hdc-ui-podman-ext-'));
    await installExtension(path.join(REPO, 'dist', 'hardened-devcontainers.vsix'), extensionsDir);
    cs = await startCodeServer({ workspace: ws, extensionsDir, runAs: { uid: TEST_UID, gid: TEST_UID, env: userEnv() } });
    wb = await openWorkbench(cs, ws);
    await wb.statusBarItem(/Hardened Dev Containers/).waitFor({ state: 'visible', timeout: 60_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && wb) {
      const shot = await wb.screenshot(`ui-podman-${this.currentTest.title.replace(/\W+/g, '-')}`).catch(() => '');
      if (shot) console.log(`screenshot: ${shot}`);
    }
  });

  after(async function () {
    await wb?.close().catch(() => undefined);
    await cs?.stop().catch(() => undefined);
    if (ws) await destroyWorkspace('podman', ws);
    await fx?.stop();
    if (extensionsDir) rmSync(extensionsDir, { recursive: true, force: true });
  });

  it('Reopen (code-server as the test user) brings up a hardened container; the view shows it and its checks', async () => {
    await reopen();
    const [id] = await containersOf('podman', ws);
    assert.ok(id, 'a container exists for the workspace');
    const name = (await engine('podman', ['container', 'inspect', '--format', '{{.Name}}', id])).stdout.trim();
    await openView();
    await viewRow(name).first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await viewRow(name).first().innerText(), /podman · running/);
    for (const check of ['firewall', 'dns', 'sudo', 'capabilities']) await viewRow(check).first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await viewRow('allowed.test').count(), 1, 'the allow rule is listed');
  });

  it('a blocked name from the workspace raises a notification; its Allow makes the name reachable, and the view lists it as allowed', async () => {
    const before = await curl('http://blocked.test/');
    assert.notEqual(before.stdout, '200', 'blocked.test is blocked to begin with');
    const toast = wb!.page.locator('.notification-toast').filter({ hasText: /blocked\.test was blocked/ });
    await toast.first().waitFor({ state: 'visible', timeout: 30_000 });
    await toast.first().getByRole('button', { name: 'Allow', exact: true }).click();
    await waitFor('blocked.test to answer once allowed', async () => (await curl('http://blocked.test/')).stdout === '200', 30_000, 1_000);
    await waitFor('the view to list blocked.test as an allow rule', async () =>
      (await viewRow('blocked.test').allInnerTexts()).some((t) => !/×/.test(t)), 30_000, 500);
    assert.ok(!(await toasts()).some((t) => /resolves to nothing/.test(t)), 'a name that resolves is not a warning');
  });

  it('the report opens rendered and read-only: no dirty editor', async () => {
    // Focus off the terminal (it may keep F1) and the notifications of the test before.
    await wb!.page.keyboard.press('Escape');
    await wb!.page.locator('.part.editor').click();
    await wb!.runCommand('Hardened Dev Containers: Show Hardening Report');
    // Rendered: the Markdown preview's tab ("Preview …"), not a text editor.
    const tab = wb!.page.locator('.tabs-container .tab').filter({ hasText: /Preview.*Hardening report/ });
    await tab.first().waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await wb!.page.locator('.tabs-container .tab.dirty').count(), 0, 'no editor asks to be saved');
    assert.equal(await wb!.page.locator('.tabs-container .tab').filter({ hasText: /^Untitled/ }).count(), 0);
    await wb!.page.keyboard.press('Control+w');
    // The report ran every check, probes included: hdc's own probes are no blocked news.
    await wb!.runCommand('Hardened Dev Containers: Refresh Hardened Container View');
    await new Promise((r) => setTimeout(r, 12_000));
    const texts = await toasts();
    assert.ok(!texts.some((t) => /hdc-leak-probe/.test(t)), `a notification about hdc's own probes: ${JSON.stringify(texts)}`);
    assert.equal(await viewRow(/hdc-leak-probe[^\n]*×/).count(), 0, 'the view lists no leak probe under Blocked');
  });

  it('removing the container outside the editor turns the status bar away from hardened within 10 s', async () => {
    assert.ok(await hardened(), 'hardened to begin with');
    const [id] = await containersOf('podman', ws);
    const rm = await engine('podman', ['rm', '-f', id]);
    assert.equal(rm.exitCode, 0, rm.stderr);
    const t0 = Date.now();
    await waitFor('the status bar to stop saying hardened', async () => !(await hardened()), 10_000, 200);
    console.log(`      (status bar changed ${Date.now() - t0} ms after the container was removed: "${await statusLabel()}")`);
  });

  it('Stop closes the container\'s terminal itself: no error toast', async () => {
    await reopen();
    // The fallback terminal (no Dev Containers extension in code-server) is open.
    await wb!.page.locator('.terminal-wrapper.active .xterm, .terminal .xterm').first().waitFor({ state: 'visible', timeout: 30_000 });
    // The container removed behind the editor's back (the test before) killed its terminal,
    // and VS Code said so: clear that, so that only what Stop does is seen.
    await wb!.runCommand('Notifications: Clear All Notifications');
    await wb!.runCommand('Hardened Dev Containers: Stop Hardened Container');
    await waitFor('the container to be gone', async () => (await containersOf('podman', ws)).length === 0, 60_000, 500);
    await waitFor('the status bar to leave hardened', async () => !(await hardened()), 15_000, 200);
    // A terminal whose process died would raise "The terminal process … terminated with exit code" within a moment.
    await new Promise((r) => setTimeout(r, 3_000));
    const texts = await toasts();
    assert.ok(!texts.some((t) => /terminated with exit code|terminal process/i.test(t)), `an error toast: ${JSON.stringify(texts)}`);
  });
});
