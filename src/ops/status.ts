import * as path from 'node:path';
import { liveFirewall } from './liveFirewall';
import type { AgentResult } from '../firewall/agent';
import { verifyTargets } from '../firewall/firewall';
import { guardNameFor } from '../firewall/backend';
import { cutOffFromGuard } from '../firewall/dockerGuard';
import { policyFromSettings, type PresetHosts } from '../firewall/policy';
import { presetCounts } from '../firewall/presets';
import { UNPRIVILEGED_PORT_START } from '../firewall/sets';
import type { FirewallRole } from '../base/protocol';
import { checkSudoRevoked, limitsEnforceable, LIMITS_NOT_ENFORCED, type SudoCheck } from '../hardening/hardening';
import { CAP_BITS, parseProcStatus, procProblems, REFUSED_CAPS, type RefusedCap } from '../hardening/privilege';
import type { EngineClient, ContainerItem } from '../base/engine';
import { preflight } from '../workspace/preflight';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import { workspaceStateDir } from '../base/state';
import { accepts, SIDECAR_SOCKET, sidecarNames, socketOnHost } from '../sidecar/sidecar';
import { engineOf, type OpsDeps } from './deps';
import { resolvePresets } from './presets';
import type { DevcontainerConfigRecord } from '../config/devcontainerConfig';
import { getWorkspaceContainer, openWorkspace, type WorkspaceContainer } from '../workspace/workspace';

/** One guarantee, checked live, with what was seen. */
export interface Check {
  name: 'firewall' | 'dns' | 'capabilities' | 'sudo' | 'read-only config' | 'limits' | 'rootless engine' | 'sidecar';
  ok: boolean;
  /** Passed, but worth knowing (as preflight warns): a rootful engine. */
  warning?: boolean;
  evidence: string;
  /** Addresses that the check itself sent traffic to, to see it refused (they show in the blocked log). */
  probed?: string[];
}

/** What `hdc status --json` prints; `ok` is true only when every check passed. */
export interface StatusReport {
  workspaceFolder: string;
  configFile: string;
  runtime: Settings['runtime'];
  container: null | {
    id: string;
    name: string;
    status: string;
    running: boolean;
    remoteUser: string;
    remoteWorkspaceFolder: string;
    /** When the engine last started it (a restart is a new start). */
    startedAt?: string;
  };
  checks: Check[];
  ok: boolean;
}

/** The workspace as the checks need it; the presets are expanded once, for the workspace and its sidecar. */
interface StatusWorkspace {
  workspaceFolder: string;
  file: string;
  config: DevcontainerConfigRecord;
  presets: () => Promise<PresetHosts[]>;
}

/**
 * The packet filter (default-deny policies, the blocked probe) and the filtering resolver
 * (it answers on its control socket, an allowed name resolves and connects through it, a
 * query for a name outside the allowlist sent straight to the upstream stays in the netns,
 * and nothing without privilege may bind a port below 1024), read live in the netns.
 */
