import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, realpath } from 'node:fs/promises';
import { sidecarGatewayPath } from '../base/paths';
import { LifecycleCommandError } from '../base/devcontainerCli';
import { CancelledError, HdcError, withFate } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import type { AgentResult } from '../firewall/agent';
import { checkVerification } from '../firewall/firewall';
import { firewallRunArgs } from '../firewall/podmanHook';
import { dnsRunArgs } from '../firewall/backend';
import { revokeSudo, type PreparedRevoke } from '../hardening/hardening';
import { hostConfigProblems, procProblems } from '../hardening/privilege';
import { parentStorageMounts, sidecarRunArgs, sidecarUp, SIDECAR_SOCKET, writeGatewayFiles, writeSidecarFiles, type SidecarSpec, type SidecarUp } from '../sidecar/sidecar';
import { containerNameOf } from '../workspace/plan';
import type { UserIds } from '../workspace/remoteUser';
import { lineOf, type UpHost } from './upHost';
import type { UpPlanned, UpSetup } from './upPlan';
import type { Prepared } from './upPrepare';

export type SidecarResult = SidecarUp & { name: string; socket: string; firewall?: AgentResult };

/** What the checks after the start found, and what the clean-up of a failure needs to know. */
export interface AfterStart {
  firewall?: AgentResult;
  sidecar?: SidecarResult;
}

/** Whether the sidecar's graph volume was made by this up (a failed up removes it). */
export interface SidecarProgress { createdGraph: boolean }

/** The steps' clock (see up.ts): times a step and tells the user it runs. */
export interface StepTimer {
  time<T>(step: 'firewall' | 'sidecar' | 'readback', detail: string, fn: () => Promise<T>): Promise<T>;
}

/** What the steps after the start share: inputs only. */
export interface StartContext {
  planned: UpPlanned;
  setup: UpSetup;
  prepared: Prepared;
  host: UpHost;
  options: RunOptions;
  clock: StepTimer;
  sidecarProgress: SidecarProgress;
}

/**
 * Step "after-start", before any lifecycle command: the container read back, the firewall
 * verified in it, and the sidecar up, side by side. A failure carries what happens to the
 * container (see ContainerFate).
 */
export async function afterStart(c: StartContext, containerId: string, pid?: number, readBackDone = false, loadedAtStart = false): Promise<AfterStart> {
  const [readBackOk, firewall, sidecar] = await Promise.allSettled([
    readBackDone ? Promise.resolve() : readBack(c, containerId, pid),
    workspaceFirewall(c, containerId, pid, loadedAtStart),
    bringSidecar(c, containerId),
  ]);
  const failed = [readBackOk, firewall, sidecar].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const result: AfterStart = { firewall: (firewall as PromiseFulfilledResult<AgentResult | undefined>).value, sidecar: (sidecar as PromiseFulfilledResult<SidecarResult | undefined>).value };
  const sidecarSettings = c.planned.settings.podmanSidecar;
  if (result.sidecar && sidecarSettings.createDockerSockSymlink) {
    // As root through the engine (sudo is not involved); /var/run/docker.sock → the socket.
    const r = await run(c.setup.engine.exec(containerId, ['ln', '-sfn', SIDECAR_SOCKET, '/var/run/docker.sock'], { user: 'root' }), c.options);
    if (r.exitCode !== 0) c.planned.notes.push(`warning: could not link /var/run/docker.sock to the sidecar's socket: ${r.stderr.trim()}`);
  }
  return result;
}

/**
 * The result, read back before any lifecycle command: the kernel's account of the first
 * process (capabilities, seccomp, no-new-privileges) and, on docker, the engine's record
 * (podman's OCI hook read the spec before the start). Weaker: the container goes.
 */
export async function readBack(c: StartContext, containerId: string, knownPid?: number): Promise<void> {
  return c.clock.time('readback', 'reading the container back', () => readBackNow(c, containerId, knownPid));
}

