import { strict as assert } from 'node:assert';
import { CancelledError, CommandFailedError, HdcError, TimeoutError } from '../../src/base/errors';
import { run, text } from '../../src/base/runner';

/** The one runner, against real processes: argv arrays, errors, cancellation, timeouts. */
describe('runner', () => {
  it('passes arguments as argv, never through a shell', async () => {
    const out = await run({ command: 'printf', args: ['%s|', 'a b', '$(id)', "it's", ';rm -rf /'], parse: text });
    assert.equal(out, "a b|$(id)|it's|;rm -rf /|");
  });

  it('makes stderr the message of a failure, and keeps the rest for the log', async () => {
    await assert.rejects(run({ command: 'sh', args: ['-c', 'echo out; echo "the real reason" >&2; exit 3'], parse: text }),
      (e: CommandFailedError) => e instanceof CommandFailedError && e.exitStatus === 3 && /the real reason/.test(e.message) && e.stdout.includes('out'));
  });

  it('accepts exit codes that are answers', async () => {
    assert.equal(await run({ command: 'sh', args: ['-c', 'exit 1'], parse: (r) => r.exitCode, acceptExitCodes: [1] }), 1);
  });

  it('names a missing program', async () => {
    await assert.rejects(run({ command: 'hdc-no-such-program', args: [], parse: text }), (e: HdcError) => /cannot run hdc-no-such-program: not found/.test(e.message));
  });

  it('cancels a running process on abort', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(run({ command: 'sleep', args: ['30'], parse: text }, { signal: controller.signal }), CancelledError);
    assert.ok(Date.now() - started < 5_000, 'the process was killed, not waited for');
  });

  it('times out with an error that says what to raise', async () => {
    await assert.rejects(run({ command: 'sleep', args: ['30'], parse: text }, { timeoutMs: 200 }),
      (e: TimeoutError) => e instanceof TimeoutError && /upTimeoutSeconds/.test(e.fix ?? ''));
  });

  it('starts a process before its input is known, and feeds it when the promise resolves', async () => {
    let give!: (s: string) => void;
    const input = new Promise<string>((resolve) => { give = resolve; });
    // The process is up (it said so on stderr) before it gets any input.
    const out = run({ command: 'sh', args: ['-c', 'echo started >&2; cat'], input, parse: text }, { onStderrLine: (l) => l === 'started' && give('fed later\n') });
    assert.equal(await out, 'fed later');
  });

  it('closes stdin empty when the input promise rejects', async () => {
    const input = Promise.reject(new Error('not needed'));
    assert.equal(await run({ command: 'sh', args: ['-c', 'cat; echo "eof, exit 0"'], input, parse: text }), 'eof, exit 0');
  });

  it('doneWhen: ends the call once stdout says the answer is whole, and leaves the process to end on its own; otherwise as usual', async () => {
    const done = (out: string): boolean => /(^|\n)revoked\n$/.test(out);
    const dir = await import('node:fs').then((fs) => fs.mkdtempSync('/tmp/hdc-runner-'));
    const mark = `${dir}/ended`;
    const t0 = Date.now();
    // The process writes its mark 0.5 s after its answer: the call ended before, and the process still ends.
    const out = await run({ command: 'sh', args: ['-c', `echo one; echo revoked; sleep 0.5; echo late; touch '${mark}'; exit 7`], parse: (r) => r, doneWhen: done });
    assert.ok(Date.now() - t0 < 450, `waited ${Date.now() - t0} ms for the process's end`);
    assert.deepEqual(out, { stdout: 'one\nrevoked\n', stderr: '', exitCode: 0 });
    const fs = await import('node:fs');
    for (let i = 0; i < 50 && !fs.existsSync(mark); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fs.existsSync(mark), 'the process went on to its end');
    fs.rmSync(dir, { recursive: true, force: true });
    // Never whole: the usual result (the whole stdout), and a failure stays a failure.
    assert.deepEqual(await run({ command: 'sh', args: ['-c', 'echo one; echo revoked-not; echo two'], parse: (r) => r, doneWhen: done }), { stdout: 'one\nrevoked-not\ntwo\n', stderr: '', exitCode: 0 });
    await assert.rejects(run({ command: 'sh', args: ['-c', 'echo one; echo nope >&2; exit 3'], parse: text, doneWhen: done }),
      (e: CommandFailedError) => e instanceof CommandFailedError && e.exitStatus === 3 && /nope/.test(e.message));
  });

  it('streams stderr lines as they come', async () => {
    const lines: string[] = [];
    await run({ command: 'sh', args: ['-c', 'echo one >&2; echo two >&2'], parse: text }, { onStderrLine: (l) => lines.push(l) });
    assert.deepEqual(lines, ['one', 'two']);
  });
});
