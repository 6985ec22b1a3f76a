import { strict as assert } from 'node:assert';
import { DEFAULT_SETTINGS, fileSource, readSettings, type SidecarSettings } from '../../src/config/settings';
import type { ContainerItem } from '../../src/base/engine';
import { ANNOTATIONS, LABELS } from '../../src/base/labels';
import { type HardenedPlan } from '../../src/workspace/plan';
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkSidecarPlan, workspaceSidecarConfig, writeGatewayFiles, writeSidecarFiles, parentStorageMounts, sidecarNames, sidecarRunArgs, sidecarWarnings, SIDECAR_SOCKET, SIDECAR_SOCKET_DIR, type SidecarSpec } from '../../src/sidecar/sidecar';
import { firewallRunArgs } from '../../src/firewall/podmanHook';
import { buildOverrideConfig } from '../../src/ops/override';

const S = 'hardenedDevcontainers.podmanSidecar';
const sidecar = (values: Record<string, unknown>): SidecarSettings => readSettings(fileSource(values)).podmanSidecar;

describe('podmanSidecar settings', () => {
  it('defaults: off, the locally built image, rootless-safe, docker.sock link on', () => {
    const d = sidecar({});
    assert.equal(d.enabled, false);
    assert.equal(d.image, 'localhost/hardened-devcontainers/podman:bookworm');
    assert.equal(d.privileged, false);
    assert.equal(d.createDockerSockSymlink, true);
    assert.deepEqual(d.extFiles, {});
  });

  it('reads every key, resources included', () => {
    const s = sidecar({
      [`${S}.enabled`]: true, [`${S}.image`]: 'registry.example/podman:4', [`${S}.privileged`]: true,
      [`${S}.extFiles`]: { '/etc/containers/registries.conf': 'x' }, [`${S}.resources.cpu`]: '1.5', [`${S}.resources.memory`]: '2g',
      [`${S}.parentStorages`]: true, [`${S}.createDockerSockSymlink`]: false, [`${S}.graphStorage`]: 'my-graph' });
    assert.deepEqual(s, {
      enabled: true, image: 'registry.example/podman:4', privileged: true, extFiles: { '/etc/containers/registries.conf': 'x' },
      resources: { cpu: '1.5', memory: '2g' }, parentStorages: true, createDockerSockSymlink: false, graphStorage: 'my-graph' });
  });

  it('refuses values that would reach argv as options or break mount syntax, naming the setting', () => {
    assert.throws(() => sidecar({ [`${S}.image`]: '-v/:/host' }), /podmanSidecar\.image must be an image reference/);
    assert.throws(() => sidecar({ [`${S}.graphStorage`]: 'a,b' }), /graphStorage must be a volume name/);
    assert.throws(() => sidecar({ [`${S}.graphStorage`]: '-x' }), /graphStorage must be a volume name/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: { 'etc/x': 'y' } }), /"etc\/x" is not a usable path/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: { '/etc/../x': 'y' } }), /is not a usable path/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: { '/etc/a,b': 'y' } }), /is not a usable path/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: { '/etc/a:b': 'y' } }), /is not a usable path/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: { '/etc/x': 1 } }), /must be a string \(the file's content\)/);
    assert.throws(() => sidecar({ [`${S}.extFiles`]: ['x'] }), /must be an object of absolute path/);
    assert.throws(() => sidecar({ [`${S}.resources.cpu`]: 'two' }), /resources\.cpu must be a number of CPUs/);
    assert.throws(() => sidecar({ [`${S}.resources.memory`]: '1 GB' }), /resources\.memory must be an amount/);
  });

  it('is refused on docker with a fix, and warns for privileged and parentStorages', () => {
    const on = { ...DEFAULT_SETTINGS.podmanSidecar, enabled: true };
    assert.throws(() => checkSidecarPlan(on, 'docker', '/w/.devcontainer/devcontainer.json'), /needs the podman runtime/);
    assert.doesNotThrow(() => checkSidecarPlan(on, 'podman', 'f'));
    assert.doesNotThrow(() => checkSidecarPlan(DEFAULT_SETTINGS.podmanSidecar, 'docker', 'f'));
    assert.deepEqual(sidecarWarnings(on), []);
    const w = sidecarWarnings({ ...on, privileged: true, parentStorages: true });
    assert.match(w[0], /privileged = true .*NET_ADMIN/);
    assert.match(w[1], /parentStorages = true .*SYS_ADMIN.*\.git\/hooks, which run on the host/);
  });
});

