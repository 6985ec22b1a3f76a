// Runs inside a real VS Code extension host (code-server), against the real extension.
// CommonJS because the extension host requires it; the assertions use node:assert.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const EXTENSION_ID = 'hardened-devcontainers.hardened-devcontainers';

const folder = () => vscode.workspace.workspaceFolders[0].uri;
const settingsFile = () => path.join(folder().fsPath, '.vscode', 'settings.json');
async function waitFor(predicate, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('Hardened Dev Containers in the extension host', function () {
  let api;

  before(async () => {
    assert.ok(vscode.workspace.workspaceFolders?.length, 'a workspace folder is open');
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is installed`);
    api = await extension.activate();
  });

  it('registers every command', async () => {
    // The contributed ones (test/unit/manifest.test.ts holds them equal to src/vscode/ids.ts's COMMANDS).
    const commands = vscode.extensions.getExtension(EXTENSION_ID).packageJSON.contributes.commands.map((c) => c.command);
    const all = await vscode.commands.getCommands(true);
    for (const id of commands) assert.ok(all.includes(id), id);
  });

  it('reads the settings model, typed, from the workspace configuration', async () => {
    const config = vscode.workspace.getConfiguration('hardenedDevcontainers', folder());
    await config.update('firewall.allowedDomains', ['allowed.test', 'api.example.com'], vscode.ConfigurationTarget.WorkspaceFolder);
    await config.update('limits.pids', 2048, vscode.ConfigurationTarget.WorkspaceFolder);
    const settings = api.readConfig(folder());
    assert.equal(settings.runtime, 'podman');
    assert.deepEqual(settings.firewall.allowedDomains, ['allowed.test', 'api.example.com']);
    assert.equal(settings.limits.pids, 2048);
    assert.equal(settings.revokeSudo, true);
    assert.equal(settings.firewall.enabled, true);
  });

  it('toggling the runtime writes .vscode/settings.json and updates the status bar', async () => {
    await vscode.commands.executeCommand('hardenedDevcontainers.toggleRuntime');
    await waitFor(() => fs.existsSync(settingsFile()) && JSON.parse(fs.readFileSync(settingsFile(), 'utf8'))['hardenedDevcontainers.runtime'] === 'docker', 'runtime docker in settings.json');
    await waitFor(() => api.statusBar().runtime === 'docker', 'the status bar to show docker');
    await vscode.commands.executeCommand('hardenedDevcontainers.toggleRuntime');
    await waitFor(() => JSON.parse(fs.readFileSync(settingsFile(), 'utf8'))['hardenedDevcontainers.runtime'] === 'podman', 'runtime podman in settings.json');
  });

  const target = { containerId: 'c0ffee', containerName: 'hdc-hello-12345678', remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/hello', runtime: 'podman', enginePath: '/usr/bin/podman' };

  /** The real VS Code API with only the boundary calls replaced. */
  function stubbedApi(overrides) {
    const calls = [];
    return {
      calls,
      api: {
        hasExtension: (id) => { calls.push(['hasExtension', id]); return false; },
        dockerPathSetting: () => undefined,
        setDockerPathSetting: async (v) => { calls.push(['setDockerPath', v]); },
        ask: async (message, ...items) => { calls.push(['ask', message]); return items[0]; },
        info: async (message) => { calls.push(['info', message]); return undefined; },
        writeNameConfig: async (name, config) => { calls.push(['writeNameConfig', name]); return api.writeAttachedContainerConfig(name, config); },
        installExtension: async (id) => { calls.push(['installExtension', id]); },
        openFolder: async (uri) => { calls.push(['openFolder', uri.toString(true)]); },
        createTerminal: (options) => { calls.push(['createTerminal', options]); return vscode.window.createTerminal(options); },
        ...overrides,
      },
    };
  }

  it('attaches with the attached-container URI when the Dev Containers extension is present', async () => {
    const { api: stub, calls } = stubbedApi({ hasExtension: (id) => id === 'ms-vscode-remote.remote-containers' });
    assert.equal(await api.attach(target, stub), 'uri');
    const hex = Buffer.from(JSON.stringify({ containerName: '/hdc-hello-12345678' })).toString('hex');
    assert.deepEqual(calls.find((c) => c[0] === 'openFolder'), ['openFolder', `vscode-remote://attached-container+${hex}/workspaces/hello`]);
    assert.deepEqual(calls.find((c) => c[0] === 'setDockerPath'), ['setDockerPath', '/usr/bin/podman'], 'dev.containers.dockerPath points at the engine, after asking');
    assert.ok(calls.some((c) => c[0] === 'ask'));
    assert.ok(!calls.some((c) => c[0] === 'createTerminal'));
  });

  it('writes the attached-container configuration (customizations, ports, user, folder) where this product\'s Dev Containers extension reads it, before opening the window', async () => {
    // The editor's part of a merged configuration as the CLI prints it (unit-tested in
    // test/unit/attachConfig.test.ts; the corpus suite checks it from real merges).
    const editor = {
      extensions: ['streetsidesoftware.code-spell-checker', 'ms-python.python'], settings: { 'python.defaultInterpreterPath': '/usr/local/bin/python', 'editor.tabSize': 4 },
      forwardPorts: [8000, 'db:5432'], remoteEnv: { PIP_DISABLE_PIP_VERSION_CHECK: '1' }, postAttachCommands: ['git status'],
    };
    const config = api.attachedContainerConfig(editor, target);
    const { api: stub, calls } = stubbedApi({ hasExtension: () => true, dockerPathSetting: () => '/usr/bin/podman' });
    assert.equal(await api.attach({ ...target, config }, stub), 'uri');
    const order = calls.map((c) => c[0]).filter((c) => c === 'writeNameConfig' || c === 'openFolder');
    assert.deepEqual(order, ['writeNameConfig', 'openFolder'], 'the file is written before the window opens');
    const file = await api.writeAttachedContainerConfig(target.containerName, config);
    // Next to our own global storage: the same product's (VS Code, Insiders, VSCodium, Cursor).
    assert.equal(path.basename(path.dirname(path.dirname(path.dirname(file)))), 'globalStorage', file);
    assert.ok(file.endsWith(path.join('ms-vscode-remote.remote-containers', 'nameConfigs', 'hdc-hello-12345678.json')), file);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      workspaceFolder: '/workspaces/hello', remoteUser: 'vscode',
      extensions: ['streetsidesoftware.code-spell-checker', 'ms-python.python'],
      settings: { 'python.defaultInterpreterPath': '/usr/local/bin/python', 'editor.tabSize': 4 },
      forwardPorts: [8000, 'db:5432'], remoteEnv: { PIP_DISABLE_PIP_VERSION_CHECK: '1' }, postAttachCommand: 'git status',
    });
    fs.rmSync(file);
  });

  it('does not change dev.containers.dockerPath when the user declines', async () => {
    const { api: stub, calls } = stubbedApi({ hasExtension: () => true, ask: async () => undefined });
    assert.equal(await api.attach(target, stub), 'declined');
    assert.ok(!calls.some((c) => c[0] === 'setDockerPath' || c[0] === 'openFolder'));
  });

  it('opens a terminal into the container as the remote user otherwise, and says why', async () => {
    const { api: stub, calls } = stubbedApi({});
    assert.equal(await api.attach(target, stub), 'terminal');
    const [, options] = calls.find((c) => c[0] === 'createTerminal');
    assert.equal(options.shellPath, '/usr/bin/podman');
    assert.deepEqual(options.shellArgs.slice(0, 7), ['exec', '-it', '-u', 'vscode', '-w', '/workspaces/hello', 'c0ffee']);
    const terminal = vscode.window.terminals.find((t) => t.name === 'Hardened: hdc-hello-12345678');
    assert.ok(terminal, 'the terminal exists in the window');
    terminal.dispose();
    assert.ok(calls.some((c) => c[0] === 'info' && /Dev Containers extension is not installed/.test(c[1])));
  });
});
