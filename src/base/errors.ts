/**
 * Errors that reach the user. Each names the problem and, where there is one, the fix.
 * `exitCode` is what `hdc` exits with: 2 for bad input, 3 for a missing or unfit
 * environment, 1 for everything else.
 */
export class HdcError extends Error {
  readonly fix?: string;
  readonly exitCode: number;
  readonly detail?: string;
  /**
   * What a failed `up` does with the container: set where the failure happens (see
   * `withFate`), read in one place (ops/up.ts, cleanUp). Never decided from message text.
   */
  fate: ContainerFate;

  constructor(message: string, options: { fix?: string; exitCode?: number; detail?: string; cause?: unknown; fate?: ContainerFate } = {}) {
    super(message, { cause: options.cause });
    this.name = 'HdcError';
    this.fix = options.fix;
    this.exitCode = options.exitCode ?? 1;
    this.detail = options.detail;
    this.fate = options.fate ?? { container: 'clean' };
  }

  /** One block of text for a terminal or a notification. */
  describe(): string {
    return this.fix ? `${this.message}\nFix: ${this.fix}` : this.message;
  }
}

/**
 * After a failed `up`:
 * - clean: whatever this up created goes (containers, the docker guard, the sidecar); what was there before stays;
 * - stop: the container `id` is stopped (it must not run unverified) and kept, to inspect;
 * - remove: the container `id` is removed even if it existed before (it came up weaker), then as clean;
 * - keep: the container stays as the message says (running under its verified firewall).
 * The sidecar goes in every case.
 */
export type ContainerFate = { container: 'clean' | 'keep' } | { container: 'stop' | 'remove'; id: string };

/** The error, as an HdcError, with its fate set here (where the failure happened). */
export function withFate(e: unknown, fate: ContainerFate): unknown {
  if (e instanceof HdcError && !(e instanceof CancelledError)) e.fate = fate;
  return e;
}

/** The fate of a failed up's container: from the error, else clean. */
export const fateOf = (e: unknown): ContainerFate => (e instanceof HdcError ? e.fate : { container: 'clean' });

/** Bad input: a setting, devcontainer.json or an argument. */
export class InputError extends HdcError {
  constructor(message: string, fix?: string) {
    super(message, { fix, exitCode: 2 });
    this.name = 'InputError';
  }
}

/** The machine is not fit to run: engine missing, too old, no subuid range. */
export class EnvironmentError extends HdcError {
  constructor(message: string, fix?: string) {
    super(message, { fix, exitCode: 3 });
    this.name = 'EnvironmentError';
  }
}

/** A process we ran failed. Its stderr is the message; the whole output goes to the log. */
export class CommandFailedError extends HdcError {
  readonly command: string;
  readonly exitStatus?: number;
  readonly stdout: string;
  readonly stderr: string;

  constructor(command: string, args: readonly string[], exitStatus: number | undefined, stdout: string, stderr: string, reason?: string) {
    const last = lastLines(stderr) || lastLines(stdout) || reason || 'no output';
    super(`${command} ${args[0] ?? ''} failed${exitStatus === undefined ? '' : ` (exit ${exitStatus})`}: ${last}`.trim(), {
      detail: `${command} ${args.join(' ')}\n${stderr}`,
    });
    this.name = 'CommandFailedError';
    this.command = command;
    this.exitStatus = exitStatus;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** The container never started (the CLI ended first): the CLI's own error, if any, says why. */
export class NotStartedError extends HdcError {
  constructor() {
    super('The container did not start.', { exitCode: 1 });
    this.name = 'NotStartedError';
  }
}

export class CancelledError extends HdcError {
  constructor(what: string) {
    super(`${what} was cancelled`, { exitCode: 130 });
    this.name = 'CancelledError';
  }
}

export class TimeoutError extends HdcError {
  constructor(what: string, seconds: number, fix: string) {
    super(`${what} did not finish within ${seconds} s`, { fix, exitCode: 124 });
    this.name = 'TimeoutError';
  }
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
}
