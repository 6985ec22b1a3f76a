import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../src/base/errors';
import { DEFAULT_SETTINGS, fileSource, parseRuntime, readSettings } from '../../src/config/settings';
import { readWorkspaceSettingsFile } from '../../src/config/settingsFile';

describe('settings', () => {
  it('defaults to podman', () => {
    assert.deepEqual(readSettings(() => undefined), DEFAULT_SETTINGS);
  });

  it('reads a flat settings.json object, and --runtime overrides it', () => {
    const values = { 'hardenedDevcontainers.runtime': 'docker', 'hardenedDevcontainers.dockerPath': '/opt/docker' };
    assert.equal(readSettings(fileSource(values)).runtime, 'docker');
    assert.equal(readSettings(fileSource(values)).dockerPath, '/opt/docker');
    assert.equal(readSettings(fileSource(values, { runtime: 'podman' })).runtime, 'podman');
  });

  it('rejects an unknown runtime, naming the value and the choices', () => {
    assert.throws(() => parseRuntime('containerd', '--runtime'), (e: InputError) =>
      e instanceof InputError && /"containerd"/.test(e.message) && /--runtime/.test(e.message) && /podman, docker/.test(e.fix ?? ''));
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.runtime': 42 })), /Unknown container runtime 42/);
  });

  it('rejects wrongly typed values', () => {
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.podmanPath': '' })), /podmanPath must be a non-empty string/);
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.upTimeoutSeconds': 1 })), /at least 10/);
  });

  describe('workspace .vscode/settings.json', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'hdc-settings-'));
      mkdirSync(path.join(dir, '.vscode'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is read as JSONC', async () => {
      writeFileSync(path.join(dir, '.vscode', 'settings.json'), '{\n  // pick docker\n  "hardenedDevcontainers.runtime": "docker",\n}\n');
      const { values } = await readWorkspaceSettingsFile(dir);
      assert.equal(values['hardenedDevcontainers.runtime'], 'docker');
    });

    it('is optional', async () => {
      rmSync(path.join(dir, '.vscode'), { recursive: true });
      assert.deepEqual((await readWorkspaceSettingsFile(dir)).values, {});
    });

    it('reports a syntax error with its position', async () => {
      writeFileSync(path.join(dir, '.vscode', 'settings.json'), '{\n  "a": 1\n  "b": 2\n}\n');
      await assert.rejects(readWorkspaceSettingsFile(dir), /settings\.json:3:3: CommaExpected/);
    });
  });
});
