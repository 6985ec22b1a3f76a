import * as path from 'node:path';
import type { UpResultItem } from '../base/devcontainerCli';
import { renderCliLogLine } from '../base/devcontainerCli';
import { fateOf, HdcError } from '../base/errors';
import { takeLock } from '../base/files';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import type { AgentResult } from '../firewall/agent';
import type { PresetHosts } from '../firewall/policy';
import { parseMount } from '../base/mounts';
import { editorCustomizations, type EditorCustomizations } from '../config/devcontainerConfig';
import { revokeSudo, readOnlyMounts, type SudoCheck } from '../hardening/hardening';
import type { Withheld } from '../hardening/privilege';
import { removeSidecar } from '../sidecar/sidecar';
import { containerNameOf, type HardenedPlan } from '../workspace/plan';
import type { Finding } from '../workspace/preflight';
import type { UserIds } from '../workspace/remoteUser';
import type { SidecarProgress, SidecarResult, StartContext } from './upAfterStart';
import { realHost, removeNewContainers, type UpHost } from './upHost';
import { planUp, setUp, type UpPlanned, type UpSetup } from './upPlan';
import { prepare, type Prepared } from './upPrepare';
import { EarlyCli, startDocker, startGated, startPlain, SudoRevocation, type Started } from './upStart';
import { ImageIdsAnswer } from './upUser';
import type { OpsDeps } from './deps';

/** The steps of `up`, in order (readback, firewall and sidecar run side by side). */
export const UP_STEPS = ['plan', 'preflight', 'prepare', 'container', 'readback', 'firewall', 'sidecar', 'lifecycle', 'sudo'] as const;
export type UpStep = (typeof UP_STEPS)[number];

export interface UpRequest {
  workspaceFolder: string;
  settings: Settings;
  /** Root of generated state: extension storage, or XDG state for hdc. */
  stateRoot: string;
  signal?: AbortSignal;
  log: LogFn;
  /** A step begins (`hdc`), or the devcontainers CLI reports progress within `container` (`cli`). */
  onStep?: (step: UpStep, detail: string, origin: 'hdc' | 'cli') => void;
  /** Where the shim logs argv (tests and troubleshooting). */
  shimLog?: string;
}

/** What `up` runs on: real processes and the real host unless a test passes its own. */
export interface UpDeps extends OpsDeps {
  host?: UpHost;
}

export interface UpResult extends UpResultItem {
  runtime: Settings['runtime'];
  containerName: string;
  plan: HardenedPlan;
  warnings: Finding[];
  overrideFile: string;
  firewall?: AgentResult;
  /** The firewall's presets that were on, with the hosts each contributed. */
  presets?: PresetHosts[];
  sudo?: SudoCheck;
  readOnly: string[];
  notes: string[];
  sidecar?: SidecarResult;
  /** The remote user's ids, read from the (built) image. */
  remoteUserIds: UserIds;
  /** NET_ADMIN/NET_RAW that the config asked for and hdc withheld. */
  withheld: Withheld[];
  /** How long each step took, in the order they ended. */
  steps: { step: UpStep; ms: number }[];
  /** What an editor attaching to the container applies: customizations.vscode, ports, remoteEnv, postAttachCommands. */
  editor: EditorCustomizations;
}

/** Times each step, logs it as it starts ("[step] detail"), and tells the front end. */
class StepClock {
  readonly steps: UpResult['steps'] = [];
  constructor(private readonly req: UpRequest) {}

  begin(step: UpStep, detail: string): () => void {
    this.req.log(`[${step}] ${detail}`);
    this.req.onStep?.(step, detail, 'hdc');
    const t0 = performance.now();
    return () => {
      const ms = Math.round(performance.now() - t0);
      this.steps.push({ step, ms });
      this.req.log(`[${step}] done in ${ms} ms`);
    };
  }

  /** A step that is under way elsewhere (its time is in another's). */
  announce(step: UpStep, detail: string): void {
    this.req.log(`[${step}] ${detail}`);
    this.req.onStep?.(step, detail, 'hdc');
  }