async function firewallChecks(engine: EngineClient, found: Pick<WorkspaceContainer, 'container'>, settings: Settings, stateRoot: string, ws: StatusWorkspace, options: RunOptions, role: FirewallRole = 'workspace', verified?: AgentResult): Promise<[Check, Check]> {
  if (!settings.firewall.enabled) {
    const off = 'turned off (hardenedDevcontainers.firewall.enabled = false)';
    return [{ name: 'firewall', ok: false, evidence: off }, { name: 'dns', ok: false, evidence: off }];
  }
  try {
    const stateDir = await workspaceStateDir(stateRoot, ws.workspaceFolder);
    const presets = await ws.presets();
    const policy = policyFromSettings(settings.firewall, presets);
    const targets = verifyTargets(settings.firewall, policy);
    const backend = liveFirewall(engine, ws, path.join(stateDir, 'firewall'), settings.firewall.guardImage, found.container.name);
    // The agent's own verification in this start's up (the editor's check right after it), or a dry run now.
    const r = verified ?? await backend.agent(found.container.id, { policy, verify: targets, dryRun: true }, options, undefined, role);
    const { blocked, allowed, leak } = r.verify;
    const policiesOk = verified ? true : r.policies?.v4 === 'DROP' && r.policies.v6 === 'DROP';
    const ok = policiesOk && (blocked?.ok ?? false);
    const rules = verified ? 'rules loaded before the first process and verified by the up that started it, moments ago' : `OUTPUT policy IPv4 ${r.policies?.v4}, IPv6 ${r.policies?.v6}`;
    const firewall: Check = { name: 'firewall', ok, probed: blocked?.address ? [blocked.address] : [], evidence: `${rules}; upstream resolvers ${[...r.dns.v4, ...r.dns.v6].join(', ') || 'none'}; blocked probe ${blocked?.target}: ${blocked?.detail}` };
    // docker: the rules read back are the guard's; a workspace left in the namespace of the
    // guard's earlier run is not behind them (it has no network at all).
    if (engine.runtime === 'docker' && role === 'workspace') {
      const [wsItem, guardItem] = await Promise.all([run(engine.containerInspect(found.container.id), options), run(engine.containerInspect(guardNameFor(found.container.name)), options)]);
      if (cutOffFromGuard(wsItem, guardItem)) {
        firewall.ok = false;
        firewall.evidence = `the workspace is cut off from its firewall guard's network namespace (the guard restarted after it), so it has no network at all: run hdc up, which restarts it in the guard's namespace; ${firewall.evidence}`;
      }
    }
    const allowedOk = !allowed || allowed.ok || (!targets?.allowedExplicit && allowed.unresolved !== undefined);
    const portsOk = (r.portStart ?? 0) >= UNPRIVILEGED_PORT_START;
    const dnsOk = !!r.resolver && (leak?.ok ?? false) && allowedOk && portsOk;
    const dns: Check = {
      name: 'dns', ok: dnsOk,
      evidence: r.resolver
        ? `filtering resolver pid ${r.resolver.pid} (${r.resolver.rules.allowed} allowed, ${r.resolver.rules.denied} denied entries; presets ${presetCounts(presets) || 'none'}; ${r.resolver.stats.queries} queries, ${r.resolver.stats.refused} refused); `
          + `${allowed ? `allowed ${allowed.target}: ${allowed.detail}; ` : ''}leak probe ${leak?.target}: ${leak?.detail}; ip_unprivileged_port_start ${r.portStart ?? 'unreadable'}`
        : `${r.resolverError ?? 'the filtering resolver does not answer'}: nothing resolves (no fallback to the upstream)`,
    };
    return [firewall, dns];
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    return [{ name: 'firewall', ok: false, evidence: why }, { name: 'dns', ok: false, evidence: why }];
  }
}

/** The kernel's account of a container's first process: /proc/1/status, read through the engine. */
async function firstProcess(engine: EngineClient, id: string, options: RunOptions): Promise<{ hex?: string; has: (cap: RefusedCap) => boolean; status?: ReturnType<typeof parseProcStatus>; error: string }> {
  const r = await run(engine.exec(id, ['cat', '/proc/1/status']), options);
  const status = parseProcStatus(r.stdout);
  const bnd = status?.capBnd ?? 0n;
  return { hex: status?.capBnd.toString(16), status, has: (cap) => ((bnd >> BigInt(CAP_BITS[cap])) & 1n) === 1n, error: r.stderr.trim() };
}

/** No refused capability in the bounding set, a seccomp filter, no-new-privileges if set. */
async function capabilityCheck(found: WorkspaceContainer, settings: Settings, options: RunOptions): Promise<Check> {
  const { status, error } = await firstProcess(found.engine, found.container.id, options);
  if (!status) return { name: 'capabilities', ok: false, evidence: `cannot read /proc/1/status: ${error}` };
  const problems = procProblems(status, settings.noNewPrivileges);
  return { name: 'capabilities', ok: problems.length === 0, evidence: problems.length ? problems.join('; ')
    : `none of the ${REFUSED_CAPS.length} refused capabilities in the bounding set (CapBnd ${status.capBnd.toString(16)}); seccomp filter on${settings.noNewPrivileges ? '; no-new-privileges' : ''}` };
}

