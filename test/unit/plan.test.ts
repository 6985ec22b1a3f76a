import { strict as assert } from 'node:assert';
import { containerNameOf, defaultContainerName, type HardenedPlan } from '../../src/workspace/plan';
import { DEFAULT_SETTINGS } from '../../src/config/settings';
import { LABELS } from '../../src/base/labels';
import { buildOverrideConfig } from '../../src/ops/override';

function plan(runtime: 'podman' | 'docker', config: HardenedPlan['config'] = { image: 'img', runArgs: ['--cpus', '2'], postCreateCommand: 'make' }): HardenedPlan {
  return {
    workspaceFolder: '/w', configFile: '/w/.devcontainer/devcontainer.json', config, runtime,
    enginePath: `/usr/bin/${runtime}`, settings: { ...DEFAULT_SETTINGS, runtime }, remoteUserName: 'vscode', remoteUser: { user: 'vscode', uid: 1000, gid: 1000, source: 'image' } };
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

  it('names the container hdc-<folder>-<hash> unless runArgs name it', () => {
    const override = buildOverrideConfig(plan('podman'));
    const at = override.runArgs?.indexOf('--name') ?? -1;
    assert.match(override.runArgs?.[at + 1] ?? '', /^hdc-w-[0-9a-f]{8}$/);
    assert.equal(containerNameOf(plan('podman')), override.runArgs?.[at + 1]);
    const named = plan('podman', { image: 'i', runArgs: ['--name=mine'] });
    assert.equal(buildOverrideConfig(named).runArgs?.filter((a) => a === '--name').length, 0);
    assert.equal(containerNameOf(named), 'mine', 'the docker guard and hdc status follow the user\'s name');
    assert.equal(containerNameOf(plan('podman', { image: 'i', runArgs: ['--name', 'theirs'] })), 'theirs');
    assert.equal(defaultContainerName('/x/My Project!', '/c'), defaultContainerName('/x/My Project!', '/c'));
    assert.match(defaultContainerName('/x/My Project!', '/c'), /^hdc-my-project--[0-9a-f]{8}$/);
  });

  it('turns off the uid-rebuilt image for podman only', () => {
    assert.equal(buildOverrideConfig(plan('podman', { image: 'i', updateRemoteUserUID: true })).updateRemoteUserUID, false);
    assert.equal(buildOverrideConfig(plan('docker')).updateRemoteUserUID, undefined);
  });

  it('withholds NET_ADMIN and NET_RAW asked in capAdd, and keeps the rest', () => {
    assert.deepEqual(buildOverrideConfig(plan('podman', { image: 'i', capAdd: ['NET_ADMIN', 'cap_net_raw', ' NET_ADMIN', 'NET_RAW ', 'sys_nice'] })).capAdd, ['SYS_NICE']);
    assert.equal(buildOverrideConfig(plan('podman')).capAdd, undefined);
  });

  it('labels the remote user only when it is known', () => {
    const p = { ...plan('podman'), remoteUserName: undefined };
    assert.ok(!buildOverrideConfig(p).runArgs?.some((a) => a.startsWith(`${LABELS.remoteUser}=`)));
  });

  it('never mutates the user config', () => {
    const config = { image: 'img', runArgs: ['--a'] };
    const frozen = JSON.stringify(config);
    buildOverrideConfig(plan('podman', config));
    assert.equal(JSON.stringify(config), frozen);
  });
});
