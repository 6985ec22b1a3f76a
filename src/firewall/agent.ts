/**
 * The firewall agent: runs *inside the workspace's network namespace* (entered from outside
 * with `podman unshare nsenter -t PID -n`), never inside the workspace's own processes.
 * Reads a request as JSON on stdin, then:
 *   1. resolves every allowlisted name through the pinned resolvers, all at once;
 *   2. loads the allowlist and the resolvers into the sets with one `ipset restore`;
 *   3. verifies: the allowed target answers, the blocked target is refused.
 * Prints an AgentResult as JSON on stdout. Exit 0 even when verification fails: the caller
 * decides; exit 1 only when it could not run at all.
 */
import { Resolver } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { connect, isIP } from 'node:net';
// The agent is a process of its own, in the workspace's netns: it runs the host's ipset and
// iptables (argv arrays, never a shell) with Node's own child_process, without execa, whose
// 250 KB the agent's every start would load (hdc's runner is in another process).
// eslint-disable-next-line no-restricted-imports
import { execFile } from 'node:child_process';
import { allowSet, ipsetPayload, parseSetMembers, SETS, type AllowSet, type FirewallPolicy } from './policy';

export interface AgentRequest {
  policy: FirewallPolicy;
  verify?: { allowed?: Target; blocked?: Target; allowedExplicit?: boolean };
  /** Only resolve and report; do not touch the sets (used by `status`). */
  dryRun?: boolean;
}

export interface Target {
  host: string;
  port: number;
}

export interface ProbeResult {
  target: string;
  /** The address actually probed (after resolving a name or "gateway"). */
  address?: string;
  ok: boolean;
  skipped?: boolean;
  detail: string;
  ms: number;
}

export interface AgentResult {
  /** The resolvers the start-time hook pinned, read back from the netns. */
  dns: AllowSet;
  resolved: AllowSet;
  unresolved: { name: string; error: string }[];
  loaded: { v4: number; v6: number };
  verify: { allowed?: ProbeResult; blocked?: ProbeResult };
  ms: { resolve: number; load: number; verify: number };
  /** The default policy of OUTPUT for IPv4 and IPv6, as loaded now (dry runs only). */
  policies?: { v4: string; v6: string };
}

const ms = (t0: number): number => Math.round(performance.now() - t0);

/**
 * At most this many names in flight: a burst of hundreds of UDP queries at once loses some
 * at the resolver, and c-ares then waits out a whole timeout before it retries (~2 s).
 */
const MAX_IN_FLIGHT = 32;

async function resolveAll(names: string[], dns: AllowSet, withAaaa: boolean): Promise<{ resolved: AllowSet; unresolved: AgentResult['unresolved'] }> {
  const servers = [...dns.v4, ...dns.v6];
  const resolver = new Resolver({ timeout: 1500, tries: 2 });
  if (servers.length > 0) resolver.setServers(servers);
  const v4: string[] = [];
  const v6: string[] = [];
  const unresolved: AgentResult['unresolved'] = [];
  const one = async (name: string): Promise<void> => {
    // AAAA only when IPv6 is open (an IPv6 CIDR is configured); otherwise it is discarded.
    const [a, aaaa] = await Promise.allSettled([resolver.resolve4(name), withAaaa ? resolver.resolve6(name) : Promise.reject(new Error('skipped'))]);
    if (a.status === 'fulfilled') v4.push(...a.value);
    if (aaaa.status === 'fulfilled') v6.push(...aaaa.value);
    if (a.status === 'rejected' && aaaa.status === 'rejected') {
      unresolved.push({ name, error: (a.reason as NodeJS.ErrnoException).code ?? String(a.reason) });
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) await one(names[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, names.length) }, worker));
  return { resolved: { v4, v6 }, unresolved };
}

/** One TCP connection attempt: did it connect, or how was it refused? */
function tryConnect(host: string, port: number, timeoutMs: number): Promise<{ connected: boolean; code: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (connected: boolean, code: string): void => {
      socket.destroy();
      resolve({ connected, code, ms: ms(t0) });
    };
    socket.once('connect', () => done(true, 'connected'));
    socket.once('timeout', () => done(false, 'ETIMEDOUT'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
  });
}

/** The IPv4 default gateway of the netns we run in (/proc/net/route follows the netns). */
export function defaultGateway(route: string): string | undefined {
  for (const line of route.split('\n').slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination === '00000000' && gateway && gateway !== '00000000') {
      const n = parseInt(gateway, 16);
      return [0, 8, 16, 24].map((s) => (n >>> s) & 255).join('.');
    }
  }
  return undefined;
}