function readOnlyCheck(container: ContainerItem, remoteWorkspaceFolder: string): Check {
  const protectedNames = ['.devcontainer', '.devcontainer.json', '.vscode', path.posix.join('.git', 'hooks')];
  const mounts = container.mounts.filter((m) => protectedNames.some((n) => m.destination.endsWith(`/${n}`)));
  const writable = mounts.filter((m) => m.rw);
  const ok = mounts.length > 0 && writable.length === 0;
  return { name: 'read-only config', ok, evidence: mounts.length === 0 ? `no read-only config mount over ${remoteWorkspaceFolder}` : mounts.map((m) => `${m.destination} ${m.rw ? 'WRITABLE' : 'read-only'}`).join('; ') };
}

function limitsCheck(container: ContainerItem, settings: Settings, enforceable: boolean): Check {
  if (!enforceable) return { name: 'limits', ok: true, warning: true, evidence: LIMITS_NOT_ENFORCED };
  const want = settings.limits;
  const seen = container.limits;
  const problems: string[] = [];
  if (want.pids > 0 && seen.pids !== want.pids) problems.push(`pids ${seen.pids} (want ${want.pids})`);
  if (want.cpus && seen.nanoCpus !== Math.round(Number(want.cpus) * 1e9)) problems.push(`cpus ${seen.nanoCpus / 1e9} (want ${want.cpus})`);
  if (want.memory && seen.memory === 0) problems.push(`memory unlimited (want ${want.memory})`);
  if (settings.noNewPrivileges && !container.securityOpt.some((o) => o.startsWith('no-new-privileges'))) problems.push('no-new-privileges missing');
  const evidence = `pids-limit ${seen.pids || 'none'}, cpus ${seen.nanoCpus ? seen.nanoCpus / 1e9 : 'unlimited'}, memory ${seen.memory ? `${seen.memory} bytes` : 'unlimited'}`;
  return { name: 'limits', ok: problems.length === 0, evidence: problems.length ? `${problems.join('; ')} — ${evidence}` : evidence };
}

/**
 * The sidecar: running, its own firewall loaded (policies and a blocked probe, in its own
 * netns), no network capability in reach (unless privileged, a warning), its socket answering.
 */
async function sidecarCheck(engine: EngineClient, found: WorkspaceContainer, settings: Settings, stateRoot: string, ws: Parameters<typeof firewallChecks>[4], options: RunOptions): Promise<Check> {
  const names = sidecarNames(found.container.name, settings.podmanSidecar);
  const item = await run(engine.containerInspect(names.container), options);
  if (!item?.running) return { name: 'sidecar', ok: false, evidence: `${names.container} is ${item ? item.status : 'missing'} (run hdc up)` };
  const [[fw, dns], caps, answers] = await Promise.all([
    firewallChecks(engine, { container: item }, settings, stateRoot, ws, options, 'sidecar'),
    firstProcess(engine, item.id, options),
    accepts(socketOnHost(item.pid)),
  ]);
  const netCaps = (['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'] as const).filter(caps.has);
  const privileged = settings.podmanSidecar.privileged;
  const ok = ((fw.ok && dns.ok) || !settings.firewall.enabled) && answers && (netCaps.length === 0 || privileged);
  return {
    name: 'sidecar', ok, warning: privileged || !settings.firewall.enabled,
    evidence: `${names.container}: firewall ${fw.ok ? 'loaded' : 'NOT loaded'} (${fw.evidence}); dns ${dns.ok ? 'filtered' : 'NOT filtered'} (${dns.evidence}); `
      + `${netCaps.length ? `${netCaps.join(', ')} in reach${privileged ? ' (privileged = true)' : ''}` : 'no NET_ADMIN or NET_RAW'}; `
      + `socket ${answers ? 'answers' : 'does NOT answer'} (${SIDECAR_SOCKET})`,
  };
}

async function findContainer(workspaceFolder: string, settings: Settings, log: LogFn, deps: OpsDeps) {
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineOf(settings, deps);
  const options: RunOptions = { log, runner: deps.runner };
  const found = await getWorkspaceContainer(engine, ws.workspaceFolder, ws.file, options);
  const report: StatusReport = {
    workspaceFolder: ws.workspaceFolder, configFile: ws.file, runtime: settings.runtime,
    container: found ? {
      id: found.container.id, name: found.container.name, status: found.container.status, running: found.container.running,
      remoteUser: found.remoteUser, remoteWorkspaceFolder: found.remoteWorkspaceFolder, startedAt: found.container.startedAt,
    } : null,
    checks: [],
    ok: false,
  };
  return { ws, engine, options, found, report };
}

