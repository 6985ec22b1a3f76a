import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { editorCustomizations } from '../../src/config/devcontainerConfig';
import { attachedContainerConfig, hostReach, withoutHostReach, writeAttachedContainerConfig } from '../../src/vscode/attachConfig';

/**
 * The CLI's merged configuration as `read-configuration --include-merged-configuration`
 * prints it: customizations.vscode is a list (a feature's metadata first, then
 * devcontainer.json), postAttachCommand becomes postAttachCommands.
 */
const merged = {
  remoteUser: 'vscode',
  customizations: { vscode: [
    { extensions: ['ms-azuretools.vscode-docker'], settings: { 'docker.host': 'x' } },
    { extensions: ['streetsidesoftware.code-spell-checker', 'ms-azuretools.vscode-docker'], settings: { 'editor.tabSize': 2, 'docker.host': 'y' } },
  ] },
  forwardPorts: [8000, 'db:5432'],
  remoteEnv: { FOO: 'bar', DROPPED: null },
  postAttachCommands: ['echo feature', ['git', 'status']],
};

describe('attach with the customizations: the Dev Containers extension\'s attached-container configuration', () => {
  it('picks the editor\'s part of the merge: extensions once, in order; settings later over earlier', () => {
    assert.deepEqual(editorCustomizations(merged), {
      extensions: ['ms-azuretools.vscode-docker', 'streetsidesoftware.code-spell-checker'],
      settings: { 'docker.host': 'y', 'editor.tabSize': 2 },
      forwardPorts: [8000, 'db:5432'], remoteEnv: { FOO: 'bar' }, postAttachCommands: ['echo feature', ['git', 'status']],
    });
    assert.deepEqual(editorCustomizations({}), { extensions: [], settings: {}, forwardPorts: [], remoteEnv: {}, postAttachCommands: [] });
  });

  it('one postAttachCommand stays as written; several become the object form (each runs)', () => {
    const target = { remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app' };
    const several = attachedContainerConfig(editorCustomizations(merged), target);
    assert.deepEqual(several.postAttachCommand, { 'hdc-1': 'echo feature', 'hdc-2': ['git', 'status'] });
    const one = attachedContainerConfig({ ...editorCustomizations(merged), postAttachCommands: ['make watch'] }, target);
    assert.equal(one.postAttachCommand, 'make watch');
    assert.equal('postAttachCommand' in attachedContainerConfig(editorCustomizations({}), target), false);
    assert.deepEqual([one.remoteUser, one.workspaceFolder], ['vscode', '/workspaces/app']);
  });

  it('writes only this container\'s file, next to our own global storage; never one it did not write; refuses a name that is a path', async () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'hdc-globalstorage-'));
    try {
      const own = path.join(parent, 'hardened-devcontainers.hardened-devcontainers');
      const dir = path.join(parent, 'ms-vscode-remote.remote-containers', 'nameConfigs');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'someone-else.json'), '{"remoteUser":"them"}');
      const config = attachedContainerConfig(editorCustomizations(merged), { remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app' });
      const file = await writeAttachedContainerConfig(parent, own, 'hdc-app-12345678', config);
      assert.equal(file, path.join(dir, 'hdc-app-12345678.json'));
      assert.equal(JSON.parse(readFileSync(file!, 'utf8')).remoteUser, 'vscode');
      assert.equal(statSync(file!).mode & 0o777, 0o600);
      // Ours: written again on the next attach.
      assert.equal(await writeAttachedContainerConfig(parent, own, 'hdc-app-12345678', { ...config, remoteUser: 'node' }), file);
      assert.equal(JSON.parse(readFileSync(file!, 'utf8')).remoteUser, 'node');
      // Not ours (runArgs --name can pick any name): left as it is.
      assert.equal(await writeAttachedContainerConfig(parent, own, 'someone-else', config), undefined);
      assert.equal(readFileSync(path.join(dir, 'someone-else.json'), 'utf8'), '{"remoteUser":"them"}');
      assert.deepEqual(readdirSync(dir).sort(), ['hdc-app-12345678.json', 'someone-else.json']);
      await assert.rejects(writeAttachedContainerConfig(parent, own, '../evil', attachedContainerConfig(editorCustomizations({}), { remoteUser: 'x', remoteWorkspaceFolder: '/' })), /refusing/);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('without what reaches past the container: no extensions, settings or forwarded ports; the rest stays', () => {
    const config = attachedContainerConfig(editorCustomizations(merged), { remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app' });
    assert.deepEqual(hostReach(config), ['extension ms-azuretools.vscode-docker', 'extension streetsidesoftware.code-spell-checker', 'setting docker.host', 'setting editor.tabSize', 'forwarded port 8000', 'forwarded port db:5432']);
    const lean = withoutHostReach(config);
    assert.deepEqual([lean.extensions, lean.settings, lean.forwardPorts, lean.remoteUser, lean.remoteEnv], [[], {}, [], 'vscode', { FOO: 'bar' }]);
  });
});
