import { execa } from 'execa';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { installExtension, openWorkbench, startCodeServer, waitFor, type CodeServer, type Workbench } from '../support/codeServer';
import { chownTree, containersOf, destroyWorkspace, engine, makeWorkspace, NO_PUBLIC_NAMES, REPO, useDockerDaemon, workspaceOwner } from '../support/testbed';

/**
 * The extension as a user meets it: the VSIX installed into a real code-server, driven by
 * Playwright in Debian's Chromium, against a real engine. Runtime docker (code-server runs
 * as root here; the podman path is the same core, tested headless in test/integration).
 */
describe('VS Code UI: the VSIX in code-server, driven by Playwright', function () {
  this.timeout(600_000);
  let cs: CodeServer | undefined;
  let wb: Workbench | undefined;
  let ws: string;
  let extensionsDir: string;
  const settingsFile = (): string => path.join(ws, '.vscode', 'settings.json');
  const runtimeSetting = (): unknown => JSON.parse(readFileSync(settingsFile(), 'utf8'))['hardenedDevcontainers.runtime'];

  before(async function () {
    const pkg = await execa('npm', ['run', '-s', 'package'], { cwd: REPO, reject: false });
    assert.equal(pkg.exitCode, 0, `npm run package failed:\n${pkg.stdout}\n${pkg.stderr}`);
    ws = makeWorkspace('docker');
    writeFileSync(settingsFile(), JSON.stringify({ 'hardenedDevcontainers.runtime': 'docker', ...NO_PUBLIC_NAMES }, null, 2));
    chownTree(ws, workspaceOwner('docker'), workspaceOwner('docker'));
    extensionsDir = mkdtempSync(path.join(tmpdir(), 'hdc-ui-ext-'));
    await installExtension(path.join(REPO, 'dist', 'hardened-devcontainers.vsix'), extensionsDir);
    cs = await startCodeServer({ workspace: ws, extensionsDir });
    wb = await openWorkbench(cs, ws);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && wb) {
      const shot = await wb.screenshot(`ui-${this.currentTest.title.replace(/\W+/g, '-')}`).catch(() => '');
      if (shot) console.log(`screenshot: ${shot}`);
    }
  });

  after(async function () {
    await wb?.close().catch(() => undefined);
    await cs?.stop().catch(() => undefined);
    if (ws) await destroyWorkspace('docker', ws);
    if (extensionsDir) rmSync(extensionsDir, { recursive: true, force: true });
  });

  // After the clean-up above: mocha runs a suite's after hooks in the order they were added,
  // and this one stops the dockerd (with it first, the workspace's containers were left).
  useDockerDaemon();

  it('the VSIX holds the shim with its exec bit, the firewall and sudo scripts, the bundles and the devcontainers CLI', async () => {
    const listing = (await execa('unzip', ['-Z', path.join(REPO, 'dist', 'hardened-devcontainers.vsix')])).stdout;
    const mode = (file: string): string => listing.split('\n').find((l) => l.endsWith(` extension/${file}`))?.split(/\s+/)[0] ?? 'missing';
    for (const script of ['src/shim/podman-shim.sh', 'src/firewall/oci-hook.sh', 'src/firewall/guard.sh']) assert.match(mode(script), /^-rwxr-xr-x$/, script);
    for (const file of ['src/hardening/revoke-sudo.sh', 'src/hardening/privilege-check.sh', 'src/shim/events-wait.sh', 'dist/extension.cjs', 'dist/extension-commands.cjs', 'dist/hdc.cjs', 'dist/firewall-agent.cjs',
      'node_modules/@devcontainers/cli/devcontainer.js', 'node_modules/@devcontainers/cli/dist/spec-node/devContainersSpecCLI.js',
      'node_modules/@devcontainers/cli/scripts/updateUID.Dockerfile']) assert.notEqual(mode(file), 'missing', file);
    // The allow-list keeps the sources, tests and the rest of node_modules out.
    assert.doesNotMatch(listing, / extension\/(test|scripts)\//);
    assert.doesNotMatch(listing, / extension\/src\/.*\.ts$/m);
    assert.doesNotMatch(listing, / extension\/node_modules\/(?!@devcontainers\/cli\/)/);
  });

  it('F1 "Reopen in Hardened Container" brings up a hardened container and opens the fallback terminal as vscode', async () => {
    const workbench = wb!;
    const status = workbench.statusBarItem(/Hardened Dev Containers/);
    // Activation (workspaceContains) puts up the status-bar item, then sets the context key
    // that shows the commands in the palette: wait for the first, retry for the second.
    await status.waitFor({ state: 'visible', timeout: 60_000 });
    await waitFor('the command in the palette', async () => {
      try {
        await workbench.runCommand('Hardened Dev Containers: Reopen in Hardened Container');
        return true;
      } catch {
        await workbench.page.keyboard.press('Escape');
        return false;
      }
    }, 30_000, 1_000);
    await waitFor('the status bar to say hardened', async () => /hardened/.test((await status.getAttribute('aria-label')) ?? ''), 240_000, 500);
    // Through the engine: running, firewall rules in its namespace, sudo revoked.
    const [id] = await containersOf('docker', ws);
    assert.ok(id, 'a container exists for the workspace');
    assert.equal((await engine('docker', ['container', 'inspect', '--format', '{{.State.Running}}', id])).stdout.trim(), 'true');
    const name = (await engine('docker', ['container', 'inspect', '--format', '{{.Name}}', id])).stdout.trim().replace(/^\//, '');
    assert.match((await engine('docker', ['exec', `${name}-fw`, 'iptables', '-S', 'OUTPUT'])).stdout, /^-P OUTPUT DROP$/m);
    assert.notEqual((await engine('docker', ['exec', '-u', 'vscode', id, 'sudo', '-n', 'true'])).exitCode, 0, 'sudo is revoked');
    // The fallback terminal (no Dev Containers extension in code-server): type into it.
    const marker = path.join(ws, '.whoami-from-terminal');
    await workbench.page.locator('.terminal-wrapper.active .xterm, .terminal .xterm').first().click();
    await workbench.page.keyboard.type('id -un | tee .whoami-from-terminal\n', { delay: 20 });
    await waitFor('id -un typed in the terminal to print vscode', async () => existsSync(marker) && readFileSync(marker, 'utf8').trim() === 'vscode', 30_000, 200);
  });

  it('clicking the status-bar item flips .vscode/settings.json between docker and podman (asking first while a container runs)', async () => {
    const status = wb!.statusBarItem(/Hardened Dev Containers/);
    assert.equal(runtimeSetting(), 'docker');
    await status.click();
    // The docker container of the test before runs: a modal asks before the switch.
    const dialog = wb!.page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await dialog.innerText(), /is running for/);
    assert.equal(runtimeSetting(), 'docker', 'nothing changes before the answer');
    await dialog.getByRole('button', { name: 'Switch to podman' }).click();
    await waitFor('runtime podman in settings.json', async () => runtimeSetting() === 'podman', 15_000);
    await waitFor('the status bar to show podman', async () => /podman/.test((await status.getAttribute('aria-label')) ?? ''), 15_000);
    await status.click();
    await waitFor('runtime docker in settings.json', async () => runtimeSetting() === 'docker', 15_000);
  });

  it('"Allow Domain…" with bad;domain shows the validation message and changes nothing', async () => {
    const before = readFileSync(settingsFile(), 'utf8');
    const page = wb!.page;
    await wb!.runCommand('Hardened Dev Containers: Allow Domain…');
    const input = page.locator('.quick-input-widget input.input');
    await input.fill('bad;domain');
    const message = page.locator('.quick-input-widget .quick-input-message');
    await waitFor('the validation message', async () => /is not a valid host name/.test((await message.textContent()) ?? ''), 15_000);
    await page.keyboard.press('Escape');
    assert.equal(readFileSync(settingsFile(), 'utf8'), before);
    mkdirSync(path.join(REPO, 'test-results'), { recursive: true });
  });
});