/**
 * The cheap half of `status`: the folder's container and its state, no check run (two
 * engine calls). The editor polls this, and runs the full `status` only when it changes.
 */
export async function containerState(workspaceFolder: string, settings: Settings, log: LogFn, deps: OpsDeps = {}): Promise<StatusReport> {
  return (await findContainer(workspaceFolder, settings, log, deps)).report;
}

/**
 * What an `up` that just ended verified on this container's start, for the check right
 * after it (the editor's): its sudo verification stands for the sudo check (which otherwise
 * waits out `su`'s ~2 s PAM failure delay), and its firewall agent's verification for a
 * second agent run. Only for that same container; every later check (the editor's polls,
 * `hdc status`) runs everything again.
 */
export interface JustVerified {
  containerId: string;
  sudo?: SudoCheck;
  /** The firewall agent's verification in that up (blocked, leak and allowed probes, the resolver's status). */
  firewall?: AgentResult;
}

/** `hdc status`: every guarantee checked on the running container, with its evidence. */
export async function status(workspaceFolder: string, settings: Settings, stateRoot: string, log: LogFn, deps: OpsDeps = {}, just?: JustVerified): Promise<StatusReport> {
  const { ws, engine, options, found, report } = await findContainer(workspaceFolder, settings, log, deps);
  if (!found?.container.running) return report;
  const sudo = async (): Promise<Check> => {
    if (!settings.revokeSudo) return { name: 'sudo', ok: false, evidence: 'not revoked (hardenedDevcontainers.revokeSudo = false)' };
    if (just?.sudo?.ok && just.containerId === found.container.id) {
      return { name: 'sudo', ok: true, evidence: `${just.sudo.evidence} (verified by the up that started it, moments ago)` };
    }
    const c = await checkSudoRevoked(engine, found.container.id, found.remoteUser, options);
    return { name: 'sudo', ok: c.ok, evidence: c.evidence };
  };
  const rootless = async (): Promise<Check> => {
    const p = await preflight(engine, options).catch((e: Error) => e);
    if (p instanceof Error) return { name: 'rootless engine', ok: false, evidence: p.message };
    // Rootful is a warning, as in preflight: the workspace's own guarantees still hold, but an
    // escape from the container would land as root on the host.
    const rootless = p.info?.rootless ?? false;
    return { name: 'rootless engine', ok: true, warning: !rootless, evidence: `${settings.runtime} ${p.info?.version} ${rootless ? 'rootless' : 'runs as root: a container escape would be root on the host'}` };
  };
  let expanded: Promise<PresetHosts[]> | undefined;
  const checked: StatusWorkspace = {
    workspaceFolder: ws.workspaceFolder, file: ws.file, config: ws.config,
    presets: () => (expanded ??= workspaceStateDir(stateRoot, ws.workspaceFolder).then((stateDir) => resolvePresets(settings.firewall, {
      workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config, options, apt: 'read', engine: async () => engine, stateDir,
    })).then((r) => r.presets)),
  };
  // Every check at once (the firewall agent's start is the longest); the report keeps its order.
  const [[firewall, dns], ...rest] = await Promise.all([
    firewallChecks(engine, found, settings, stateRoot, checked, options, 'workspace', just?.containerId === found.container.id ? just.firewall : undefined),
    capabilityCheck(found, settings, options),
    sudo(),
    Promise.resolve(readOnlyCheck(found.container, found.remoteWorkspaceFolder)),
    Promise.resolve(limitsCheck(found.container, settings, limitsEnforceable(settings.runtime, settings.runtime === 'podman' && process.getuid?.() !== 0))),
    rootless(),
    ...(settings.podmanSidecar.enabled ? [sidecarCheck(engine, found, settings, stateRoot, checked, options)] : []),
  ]) as [[Check, Check], ...Check[]];
  report.checks = [firewall, dns, ...rest];
  report.ok = report.checks.every((c) => c.ok);
  return report;
}
