import { strict as assert } from 'node:assert';
import { InputError } from '../../src/core/errors';
import { buildOverrideConfig, checkRunArgs, containerNameOf, defaultContainerName, LABELS, type HardenedPlan } from '../../src/core/plan';
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

  it('never mutates the user config', () => {
    const config = { image: 'img', runArgs: ['--a'] };
    const frozen = JSON.stringify(config);
    buildOverrideConfig(plan('podman', config));
    assert.equal(JSON.stringify(config), frozen);
  });
});

describe('runArgs that would undo the hardening', () => {
  const FILE = '/w/.devcontainer/devcontainer.json';
  for (const args of [['--privileged'], ['--cap-add', 'NET_ADMIN'], ['--cap-add', 'SYS_PTRACE'], ['--cap-add=mknod'], ['--cap-add=net_raw'], ['--cap-add', 'CAP_SYS_ADMIN'], ['--cap-add=ALL'], ['--network', 'host'], ['--net=container:abc'], ['--network=ns:/proc/1/ns/net'], ['--pid', 'host'], ['--pid=container:abc'], ['--annotation', 'dev.hardened-devcontainers.firewall=/tmp/x'], ['--annotation=dev.hardened-devcontainers.role=sidecar']]) {
    it(`refuses ${args.join(' ')}`, () => {
      assert.throws(() => checkRunArgs(['--cpus', '2', ...args], FILE), (e: InputError) =>
        e instanceof InputError && e.message.startsWith(`${FILE}: runArgs "${args.join(' ')}`) && /remove it/.test(e.fix ?? ''));
    });
  }
  it('allows the rest', () => {
    checkRunArgs(['--cpus', '2', '--cap-add', 'CHOWN', '--network', 'mynet', '--label', 'privileged=yes', '--pid', 'private', '--annotation', 'org.example=1'], FILE);
    checkRunArgs(undefined, FILE);
  });
});