async function probe(target: Target, resolver: Resolver, expectOpen: boolean): Promise<ProbeResult> {
  let host = target.host;
  const label = `${target.host}:${target.port}`;
  if (host === 'gateway') {
    const gw = defaultGateway(await readFile('/proc/net/route', 'utf8').catch(() => ''));
    if (!gw) return { target: label, ok: true, skipped: true, detail: 'no default route in the namespace: nothing off the link to probe', ms: 0 };
    host = gw;
  } else if (!isIP(host)) {
    try {
      [host] = await resolver.resolve4(host);
    } catch (e) {
      return { target: label, ok: !expectOpen, detail: `does not resolve (${(e as NodeJS.ErrnoException).code})`, ms: 0 };
    }
  }
  const r = await tryConnect(host, target.port, expectOpen ? 3000 : 1500);
  if (expectOpen) return { target: label, address: host, ok: r.connected, detail: r.connected ? `answered (${host})` : `did not answer: ${r.code}`, ms: r.ms };
  // Blocked traffic must be refused at once by our REJECT rules, not merely time out.
  const refused = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EPERM'].includes(r.code);
  return { target: label, address: host, ok: refused, detail: r.connected ? `CONNECTED to ${host}: the firewall is open` : refused ? `refused (${r.code})` : `not refused: ${r.code}`, ms: r.ms };
}

/**
 * Resolvers come from the sets the hook filled from podman's own resolv.conf (or the guard
 * from dns.txt), never from the workspace. One `ipset save` answers both questions: did the
 * start-time mechanism run (all four sets exist), and which resolvers did it pin?
 */
/** Runs a tool: its output, and its exit code (non-zero is not thrown). */
function tool(command: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ stdout, stderr, code });
    });
    // A tool that exits before reading its stdin (ipset save) closes the pipe: its exit code
    // tells what happened, not an EPIPE on our side.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** Runs a tool that must succeed. */
async function mustRun(command: string, args: string[], input?: string): Promise<string> {
  const r = await tool(command, args, input);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function pinnedResolvers(): Promise<AllowSet> {
  const save = await mustRun('ipset', ['save']);
  const created = new Set(save.split('\n').filter((l) => l.startsWith('create ')).map((l) => l.split(/\s+/)[1]));
  const missing = Object.values(SETS).filter((set) => !created.has(set));
  if (missing.length > 0) {
    throw new Error(`the start-time firewall hook did not run in this container (no ${missing.join(', ')} set). `
      + 'podman did not use the hardened-devcontainers hooks dir: another containers.conf.d drop-in or CONTAINERS_CONF may override hooks_dir');
  }
  return { v4: parseSetMembers(save, SETS.dns4), v6: parseSetMembers(save, SETS.dns6) };
}

async function outputPolicies(): Promise<{ v4: string; v6: string }> {
  const policy = async (command: string): Promise<string> => {
    const r = await tool(command, ['-S', 'OUTPUT']);
    return /^-P OUTPUT (\S+)/m.exec(r.stdout)?.[1] ?? `unreadable (${r.stderr.trim()})`;
  };
  const [v4, v6] = await Promise.all([policy('iptables'), policy('ip6tables')]);
  return { v4, v6 };
}

export async function runAgent(req: AgentRequest): Promise<AgentResult> {
  let t0 = performance.now();
  const dns = await pinnedResolvers();
  // A dry run (hdc status) checks what is loaded and probes; it resolves nothing.
  const { resolved, unresolved } = req.dryRun ? { resolved: { v4: [], v6: [] }, unresolved: [] } : await resolveAll(req.policy.domains, dns, req.policy.cidrs6.length > 0);
  const tResolve = ms(t0);
  const set = allowSet(req.policy, resolved);
  t0 = performance.now();
  if (!req.dryRun) {
    await mustRun('ipset', ['restore'], ipsetPayload(set, { resetDns: false }));
  }
  const tLoad = ms(t0);
  t0 = performance.now();
  const resolver = new Resolver({ timeout: 1500, tries: 2 });
  const servers = [...dns.v4, ...dns.v6];
  if (servers.length > 0) resolver.setServers(servers);
  const [allowed, blocked] = await Promise.all([
    req.verify?.allowed ? probe(req.verify.allowed, resolver, true) : undefined,
    req.verify?.blocked ? probe(req.verify.blocked, resolver, false) : undefined,
  ]);
  const policies = req.dryRun ? await outputPolicies() : undefined;
  return {
    dns,
    policies,
    resolved: { v4: [...new Set(resolved.v4)].sort(), v6: [...new Set(resolved.v6)].sort() },
    unresolved, loaded: { v4: set.v4.length, v6: set.v6.length },
    verify: { allowed, blocked }, ms: { resolve: tResolve, load: tLoad, verify: ms(t0) },
  };
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  const result = await runAgent(JSON.parse(input) as AgentRequest);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// Run only as the bundled entry point (dist/firewall-agent.cjs), not when imported by tests.
if (process.argv[1]?.endsWith('firewall-agent.cjs')) {
  main().catch((e: unknown) => {
    process.stderr.write(`firewall agent: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
