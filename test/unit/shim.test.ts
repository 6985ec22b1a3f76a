import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { shimPath } from '../../src/core/paths';

/** Runs the real shim with a fake engine that prints each argument on its own line. */
describe('podman shim (real script, fake engine)', () => {
  let dir: string;
  let fakeEngine: string;
  let log: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-shim-'));
    fakeEngine = path.join(dir, 'fake-podman');
    writeFileSync(fakeEngine, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    chmodSync(fakeEngine, 0o755);
    log = path.join(dir, 'argv.log');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const shim = (args: string[], env: Record<string, string> = {}): string[] =>
    execFileSync(shimPath(), args, {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_UID: '1000', HDC_GID: '1001', HDC_SHIM_LOG: log, ...env },
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    }).split('\n').slice(0, -1);

  it('rewrites --userns=keep-id in run', () => {
    assert.deepEqual(shim(['run', '-d', '--userns=keep-id', '--label', 'a=b', 'img', 'sleep', '1']),
      ['run', '-d', '--userns=keep-id:uid=1000,gid=1001', '--label', 'a=b', 'img', 'sleep', '1']);
  });

  it('rewrites the two-argument form --userns keep-id in create', () => {
    assert.deepEqual(shim(['create', '--userns', 'keep-id', 'img']), ['create', '--userns', 'keep-id:uid=1000,gid=1001', 'img']);
  });

  it('finds the subcommand after global options', () => {
    assert.deepEqual(shim(['--log-level=info', 'run', '--userns=keep-id', 'img']),
      ['--log-level=info', 'run', '--userns=keep-id:uid=1000,gid=1001', 'img']);
  });

  it('leaves other userns values and other subcommands untouched', () => {
    assert.deepEqual(shim(['run', '--userns=host', 'img']), ['run', '--userns=host', 'img']);
    assert.deepEqual(shim(['run', '--userns=keep-id:uid=5,gid=6', 'img']), ['run', '--userns=keep-id:uid=5,gid=6', 'img']);
    assert.deepEqual(shim(['exec', '-i', '-u', 'vscode', 'c1', 'echo', '--userns=keep-id']), ['exec', '-i', '-u', 'vscode', 'c1', 'echo', '--userns=keep-id']);
    assert.deepEqual(shim(['inspect', '--type', 'image', 'a b', "it's", '$(x)']), ['inspect', '--type', 'image', 'a b', "it's", '$(x)']);
  });

  it('passes -v through', () => {
    assert.deepEqual(shim(['-v']), ['-v']);
  });

  it('adds --since <time of invocation> to events', () => {
    const before = Math.floor(Date.now() / 1000);
    const out = shim(['events', '--format', 'json', '--filter', 'event=start']);
    const after = Math.ceil(Date.now() / 1000);
    assert.deepEqual(out.slice(0, 6), ['events', '--format', 'json', '--filter', 'event=start', '--since']);
    const since = Number(out[6]);
    assert.ok(since >= before && since <= after, `--since ${out[6]} is the invocation time`);
    assert.equal(out.length, 7);
  });

  it('logs the argv that podman receives', () => {
    rmSync(log, { force: true });
    shim(['run', '--userns=keep-id', 'img']);
    const fields = readFileSync(log, 'utf8').trim().split('\t');
    assert.match(fields[0], /^\d+$/);
    assert.deepEqual(fields.slice(1), ['run', '--userns=keep-id:uid=1000,gid=1001', 'img']);
  });

  it('refuses to run without HDC_ENGINE, and run/create without ids', () => {
    assert.throws(() => shim(['ps'], { HDC_ENGINE: '' }), (e: { stderr: string }) => /HDC_ENGINE must name the real podman/.test(e.stderr));
    assert.throws(() => execFileSync(shimPath(), ['run', '--userns=keep-id', 'img'], {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine }, stdio: 'pipe' }), (e: { stderr: Buffer }) => /HDC_UID must be set/.test(e.stderr.toString()));
  });

  it('holds exec at the gate until it says "open", then passes it on', async () => {
    const gate = path.join(dir, 'gate-open');
    const child = execFile(shimPath(), ['exec', '-u', 'vscode', 'c1', 'true'], {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_GATE: gate }, encoding: 'utf8' });
    const done = new Promise<{ code: number | null; out: string }>((resolve) => {
      let out = '';
      child.stdout?.on('data', (d: string) => { out += d; });
      child.on('exit', (code) => resolve({ code, out }));
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, 'exec went through before the gate opened');
    writeFileSync(gate, 'open');
    const r = await done;
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.split('\n').slice(0, -1), ['exec', '-u', 'vscode', 'c1', 'true']);
    // Other subcommands never wait.
    assert.deepEqual(shim(['ps'], { HDC_GATE: path.join(dir, 'never') }), ['ps']);
  });

  it('refuses exec when the gate says anything but "open" (the firewall did not verify)', () => {
    const gate = path.join(dir, 'gate-closed');
    writeFileSync(gate, 'closed');
    assert.throws(() => shim(['exec', 'c1', 'sh'], { HDC_GATE: gate }), (e: { stderr: string; status: number }) =>
      e.status === 1 && /the firewall was not verified; refusing exec/.test(e.stderr));
  });
});
