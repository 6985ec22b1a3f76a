import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/base/engine';
import { NotStartedError } from '../../src/base/errors';
import type { CliCall, ProcessOutput, Runner } from '../../src/base/runner';
import { waitForStart } from '../../src/shim/gate';

/** waitForStart (shim/gate.ts): which of the hook's `started` notes is this up's container. */
describe('waitForStart: the hook\'s note of the start', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'hdc-gate-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const engine = new EngineClient('podman', 'podman');
  const owner = { 'devcontainer.local_folder': '/w', 'devcontainer.config_file': '/w/.devcontainer/b/devcontainer.json' };
  const ours = 'b'.repeat(64);
  const other = 'a'.repeat(64);
  /** An engine whose inspect of NAME says `running` (with our labels, pid 77), or nothing. */
  const inspecting = (running: boolean): { runner: Runner; calls: string[] } => {
    const calls: string[] = [];
    const runner: Runner = async <T>(call: CliCall<T>): Promise<T> => {
      calls.push(call.args.join(' '));
      const r: ProcessOutput = running
        ? { exitCode: 0, stderr: '', stdout: JSON.stringify([{ Id: ours, Name: 'ws', State: { Status: 'running', Running: true, Pid: 77 }, Config: { Labels: owner } }]) }
        : { exitCode: 125, stderr: 'no such container', stdout: '' };
      return call.parse(r);
    };
    return { runner, calls };
  };

  it('takes a note naming a new container; one naming another container of the folder (another config\'s), or without an id while there are such, is not this one\'s', async () => {
    const file = path.join(dir, 'started');
    const { runner, calls } = inspecting(false);
    writeFileSync(file, `4242 ${other}\n`);
    const waiting = waitForStart(engine, 'ws', file, new AbortController().signal, { runner }, owner, false, [other]);
    await new Promise((r) => setTimeout(r, 120));
    writeFileSync(file, '4243\n');
    await new Promise((r) => setTimeout(r, 120));
    writeFileSync(file, `4244 ${ours}\n`);
    assert.deepEqual(await waiting, { id: 'ws', pid: 4244, fromHook: true, containerId: ours });
    assert.deepEqual(calls, ['container inspect ws'], 'after another\'s note, the engine is asked (once a second) as well');
    // No other container in the folder: any whole note is this one's.
    writeFileSync(file, '4245\n');
    assert.deepEqual(await waitForStart(engine, 'ws', file, new AbortController().signal, { runner }, owner, false), { id: 'ws', pid: 4245, fromHook: true });
  });

  it('after another container\'s note, finds its own container running by name (its note was written over); ends when the CLI ends', async () => {
    const file = path.join(dir, 'started');
    writeFileSync(file, `4242 ${other}\n`);
    const running = inspecting(true);
    assert.deepEqual(await waitForStart(engine, 'ws', file, new AbortController().signal, { runner: running.runner }, owner, false, [other]),
      { id: ours, pid: 77, fromHook: false });
    const ended = new AbortController();
    const waiting = waitForStart(engine, 'ws', file, ended.signal, { runner: inspecting(false).runner }, owner, false, [other]);
    setTimeout(() => ended.abort(), 100);
    await assert.rejects(waiting, NotStartedError);
  });
});
