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

  it('streams stderr lines as they come', async () => {
    const lines: string[] = [];
    await run({ command: 'sh', args: ['-c', 'echo one >&2; echo two >&2'], parse: text }, { onStderrLine: (l) => lines.push(l) });
    assert.deepEqual(lines, ['one', 'two']);
  });
});
