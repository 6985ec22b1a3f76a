import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { firewallBackend, type FirewallBackend } from '../firewall/backend';
import { checkVerification, readLastResolved, verifyTargets, writeFirewallFiles } from '../firewall/firewall';
import { buildPolicy, type FirewallPolicy } from '../firewall/policy';
import type { AgentResult } from '../firewall/agent';
import { hardeningRunArgs, limitsEnforceable, LIMITS_NOT_ENFORCED, parseMount, protectedPaths, readOnlyMounts, prepareRevokeSudo, revokeSudo, workspaceLayout, type PreparedRevoke, type SudoCheck } from '../hardening/hardening';
import { devcontainerCli, renderCliLogLine, type UpResultItem } from './devcontainerCli';
import type { EngineClient } from './engine';
import { CancelledError, HdcError, InputError } from './errors';
import { ensureImage, resolveRemoteUser } from './imageUser';
import { checkUserName } from './remoteUser';
import { shimPath } from './paths';
import { buildOverrideConfig, checkRunArgs, containerNameOf, type HardenedPlan } from './plan';
import { preflight, type Finding } from './preflight';
import { run, type LogFn, type RunOptions } from './runner';
import type { Settings } from './settings';
import { workspaceStateDir } from './state';
import { isAbort, openGate, waitForStart, type Gate } from './gate';
import { checkSidecarPlan, parentStorageMounts, removeSidecar, sidecarNames, sidecarRunArgs, sidecarUp, sidecarWarnings, SIDECAR_SOCKET, workspaceSidecarConfig, writeSidecarFiles, type SidecarNames, type SidecarSpec, type SidecarUp } from '../sidecar/sidecar';
import { engineFor, findWorkspaceContainers, openWorkspace } from './workspace';

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
  checkRunArgs(ws.config.runArgs, ws.file);
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
    },
  };
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
      env: { ...shimEnv, HDC_PREGATE: pregate.file, HDC_PID: String(process.pid), ...(gate ? { HDC_GATE: gate.file } : {}) },
    }), { ...cliRunOptions, signal: req.signal ? AbortSignal.any([req.signal, abort.signal]) : abort.signal });
    cli.catch(() => undefined); // awaited later; a failure before then is not unhandled
    return {
      pregate, gate, cli,
      // Before the pregate opened: the shim refuses, the CLI is stopped, nothing was made.
      async stop() {
        await pregate.set('closed');
        abort.abort();
        await cli.catch(() => undefined);
        await Promise.all([pregate.remove(), gate?.remove(), eventsFile ? rm(eventsFile, { force: true }) : undefined]);
      },
    };
  }
  // A failure before the pregate opens stops the early CLI (it has made nothing yet).
  const { report, existing, remoteUser, plan, sidecar, cliArgs, layout, readOnly, backend } = await prepare()
    .catch(async (e: unknown) => { await early?.stop(); throw e; });
  // The CLI (started early on podman) goes on from here, with the remote user's ids.
  await early?.pregate.set(`open ${remoteUser.uid} ${remoteUser.gid}`);

  /** Probes, image, remote user, layout, firewall files and the override: before any container. */
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
    const remoteUser = await resolveRemoteUser({
      engine, config: ws.config, image, imageName, cacheDir: path.join(req.stateRoot, 'image-users'), log, options,
    });
    log(`remote user ${remoteUser.user}: uid ${remoteUser.uid}, gid ${remoteUser.gid} (${remoteUser.source})`);
    checkUserName(remoteUser.user, ws.file);
    if (settings.revokeSudo && remoteUser.uid === 0) {
      throw new InputError(`${ws.file}: the remote user (${remoteUser.user}) is root, so every process in the workspace would be root.`,
        'set "remoteUser" to a non-root user of the image (e.g. "vscode"); or set hardenedDevcontainers.revokeSudo to false, which gives up the no-root guarantee');
    }

    const plan: HardenedPlan = {
      workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config,
      runtime: settings.runtime, enginePath: report.enginePath, settings, remoteUser, firewall: policy,
    };
    const sidecar: SidecarNames | undefined = sidecarSettings.enabled ? sidecarNames(containerNameOf(plan), sidecarSettings) : undefined;
    const sidecarShare = sidecar ? await workspaceSidecarConfig(sidecar, stateDir) : undefined;
    const cliArgs = {
      workspaceFolder: ws.workspaceFolder,
      dockerPath: podman ? shimPath() : report.enginePath,
      overrideConfig: overrideFile,
      env: podman ? { ...shimEnv, HDC_UID: String(remoteUser.uid), HDC_GID: String(remoteUser.gid) } : {},
    };
    // .devcontainer/, .vscode/ and .git/hooks/ go in read-only, at the paths where the CLI
    // mounts the workspace (it asks its own read-configuration; the answer is cached). Asked
    // before the firewall is prepared, so that a failure here leaves nothing behind. Its
    // override is a file of its own: the `up` override only ever holds the whole hardening.
    const layoutOverride = path.join(stateDir, 'layout.override.json');
    await writeFile(layoutOverride, JSON.stringify(buildOverrideConfig(plan), null, 2), { mode: 0o600 });
    const layout = await workspaceLayout({ workspaceFolder: ws.workspaceFolder, configFile: ws.file, stateDir, call: devcontainerCli.readConfiguration({ ...cliArgs, overrideConfig: layoutOverride }), options });
    const readOnly = protectedPaths(ws.workspaceFolder, ws.file, layout.source);
    let backend: FirewallBackend | undefined;
    let hardening: string[] = [];
    let userRunArgs = ws.config.runArgs;
    if (policy) {
      step('firewall', 'preparing the rules that load before the container starts');
      await writeFirewallFiles(firewallDir, policy, await readLastResolved(firewallDir));
      backend = firewallBackend(engine, {
        firewallDir, workspaceFolder: ws.workspaceFolder, configFile: ws.file, userRunArgs: ws.config.runArgs,
        workspaceImage: imageName, guardImageSetting: settings.firewall.guardImage,
        containerName: containerNameOf(plan),
      });
      ({ hardening, userRunArgs } = await backend.prepare(options));
    }
    await writeFile(overrideFile, JSON.stringify(buildOverrideConfig(plan, [...hardening, ...hardeningRunArgs(settings)], userRunArgs, readOnlyMounts(readOnly, layout), sidecarShare), null, 2), { mode: 0o600 });

    return { report, existing, remoteUser, plan, sidecar, cliArgs, layout, readOnly, backend };
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
    if (settings.revokeSudo) preparedRevoke = await prepareRevokeSudo(engine, containerId, remoteUser.user, { ...options, timeoutMs: cliRunOptions.timeoutMs });
  };
  try {
    // The lifecycle commands run only once the firewall is verified (and the sidecar is up).
    // podman: one `devcontainer up`, whose `exec`s the shim holds at a gate until hdc has
    // verified; docker (no shim): `up --skip-post-create`, verify, then `run-user-commands`.
    const afterStart = async (containerId: string, pid?: number): Promise<void> => {
      const settled = await Promise.allSettled([workspaceFirewall(containerId, pid), bringSidecar(containerId)]);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (sidecar && sidecarSettings.createDockerSockSymlink) {
        // As root through the engine (sudo is not involved); /var/run/docker.sock → the socket.
        const r = await run(engine.exec(containerId, ['ln', '-sfn', SIDECAR_SOCKET, '/var/run/docker.sock'], { user: 'root' }), options);
        if (r.exitCode !== 0) notes.push(`warning: could not link /var/run/docker.sock to the sidecar's socket: ${r.stderr.trim()}`);
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
          firewallDir: policy ? firewallDir : undefined, userRunArgs: ws.config.runArgs, stateDir,
        };
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
    /** A failed lifecycle command still ends with sudo revoked (fail-closed); the error says the state. */
    const lifecycleFailed = async (e: unknown, containerId: string): Promise<never> => {
      // Ctrl-C or Stop during the lifecycle commands is a cancelled up: its container goes.
      if (e instanceof CancelledError) throw e;
      let sudoState = 'sudo was not revoked (hardenedDevcontainers.revokeSudo = false)';
      let state = 'is still running under the verified firewall';
      if (settings.revokeSudo) {
        sudoState = await revokeSudo(engine, containerId, remoteUser.user, options, preparedRevoke)
          .then(() => 'sudo is revoked', async (r: Error) => {
            // Root must not stay reachable: a container whose sudo could not be revoked stops.
            await run(engine.stopContainer(containerId), { log }).catch(() => undefined);
            state = 'was stopped';
            return `sudo revocation FAILED: ${r.message}`;
          });
      }
      if (!(e instanceof HdcError)) throw e;
      throw new HdcError(`${e.message}\nContainer ${containerNameOf(plan)} ${state}; ${sudoState}. Nothing in the workspace was changed by hdc.`,
        { fix: e.fix, detail: e.detail, exitCode: e.exitCode });
    };

    if (early?.gate) {
      const gate = early.gate;
      const cliDone = new AbortController();
      const cli = early.cli.finally(() => cliDone.abort());
      let started: { id: string; pid: number } | undefined;
      const verified = (async () => {
        started = await waitForStart(engine, containerNameOf(plan), gate.startedFile, cliDone.signal, options);
        await Promise.all([afterStart(started.id, started.pid), prepareRevoke(started.id)]);
        step('lifecycle', 'the lifecycle commands run now, under the verified firewall');
      })();
      const [v, c] = await Promise.allSettled([verified.then(() => gate.set('open'), async (e) => { await gate.set('closed'); throw e; }), cli]);
      await gate.remove();
      if (v.status === 'rejected') {
        // The gate never opened: the container failed to start, or the firewall did not verify.
        throw c.status === 'rejected' && (!started || isAbort(v.reason)) ? c.reason : v.reason;
      }
      if (c.status === 'rejected') {
        const e = c.reason as Error;
        const lifecycle = e instanceof HdcError && !(e instanceof CancelledError)
          ? new HdcError(`A lifecycle command failed: ${e.message.replace(/^devcontainer up failed: /, '')}`, { fix: 'see the log for the command\'s output; fix the command in devcontainer.json and run up again', detail: e.detail })
          : e;
        await lifecycleFailed(lifecycle, started?.id ?? '');
      }
      result = (c as PromiseFulfilledResult<UpResultItem>).value;
    } else {
      // podman without firewall and sidecar: the early CLI does it all; docker: started now.
      result = await (early?.cli ?? run(devcontainerCli.up({ ...cliArgs, noUidUpdate: false, extraArgs: policy ? ['--skip-post-create'] : [] }), cliRunOptions));
      await Promise.all([afterStart(result.containerId), prepareRevoke(result.containerId)]);
      if (policy) {
        step('lifecycle', 'running the lifecycle commands under the firewall');
        await run(devcontainerCli.runUserCommands(cliArgs), cliRunOptions).catch((e: unknown) => lifecycleFailed(e, result.containerId));
      }
    }
    if (settings.revokeSudo) {
      step('sudo', `revoking sudo for ${remoteUser.user} and verifying`);
      try {
        sudo = await revokeSudo(engine, result.containerId, remoteUser.user, options, preparedRevoke);
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
    if (!(e instanceof HdcError && /^Firewall verification failed|^A lifecycle command failed|^Sudo revocation did not hold/.test(e.message))) {
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
    preparedRevoke?.cancel();
    await early?.pregate.remove();
    if (eventsFile) await rm(eventsFile, { force: true });
  }
  for (const n of notes) log(n);
  const containerName = containerNameOf(plan);
  return {
    ...result, runtime: settings.runtime, containerName, plan, warnings: report.findings, overrideFile, firewall, sudo,
    readOnly: readOnlyMounts(readOnly, layout).map((m) => parseMount(m).target ?? m), notes, sidecar: sidecarResult,
  };
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
