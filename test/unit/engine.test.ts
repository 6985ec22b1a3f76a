import { strict as assert } from 'node:assert';
import { APT_SOURCES_SCRIPT, EngineClient } from '../../src/base/engine';
import type { CliCall } from '../../src/base/runner';

const docker = new EngineClient('docker', '/usr/bin/docker');
const podman = new EngineClient('podman', '/usr/bin/podman');
const argv = (call: CliCall<unknown>): string[] => [call.command, ...call.args];
const out = (stdout: string, stderr = '', exitCode = 0) => ({ stdout, stderr, exitCode });

/** Engine calls as data: the argv each method builds, and how it reads the answer. */
describe('EngineClient', () => {
  it('logs: stdout then stderr, optionally the tail; an unreadable container is an answer', () => {
    const call = docker.logs('guard');
    assert.deepEqual(argv(call), ['/usr/bin/docker', 'logs', 'guard']);
    assert.equal(call.parse(out('a\n', 'b\n')), 'a\nb\n');
    assert.deepEqual(call.acceptExitCodes, [1, 125]);
    assert.deepEqual(podman.logs('c1', 5).args, ['logs', '--tail', '5', 'c1']);
  });

  it('execWithInput: exec -i, the user, the variables inside, then the command; stdin is the input', () => {
    const call = docker.execWithInput('c1', ['sh', '-s', '--', 'vscode'], 'echo hi', (r) => r.stdout.trim(), { user: 'root' });
    assert.deepEqual(argv(call), ['/usr/bin/docker', 'exec', '-i', '-u', 'root', 'c1', 'sh', '-s', '--', 'vscode']);
    assert.equal(call.input, 'echo hi');
    assert.equal(call.parse(out(' done \n')), 'done');
    assert.deepEqual(docker.execWithInput('g', ['/hdc/node', 'a.cjs'], '{}', () => 0, { env: { ELECTRON_RUN_AS_NODE: '1' } }).args,
      ['exec', '-i', '-e', 'ELECTRON_RUN_AS_NODE=1', 'g', '/hdc/node', 'a.cjs']);
  });

  it('unshare: the command in podman\'s user namespace, with its environment and input', () => {
    const call = podman.unshare(['nsenter', '-t', '42', '-n', '--', 'node'], (r) => r.stdout, { env: { PATH: '/usr/bin' }, input: '{}' });
    assert.deepEqual(argv(call), ['/usr/bin/podman', 'unshare', 'nsenter', '-t', '42', '-n', '--', 'node']);
    assert.deepEqual([call.env, call.input], [{ PATH: '/usr/bin' }, '{}']);
  });

  it('aptSourceFiles: the image as its own argument, a fixed script without a network; each file after its marker', () => {
    const call = podman.aptSourceFiles('localhost/app:1');
    assert.deepEqual(argv(call), ['/usr/bin/podman', 'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', 'localhost/app:1', '-c', APT_SOURCES_SCRIPT]);
    assert.ok(!APT_SOURCES_SCRIPT.includes('localhost/app'));
    assert.deepEqual(call.parse(out('\x1e/etc/apt/sources.list\ndeb http://deb.example.net/debian bookworm main\n\n\x1e/etc/apt/sources.list.d/x.sources\nURIs: http://mirror.example.org/\n\n')), [
      { name: '/etc/apt/sources.list', text: 'deb http://deb.example.net/debian bookworm main\n\n' },
      { name: '/etc/apt/sources.list.d/x.sources', text: 'URIs: http://mirror.example.org/\n\n\n' },
    ]);
    assert.deepEqual(call.parse(out('')), []);
  });

  it('loginShell: an interactive exec as the user in the folder, the shell from passwd', () => {
    const call = podman.loginShell('c0ffee', 'vscode', '/workspaces/app');
    assert.deepEqual(argv(call).slice(0, 8), ['/usr/bin/podman', 'exec', '-it', '-u', 'vscode', '-w', '/workspaces/app', 'c0ffee']);
    assert.deepEqual(call.args.slice(7, 9), ['sh', '-c']);
  });

  it('runDetached and startContainer: what the docker guard runs', () => {
    assert.deepEqual(docker.runDetached(['--name', 'g', 'img']).args, ['run', '-d', '--name', 'g', 'img']);
    assert.equal(docker.runDetached([]).parse(out('pulling\nabc123\n')), 'abc123');
    assert.deepEqual(docker.startContainer('g').args, ['start', 'g']);
  });
});
