import { execa } from 'execa';
import { CancelledError, CommandFailedError, HdcError, TimeoutError } from './errors';

/** One process to run: an argv, never a shell string, and how to read its output. */
export interface CliCall<T> {
  command: string;
  args: string[];
  parse: (result: ProcessOutput) => T;
  /** Extra environment on top of the caller's. */
  env?: Record<string, string>;
  /**
   * Text written to the process's stdin. A promise keeps stdin open until it settles, so a
   * process can start (and pay its set-up) before its input is known; a rejected promise
   * closes stdin empty.
   */
  input?: string | Promise<string>;
  /** A non-zero exit is an answer, not a failure (e.g. `image exists`). */
  acceptExitCodes?: number[];
  cwd?: string;
  /**
   * The answer is whole once this holds on the stdout so far (a last line that only a
   * successful run prints): the call then ends with it, as with status 0, and the process
   * ends on its own (not waited for, and not killed when hdc exits: `podman exec` spends
   * ~60 ms tearing its session down after the command ended). Otherwise as usual.
   */
  doneWhen?: (stdoutSoFar: string) => boolean;
}

export interface ProcessOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** How much a log line matters; front ends show `trace`/`debug` only when asked to. */
export type LogLevel = 'trace' | 'debug' | 'info';
export type LogFn = (line: string, level?: LogLevel) => void;

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Called with every line of stderr as it arrives (progress and logs). */
  onStderrLine?: LogFn;
  /** Called once before the process starts, with the argv for the log. */
  log?: LogFn;
  /**
   * Who runs the call: the real processes unless an operation was handed another runner
   * (the unit tests' fake, which replays recorded answers). Passed down with the options,
   * so every call an operation makes, in any feature, goes through the same one.
   */
  runner?: Runner;
}

/** Runs one call and parses its output. */
export type Runner = <T>(call: CliCall<T>, options: RunOptions) => Promise<T>;

/**
 * No process may hang hdc for ever: every call has a limit (a stuck `podman exec` becomes an
 * error that names it). `devcontainer up` passes its own, hardenedDevcontainers.upTimeoutSeconds.
 */
export const DEFAULT_TIMEOUT_MS = 120_000;

/** Every call goes through here: to the options' runner, or to real processes. */
export async function run<T>(call: CliCall<T>, options: RunOptions = {}): Promise<T> {
  return options.runner ? options.runner(call, options) : execute(call, options);
}

/** The one place that starts processes. Every call is data until it gets here. */
export async function execute<T>(call: CliCall<T>, options: RunOptions = {}): Promise<T> {
  options.log?.(`$ ${call.command} ${call.args.map(quoteForLog).join(' ')}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const later = typeof call.input === 'string' ? undefined : call.input;
  const child = execa(call.command, call.args, {
    env: call.env,
    input: typeof call.input === 'string' ? call.input : undefined,
    cwd: call.cwd,
    reject: false,
    stripFinalNewline: false,
    cancelSignal: options.signal,
    timeout: timeoutMs,
    forceKillAfterDelay: 5_000,
    stdin: call.input === undefined ? 'ignore' : 'pipe',
    cleanup: call.doneWhen === undefined,
  });
  if (later) {
    // The process may be gone before its input comes (EPIPE): its exit code tells that.
    child.stdin?.on('error', () => undefined);
    later.then((text) => child.stdin?.end(text), () => child.stdin?.end());
  }
  if (options.onStderrLine) {
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) options.onStderrLine?.(line);
    });
    child.stderr?.on('end', () => pending && options.onStderrLine?.(pending));
  }
  if (call.doneWhen) {
    const doneWhen = call.doneWhen;
    let soFar = '';
    const whole = new Promise<'whole'>((resolve) => child.stdout?.on('data', (chunk: Buffer) => {
      soFar += chunk.toString('utf8');
      if (doneWhen(soFar)) resolve('whole');
    }));
    if (await Promise.race([whole, child.then(() => 'ended' as const, () => 'ended' as const)]) === 'whole') {
      void child.then((r) => {
        if (r.exitCode !== 0) options.log?.(`${call.command} ${call.args[0] ?? ''} ended with status ${r.exitCode ?? r.signal} after its answer`, 'debug');
      }, () => undefined);
      return call.parse({ stdout: soFar, stderr: '', exitCode: 0 });
    }
  }
  const result = await child;
  const out: ProcessOutput = { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? -1 };
  if (result.isCanceled) throw new CancelledError(`${call.command} ${call.args[0] ?? ''}`.trim());
  if (result.timedOut) {
    throw new TimeoutError(`${call.command} ${call.args.slice(0, 3).join(' ')}`.trim(), Math.round(timeoutMs / 1000),
      options.timeoutMs ? 'raise hardenedDevcontainers.upTimeoutSeconds, or look in the log for the step that hangs' : 'the engine did not answer; run with HDC_VERBOSE=1 to see the call, and check the engine');
  }
  if (result.failed && result.code === 'ENOENT') {
    throw new HdcError(`cannot run ${call.command}: not found`, { exitCode: 3, fix: 'install it, or set its path in the settings' });
  }
  const accepted = out.exitCode === 0 || (call.acceptExitCodes ?? []).includes(out.exitCode);
  if (!accepted) throw new CommandFailedError(call.command, call.args, result.exitCode, out.stdout, out.stderr, result.shortMessage);
  return call.parse(out);
}

/** Only for log lines: shows an argv the way a person would retype it. */
export function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const text = (r: ProcessOutput): string => r.stdout.trim();
export const ok = (r: ProcessOutput): boolean => r.exitCode === 0;
export const json = <T>(r: ProcessOutput): T => JSON.parse(r.stdout) as T;

/** Runs a call with the terminal attached (`hdc exec`). Returns the exit code. */
export async function runAttached(call: Pick<CliCall<unknown>, 'command' | 'args' | 'env'>, options: Pick<RunOptions, 'log' | 'signal'> = {}): Promise<number> {
  options.log?.(`$ ${call.command} ${call.args.map(quoteForLog).join(' ')}`);
  const result = await execa(call.command, call.args, { env: call.env, stdio: 'inherit', reject: false, cancelSignal: options.signal });
  if (result.failed && result.code === 'ENOENT') throw new HdcError(`cannot run ${call.command}: not found`, { exitCode: 3 });
  return result.exitCode ?? 1;
}