  async time<T>(step: UpStep, detail: string, fn: () => Promise<T>): Promise<T> {
    const end = this.begin(step, detail);
    try {
      return await fn();
    } finally {
      end();
    }
  }
}

/**
 * The whole `up`, as its steps: plan, preflight, prepare, container (one strategy per
 * engine), the checks after the start (read-back, firewall, sidecar), lifecycle, sudo,
 * report. The lifecycle commands run only once the firewall is verified. A failure says in
 * its `fate` what happens to the container; `cleanUp` reads it, in this one place.
 */
export async function up(req: UpRequest, deps: UpDeps = {}): Promise<UpResult> {
  const { settings, log } = req;
  const clock = new StepClock(req);
  const host = deps.host ?? realHost;
  const options: RunOptions = { signal: req.signal, log, runner: deps.runner };
  const cliRunOptions: RunOptions = {
    onStderrLine: (line) => {
      const rendered = renderCliLogLine(line);
      if (!rendered) return;
      log(rendered.text, rendered.level);
      if (rendered.step) req.onStep?.('container', rendered.step, 'cli');
    },
  };

  const planned = await clock.time('plan', `reading devcontainer.json in ${req.workspaceFolder}`, () => planUp(req.workspaceFolder, settings, req.stateRoot, options));
  const setup = await clock.time('preflight', `checking ${settings.runtime}`, () => setUp(planned, req.stateRoot, options, cliRunOptions, deps.engine, req.shimLog));
  // One up of a workspace at a time (the extension and a terminal, or two clicks): a second
  // would share this one's state files and answers, and its clean-up could take this one's
  // container for its own.
  const lock = await takeLock(path.join(setup.stateDir, 'up.lock'));
  if ('heldBy' in lock) {
    throw new HdcError(`Another up of ${req.workspaceFolder} is running (pid ${lock.heldBy}); this one made nothing.`,
      { exitCode: 2, fix: 'wait for it to end, or stop it (Ctrl-C in its terminal); then run up again' });
  }
  try {
    return await upHeld(req, clock, host, options, planned, setup);
  } finally {
    await lock.release();
  }
}

/** The rest of `up`, while it holds the workspace's lock. */
async function upHeld(req: UpRequest, clock: StepClock, host: UpHost, options: RunOptions, planned: UpPlanned, setup: UpSetup): Promise<UpResult> {
  const { settings, log } = req;
  const early = setup.podman ? await EarlyCli.launch(planned, setup) : undefined;
  // A failure before the pregate opens stops the early CLI (it has made nothing yet).
  const prepared = await clock.time('prepare', 'probes, image, merged configuration, privilege, remote user, override',
    () => prepare(planned, setup, req.stateRoot, host, options, (s, d) => clock.announce(s, d)))
    .catch(async (e: unknown) => { await early?.stop(); throw e; });
  const imageIds = early && !prepared.plan.remoteUser ? new ImageIdsAnswer(early.pregate, prepared.userCheck) : undefined;
  await early?.open(prepared.plan.remoteUser, prepared.lookups);

  const sidecarProgress: SidecarProgress = { createdGraph: false };
  const c: StartContext = { planned, setup, prepared, host, options, clock, sidecarProgress };
  const revocation = new SudoRevocation();
  let lifecycleEnd: (() => void) | undefined;
  const lifecycle = (): void => { lifecycleEnd = clock.begin('lifecycle', `the lifecycle commands run now${planned.policy ? ', under the verified firewall' : ''}`); };
  let started: Started;
  let sudo: SudoCheck | undefined;
  try {
    const containerEnd = clock.begin('container', `devcontainer up (${settings.runtime})`);
    started = early?.gate ? await startGated(c, early, early.gate, imageIds, revocation, () => { containerEnd(); lifecycle(); })
      : early ? await startPlain(c, early, imageIds, revocation)
        : await startDocker(c, revocation, () => { containerEnd(); lifecycle(); });
    if (!lifecycleEnd) containerEnd();
    lifecycleEnd?.();
    sudo = await revokeSudoStep(c, clock, started, revocation);
  } catch (e) {
    await cleanUp(c, e);
    throw e;
  } finally {
    imageIds?.stop();
    revocation.cancel();
    await early?.close();
  }
  for (const n of planned.notes) log(n);
  return { ...report(planned.settings, prepared, started, sudo, planned.notes, planned.withheld, clock.steps, setup.overrideFile), ...(planned.policy ? { presets: planned.presets } : {}) };
}

