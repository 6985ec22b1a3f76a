import { rm } from 'node:fs/promises';
import { cliLookupAnswers, devcontainerCli, LifecycleCommandError, type UpResultItem } from '../base/devcontainerCli';
import type { ContainerItem } from '../base/engine';
import { NotStartedError } from '../base/errors';
import { shimPath } from '../base/paths';
import { workspaceLabels } from '../base/labels';
import { answersDir, clearStarted, createEventsNote, hookFile, shimEnvironment, type EventsNote, type LookupAnswer } from '../base/protocol';
import { run } from '../base/runner';
import { prepareRevokeSudo, type PreparedRevoke } from '../hardening/hardening';
import { openExecGate, openPregate, waitForStart, type ExecGate, type Pregate } from '../shim/gate';
import { containerNameOf } from '../workspace/plan';
import type { UserIds } from '../workspace/remoteUser';
import { afterStart, lifecycleFailed, readBack, type AfterStart, type StartContext } from './upAfterStart';
import type { UpPlanned, UpSetup } from './upPlan';
import { ImageIdsAnswer, remoteUserOf } from './upUser';

/** A container up and checked: what the steps after it (sudo, the report) need. */
export interface Started extends AfterStart {
  result: UpResultItem;
  remoteUser: UserIds;
}

/** The revocation's exec opens while the CLI still works; it gets its script at the end. */
export class SudoRevocation {
  prepared?: PreparedRevoke;
  async open(c: StartContext, containerId: string, remoteUser: UserIds): Promise<void> {
    if (c.planned.settings.revokeSudo) this.prepared = await prepareRevokeSudo(c.setup.engine, containerId, remoteUser.user, { ...c.options, timeoutMs: c.setup.cliRunOptions.timeoutMs });
  }
  cancel(): void {
    this.prepared?.cancel();
  }
}

/**
 * podman: the CLI starts before hdc prepares, and boots (~0.2 s) meanwhile; the shim holds
 * its first call at the pregate until hdc opens it with the remote user's ids. The override
 * file is removed first: a CLI that read it early would fail, not run unhardened.
 */
export class EarlyCli {
  private constructor(readonly pregate: Pregate, readonly gate: ExecGate | undefined, readonly cli: Promise<UpResultItem>,
    private readonly abort: AbortController, private readonly events?: EventsNote) {}

  static async launch(planned: UpPlanned, setup: UpSetup): Promise<EarlyCli> {
    const { stateDir, firewallDir, events, overrideFile } = setup;
    await Promise.all([rm(overrideFile, { force: true }), clearStarted(firewallDir)]);
    const pregate = openPregate(stateDir);
    const gate = setup.gated ? openExecGate(stateDir) : undefined;
    // Empty until the CLI's events follower starts; removed at the end, so that a start by
    // hand (podman start) never waits for a follower.
    if (events) await createEventsNote(events);
    const abort = new AbortController();
    const signal = setup.cliRunOptions.signal ? AbortSignal.any([setup.cliRunOptions.signal, abort.signal]) : abort.signal;
    const cli = run(devcontainerCli.up({
      workspaceFolder: planned.ws.workspaceFolder, dockerPath: shimPath(), overrideConfig: overrideFile, noUidUpdate: true,
      env: shimEnvironment({ engine: setup.engine.path, events, shimLog: setup.shimLog, probes: setup.probes, pregate: pregate.file, gate: gate?.file, answers: answersDir(pregate.file) }),
    }), { ...setup.cliRunOptions, signal });
    cli.catch(() => undefined); // awaited later; a failure before then is not unhandled
    return new EarlyCli(pregate, gate, cli, abort, events);
  }

  /**
   * Lets the CLI go on: with the remote user's ids, or the promise to read them from the
   * image it builds; its look-ups that hdc has made already are answered by the shim.
   */
  async open(remoteUser: UserIds | undefined, lookups: LookupAnswer[] = []): Promise<void> {
    await this.pregate.answerLookups(lookups);
    await this.pregate.set(remoteUser ? { kind: 'open', uid: remoteUser.uid, gid: remoteUser.gid } : { kind: 'open-image' });
  }

  /** Before the pregate opened: the shim refuses, the CLI is stopped, nothing was made. */
  async stop(): Promise<void> {
    await this.pregate.set({ kind: 'closed' });
    this.abort.abort();
    await this.cli.catch(() => undefined);
    await this.close();
  }

  /** The per-run files go (the events note too: a start by hand never waits for a follower). */
  async close(): Promise<void> {
    await Promise.all([this.pregate.remove(), this.gate?.remove(), this.events ? rm(this.events.file, { force: true }) : undefined]);
  }
}

/**
 * podman with the firewall or the sidecar: one `devcontainer up`, whose `exec`s the shim
 * holds at the gate until hdc has read the container back, verified the firewall and
 * brought the sidecar up; then the lifecycle commands run.
 */