describe('sidecar layout', () => {
  it('the gateway runs from copies in the workspace\'s state: a link planted in their place is replaced, never written through', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hdc-gw-files-'));
    try {
      const node = path.join(dir, 'host-node');
      const script = path.join(dir, 'host-gateway.cjs');
      const victim = path.join(dir, 'victim');
      writeFileSync(node, 'NODE');
      writeFileSync(script, 'SCRIPT');
      writeFileSync(victim, 'keep');
      const state = path.join(dir, 'state');
      const first = await writeGatewayFiles(state, { node, script });
      assert.deepEqual([first.node, first.script], [path.join(state, 'sidecar', 'gateway', 'node'), path.join(state, 'sidecar', 'gateway', 'sidecar-gateway.cjs')]);
      assert.equal(readFileSync(first.node, 'utf8'), 'NODE');
      assert.match(first.digest, /^[0-9a-f]{64}$/);
      rmSync(first.node);
      symlinkSync(victim, first.node);
      await writeGatewayFiles(state, { node, script });
      assert.equal(readFileSync(victim, 'utf8'), 'keep', 'the copy went through a planted link');
      assert.ok(lstatSync(first.node).isFile());
      assert.equal(readFileSync(first.node, 'utf8'), 'NODE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mounts the socket volume nosuid,nodev,noexec in the workspace, with the client config and the variables', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hdc-sidecar-'));
    try {
      const share = await workspaceSidecarConfig(sidecarNames('ws', DEFAULT_SETTINGS.podmanSidecar), dir);
      assert.equal(share.mounts[0], `type=volume,source=ws-podman-sock,target=${SIDECAR_SOCKET_DIR},nosuid,nodev,noexec`);
      assert.match(share.mounts[1], /^type=bind,source=.*podman-client\.conf,target=\/run\/hardened-devcontainers\/podman-client\.conf,readonly$/);
      assert.deepEqual(share.containerEnv, { DOCKER_HOST: `unix://${SIDECAR_SOCKET}`, CONTAINER_HOST: `unix://${SIDECAR_SOCKET}`, CONTAINERS_CONF: '/run/hardened-devcontainers/podman-client.conf' });
      assert.match(readFileSync(path.join(dir, 'sidecar', 'podman-client.conf'), 'utf8'), /cgroups = "disabled"[\s\S]*remote = true/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const names = sidecarNames('hdc-app-12345678', DEFAULT_SETTINGS.podmanSidecar);
  const spec = (over: Partial<SidecarSettings> = {}, firewallDir: string | null = '/state/fw'): SidecarSpec => ({
    names, settings: { ...DEFAULT_SETTINGS.podmanSidecar, enabled: true, ...over }, workspaceFolder: '/w/app', configFile: '/w/app/.devcontainer/devcontainer.json', firewallArgs: firewallDir ? firewallRunArgs(firewallDir, 'sidecar') : undefined,
    userRunArgs: ['--network', 'corp', '--dns=10.0.0.53', '-p', '8080:80', '--ip', '10.0.0.9', '--publish=9090:90', '--env', 'A=1', '--add-host', 'h:10.0.0.1'], stateDir: '/state',
    gateway: { node: '/state/sidecar/gateway/node', script: '/state/sidecar/gateway/sidecar-gateway.cjs', digest: 'g1' } });
  const files = { mounts: [], digest: 'd1' };
  const limits = { pids: 4096 };
  const valueAfter = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

  it('writes our podman config and storage.conf unless extFiles puts a file at exactly those paths', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hdc-sidecar-'));
    try {
      const targets = async (extFiles: Record<string, string>): Promise<string[]> => (await writeSidecarFiles({ ...spec({ extFiles }), stateDir: dir })).mounts
        .filter((m) => m !== '--mount').map((m) => /target=([^,]+)/.exec(m)?.[1] ?? '');
      assert.deepEqual(await targets({}), ['/etc/containers/containers.conf.d/10-hardened-devcontainers.conf', '/etc/containers/storage.conf']);
      const mine = await targets({ '/etc/containers/containers.conf.d/10-hardened-devcontainers.conf': 'x', '/etc/containers/storage.conf': 'y' });
      assert.equal(mine.length, 2, 'one mount per target');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the sidecar and its volumes after the workspace container; graphStorage renames the graph volume', () => {
    assert.deepEqual(names, { container: 'hdc-app-12345678-podman', socketVolume: 'hdc-app-12345678-podman-sock', graphVolume: 'hdc-app-12345678-podman-graph' });
    assert.equal(sidecarNames('x', { ...DEFAULT_SETTINGS.podmanSidecar, graphStorage: 'mine' }).graphVolume, 'mine');
  });

  it('runs the rootless-safe sidecar: its own netns with the firewall annotation, SYS_ADMIN in, network caps out', () => {
    const { args, hash } = sidecarRunArgs(spec(), files, [], limits);
    assert.ok(!args.some((a) => a.startsWith('container:')), 'never the workspace netns');
    assert.deepEqual(valueAfter(args, '--annotation'), [`${ANNOTATIONS.firewall}=/state/fw`, `${ANNOTATIONS.role}=sidecar`]);
    assert.deepEqual(valueAfter(args, '--cap-add'), ['SYS_ADMIN']);
    assert.deepEqual(valueAfter(args, '--cap-drop'), ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_PTRACE', 'MKNOD']);
    assert.ok(!args.includes('--privileged'));
    // The user's network, DNS and host flags apply to the sidecar too; ports, addresses and the rest do not.
    const image = args.indexOf('localhost/hardened-devcontainers/podman:bookworm');
    const net = args.slice(0, image).filter((a, i, all) => ['--network', '--add-host'].includes(a) || ['--network', '--add-host'].includes(all[i - 1]) || a.startsWith('--dns'));
    assert.deepEqual(net, ['--network', 'corp', '--dns=10.0.0.53', '--add-host', 'h:10.0.0.1']);
    for (const gone of ['-p', '8080:80', '--ip', '10.0.0.9', '--publish=9090:90', 'A=1']) assert.ok(!args.includes(gone), `${gone} reached the sidecar`);
    assert.deepEqual(valueAfter(args, '--env'), ['ELECTRON_RUN_AS_NODE=1'], 'only hdc\'s own variable (the gateway runs on the editor\'s Node)');
    // Its own user namespace, whose ids skip the workspace root's (rootless id 1), and a pids limit.
    assert.deepEqual(valueAfter(args, '--uidmap'), ['0:0:1', '1:2:65535']);
    assert.deepEqual(valueAfter(args, '--gidmap'), ['0:0:1', '1:2:65535']);
    assert.deepEqual(valueAfter(args, '--pids-limit'), ['4096']);
    assert.deepEqual(valueAfter(args, '--label').filter((l) => l.includes('sidecar-')).slice(0, 2),
      [`${LABELS.sidecarFor}=/w/app`, `${LABELS.sidecarConfig}=/w/app/.devcontainer/devcontainer.json`]);
    assert.ok(valueAfter(args, '--mount').includes(`type=volume,source=${names.socketVolume},target=${SIDECAR_SOCKET_DIR}`));
    assert.ok(valueAfter(args, '--mount').includes(`type=volume,source=${names.graphVolume},target=/var/lib/containers`));
    // The API gateway (the host's Node, hdc's bundle, both read-only) serves the socket, podman's own is behind it.
    assert.deepEqual(args.slice(-6), ['localhost/hardened-devcontainers/podman:bookworm', '/hdc/sidecar-gateway.cjs', '--listen', SIDECAR_SOCKET, '--podman-socket', '/run/hdc-podman/podman.sock']);
    assert.equal(args[args.indexOf('--entrypoint') + 1], '/hdc/node');
    // Copies in the workspace's state, never the host's own Node or bundle (the sidecar could write through a bind).
    assert.ok(valueAfter(args, '--mount').includes('type=bind,source=/state/sidecar/gateway/node,target=/hdc/node,readonly'));
    assert.ok(valueAfter(args, '--mount').includes('type=bind,source=/state/sidecar/gateway/sidecar-gateway.cjs,target=/hdc/sidecar-gateway.cjs,readonly'));
    assert.match(hash, /^[0-9a-f]{16}$/);
  });

  it('privileged replaces the capability set; limits become --cpus/--memory; no firewall, no annotation', () => {
    const { args } = sidecarRunArgs(spec({ privileged: true, resources: { cpu: '2', memory: '1g' } }, null), files, [], limits);
    assert.ok(args.includes('--privileged'));
    assert.deepEqual(valueAfter(args, '--cap-add'), []);
    assert.deepEqual(valueAfter(args, '--cpus'), ['2']);
    assert.deepEqual(valueAfter(args, '--memory'), ['1g']);
    assert.deepEqual(valueAfter(args, '--annotation'), []);
  });

  it('hashes the arguments and the files\' content, so a changed setting or extFile recreates the sidecar and an unchanged one is kept', () => {
    assert.equal(sidecarRunArgs(spec(), files, [], limits).hash, sidecarRunArgs(spec(), files, [], limits).hash);
    assert.notEqual(sidecarRunArgs(spec(), files, [], limits).hash, sidecarRunArgs(spec(), { mounts: [], digest: 'd2' }, [], limits).hash);
    assert.notEqual(sidecarRunArgs(spec(), files, [], limits).hash, sidecarRunArgs(spec({ resources: { cpu: '1', memory: '' } }), files, [], limits).hash);
  });

  it('repeats the workspace mounts for parentStorages (read-only stays read-only), without the socket volume', () => {
    const ws = { mounts: [
      { type: 'bind', name: '', source: '/home/u/app', destination: '/workspaces/app', rw: true },
      { type: 'bind', name: '', source: '/home/u/app/.devcontainer', destination: '/workspaces/app/.devcontainer', rw: false },
      { type: 'volume', name: 'cache', source: '/var/lib/x', destination: '/cache', rw: true },
      { type: 'volume', name: names.socketVolume, source: '/v', destination: SIDECAR_SOCKET_DIR, rw: true },
    ] } as ContainerItem;
    assert.deepEqual(parentStorageMounts(ws, names), [
      '--mount', 'type=bind,source=/home/u/app,target=/workspaces/app',
      '--mount', 'type=bind,source=/home/u/app/.devcontainer,target=/workspaces/app/.devcontainer,readonly',
      '--mount', 'type=volume,source=cache,target=/cache',
    ]);
    assert.throws(() => parentStorageMounts({ mounts: [{ type: 'bind', name: '', source: '/a,b', destination: '/x', rw: true }] } as ContainerItem, names), /has a comma/);
  });

  it('gives the workspace the socket volume and DOCKER_HOST/CONTAINER_HOST through the override, over the user\'s env', () => {
    const plan = {
      workspaceFolder: '/w/app', configFile: '/w/app/.devcontainer/devcontainer.json', runtime: 'podman', enginePath: '/usr/bin/podman',
      settings: DEFAULT_SETTINGS, remoteUser: { user: 'vscode', uid: 1000, gid: 1000, source: 'image' },
      config: { image: 'img', containerEnv: { DOCKER_HOST: 'tcp://elsewhere:2375', KEEP: '1' }, mounts: ['type=volume,source=u,target=/u'] } } as unknown as HardenedPlan;
    const extra = { mounts: [`type=volume,source=${names.socketVolume},target=${SIDECAR_SOCKET_DIR},nosuid,nodev,noexec`], containerEnv: { DOCKER_HOST: `unix://${SIDECAR_SOCKET}`, CONTAINER_HOST: `unix://${SIDECAR_SOCKET}` } };
    const o = buildOverrideConfig(plan, [], [], ['type=bind,source=/w/app/.devcontainer,target=/workspaces/app/.devcontainer,readonly'], extra);
    assert.deepEqual(o.containerEnv, { DOCKER_HOST: `unix://${SIDECAR_SOCKET}`, KEEP: '1', CONTAINER_HOST: `unix://${SIDECAR_SOCKET}` });
    assert.deepEqual(o.mounts, ['type=volume,source=u,target=/u', extra.mounts[0], 'type=bind,source=/w/app/.devcontainer,target=/workspaces/app/.devcontainer,readonly']);
  });
});
