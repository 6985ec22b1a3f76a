import { strict as assert } from 'node:assert';
import { buildOverrideConfig, LABELS, type HardenedPlan } from '../../src/core/plan';
import { DEFAULT_SETTINGS } from '../../src/core/settings';

function plan(runtime: 'podman' | 'docker', config: HardenedPlan['config'] = { image: 'img', runArgs: ['--cpus', '2'], postCreateCommand: 'make' }): HardenedPlan {
  return {
    workspaceFolder: '/w', configFile: '/w/.devcontainer/devcontainer.json', config, runtime,
    enginePath: `/usr/bin/${runtime}`, settings: { ...DEFAULT_SETTINGS, runtime }, remoteUser: { user: 'vscode', uid: 1000, gid: 1000, source: 'image' },
  };
}

describe('override config', () => {
  it('is the user config plus our labels after the user runArgs', () => {
    const override = buildOverrideConfig(plan('podman'));
    assert.equal(override.image, 'img');
    assert.equal(override.postCreateCommand, 'make');
    assert.deepEqual(override.runArgs?.slice(0, 2), ['--cpus', '2']);
    assert.ok(override.runArgs?.includes(`${LABELS.managed}=true`));
    assert.ok(override.runArgs?.includes(`${LABELS.remoteUser}=vscode`));
    assert.ok(override.runArgs?.includes(`${LABELS.runtime}=podman`));
  });

  it('turns off the uid-rebuilt image for podman only', () => {
    assert.equal(buildOverrideConfig(plan('podman', { image: 'i', updateRemoteUserUID: true })).updateRemoteUserUID, false);
    assert.equal(buildOverrideConfig(plan('docker')).updateRemoteUserUID, undefined);
  });

  it('never mutates the user config', () => {
    const config = { image: 'img', runArgs: ['--a'] };
    const frozen = JSON.stringify(config);
    buildOverrideConfig(plan('podman', config));
    assert.equal(JSON.stringify(config), frozen);
  });
});
