import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { realpathSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firewallBackend, type FirewallBackend } from '../firewall/backend';
import { checkVerification, readLastResolved, verifyTargets, writeFirewallFiles } from '../firewall/firewall';
import { buildPolicy, type FirewallPolicy } from '../firewall/policy';
import type { AgentResult } from '../firewall/agent';
import { hardeningRunArgs, limitsEnforceable, LIMITS_NOT_ENFORCED, protectedPaths, readOnlyMounts, prepareRevokeSudo, revokeSudo, type PreparedRevoke, type SudoCheck } from '../hardening/hardening';
import { checkPrivilegeSources, checkRunArgs, hostConfigProblems, hostPathWhy, mountFields, mountProblem, procProblems, readOnlyOutside, readProcStatus, writePrivilegePolicy, type HostPathContext, type PrivilegeSource, type Withheld } from '../hardening/privilege';
import { writeHookMode } from '../firewall/firewall';
import { containersConfDropIn, firewallRunArgs, hooksHome, installOciHook } from '../firewall/podmanHook';
import { readWorkspaceConfiguration } from '../config/configuration';
import { devcontainerCli, LifecycleCommandError, renderCliLogLine, type MergedConfigRecord, type UpResultItem } from '../base/devcontainerCli';
import type { EngineClient, ImageItem } from '../base/engine';
import { CancelledError, EnvironmentError, HdcError, InputError } from '../base/errors';
import { ensureImage, resolveRemoteUser, userSource } from '../workspace/imageUser';
import { pickRemoteUser, type UserIds } from '../workspace/remoteUser';
import { shimPath } from '../base/paths';
import { containerNameOf, type HardenedPlan } from '../workspace/plan';
import { preflight, type Finding } from '../workspace/preflight';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import { workspaceStateDir } from '../base/state';
import { isAbort, openGate, waitForStart, type Gate } from '../shim/gate';
import { checkSidecarPlan, parentStorageMounts, removeSidecar, sidecarNames, sidecarRunArgs, sidecarUp, sidecarWarnings, SIDECAR_SOCKET, workspaceSidecarConfig, writeSidecarFiles, type SidecarNames, type SidecarSpec, type SidecarUp } from '../sidecar/sidecar';
import { engineFor, findWorkspaceContainers, openWorkspace } from '../workspace/workspace';
import { IMAGE_REFERENCE } from '../base/engine';
import { parseMount } from '../base/mounts';
import { PrivilegeRequest } from '../base/devcontainerCli';
import { buildOverrideConfig } from './override';

export type UpStep = 'plan' | 'preflight' | 'container' | 'firewall' | 'sidecar' | 'lifecycle' | 'sudo';

export interface UpRequest {
  workspaceFolder: string;
  settings: Settings;
  /** Root of generated state: extension storage, or XDG state for hdc. */
  stateRoot: string;
  signal?: AbortSignal;
  log: LogFn;
  onStep?: (step: UpStep, detail: string) => void;
  /** Where the shim logs argv (tests and troubleshooting). */
  shimLog?: string;
}

export interface UpResult extends UpResultItem {
  runtime: Settings['runtime'];
  containerName: string;
  plan: HardenedPlan;
  warnings: Finding[];
  overrideFile: string;
  firewall?: AgentResult;
  sudo?: SudoCheck;
  readOnly: string[];
  notes: string[];
  sidecar?: SidecarUp & { name: string; socket: string; firewall?: AgentResult };
  /** The remote user's ids, read from the (built) image. */
  remoteUserIds: UserIds;
  /** NET_ADMIN/NET_RAW that the config asked for and hdc withheld. */
  withheld: Withheld[];
}

/**
 * The whole `up`: plan, preflight, container, firewall, lifecycle. The lifecycle commands
 * run only once the firewall is verified. On failure nothing new is left running.
 */
