import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineClient } from '../base/engine';
import { NotStartedError } from '../base/errors';
import {
  answersDir, newProtocolFile, parseStarted, readRunRequest, removePregate, writeGate,
  writeIdsAnswer, writeLookupAnswers, writePregate, type GateState, type IdsAnswer, type LookupAnswer, type PregateState,
} from '../base/protocol';
import { run, type RunOptions } from '../base/runner';

/**
 * The shim's two gates, on podman (the protocol: base/protocol.ts). The pregate holds every
 * call of the early-started CLI until hdc knows the remote user's ids; the exec gate holds
 * the CLI's `exec`s (the lifecycle commands) until the firewall is verified and the sidecar
 * is up. "closed" makes the held calls fail, so nothing runs unverified.
 */
export interface Pregate {
  /** HDC_PREGATE. */
  readonly file: string;
  set(state: PregateState): Promise<void>;
  /** A build's `run`/`create` argv, handed over by the shim; undefined until then. */
  readRunRequest(): Promise<string[] | undefined>;
  answerIds(answer: IdsAnswer): Promise<void>;
  /** The CLI's look-ups that the shim answers (before the pregate opens). */
  answerLookups(answers: LookupAnswer[]): Promise<void>;
  /** Its look-ups after the start, once the hook named a new container (before the exec gate opens). */
  answerStartedLookups(answers: LookupAnswer[]): Promise<void>;
  /** The pregate and its handshake files. */
  remove(): Promise<void>;
}

export interface ExecGate {
  /** HDC_GATE. */
  readonly file: string;
  set(state: GateState): Promise<void>;
  remove(): Promise<void>;
}

/** A new pregate in the state dir (not written yet: the shim waits). */
export function openPregate(stateDir: string): Pregate {
  const file = newProtocolFile(stateDir, 'pregate');
  return {
    file,
    set: (state) => writePregate(file, state),
    readRunRequest: () => readRunRequest(file),
    answerIds: (answer) => writeIdsAnswer(file, answer),
    answerLookups: (answers) => writeLookupAnswers(answersDir(file), answers),
    answerStartedLookups: (answers) => writeLookupAnswers(answersDir(file), answers, 'started-'),
    remove: () => removePregate(file),
  };
}

/** A new exec gate in the state dir (not written yet: `exec` waits). */
export function openExecGate(stateDir: string): ExecGate {
  const file = newProtocolFile(stateDir, 'gate');
  return {
    file,
    set: (state) => writeGate(file, state),
    remove: () => rm(file, { force: true }),
  };
}

/**
 * Waits until the workspace container runs. The hook's "started" file (read every 25 ms, no
 * process) says it was created and gives its pid and id; the container is then addressed by
 * its name. The file is the workspace folder's: a note naming another container of the
 * folder (`others`: another config file's, which may restart on its own) is not this one's,
 * nor is a note without an id while there are such containers. An inspect every second
 * covers a container that was running already (no start, so no hook), or a note that was
 * not ours — only if it carries this workspace's labels: a container of someone else's with
 * the same name (runArgs --name) is never taken for it. Ends when `until` aborts (the CLI
 * finished without a start).
 */
export async function waitForStart(engine: EngineClient, name: string, startedFile: string, until: AbortSignal, options: RunOptions,
  owner: Record<string, string>, mayBeRunning: boolean, others: string[] = []): Promise<{ id: string; pid: number; fromHook: boolean; containerId?: string }> {
  let foreign = false;
  for (let i = 0; ; i++) {
    if (until.aborted || options.signal?.aborted) throw new NotStartedError();
    const note = parseStarted(await readFile(startedFile, 'utf8').catch(() => ''));
    if (note !== undefined && (others.length ? note.id !== undefined && !others.includes(note.id) : true)) {
      return { id: name, pid: note.pid, fromHook: true, ...(note.id ? { containerId: note.id } : {}) };
    }
    if (note !== undefined && !foreign) {
      foreign = true;
      options.log?.(`the OCI hook reported the start of another container of this folder (${note.id?.slice(0, 12) ?? 'no id'}); waiting for this one`);
    }
    // Only when a container of this workspace existed before the up, or another's start was
    // reported: a new one always starts through the hook (each inspect is a podman process,
    // ~0.15 s of CPU in the CLI's busiest time).
    if ((mayBeRunning || foreign) && i % 40 === 0) {
      const item = await run(engine.containerInspect(name), options);
      const ours = item && Object.entries(owner).every(([k, v]) => item.labels[k] === v);
      if (item?.running && item.pid > 0 && ours) return { id: item.id, pid: item.pid, fromHook: false };
    }
    await sleep(25);
  }
}

