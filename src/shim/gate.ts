import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineClient } from '../base/engine';
import { HdcError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';

/**
 * The gate between the container's start and its lifecycle commands, on podman. One
 * `devcontainer up` does the whole job; the shim holds each of the CLI's `exec`s until the
 * gate file says "open", which hdc writes once the firewall is verified (and the sidecar is
 * up). "closed" makes every held `exec` fail, so the lifecycle commands never run unverified.
 */
export interface Gate {
  file: string;
  /** Written by the OCI hook when a container of this workspace is created. */
  startedFile: string;
  /** "open" (the pregate: "open UID GID") lets the shim go on; anything else makes it refuse. */
  set(state: string): Promise<void>;
  remove(): Promise<void>;
}

export async function openGate(stateDir: string, firewallDir: string, name = 'gate'): Promise<Gate> {
  const file = path.join(stateDir, `${name}-${randomBytes(6).toString('hex')}`);
  const startedFile = path.join(firewallDir, 'started');
  await rm(startedFile, { force: true });
  return {
    file, startedFile,
    // Written whole and renamed, so the shim never reads half a word.
    async set(state) {
      await writeFile(`${file}.tmp`, state, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    },
    async remove() {
      await rm(file, { force: true });
    },
  };
}

/**
 * Waits until the workspace container runs. The hook's "started" file (read every 25 ms, no
 * process) says it was created and gives its pid; the container is then addressed by its
 * name. An inspect every second covers a container that was running already (no start, so
 * no hook). Ends when `until` aborts (the CLI finished without a start).
 */
export async function waitForStart(engine: EngineClient, name: string, startedFile: string, until: AbortSignal, options: RunOptions): Promise<{ id: string; pid: number }> {
  for (let i = 0; ; i++) {
    if (until.aborted || options.signal?.aborted) throw new HdcError('The container did not start.', { exitCode: 1 });
    const pid = await readFile(startedFile, 'utf8').then((s) => Number(s.trim()), () => 0);
    if (Number.isSafeInteger(pid) && pid > 0) return { id: name, pid };
    if (i % 40 === 0) {
      const item = await run(engine.containerInspect(name), options);
      if (item?.running && item.pid > 0) return { id: item.id, pid: item.pid };
    }
    await sleep(25);
  }
}

export const isAbort = (e: unknown): boolean => e instanceof HdcError && e.message === 'The container did not start.';
