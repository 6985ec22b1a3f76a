import { strict as assert } from 'node:assert';
import { parseClosure } from '../../src/firewall/egressImage';
import { checkBuildOptions } from '../../src/config/devcontainerConfig';
import { engineTimeNs } from '../../src/base/engine';
import { cutOffFromGuard, isGuardedWorkspace } from '../../src/firewall/dockerGuard';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, fileSource, readSettings, type Settings } from '../../src/config/settings';
import { checkUserName } from '../../src/workspace/remoteUser';
import { guardImage, splitNetworkArgs } from '../../src/firewall/dockerGuard';
import { hardeningRunArgs, limitsEnforceable, parseRevokeOutput, protectedPaths, readOnlyMounts } from '../../src/hardening/hardening';
import { parseMount } from '../../src/base/mounts';

describe('hardening', () => {
  const settings = (over: Partial<Settings> = {}): Settings => ({ ...DEFAULT_SETTINGS, ...over });

  it('drops the five capabilities and limits pids by default', () => {
    const args = hardeningRunArgs(settings());
    for (const cap of ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE', 'MKNOD']) assert.ok(args.join(' ').includes(`--cap-drop ${cap}`), cap);
    assert.ok(args.join(' ').includes('--pids-limit 4096'));
    assert.ok(!args.includes('--cpus') && !args.includes('--memory') && !args.includes('no-new-privileges'));
  });

  it('adds the limits and no-new-privileges that the settings ask for', () => {
    const args = hardeningRunArgs(settings({ limits: { cpus: '1.5', memory: '512m', pids: 0 }, noNewPrivileges: true })).join(' ');
    assert.match(args, /--cpus 1\.5/);
    assert.match(args, /--memory 512m/);
    assert.doesNotMatch(args, /--pids-limit/);
    assert.match(args, /--security-opt no-new-privileges/);
  });

  it('validates the limit settings', () => {
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.limits.cpus': 'two' })), /limits\.cpus must be a number of CPUs/);
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.limits.memory': '4 gigs' })), /limits\.memory must be an amount/);
    assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.limits.pids': -1 })), /limits\.pids must be a whole number/);
    assert.equal(readSettings(fileSource({ 'hardenedDevcontainers.limits.memory': '4g' })).limits.memory, '4g');
  });

  it('knows when rootless podman cannot enforce limits (cgroup v1)', () => {
    const v1 = mkdtempSync(path.join(tmpdir(), 'hdc-cg1-'));
    const v2 = mkdtempSync(path.join(tmpdir(), 'hdc-cg2-'));
    writeFileSync(path.join(v2, 'cgroup.controllers'), 'cpu memory pids\n');
    try {
      assert.equal(limitsEnforceable('podman', true, v1), false);
      assert.equal(limitsEnforceable('podman', true, v2), true);
      assert.equal(limitsEnforceable('podman', false, v1), true);
      assert.equal(limitsEnforceable('docker', false, v1), true);
    } finally {
      rmSync(v1, { recursive: true });
      rmSync(v2, { recursive: true });
    }
  });

  it('parses the CLI workspace mount', () => {
    assert.deepEqual(parseMount('type=bind,source=/home/u/p,target=/workspaces/p,consistency=cached'), { source: '/home/u/p', target: '/workspaces/p' });
    assert.deepEqual(parseMount('src=/a,dst=/b'), { source: '/a', target: '/b' });
  });

  describe('read-only config paths', () => {
    let repo: string;
    beforeEach(() => {
      repo = mkdtempSync(path.join(tmpdir(), 'hdc-ro-'));
      mkdirSync(path.join(repo, '.git', 'hooks'), { recursive: true });
      mkdirSync(path.join(repo, 'app', '.devcontainer'), { recursive: true });
      mkdirSync(path.join(repo, 'app', '.vscode'));
      writeFileSync(path.join(repo, 'app', '.devcontainer', 'devcontainer.json'), '{}');
    });
    afterEach(() => rmSync(repo, { recursive: true, force: true }));

    it('covers the config folder, .vscode and the repository hooks, mapped into the container', () => {
      const ws = path.join(repo, 'app');
      const paths = protectedPaths(ws, path.join(ws, '.devcontainer', 'devcontainer.json'), repo);
      assert.deepEqual(paths, [path.join(ws, '.devcontainer'), path.join(ws, '.vscode'), path.join(repo, '.git', 'hooks')]);
      assert.deepEqual(readOnlyMounts(paths, { workspaceFolder: '/workspaces/r/app', source: repo, target: '/workspaces/r' }), [
        `type=bind,source=${ws}/.devcontainer,target=/workspaces/r/app/.devcontainer,readonly`,
        `type=bind,source=${ws}/.vscode,target=/workspaces/r/app/.vscode,readonly`,
        `type=bind,source=${repo}/.git/hooks,target=/workspaces/r/.git/hooks,readonly`,
      ]);
    });

    it('protects a root .devcontainer.json file, and skips what does not exist or is not mounted', () => {
      const ws = path.join(repo, 'app');
      writeFileSync(path.join(ws, '.devcontainer.json'), '{}');
      rmSync(path.join(ws, '.vscode'), { recursive: true });
      // Only the workspace folder is mounted: the repository's hooks are not visible inside.
      assert.deepEqual(protectedPaths(ws, path.join(ws, '.devcontainer.json'), ws), [path.join(ws, '.devcontainer.json')]);
    });
  });

  it('refuses a guard image that would reach docker as an option, and a remote user name that is not one', () => {
    assert.throws(() => guardImage('--privileged'), /guardImage "--privileged" is not an image reference/);
    assert.equal(guardImage(''), undefined, 'hdc\'s egress image by default (by its recorded id), never the workspace\'s');
    assert.equal(guardImage('team/guard:1'), 'team/guard:1');
    assert.throws(() => checkUserName('a/b', '/w/devcontainer.json'), /remote user "a\/b" is not a valid user name/);
    checkUserName('vscode', '/w/devcontainer.json');
  });

  it('tells a workspace cut off from its docker guard (the guard started after it) from one in its namespace, by the engine\'s start times', () => {
    assert.equal(engineTimeNs('2026-11-30T16:55:01.123456789Z'), 1796057701123456789n);
    assert.equal(engineTimeNs('2026-11-30T16:55:01.5Z'), 1796057701500000000n);
    assert.equal(engineTimeNs('0001-01-01T00:00:00Z'), undefined, 'docker\'s "never started"');
    const at = (startedAt: string, running = true): { running: boolean; startedAt: string } => ({ running, startedAt });
    assert.equal(cutOffFromGuard(at('2026-11-30T16:55:01.100000001Z'), at('2026-11-30T16:55:01.1Z')), false, 'the guard first, then the workspace');
    assert.equal(cutOffFromGuard(at('2026-11-30T16:55:01.1Z'), at('2026-11-30T16:55:01.100000001Z')), true, 'the guard restarted after the workspace');
    assert.equal(cutOffFromGuard(at('2026-11-30T16:55:01.1Z', false), at('2026-11-30T16:56:00Z')), false, 'a stopped workspace is started by up anyway');
    assert.equal(cutOffFromGuard(at(''), at('2026-11-30T16:56:00Z')), false, 'unknown: not claimed');
  });

  it('stops only its own workspace for a cut-off: this workspace\'s labels, joined to this guard (a container that merely has the name is not)', () => {
    const labels = { 'devcontainer.local_folder': '/w', 'devcontainer.config_file': '/w/.devcontainer/devcontainer.json' };
    const guard = { id: 'g1', name: 'ws-fw' };
    const ws = (l: Record<string, string>, networkMode: string): { labels: Record<string, string>; privilege: { networkMode: string } } => ({ labels: l, privilege: { networkMode } });
    const check = (w: ReturnType<typeof ws>): boolean => isGuardedWorkspace(w as unknown as Parameters<typeof isGuardedWorkspace>[0], labels, guard);
    assert.equal(check(ws(labels, 'container:ws-fw')), true);
    assert.equal(check(ws(labels, 'container:g1')), true);
    assert.equal(check(ws({}, 'container:ws-fw')), false, 'another container named like the workspace (runArgs --name)');
    assert.equal(check(ws(labels, 'bridge')), false);
    assert.equal(check(ws({ ...labels, 'devcontainer.local_folder': '/other' }, 'container:ws-fw')), false);
  });

  it('lets build.options shape the build only: a tag, a secret, an ssh agent, a host folder or an output are refused before anything runs', () => {
    checkBuildOptions(['--build-arg', 'A=1', '--no-cache', '--pull', '--add-host', 'h:10.0.0.1', '--progress=plain'], '/w/devcontainer.json');
    for (const bad of [['-t', 'localhost/hardened-devcontainers/egress:1'], ['--tag=localhost/hardened-devcontainers/podman:bookworm'], ['--secret', 'id=k,src=/root/.ssh/id_ed25519'],
      ['--ssh', 'default'], ['--build-context', 'h=/home'], ['-o', 'type=local,dest=/tmp/x'], ['--cache-to=type=local,dest=/x'], ['--network=host'], ['--build-arg', 'A=1', '--iidfile', '/x'], ['--label', 'devcontainer.metadata=[{"remoteUser":"root"}]']]) {
      assert.throws(() => checkBuildOptions(bad, '/w/devcontainer.json'), /"build.options" has .*which hdc refuses/, bad.join(' '));
    }
    assert.throws(() => checkBuildOptions('-t x', '/w/devcontainer.json'), /must be an array of strings/);
  });

  it('reads the egress image\'s package closure from apt-cache depends --recurse (virtual packages have no file)', () => {
    const text = 'iptables\n  Depends: libc6\n  Depends: <libxtables.so>\nlibc6\n  Depends: libgcc-s1\n<libxtables.so>\nlibgcc-s1\n  PreDepends: gcc-12-base\ngcc-12-base\nlibc6\nlibstdc++6:amd64\n';
    assert.deepEqual(parseClosure(text), ['gcc-12-base', 'iptables', 'libc6', 'libgcc-s1', 'libstdc++6']);
  });

  it('moves network runArgs to the docker guard and keeps the rest on the workspace', () => {
    const { guard, workspace } = splitNetworkArgs(['--network', 'net1', '--cpus', '2', '--dns=10.0.0.53', '-p', '8080:80', '-p9090:90', '--hostname', 'h', '--label', 'a=b']);
    assert.deepEqual(guard, ['--network', 'net1', '--dns=10.0.0.53', '-p', '8080:80', '-p9090:90', '--hostname', 'h']);
    assert.deepEqual(workspace, ['--cpus', '2', '--label', 'a=b']);
  });
});

describe('the revocation script\'s own check', () => {
  it('reads a refused sudo and a locked root password as revoked, with the evidence', () => {
    const c = parseRevokeOutput('sudo-check: fails: sudo: a password is required\nroot-password: locked\nrevoked\n', 'vscode');
    assert.deepEqual(c, { ok: true, evidence: 'as vscode: sudo -n true fails (sudo: a password is required); root password locked (su needs it)' });
  });
  it('fails on a sudo that still works, or an empty root password', () => {
    assert.equal(parseRevokeOutput('sudo-check: SUCCEEDED\nroot-password: locked\n', 'u')?.ok, false);
    assert.match(parseRevokeOutput('sudo-check: SUCCEEDED\n', 'u')?.evidence ?? '', /sudo -n true SUCCEEDED/);
    assert.equal(parseRevokeOutput('sudo-check: fails: x\nroot-password: EMPTY\n', 'u')?.ok, false);
  });
  it('defers to exec checks when the image has no runuser', () => {
    assert.equal(parseRevokeOutput('sudo-check: unavailable\nroot-password: set\n', 'u'), undefined);
  });
});