/** Step "sudo": revoked and verified; fail-closed, the container is stopped and kept to inspect. */
async function revokeSudoStep(c: StartContext, clock: StepClock, started: Started, revocation: SudoRevocation): Promise<SudoCheck | undefined> {
  if (!c.planned.settings.revokeSudo) {
    c.planned.notes.push('warning: sudo is not revoked (hardenedDevcontainers.revokeSudo = false)');
    return undefined;
  }
  return clock.time('sudo', `revoking sudo for ${started.remoteUser.user} and verifying`, async () => {
    const id = started.result.containerId;
    const sudo = await revokeSudo(c.setup.engine, id, started.remoteUser.user, c.options, revocation.prepared)
      // Any failure here, a cancel too, leaves root reachable: the container stops.
      .catch((e: unknown) => {
        if (!(e instanceof HdcError)) throw new HdcError(`Sudo revocation failed: ${(e as Error).message}`, { fate: { container: 'stop', id }, cause: e });
        e.fate = { container: 'stop', id };
        throw e;
      });
    c.options.log?.(`sudo: ${sudo.evidence}`);
    return sudo;
  });
}

/**
 * The one place that acts on a failed up's `fate` (set where the failure happened). Never
 * cancelled itself: a Ctrl-C that stopped the up must not stop its clean-up.
 */
async function cleanUp(c: StartContext, e: unknown): Promise<void> {
  const { engine } = c.setup;
  const { ws } = c.planned;
  const options: RunOptions = { log: c.options.log, runner: c.options.runner };
  const fate = fateOf(e);
  if (fate.container === 'stop') await run(engine.stopContainer(fate.id), options).catch(() => undefined);
  if (fate.container === 'remove') await run(engine.removeContainer(fate.id), options).catch(() => undefined);
  if (fate.container === 'clean' || fate.container === 'remove') {
    await removeNewContainers(engine, ws.workspaceFolder, ws.file, c.prepared.existing, options);
    await c.prepared.backend?.discard(options);
    // A container of an earlier up that this one started, unverified: stopped again.
    for (const id of c.prepared.stoppedBefore) {
      const item = await run(engine.containerInspect(id), options).catch(() => undefined);
      if (item?.running) await run(engine.stopContainer(id), options).catch(() => undefined);
    }
  }
  // If any step failed, the sidecar goes: its container, its socket, a graph volume made now.
  if (c.prepared.sidecar) {
    await removeSidecar(engine, { workspaceFolder: ws.workspaceFolder, configFile: ws.file }, c.prepared.sidecar, { ...options, log: options.log ?? (() => undefined), removeGraph: c.sidecarProgress.createdGraph })
      .catch((r: Error) => options.log?.(`clean-up of the sidecar did not finish: ${r.message}`));
  }
}

/** Step "report": what came up, as the front ends show it. */
function report(settings: Settings, prepared: Prepared, started: Started, sudo: SudoCheck | undefined, notes: string[], withheld: Withheld[], steps: UpResult['steps'], overrideFile: string): UpResult {
  return {
    ...started.result, runtime: settings.runtime, containerName: containerNameOf(prepared.plan), plan: prepared.plan, warnings: prepared.report.findings, overrideFile,
    firewall: started.firewall, sudo, readOnly: readOnlyMounts(prepared.readOnly, prepared.layout).map((m) => parseMount(m).target ?? m), notes, sidecar: started.sidecar,
    remoteUserIds: started.remoteUser ?? { user: started.result.remoteUser, uid: 0, gid: 0, source: 'numeric' }, withheld, steps,
    editor: editorCustomizations(prepared.merged),
  };
}