export async function startGated(c: StartContext, early: EarlyCli, gate: ExecGate, imageIds: ImageIdsAnswer | undefined, revocation: SudoRevocation,
  lifecycleStep: () => void): Promise<Started> {
  const cliDone = new AbortController();
  const cli = early.cli.finally(() => cliDone.abort());
  let started: { id: string; pid: number; fromHook: boolean; containerId?: string } | undefined;
  let remoteUser: UserIds | undefined;
  const verified = (async () => {
    started = await waitForStart(c.setup.engine, containerNameOf(c.prepared.plan), hookFile(c.setup.firewallDir, 'started'), cliDone.signal, c.options,
      workspaceLabels(c.planned.ws.workspaceFolder, c.planned.ws.file), c.prepared.existing.length > 0,
      c.prepared.folderContainers.filter((x) => x.configFile !== c.planned.ws.file).map((x) => x.id));
    await answerStartedLookups(c, early, started.containerId);
    remoteUser = await remoteUserOf(c.prepared.userCheck, started.id, c.prepared.plan.remoteUser, imageIds);
    const user = remoteUser;
    const [checked] = await Promise.all([afterStart(c, started.id, started.pid, false, started.fromHook), revocation.open(c, started.id, user)]);
    lifecycleStep();
    return checked;
  })();
  const [v, r] = await Promise.allSettled([verified.then(async (x) => { await gate.set('open'); return x; }, async (e) => { await gate.set('closed'); throw e; }), cli]);
  await gate.remove();
  if (v.status === 'rejected') {
    // The gate never opened: the image's user was refused, the container failed to start,
    // or the firewall did not verify. When the CLI ended first, its own error says why.
    throw await imageIds?.failure() ?? (r.status === 'rejected' && (!started || v.reason instanceof NotStartedError) ? r.reason : v.reason);
  }
  const id = started?.id ?? '';
  if (r.status === 'rejected') {
    await lifecycleFailed(c, r.reason, id, remoteUser, revocation.prepared);
    // Tolerated: the up goes on with the container (its id: `started` gave its name).
    const containerId = (await ownContainer(c, id))?.id ?? id;
    return { ...v.value, remoteUser: remoteUser as UserIds, result: { containerId, remoteUser: remoteUser?.user ?? 'root', remoteWorkspaceFolder: c.prepared.layout.workspaceFolder } };
  }
  return { ...v.value, remoteUser: remoteUser as UserIds, result: r.value };
}

/**
 * The CLI's `ps` look-ups right after the start, answered (by the shim) from the hook's note:
 * only for a new container, the workspace's only one for its config file. Best effort: an
 * unanswered look-up goes to podman.
 */
async function answerStartedLookups(c: StartContext, early: EarlyCli, containerId: string | undefined): Promise<void> {
  if (!containerId || c.prepared.existing.length > 0) return;
  const { workspaceFolder, file } = c.planned.ws;
  const folderContainers = [...c.prepared.folderContainers, { id: containerId, running: true, configFile: file }];
  await early.pregate.answerStartedLookups(cliLookupAnswers({ workspaceFolder, configFile: file, folderContainers }))
    .catch((e: Error) => c.options.log?.(`could not write the answers to the CLI's look-ups (${e.message}); podman answers them`));
}

/** The workspace's container by name or id, only if it carries this workspace's labels. */
async function ownContainer(c: StartContext, nameOrId: string): Promise<ContainerItem | undefined> {
  const item = await run(c.setup.engine.containerInspect(nameOrId), c.options);
  const labels = workspaceLabels(c.planned.ws.workspaceFolder, c.planned.ws.file);
  return item && Object.entries(labels).every(([k, v]) => item.labels[k] === v) ? item : undefined;
}

/** podman without the firewall and the sidecar: the early CLI does it all (the hook checked the spec). */
export async function startPlain(c: StartContext, early: EarlyCli, imageIds: ImageIdsAnswer | undefined, revocation: SudoRevocation): Promise<Started> {
  const result = await early.cli.catch(async (e: unknown): Promise<UpResultItem> => {
    const refused = await imageIds?.failure();
    if (refused) throw refused;
    if (!(e instanceof LifecycleCommandError)) throw e;
    // The CLI made the container, then a lifecycle command failed: as on the other paths,
    // sudo is revoked and the container kept (or the failure tolerated).
    const item = await ownContainer(c, containerNameOf(c.prepared.plan));
    if (!item) throw e;
    const remoteUser = await remoteUserOf(c.prepared.userCheck, item.id, c.prepared.plan.remoteUser, imageIds);
    await lifecycleFailed(c, e, item.id, remoteUser, undefined);
    return { containerId: item.id, remoteUser: remoteUser.user, remoteWorkspaceFolder: c.prepared.layout.workspaceFolder };
  });
  const remoteUser = await remoteUserOf(c.prepared.userCheck, result.containerId, c.prepared.plan.remoteUser, imageIds);
  await revocation.open(c, result.containerId, remoteUser);
  return { result, remoteUser };
}

/**
 * docker (no shim): `up --skip-post-create`, the container read back and its remote user
 * read from its image, the firewall verified and the sidecar up; then `run-user-commands`.
 */
export async function startDocker(c: StartContext, revocation: SudoRevocation, lifecycleStep: () => void): Promise<Started> {
  const result = await run(devcontainerCli.up({ ...c.prepared.cliArgs, noUidUpdate: false, extraArgs: ['--skip-post-create'] }), c.setup.cliRunOptions);
  // Read back first: a weaker container goes before anything else runs against it.
  await readBack(c, result.containerId);
  const remoteUser = await remoteUserOf(c.prepared.userCheck, result.containerId, c.prepared.plan.remoteUser, undefined);
  const [checked] = await Promise.all([afterStart(c, result.containerId, undefined, true), revocation.open(c, result.containerId, remoteUser)]);
  lifecycleStep();
  await run(devcontainerCli.runUserCommands(c.prepared.cliArgs), c.setup.cliRunOptions)
    .catch((e: unknown) => lifecycleFailed(c, e, result.containerId, remoteUser, revocation.prepared));
  return { ...checked, result, remoteUser };
}