async function readBackNow(c: StartContext, containerId: string, knownPid?: number): Promise<void> {
  const { engine, podman } = c.setup;
  const { settings, policy } = c.planned;
  const source = c.prepared.layout.source;
  const item = podman && knownPid ? undefined : await run(engine.containerInspect(containerId), c.options);
  const pid = knownPid ?? item?.pid ?? 0;
  const proc = pid > 0 ? await c.host.readProcStatus(pid) : undefined;
  const outside = (src: string): boolean => src !== source && !src.startsWith(`${source}/`);
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
    throw new HdcError(`Refused: the container came up weaker than hdc requires: it ${problems.join('; ')}. It was removed before any lifecycle command ran.`,
      { fix: 'something between hdc and the engine added privilege (a wrapped engine, a changed feature or image); run with HDC_VERBOSE=1 and check the engine\'s command line', fate: { container: 'remove', id: containerId } });
  }
}

/** The firewall, verified from inside the workspace's netns; not verified: the container is stopped. */
async function workspaceFirewall(c: StartContext, containerId: string, pid?: number, loadedAtStart = false): Promise<AgentResult | undefined> {
  const { policy, verify } = c.planned;
  const { backend } = c.prepared;
  if (!(policy && verify && backend)) return undefined;
  return c.clock.time('firewall', `verifying the rules and the filtering resolver (${policy.domains.length} names)`, async () => {
    // Started through the hook during this up (its `started`): the hook has just loaded this
    // policy's sets and started its resolver, so the agent only verifies. A container that
    // was running already gets this policy loaded.
    const check = async (): Promise<{ firewall: AgentResult; notes?: string[]; error?: unknown }> => {
      const firewall = await backend.agent(containerId, { policy, verify, loadedAtStart }, c.options, pid);
      c.options.log?.(`firewall: ${firewall.loaded.v4} IPv4 and ${firewall.loaded.v6} IPv6 CIDRs; upstream resolvers ${[...firewall.dns.v4, ...firewall.dns.v6].join(', ') || 'none'}; `
        + `filtering resolver pid ${firewall.resolver?.pid ?? 'none'}; load ${firewall.ms.load} ms, verify ${firewall.ms.verify} ms${firewall.verifiedBy ? ` (by the ${firewall.verifiedBy})` : ''}`);
      try {
        return { firewall, notes: checkVerification(firewall, { policy, verify }) };
      } catch (error) {
        return { firewall, error };
      }
    };
    let result = await check();
    // Right after a start (podman's start of a stopped container, seen through the hook),
    // the upstream resolver was now and then not reachable from the new netns for a moment
    // (1 in ~10 stop + up cycles here). Once more, half a second later: a firewall that is
    // really wrong fails both times, and nothing in the workspace runs before this passes.
    if (result.error && loadedAtStart) {
      c.options.log?.(`firewall: not verified right after the start (${(result.error as Error).message}); checking again in 0.5 s`);
      await sleep(500, undefined, { signal: c.options.signal });
      result = await check();
    }
    if (result.error) throw withFate(result.error, { container: 'stop', id: containerId });
    c.planned.notes.push(...(result.notes ?? []));
    return result.firewall;
  });
}

/**
 * The sidecar comes up next to the workspace's firewall check, before the lifecycle
 * commands, so that they can use it (as with a docker-in-docker feature).
 */
