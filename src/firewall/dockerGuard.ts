import { readFile, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { engineTimeNs, IMAGE_REFERENCE, type ContainerItem, type EngineClient } from '../base/engine';
import { LABELS } from '../base/labels';
import { writeIfChanged } from '../base/files';
import { HdcError, InputError } from '../base/errors';
import { firewallAgentPath, guardScriptSourcePath } from '../base/paths';
import { run, type CliCall, type RunOptions } from '../base/runner';
import type { AgentRequest, AgentResult } from './agent';
import { ensureEgressImage } from './egressImage';
import { parseNameservers, type AllowSet } from './policy';
import { UNPRIVILEGED_PORT_START } from './sets';

/**
 * The egress firewall's start-time mechanism on docker, which has no OCI hooks: a guard
 * container owns the workspace's network namespace and loads the rules in its entrypoint
 * (guard.sh) before it reports ready; the workspace joins with `--network container:GUARD`
 * and holds no network capability. Docker refuses to start a container whose namespace
 * owner is not running, so a guard that failed to load the rules keeps the workspace down.
 */

const READY = 'hdc-guard-ready';
const MOUNT = '/hdc-firewall';

/** runArgs that configure a network namespace: with a guard they belong to the guard. */
const NETWORK_FLAGS = new Set(['--network', '--net', '--dns', '--dns-search', '--dns-option', '--dns-opt', '--add-host',
  '--ip', '--ip6', '--mac-address', '--hostname', '-h', '--publish', '-p', '--expose', '--network-alias', '--link']);

/** Splits the user's runArgs into the guard's (network) and the workspace's (the rest). Pure. */
export function splitNetworkArgs(runArgs: string[] = []): { guard: string[]; workspace: string[] } {
  const guard: string[] = [];
  const workspace: string[] = [];
  for (let i = 0; i < runArgs.length; i++) {
    const arg = runArgs[i];
    const flag = arg.startsWith('--') ? arg.split('=')[0] : arg.slice(0, 2);
    if (!NETWORK_FLAGS.has(flag)) {
      workspace.push(arg);
    } else if (arg === flag) {
      guard.push(arg, runArgs[++i] ?? '');
    } else {
      guard.push(arg); // --flag=value or -pVALUE
    }
  }
  return { guard, workspace };
}

export interface GuardSpec {
  name: string;
  image: string;
  firewallDir: string;
  workspaceFolder: string;
  networkArgs: string[];
}

/** The guard's `docker run -d` arguments: our script as entrypoint, NET_ADMIN and nothing else it does not need. */
export async function guardRunArgs(spec: GuardSpec): Promise<string[]> {
  return [
    '--name', spec.name, '--label', `${LABELS.guardFor}=${spec.workspaceFolder}`,
    // iptables-restore needs NET_RAW as well as NET_ADMIN; the guard runs only our script and
    // the filtering resolver, which alone may bind a port below 1024 (it sends DNS upstream
    // from one; the workspace, without NET_BIND_SERVICE, cannot).
    '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--cap-add', 'DAC_READ_SEARCH', '--cap-add', 'NET_BIND_SERVICE',
    // Root of its own container, whatever the image's USER says (an image that ends with
    // `USER node` would run the guard as node: it could not read its script, nor load rules).
    '--user', '0:0',
    '--sysctl', `net.ipv4.ip_unprivileged_port_start=${UNPRIVILEGED_PORT_START}`,
    '--security-opt', 'no-new-privileges',
    '-v', `${spec.firewallDir}:${MOUNT}:ro`,
    // The agent: the host's own Node and our bundle, read-only, for `docker exec`.
    '-v', `${await realpath(process.execPath)}:/hdc/node:ro`,
    '-v', `${path.dirname(firewallAgentPath())}:/hdc/dist:ro`,
    ...spec.networkArgs,
    '--entrypoint', '/bin/sh', spec.image, `${MOUNT}/guard.sh`,
  ];
}

async function waitReady(engine: EngineClient, name: string, options: RunOptions): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const logs = await run(engine.logs(name), options);
    if (logs.includes(READY)) return;
    const item = await run(engine.containerInspect(name), options);
    if (!item?.running || Date.now() > deadline) {
      throw new HdcError(`The firewall guard ${name} did not load the rules, so the workspace cannot start: ${logs.trim().split('\n').pop() || (item?.running ? 'timed out' : `it exited (${item?.status})`)}`,
        { fix: 'the guard image needs sh, iptables and ipset (set hardenedDevcontainers.firewall.guardImage); see `docker logs ' + name + '`' });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Makes sure the guard runs with the rules loaded. Returns whether this call created it.
 * Before its first start hdc records the upstream resolvers (dns.txt), which the guard pins
 * and its filtering resolver forwards to on every start: the `--dns` servers hdc gives it
 * (hardenedDevcontainers.firewall.dnsServers), else the host's own resolvers, which docker's embedded DNS (on a
 * user-defined network) and a default-bridge container's resolv.conf both come from.
 */
export async function ensureGuard(engine: EngineClient, spec: GuardSpec, options: RunOptions): Promise<{ created: boolean }> {
  await writeIfChanged(path.join(spec.firewallDir, 'guard.sh'), await readFile(guardScriptSourcePath(), 'utf8'), 0o755);
  let existing = await run(engine.containerInspect(spec.name), options);
  // Only this workspace's guard, running the image asked for now (an older hdc's guard ran
  // the workspace's image): a container that merely has the name is not used, nor stopped.
  if (existing && existing.labels[LABELS.guardFor] !== spec.workspaceFolder) {
    throw new InputError(`A container named ${spec.name} exists and is not this workspace's firewall guard, so the workspace cannot join it.`,
      `remove or rename that container (docker rm ${spec.name}), or give the workspace another name`);
  }
  if (existing && existing.image.replace(/^sha256:/, '') !== spec.image.replace(/^sha256:/, '') && /^sha256:/.test(spec.image)) {
    await run(engine.removeContainer(existing.id), options);
    existing = undefined;
  }
  if (existing?.running) return { created: false };
  if (existing) {
    await run(engine.startContainer(spec.name), options);
    await waitReady(engine, spec.name, options);
    return { created: false };
  }
  // As docker does on a host with systemd-resolved: its upstream file, not the 127.0.0.53 stub.
  let dns = guardUpstream(spec.networkArgs, await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  if (dns.v4.length + dns.v6.length === 0) dns = guardUpstream(spec.networkArgs, await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => ''));
  if (dns.v4.length + dns.v6.length === 0) {
    throw new HdcError('No upstream DNS server for the docker firewall guard: the host\'s /etc/resolv.conf names none that is not a loopback address, and hardenedDevcontainers.firewall.dnsServers is empty.',
      { fix: 'set hardenedDevcontainers.firewall.dnsServers, or fix the host\'s resolv.conf' });
  }
  await writeIfChanged(path.join(spec.firewallDir, 'dns.txt'), [...dns.v4, ...dns.v6].map((a) => `nameserver ${a}\n`).join(''), 0o644);
  const runArgs = await guardRunArgs(spec);
  try {
    await run(engine.runDetached(runArgs), options);
    await waitReady(engine, spec.name, options);
  } catch (e) {
    // Not with the signal that may have ended the start: a cancelled up still removes its guard.
    await run(engine.removeContainer(spec.name), { log: options.log, runner: options.runner }).catch(() => undefined);
    throw e;
  }
  return { created: true };
}

/** The `--dns` values of runArgs, else the host's resolvers; never a loopback address. Pure. */
export function guardUpstream(networkArgs: string[], hostResolvConf: string): AllowSet {
  const given: string[] = [];
  networkArgs.forEach((arg, i) => {
    if (arg === '--dns') given.push(networkArgs[i + 1] ?? '');
    else if (arg.startsWith('--dns=')) given.push(arg.slice('--dns='.length));
  });
  const found = parseNameservers(given.length ? given.map((d) => `nameserver ${d}`).join('\n') : hostResolvConf);
  const notLoopback = (ip: string): boolean => !ip.startsWith('127.') && ip !== '::1';
  return { v4: found.v4.filter(notLoopback), v6: found.v6.filter(notLoopback) };
}

/** The agent inside the guard (same netns as the workspace), with the guard's NET_ADMIN. */
export function dockerAgentCall(engine: EngineClient, guard: string, request: AgentRequest): CliCall<AgentResult> {
  return engine.execWithInput(guard, ['/hdc/node', '/hdc/dist/firewall-agent.cjs'], JSON.stringify(request),
    (r) => JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as AgentResult, { env: { ELECTRON_RUN_AS_NODE: '1' } });
}

/**
 * Whether a running workspace is cut off from its guard: it joined the namespace of the
 * guard's earlier run, and a guard restarted since (by hand, or by the engine) has a new one.
 * The old namespace lost its interface with the old guard, so the workspace has no network
 * at all (nothing leaks), but nothing in it works either. Read from the engine's start times.
 */
export function cutOffFromGuard(workspace: Pick<ContainerItem, 'running' | 'startedAt'> | undefined, guard: Pick<ContainerItem, 'running' | 'startedAt'> | undefined): boolean {
  if (!workspace?.running || !guard?.running) return false;
  const [w, g] = [engineTimeNs(workspace.startedAt), engineTimeNs(guard.startedAt)];
  return w !== undefined && g !== undefined && g > w;
}

/** The workspace joins the guard's namespace (capabilities: hardening.ts). */
export function guardWorkspaceArgs(guard: string): string[] {
  return ['--network', `container:${guard}`];
}

/** The guard image the setting names, checked; undefined: hdc's egress image. */
export function guardImage(setting: string): string | undefined {
  if (setting && !IMAGE_REFERENCE.test(setting)) {
    throw new InputError(`hardenedDevcontainers.firewall.guardImage ${JSON.stringify(setting)} is not an image reference.`, 'use a name such as "team/firewall-guard:1"');
  }
  return setting || undefined;
}

/**
 * The image id the guard runs (an id, not a name that can be moved): the setting's image as
 * the engine has it now, else hdc's egress image, built on first use (`dir` records its id).
 */
export async function guardImageId(engine: EngineClient, setting: string, dir: string, options: RunOptions, progress?: (what: string) => void): Promise<string> {
  const named = guardImage(setting);
  if (!named) return (await ensureEgressImage(engine, dir, options, progress)).id;
  // Not there: docker run pulls it by the name, as before.
  return (await run(engine.imageInspect(named), options))?.id ?? named;
}

/**
 * The workspace container that `up` stops because it is cut off from its guard: only this
 * workspace's (its labels) and joined to this guard, never a container that merely has the name.
 */
export function isGuardedWorkspace(ws: Pick<ContainerItem, 'labels' | 'privilege'>, labels: Record<string, string>, guard: Pick<ContainerItem, 'id' | 'name'>): boolean {
  const mode = ws.privilege.networkMode;
  return Object.entries(labels).every(([k, v]) => ws.labels[k] === v) && (mode === `container:${guard.name}` || mode === `container:${guard.id}`);
}

export async function removeGuards(engine: EngineClient, workspaceFolder: string, options: RunOptions): Promise<string[]> {
  const ids = await run(engine.findContainers({ [LABELS.guardFor]: workspaceFolder }), options);
  for (const id of ids) await run(engine.removeContainer(id), options);
  return ids;
}