export async function up(req: UpRequest): Promise<UpResult> {
  const { settings, log } = req;
  const step = (s: UpStep, detail: string): void => {
    log(`[${s}] ${detail}`);
    req.onStep?.(s, detail);
  };
  const options: RunOptions = { signal: req.signal, log };
  const notes: string[] = [];

  step('plan', `reading devcontainer.json in ${req.workspaceFolder}`);
  const ws = await openWorkspace(req.workspaceFolder);
  // runArgs and devcontainer.json's own privilege fields are checked here, before anything
  // starts; the merged configuration (features, the image label) once the CLI has read it.
  const paths = hostPathContext(req.stateRoot);
  const userArgs = checkRunArgs(ws.config.runArgs, ws.file, settings.runtime, settings.noNewPrivileges, paths);
  const fileSource: PrivilegeSource = { kind: 'devcontainer.json', request: ws.config as PrivilegeRequest };
  const withheld = checkPrivilegeSources([fileSource], ws.file, settings.noNewPrivileges, userArgs, paths);
  withheld.unshift(...userArgs.withheld);
  const policy: FirewallPolicy | undefined = settings.firewall.enabled
    ? buildPolicy(settings.firewall.allowedDomains, settings.firewall.allowedCidrs) : undefined;
  const verify = policy && verifyTargets(settings.firewall, policy);
  if (!policy) notes.push('warning: the egress firewall is turned off (hardenedDevcontainers.firewall.enabled = false)');
  const sidecarSettings = settings.podmanSidecar;
  checkSidecarPlan(sidecarSettings, settings.runtime, ws.file);
  if (sidecarSettings.enabled) notes.push(...sidecarWarnings(sidecarSettings));
  if (policy && settings.runtime === 'docker' && ws.config.appPort !== undefined) {
    throw new InputError(`${ws.file}: "appPort" publishes ports, which docker cannot do for a workspace that joins its firewall guard's network.`,
      'use "forwardPorts" (forwarded through the editor), or put -p in runArgs: it is moved to the guard');
  }

  step('preflight', `checking ${settings.runtime}`);
  const engine = await engineFor(settings);
  const stateDir = await workspaceStateDir(req.stateRoot, ws.workspaceFolder);
  // The CLI builds an image for a Dockerfile and for features: the remote user is read from
  // that image once it exists (podman: the shim asks hdc before `run`; docker: before the
  // lifecycle commands), not from a base image that may lack the user.
  const hasFeatures = typeof ws.config.features === 'object' && ws.config.features !== null && Object.keys(ws.config.features).length > 0;
  const builds = ws.config.image === undefined || hasFeatures;
  const imageName = ws.config.image;
  const podman = settings.runtime === 'podman';
  const firewallDir = path.join(stateDir, 'firewall');
  const overrideFile = path.join(stateDir, 'devcontainer.override.json');
  // podman (the shim): one `devcontainer up` whose lifecycle commands wait at the gate.
  const gated = podman && (policy !== undefined || sidecarSettings.enabled);
  // The shim's note, per `up`, on the CLI's events follower (see events-wait.sh). With the
  // firewall, the OCI hook waits for the follower (there it costs nothing: the start is
  // under way); otherwise the shim's `run` does.
  const eventsFile = !podman ? undefined : policy ? path.join(firewallDir, 'events') : path.join(stateDir, `events-${randomBytes(6).toString('hex')}`);
  const cliRunOptions: RunOptions = {
    ...options,
    timeoutMs: settings.upTimeoutSeconds * 1000,
    onStderrLine: (line) => {
      const rendered = renderCliLogLine(line);
      if (!rendered) return;
      log(rendered.text);
      if (rendered.step) req.onStep?.('container', rendered.step);
    } };
  const shimEnv: Record<string, string> = podman
    ? { HDC_ENGINE: engine.path, HDC_EVENTS: eventsFile ?? '', ...(policy ? { HDC_EVENTS_WAIT: 'hook' } : {}), ...(req.shimLog ? { HDC_SHIM_LOG: req.shimLog } : {}) }
    : {};
  // podman: the CLI starts now and boots (~0.2 s) while hdc checks the engine and prepares;
  // the shim holds its first call until hdc opens the pregate with the remote user's ids.
  // The override file is removed first: a CLI that read it early would fail, not run unhardened.
  const early = podman ? await startEarlyCli() : undefined;
  async function startEarlyCli(): Promise<{ pregate: Gate; gate?: Gate; cli: Promise<UpResultItem>; stop: () => Promise<void> }> {
    await rm(overrideFile, { force: true });
    const pregate = await openGate(stateDir, firewallDir, 'pregate');
    const gate = gated ? await openGate(stateDir, firewallDir) : undefined;
    // Empty until the CLI's events follower starts; removed at the end, so that a start by
    // hand (podman start) never waits for a follower.
    if (eventsFile) {
      await mkdir(path.dirname(eventsFile), { recursive: true, mode: 0o700 });
      await writeFile(eventsFile, '', { mode: 0o600 });
    }
    const abort = new AbortController();
    const cli = run(devcontainerCli.up({
      workspaceFolder: ws.workspaceFolder, dockerPath: shimPath(), overrideConfig: overrideFile, noUidUpdate: true,
      env: { ...shimEnv, HDC_PREGATE: pregate.file, HDC_PID: String(process.pid), ...(gate ? { HDC_GATE: gate.file } : {}) } }), { ...cliRunOptions, signal: req.signal ? AbortSignal.any([req.signal, abort.signal]) : abort.signal });
    cli.catch(() => undefined); // awaited later; a failure before then is not unhandled
    return {
      pregate, gate, cli,
      // Before the pregate opened: the shim refuses, the CLI is stopped, nothing was made.
      async stop() {
        await pregate.set('closed');
        abort.abort();
        await cli.catch(() => undefined);
        await Promise.all([pregate.remove(), gate?.remove(), eventsFile ? rm(eventsFile, { force: true }) : undefined]);
      } };
  }
  // A failure before the pregate opens stops the early CLI (it has made nothing yet).
  const { report, existing, plan, merged, sidecar, cliArgs, layout, readOnly, backend } = await prepare()
    .catch(async (e: unknown) => { await early?.stop(); throw e; });
  let remoteUser: UserIds | undefined = plan.remoteUser;
  // The CLI (started early on podman) goes on from here, with the remote user's ids (or, for
  // a build, with the promise to read them from the image it builds).
  const idsDone = new AbortController();
  const imageIds = early && !remoteUser ? answerImageIds(early.pregate, idsDone.signal) : undefined;
  imageIds?.catch(() => undefined);
  await early?.pregate.set(remoteUser ? `open ${remoteUser.uid} ${remoteUser.gid}` : 'open image');

  /** Probes, image, merged configuration, privilege, remote user, layout, firewall files and the override: before any container. */
  async function prepare() {
    // Independent read-only probes, in parallel: they are most of what we add to a plain up.
    const [report, inspected, existing] = await Promise.all([
      preflight(engine, options),
      imageName ? run(engine.imageInspect(imageName), options) : Promise.resolve(undefined),
      findWorkspaceContainers(engine, ws.workspaceFolder, ws.file, options),
    ]);
    for (const w of report.findings) log(`warning: ${w.message} (${w.fix})`);
    if (!limitsEnforceable(settings.runtime, report.info?.rootless ?? false)) notes.push(`warning: resource limits are ${LIMITS_NOT_ENFORCED}`);
    // Pulling only starts once preflight has passed.
    const image = imageName ? await ensureImage(engine, imageName, ws.file, options, inspected ?? null) : undefined;
    // The CLI's own merge of devcontainer.json, the features' metadata and the image label
    // (cached for a plain image config), and where it mounts the workspace.
    const { layout, merged, features } = await readWorkspaceConfiguration({
      workspaceFolder: ws.workspaceFolder, configFile: ws.file, stateDir, imageId: image?.id, cacheable: !builds,
      call: devcontainerCli.readConfiguration({ workspaceFolder: ws.workspaceFolder, dockerPath: podman ? shimPath() : report.enginePath, env: shimEnv }),
      options });
    const sources: PrivilegeSource[] = [
      ...features.map((f): PrivilegeSource => ({ kind: 'feature', name: f.id, request: f.request })),
      ...imageLabelEntries(image, imageName).map((entry): PrivilegeSource => ({ kind: 'image label', name: imageName, request: entry })),
      { kind: 'merged configuration', request: merged },
    ];
    // runArgs and the workspace mount as the CLI will use them (variables substituted), and
    // the folder it mounts.
    paths.workspace = layout.source;
    const substituted = checkRunArgs(merged.runArgs, ws.file, settings.runtime, settings.noNewPrivileges, paths);
    const mountWhy = [typeof merged.workspaceMount === 'string' ? mountProblem(merged.workspaceMount, paths) : undefined, hostPathWhy(layout.source, paths)].find(Boolean);
    if (mountWhy) substituted.refusals.push({ source: ws.file, what: `the workspace mount (${layout.source})`, why: mountWhy, fix: 'open the project from a folder of its own (and check "workspaceMount")' });
    withheld.push(...checkPrivilegeSources([fileSource, ...sources], ws.file, settings.noNewPrivileges, substituted, paths).filter((w) => !withheld.some((x) => x.cap === w.cap && x.where === w.where)));
    if (merged.init && podman) await requireCatatonit(ws.file);
    for (const w of withheld) notes.push(`note: ${w.cap} (${w.where}) was withheld: the workspace never holds it; hdc's egress firewall is in force instead`);

    // The remote user exactly as the CLI picks it, with its ids from the real image.
    const remoteUserName = image ? pickRemoteUser(merged, image.user) : merged.remoteUser || merged.containerUser || undefined;
    const remoteUser = image && !builds ? await checkedRemoteUser(merged, image, imageName ?? image.id) : undefined;

    const plan: HardenedPlan = {
      workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config,
      runtime: settings.runtime, enginePath: report.enginePath, settings, remoteUserName, remoteUser, workspaceMountSource: layout.source };
    for (const src of readOnlyOutside(ws.config.mounts, layout.source).changed) {
      notes.push(`note: the mount of ${src} (outside the workspace) goes in read-only: the workspace must not change what runs on the host`);
    }
    const sidecar: SidecarNames | undefined = sidecarSettings.enabled ? sidecarNames(containerNameOf(plan), sidecarSettings) : undefined;
    const sidecarShare = sidecar ? await workspaceSidecarConfig(sidecar, stateDir) : undefined;
    const cliArgs = {
      workspaceFolder: ws.workspaceFolder,
      dockerPath: podman ? shimPath() : report.enginePath,
      overrideConfig: overrideFile,
      env: podman ? { ...shimEnv, HDC_UID: String(remoteUser?.uid ?? ''), HDC_GID: String(remoteUser?.gid ?? '') } : {} };
    // .devcontainer/, .vscode/ and .git/hooks/ go in read-only, at the paths where the CLI
    // mounts the workspace.
    const readOnly = protectedPaths(ws.workspaceFolder, ws.file, layout.source);
    let backend: FirewallBackend | undefined;
    let hardening: string[] = [];
    let userRunArgs = userArgs.runArgs;
    if (podman) {
      // The hook reads every start's OCI spec back (and loads the firewall when it is on).
      await installOciHook();
      // hdc's own read-only mounts from its state (the sidecar's client config) are allowed by name.
      const ownFiles = (sidecarShare?.mounts ?? []).map((m) => mountFields(m)).filter((f) => f.type === 'bind' && f.source).map((f) => f.source as string);
      await writePrivilegePolicy(firewallDir, { noNewPrivileges: settings.noNewPrivileges, userNamespace: process.getuid?.() !== 0, protectedDirs: paths.protectedDirs ?? [], allowedFiles: ownFiles, workspace: layout.source, storeRoots: await podmanStoreRoots() });
      if (!policy) {
        await writeHookMode(firewallDir, 'check');
        hardening = firewallRunArgs(firewallDir);
      }
    }
    if (policy) {
      step('firewall', 'preparing the rules that load before the container starts');
      await writeFirewallFiles(firewallDir, policy, await readLastResolved(firewallDir));
      backend = firewallBackend(engine, {
        firewallDir, workspaceFolder: ws.workspaceFolder, configFile: ws.file, userRunArgs: userArgs.runArgs,
        workspaceImage: imageName, guardImageSetting: settings.firewall.guardImage,
        containerName: containerNameOf(plan) });
      ({ hardening, userRunArgs } = await backend.prepare(options));
    }
    await writeFile(overrideFile, JSON.stringify(buildOverrideConfig(plan, [...hardening, ...hardeningRunArgs(settings)], userRunArgs, readOnlyMounts(readOnly, layout), sidecarShare), null, 2), { mode: 0o600 });

    return { report, existing, plan, merged, sidecar, cliArgs, layout, readOnly, backend };
  }

  /** The user from an image, checked: it exists, and is not root while sudo is revoked. */
  async function checkedRemoteUser(mergedConfig: MergedConfigRecord, image: ImageItem, imageRef: string): Promise<UserIds> {
    const ids = await resolveRemoteUser({ engine, merged: mergedConfig, image, imageRef, configFile: ws.file, cacheDir: path.join(req.stateRoot, 'image-users'), options });
    log(`remote user ${ids.user}: uid ${ids.uid}, gid ${ids.gid} (${userSource(mergedConfig, image.user)}; ids from ${imageRef})`);
    if (settings.revokeSudo && ids.uid === 0) {
      throw new InputError(`${ws.file}: the remote user (${ids.user}, ${userSource(mergedConfig, image.user)}) is root, so every process in the workspace would be root.`,
        'set "remoteUser" to a non-root user of the image (e.g. "vscode"); or set hardenedDevcontainers.revokeSudo to false, which gives up the no-root guarantee');
    }
    return ids;
  }

  /**
   * podman, a build: the shim hands over the argv of the CLI's `run` before passing it on;
   * the image is the argument before the CLI's own `-c "echo Container started…"`. hdc reads
   * the remote user from that image and answers with its ids, or "closed" (then nothing runs).
   */
  async function answerImageIds(pregate: Gate, done: AbortSignal): Promise<UserIds & { imageId: string }> {
    const request = `${pregate.file}.run`;
    const answer = `${pregate.file}.ids`;
    try {
      let argv: string[] | undefined;
      while (!argv) {
        // No `run` this time (the container exists): the up ends without an answer.
        if (req.signal?.aborted || done.aborted) throw new CancelledError('hdc up');
        argv = await readFile(request, 'utf8').then((t) => t.split('\0').slice(0, -1), () => undefined);
        if (!argv) await sleep(25);
      }
      // The first such `-c`: what follows the CLI's script (an image's own Entrypoint and Cmd,
      // with overrideCommand false) is the image's to choose; runArgs cannot hold it (a
      // non-flag argument there is refused).
      let at = -1;
      for (let i = 1; i < argv.length - 1 && at < 0; i++) if (argv[i] === '-c' && argv[i + 1].startsWith('echo Container started\n')) at = i;
      const imageRef = at > 0 ? argv[at - 1] : '';
      if (!IMAGE_REFERENCE.test(imageRef)) throw new HdcError('Cannot tell which image the devcontainers CLI runs, so its remote user cannot be read.', { fix: 'report this with the log (HDC_VERBOSE=1): the CLI\'s run command changed' });
      const image = await run(engine.imageInspect(imageRef), options);
      if (!image) throw new HdcError(`The image ${imageRef} that the devcontainers CLI built cannot be inspected.`);
      const ids = await checkedRemoteUser(merged, image, imageRef);
      await writeFile(`${answer}.tmp`, `open ${ids.uid} ${ids.gid}`, { mode: 0o600 });
      await rename(`${answer}.tmp`, answer);
      return { ...ids, imageId: image.id };
    } catch (e) {
      await writeFile(answer, 'closed', { mode: 0o600 }).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Why hdc refused the built image's user, if it did: that is the cause when the CLI then
   * failed. Never waits: with no `run` this time (the container existed) there is no answer.
   */
  async function idsFailure(): Promise<unknown> {
    if (!imageIds) return undefined;
    return Promise.race([imageIds.then(() => undefined, (e: unknown) => e), sleep(0).then(() => undefined)]);
  }

  /** The remote user of a container that exists already (no build or run this time), or of docker's. */
  async function remoteUserOf(containerId: string): Promise<UserIds> {
    if (remoteUser) return remoteUser;
    const item = await run(engine.containerInspect(containerId), options);
    if (imageIds) {
      const settled = await Promise.race([imageIds.then((v) => v, (e: unknown) => { throw e; }), sleep(0).then(() => undefined)]);
      // The ids were read from the image the CLI's run named: it must be the one that runs.
      if (settled && item?.image === settled.imageId) return { user: settled.user, uid: settled.uid, gid: settled.gid, source: settled.source };
      if (settled) throw new HdcError(`The container runs image ${item?.image.slice(0, 19)}, not ${settled.imageId.slice(0, 19)}, whose remote user hdc checked.`, { fix: 'report this with the log (HDC_VERBOSE=1)' });
    }
    const image = item ? await run(engine.imageInspect(item.image), options) : undefined;
    if (!item || !image) throw new HdcError(`Cannot read the image of container ${containerId.slice(0, 12)}, so its remote user cannot be checked.`);
    return checkedRemoteUser(merged, image, image.id);
  }

  step('container', `devcontainer up (${settings.runtime})`);
  let result: UpResultItem;
  let firewall: AgentResult | undefined;
  let sudo: SudoCheck | undefined;
  let sidecarResult: UpResult['sidecar'];
  const sidecarProgress = { createdGraph: false };
  // The revocation's exec opens while the CLI still works; it gets its script at the end.
  let preparedRevoke: PreparedRevoke | undefined;
  const prepareRevoke = async (containerId: string): Promise<void> => {
    if (settings.revokeSudo && remoteUser) preparedRevoke = await prepareRevokeSudo(engine, containerId, remoteUser.user, { ...options, timeoutMs: cliRunOptions.timeoutMs });
  };
  try {
    // The lifecycle commands run only once the firewall is verified (and the sidecar is up).
    // podman: one `devcontainer up`, whose `exec`s the shim holds at a gate until hdc has
    // verified; docker (no shim): `up --skip-post-create`, verify, then `run-user-commands`.
    const afterStart = async (containerId: string, pid?: number): Promise<void> => {
      const settled = await Promise.allSettled([readBack(containerId, pid), workspaceFirewall(containerId, pid), bringSidecar(containerId)]);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (sidecar && sidecarSettings.createDockerSockSymlink) {
        // As root through the engine (sudo is not involved); /var/run/docker.sock → the socket.
        const r = await run(engine.exec(containerId, ['ln', '-sfn', SIDECAR_SOCKET, '/var/run/docker.sock'], { user: 'root' }), options);
        if (r.exitCode !== 0) notes.push(`warning: could not link /var/run/docker.sock to the sidecar's socket: ${r.stderr.trim()}`);
      }
    };
    /**
     * The result, read back before any lifecycle command: the kernel's account of the first
     * process (capabilities, seccomp, no-new-privileges) and, on docker, the engine's record
     * (podman's OCI hook read the spec before the start). Weaker: the container goes.
     */
    const readBack = async (containerId: string, knownPid?: number): Promise<void> => {
      const item = podman && knownPid ? undefined : await run(engine.containerInspect(containerId), options);
      const pid = knownPid ?? item?.pid ?? 0;
      const proc = pid > 0 ? await readProcStatus(pid) : undefined;
      const outside = (src: string): boolean => src !== layout.source && !src.startsWith(`${layout.source}/`);
      const problems = [
        ...(item && !podman ? hostConfigProblems(item.privilege, settings.noNewPrivileges, policy !== undefined) : []),
        ...(item && !podman ? item.mounts.filter((m) => m.type === 'bind' && m.rw && outside(m.source)).map((m) => `has ${m.source} writable, outside the workspace`) : []),
        ...(proc ? procProblems(proc, settings.noNewPrivileges) : []),
      ];
      if (!proc && !item) {
        throw new HdcError(`The container's first process (pid ${pid}) exited before any lifecycle command ran, so its privilege cannot be read back.`,
          { fix: 'look at the container\'s output (HDC_VERBOSE=1): its entrypoint or image is broken (e.g. no PATH, so the CLI\'s keep-alive `sleep` is not found)' });
      }
      if (problems.length) {
        await run(engine.removeContainer(containerId), { log }).catch(() => undefined);
        throw new HdcError(`Refused: the container came up weaker than hdc requires: it ${problems.join('; ')}. It was removed before any lifecycle command ran.`,
          { fix: 'something between hdc and the engine added privilege (a wrapped engine, a changed feature or image); run with HDC_VERBOSE=1 and check the engine\'s command line' });
      }
    };
    const workspaceFirewall = async (containerId: string, pid?: number): Promise<void> => {
      if (!(policy && verify && backend)) return;
      step('firewall', `resolving ${policy.domains.length} names and verifying`);
      firewall = await backend.agent(containerId, { policy, verify }, options, pid);
      log(`firewall: ${firewall.loaded.v4} IPv4 and ${firewall.loaded.v6} IPv6 entries; resolvers ${[...firewall.dns.v4, ...firewall.dns.v6].join(', ') || 'none'}; `
        + `resolve ${firewall.ms.resolve} ms, load ${firewall.ms.load} ms, verify ${firewall.ms.verify} ms`);
      try {
        notes.push(...checkVerification(firewall, { policy, verify }));
      } catch (e) {
        await run(engine.stopContainer(containerId), { log }).catch(() => undefined);
        throw e;
      }
      // The next start (by hand too) loads what was just resolved.
      await writeFirewallFiles(firewallDir, policy, firewall.resolved);
    };
    // The sidecar comes up next to the workspace's firewall check, before the lifecycle
    // commands, so that they can use it (as with a docker-in-docker feature).
    const bringSidecar = async (containerId: string): Promise<void> => {
      if (!sidecar) return;
      step('sidecar', `starting the Podman sidecar ${sidecar.container}`);
      try {
        const spec: SidecarSpec = {
          names: sidecar, settings: sidecarSettings, workspaceFolder: ws.workspaceFolder, configFile: ws.file,
          firewallArgs: policy ? firewallRunArgs(firewallDir) : undefined, userRunArgs: userArgs.runArgs, stateDir };
        const parent = sidecarSettings.parentStorages ? await run(engine.containerInspect(containerId), options) : undefined;
        const runArgs = sidecarRunArgs(spec, await writeSidecarFiles(spec), parent ? parentStorageMounts(parent, sidecar) : [], { pids: settings.limits.pids });
        const up = await sidecarUp(engine, spec, runArgs, options, sidecarProgress);
        sidecarResult = { ...up, name: sidecar.container, socket: SIDECAR_SOCKET };
        log(`sidecar ${sidecar.container}: ${up.action}, socket ready in ${up.ms} ms`);
        if (policy && verify && backend) {
          const fw = await backend.agent(up.id, { policy, verify }, options);
          checkVerification(fw, { policy, verify });
          sidecarResult.firewall = fw;
        }
      } catch (e) {
        const err = e instanceof HdcError ? e : new HdcError((e as Error).message);
        throw new HdcError(`Podman sidecar: ${err.message}`, { fix: err.fix, detail: err.detail, exitCode: err.exitCode });
      }
    };
    /**
     * A failed lifecycle command. If the config asked for NET_ADMIN/NET_RAW (withheld), the
     * failure of one of its own commands is its in-container firewall, which cannot run
     * without them: a warning, and the up goes on. Otherwise it fails, with sudo revoked
     * (fail-closed) and the state said.
     */
    const lifecycleFailed = async (e: unknown, containerId: string): Promise<'tolerated'> => {
      // Ctrl-C or Stop during the lifecycle commands is a cancelled up: its container goes.
      if (e instanceof CancelledError) throw e;
      if (e instanceof LifecycleCommandError && withheld.length > 0 && e.origin === 'devcontainer.json') {
        notes.push(`warning: the ${e.hook} from devcontainer.json failed (${e.command}). This config runs its own firewall, which needs ${[...new Set(withheld.map((w) => w.cap))].join(' and ')}; hdc withheld them, and hdc's egress firewall is in force instead. `
          + `The commands after it did not run. To silence this, drop ${withheld.map((w) => w.where).join(', ')} and that ${e.hook} from ${ws.file} (${lineOf(await readFile(ws.file, 'utf8').catch(() => ''), e.hook)}).`);
        return 'tolerated';
      }
      let sudoState = 'sudo was not revoked (hardenedDevcontainers.revokeSudo = false)';
      let state = 'is still running under the verified firewall';
      if (settings.revokeSudo && remoteUser) {
        sudoState = await revokeSudo(engine, containerId, remoteUser.user, options, preparedRevoke)
          .then(() => 'sudo is revoked', async (r: Error) => {
            // Root must not stay reachable: a container whose sudo could not be revoked stops.
            await run(engine.stopContainer(containerId), { log }).catch(() => undefined);
            state = 'was stopped';
            return `sudo revocation FAILED: ${r.message}`;
          });
      }
      if (!(e instanceof HdcError)) throw e;
      throw new HdcError(`A lifecycle command failed: ${e.message}\nContainer ${containerNameOf(plan)} ${state}; ${sudoState}. Nothing in the workspace was changed by hdc.`,
        { fix: e.fix, detail: e.detail, exitCode: e.exitCode, keepContainer: true });
    };

    if (early?.gate) {
      const gate = early.gate;
      const cliDone = new AbortController();
      const cli = early.cli.finally(() => cliDone.abort());
      let started: { id: string; pid: number } | undefined;
      const verified = (async () => {
        started = await waitForStart(engine, containerNameOf(plan), gate.startedFile, cliDone.signal, options);
        remoteUser = await remoteUserOf(started.id);
        await Promise.all([afterStart(started.id, started.pid), prepareRevoke(started.id)]);
        step('lifecycle', 'the lifecycle commands run now, under the verified firewall');
      })();
      const [v, c] = await Promise.allSettled([verified.then(() => gate.set('open'), async (e) => { await gate.set('closed'); throw e; }), cli]);
      await gate.remove();
      if (v.status === 'rejected') {
        // The gate never opened: the image's user was refused, the container failed to
        // start, or the firewall did not verify.
        throw await idsFailure() ?? (c.status === 'rejected' && (!started || isAbort(v.reason)) ? c.reason : v.reason);
      }
      if (c.status === 'rejected') {
        if (await lifecycleFailed(c.reason, started?.id ?? '') === 'tolerated' && started) {
          result = { containerId: started.id, remoteUser: remoteUser?.user ?? 'root', remoteWorkspaceFolder: layout.workspaceFolder };
        } else {
          throw c.reason;
        }
      } else {
        result = c.value;
      }
    } else {
      // podman without firewall and sidecar: the early CLI does it all; docker: started now.
      result = await (early?.cli ?? run(devcontainerCli.up({ ...cliArgs, noUidUpdate: false, extraArgs: ['--skip-post-create'] }), cliRunOptions))
        .catch(async (e: unknown) => { throw await idsFailure() ?? e; });
      if (!early) {
        // docker: the result is read back, and the remote user read from the container's
        // image, before any lifecycle command.
        await readBack(result.containerId);
        remoteUser = await remoteUserOf(result.containerId);
        await Promise.all([afterStart(result.containerId), prepareRevoke(result.containerId)]);
        step('lifecycle', `running the lifecycle commands${policy ? ' under the firewall' : ''}`);
        const ran = await run(devcontainerCli.runUserCommands(cliArgs), cliRunOptions).then(() => 'ran' as const, (e: unknown) => lifecycleFailed(e, result.containerId));
        void ran;
      } else {
        remoteUser = await remoteUserOf(result.containerId);
        await prepareRevoke(result.containerId);
      }
    }
    if (settings.revokeSudo) {
      step('sudo', `revoking sudo for ${remoteUser?.user} and verifying`);
      try {
        sudo = await revokeSudo(engine, result.containerId, remoteUser?.user ?? 'root', options, preparedRevoke);
      } catch (e) {
        // Fail-closed: root must not stay reachable; the container is kept, stopped, to inspect.
        await run(engine.stopContainer(result.containerId), { log }).catch(() => undefined);
        throw e;
      }
      log(`sudo: ${sudo.evidence}`);
    } else {
      notes.push('warning: sudo is not revoked (hardenedDevcontainers.revokeSudo = false)');
    }
  } catch (e) {
    if (!(e instanceof HdcError && e.keepContainer)) {
      await removeNewContainers(engine, ws.workspaceFolder, ws.file, existing, log);
      await backend?.discard({ log });
    }
    // If any step failed, the sidecar goes: its container, its socket, a graph volume made now.
    if (sidecar) {
      await removeSidecar(engine, { workspaceFolder: ws.workspaceFolder, configFile: ws.file }, sidecar, { removeGraph: sidecarProgress.createdGraph, log })
        .catch((r: Error) => log(`clean-up of the sidecar did not finish: ${r.message}`));
    }
    throw e;
  } finally {
    idsDone.abort();
    preparedRevoke?.cancel();
    await early?.pregate.remove();
    if (early) await Promise.all([rm(`${early.pregate.file}.run`, { force: true }), rm(`${early.pregate.file}.ids`, { force: true })]);
    if (eventsFile) await rm(eventsFile, { force: true });
  }
  for (const n of notes) log(n);
  const containerName = containerNameOf(plan);
  return {
    ...result, runtime: settings.runtime, containerName, plan, warnings: report.findings, overrideFile, firewall, sudo,
    readOnly: readOnlyMounts(readOnly, layout).map((m) => parseMount(m).target ?? m), notes, sidecar: sidecarResult,
    remoteUserIds: remoteUser ?? { user: result.remoteUser, uid: 0, gid: 0, source: 'numeric' }, withheld };
}

/**
 * Host paths no mount may reach, and how to see a path as the kernel follows it: podman's
 * configuration and storage, hdc's hook and state, the runtime folder with the sockets.
 */
function hostPathContext(stateRoot: string): HostPathContext {
  const home = process.env.HOME || os.homedir();
  const protectedDirs = [
    path.dirname(path.dirname(containersConfDropIn())), // ~/.config/containers
    path.join(process.env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'containers'),
    hooksHome(), stateRoot,
    ...(process.env.XDG_RUNTIME_DIR ? [process.env.XDG_RUNTIME_DIR] : []),
  ].map((d) => path.resolve(d)).flatMap((d) => {
    // Both spellings: a symlinked home (/home → /var/home, stow) must not hide one.
    try { return [...new Set([d, realpathSync(d)])]; } catch { return [d]; }
  });
  return {
    protectedDirs,
    inspect: (p) => {
      try {
        const resolved = realpathSync(p);
        return { resolved, isSocket: statSync(resolved).isSocket() };
      } catch {
        return {};
      }
    } };
}

/**
 * podman's storage roots, where its per-container files (resolv.conf, hosts, shm) and named
 * volumes live: the defaults, or what ~/.config/containers/storage.conf sets.
 */
async function podmanStoreRoots(): Promise<string[]> {
  const rootful = process.getuid?.() === 0;
  const home = process.env.HOME || os.homedir();
  let graph = rootful ? '/var/lib/containers/storage' : path.join(process.env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'containers', 'storage');
  let runroot = rootful ? '/run/containers/storage' : path.join(process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.()}`, 'containers');
  const conf = await readFile(rootful ? '/etc/containers/storage.conf' : path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'storage.conf'), 'utf8').catch(() => '');
  graph = /^\s*graphroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1] ?? graph;
  runroot = /^\s*runroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1] ?? runroot;
  return [...new Set([graph, runroot].flatMap((d) => { try { return [d, realpathSync(d)]; } catch { return [d]; } }))];
}

/** The devcontainer.metadata label's entries (JSON array, or one object), for naming sources. */
function imageLabelEntries(image: ImageItem | undefined, name: string | undefined): PrivilegeRequest[] {
  if (!image?.metadata) return [];
  try {
    const value = JSON.parse(image.metadata) as unknown;
    return (Array.isArray(value) ? value : [value]).filter((e): e is PrivilegeRequest => typeof e === 'object' && e !== null);
  } catch {
    throw new InputError(`The devcontainer.metadata label of image ${name ?? image.id} is not valid JSON.`, 'rebuild the image, or use another');
  }
}

/** podman's `--init` is catatonit (looked up in podman's helper_binaries_dir); say so before anything is created. */
export async function requireCatatonit(file: string, dirs = ['/usr/libexec/podman', '/usr/local/libexec/podman', '/usr/local/lib/podman', '/usr/lib/podman']): Promise<void> {
  for (const d of dirs) if (await access(path.join(d, 'catatonit'), constants.X_OK).then(() => true, () => false)) return;
  throw new EnvironmentError(`${file} asks for "init": true, and podman's init (catatonit) is not installed (looked in ${dirs.join(', ')}).`,
    'install it: apt-get install catatonit (or drop "init": true)');
}

/** "line N" of a top-level property in the user's file, for messages that point into it. */
function lineOf(text: string, property: string): string {
  const at = text.search(new RegExp(`"${property}"\\s*:`));
  return at < 0 ? `"${property}"` : `"${property}", line ${text.slice(0, at).split('\n').length}`;
}

/** Fail-closed clean-up: whatever this run created goes; what was there before stays. */
async function removeNewContainers(engine: EngineClient, folder: string, configFile: string, before: string[], log: LogFn): Promise<void> {
  try {
    const now = await findWorkspaceContainers(engine, folder, configFile, { log });
    for (const id of now.filter((c) => !before.includes(c))) {
      log(`removing container ${id.slice(0, 12)} left by the failed up`);
      await run(engine.removeContainer(id), { log });
    }
  } catch (e) {
    log(`clean-up after the failed up did not finish: ${(e as Error).message}`);
  }
}