async function bringSidecar(c: StartContext, containerId: string): Promise<SidecarResult | undefined> {
  const names = c.prepared.sidecar;
  if (!names) return undefined;
  const { engine, firewallDir, stateDir } = c.setup;
  const { settings, policy, verify, ws } = c.planned;
  return c.clock.time('sidecar', `starting the Podman sidecar ${names.container}`, async () => {
    try {
      const spec: SidecarSpec = {
        names, settings: settings.podmanSidecar, workspaceFolder: ws.workspaceFolder, configFile: ws.file,
        firewallArgs: policy ? [...firewallRunArgs(firewallDir, 'sidecar'), ...dnsRunArgs(settings.firewall.dnsServers)] : undefined, userRunArgs: c.planned.userArgs.runArgs, stateDir,
        gateway: await writeGatewayFiles(stateDir, { node: await realpath(process.execPath), script: sidecarGatewayPath() }),
      };
      const parent = settings.podmanSidecar.parentStorages ? await run(engine.containerInspect(containerId), c.options) : undefined;
      const runArgs = sidecarRunArgs(spec, await writeSidecarFiles(spec), parent ? parentStorageMounts(parent, names) : [], { pids: settings.limits.pids });
      const up = await sidecarUp(engine, spec, runArgs, c.options, c.sidecarProgress);
      const result: SidecarResult = { ...up, name: names.container, socket: SIDECAR_SOCKET };
      c.options.log?.(`sidecar ${names.container}: ${up.action}, socket ready in ${up.ms} ms`);
      if (policy && verify && c.prepared.backend) {
        const fw = await c.prepared.backend.agent(up.id, { policy, verify }, c.options, undefined, 'sidecar');
        checkVerification(fw, { policy, verify });
        result.firewall = fw;
      }
      return result;
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      const err = e instanceof HdcError ? e : new HdcError((e as Error).message);
      throw new HdcError(`Podman sidecar: ${err.message}`, { fix: err.fix, detail: err.detail, exitCode: err.exitCode });
    }
  });
}

/**
 * A failed lifecycle command. If the config asked for NET_ADMIN/NET_RAW (withheld), the
 * failure of one of its own commands is its in-container firewall, which cannot run
 * without them: a warning, and the up goes on. Otherwise it fails, with sudo revoked
 * (fail-closed) and the state said; the container is kept.
 */
export async function lifecycleFailed(c: StartContext, e: unknown, containerId: string, remoteUser: UserIds | undefined, prepared?: PreparedRevoke): Promise<'tolerated'> {
  const { settings, withheld, ws, notes } = c.planned;
  // Ctrl-C or Stop during the lifecycle commands is a cancelled up: its container goes.
  if (e instanceof CancelledError) throw e;
  if (e instanceof LifecycleCommandError && withheld.length > 0 && e.origin === 'devcontainer.json') {
    notes.push(`warning: the ${e.hook} from devcontainer.json failed (${e.command}). This config runs its own firewall, which needs ${[...new Set(withheld.map((w) => w.cap))].join(' and ')}; hdc withheld them, and hdc's egress firewall is in force instead. `
      + `The commands after it did not run. To silence this, drop ${withheld.map((w) => w.where).join(', ')} and that ${e.hook} from ${ws.file} (${lineOf(await readFile(ws.file, 'utf8').catch(() => ''), e.hook)}).`);
    return 'tolerated';
  }
  let sudoState = 'sudo was not revoked (hardenedDevcontainers.revokeSudo = false)';
  let state = c.planned.policy ? 'is still running under the verified firewall' : 'is still running (the egress firewall is off)';
  const revocation = { failed: false };
  if (settings.revokeSudo && remoteUser) {
    sudoState = await revokeSudo(c.setup.engine, containerId, remoteUser.user, c.options, prepared)
      .then(() => 'sudo is revoked', (r: Error) => {
        // Root must not stay reachable: a container whose sudo could not be revoked stops.
        revocation.failed = true;
        state = 'was stopped';
        return `sudo revocation FAILED: ${r.message}`;
      });
  }
  if (!(e instanceof HdcError)) throw e;
  throw new HdcError(`A lifecycle command failed: ${e.message}\nContainer ${containerNameOf(c.prepared.plan)} ${state}; ${sudoState}. Nothing in the workspace was changed by hdc.`,
    { fix: e.fix, detail: e.detail, exitCode: e.exitCode, fate: revocation.failed ? { container: 'stop', id: containerId } : { container: 'keep' } });
}
