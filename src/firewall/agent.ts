/**
 * The firewall agent: runs *inside the workspace's network namespace* (entered from outside
 * with `podman unshare nsenter -t PID -n`), never inside the workspace's own processes.
 * Reads a request as JSON on stdin, then:
 *   1. loads the CIDRs into the sets with one `ipset restore`, and has the filtering
 *      resolver (resolver.ts) re-read policy.json: names are decided there, per query;
 *   2. verifies: the allowed target resolves (through the resolver) and answers, the blocked
 *      target is refused, a query for a name outside the allowlist sent straight to the
 *      upstream resolver is answered by the filtering resolver instead, and no process
 *      without privilege may bind a port below 1024 (which DNS upstream must come from).
 * Prints an AgentResult as JSON on stdout. Exit 0 even when verification fails: the caller
 * decides; exit 1 only when it could not run at all.
 */
import { LEAK_PROBE_PREFIX } from './probes';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { readFile, readlink } from 'node:fs/promises';
import { connect, isIP } from 'node:net';
import * as path from 'node:path';
// The agent is a process of its own, in the workspace's netns: it runs the host's ipset and
// iptables (argv arrays, never a shell) with Node's own child_process, without execa, whose
// 250 KB the agent's every start would load (hdc's runner is in another process).
// eslint-disable-next-line no-restricted-imports
import { execFile } from 'node:child_process';
import { allowSet, ipsetPayload, parseSetMembers, type AllowSet, type FirewallPolicy } from './policy';
import { defaultGateway } from './route';
import { SETS } from './sets';
import { controlRequest } from './control';
import type { ResolverOp } from '../base/protocol';
import type { BlockedEntry, ResolverStatus } from './resolver';

export interface AgentRequest {
  policy: FirewallPolicy;
  verify?: { allowed?: Target; blocked?: Target; allowedExplicit?: boolean };
  /** Only check and report; do not touch the sets (used by `status`). */
  dryRun?: boolean;
  /** Only read the resolver's blocked log (`hdc blocked`). */
  blockedOnly?: boolean;
  /**
   * The OCI hook loaded these sets, and the resolver read this policy, at the start this
   * `up` saw: nothing to load again, only to verify.
   */
  loadedAtStart?: boolean;
  /** The filtering resolver's control socket: relative to dir, or absolute (set by the backend). */
  resolver: { dir: string; socket: string };
  /** A name to resolve as the workspace would, after the load (`hdc allow NAME`: what it answers now). */
  lookup?: string;
}

/** A name resolved through the filtering resolver: its A and AAAA answers, or why there is none. */
export interface LookupResult {
  name: string;
  addresses: string[];
  /** Neither A nor AAAA answered: the resolver's code (ENOTFOUND for NXDOMAIN, ENODATA, ETIMEOUT, …). */
  error?: string;
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
  /** The name did not resolve: the resolver's error code. */
  unresolved?: string;
  detail: string;
  ms: number;
}

export interface AgentResult {
  /** The upstream resolvers the start-time hook pinned, read back from the netns. */
  dns: AllowSet;
  /** Names that did not resolve (the default allowed target's, when it did not). */
  unresolved: { name: string; error: string }[];
  loaded: { v4: number; v6: number };
  verify: { allowed?: ProbeResult; blocked?: ProbeResult; leak?: ProbeResult };
  /** The filtering resolver's own account (undefined: it did not answer; `resolverError` says why). */
  resolver?: ResolverStatus;
  resolverError?: string;
  /** ip_unprivileged_port_start in the netns: must be ≥ 1024. */
  portStart?: number;
  blocked?: BlockedEntry[];
  lookup?: LookupResult;
  ms: { load: number; verify: number };
  /** The default policy of OUTPUT for IPv4 and IPv6, as loaded now (dry runs only). */
  policies?: { v4: string; v6: string };
  /** Who ran the checks: the filtering resolver in its own process (`verify`), else the agent. */
  verifiedBy?: 'resolver';
}

const ms = (t0: number): number => Math.round(performance.now() - t0);

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

async function lookupName(name: string, resolver: Resolver): Promise<LookupResult> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  if (addresses.length) return { name, addresses };
  const codes = [v4, v6].map((r) => (r.status === 'rejected' ? (r.reason as NodeJS.ErrnoException).code ?? 'ERROR' : 'ENODATA'));
  return { name, addresses, error: codes.find((c) => c !== 'ENODATA') ?? 'ENODATA' };
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
      const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
      return { target: label, ok: !expectOpen, unresolved: code, detail: `does not resolve (${code})`, ms: 0 };
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

/** One request to the filtering resolver's control socket. */
export function askResolver<T>(where: AgentRequest['resolver'], op: ResolverOp): Promise<T> {
  // From inside the firewall directory: its path may be longer than a socket's may (107
  // bytes). The agent is a process of its own; nothing else in it uses the working directory.
  if (!path.isAbsolute(where.socket)) process.chdir(where.dir);
  return controlRequest<T>(where.socket, { op }, 5000);
}

/**
 * The leak probe: a query for a random name that no rule can allow (under .invalid, which
 * the Public Suffix rule keeps out of every wildcard), sent straight to the first upstream
 * resolver as a workspace process would. It passes when the filtering resolver answered it
 * (NXDOMAIN, and the name is in its blocked log): the query never left the netns.
 */
async function leakProbe(dns: AllowSet, where: AgentRequest['resolver']): Promise<ProbeResult> {
  const upstream = dns.v4[0] ?? dns.v6[0];
  const t0 = performance.now();
  const name = `${LEAK_PROBE_PREFIX}${randomBytes(6).toString('hex')}.invalid`;
  if (!upstream) return { target: name, ok: false, detail: 'no upstream resolver was pinned', ms: 0 };
  const direct = new Resolver({ timeout: 1500, tries: 1 });
  direct.setServers([upstream]);
  const code = await direct.resolve4(name).then(() => 'ANSWERED', (e: NodeJS.ErrnoException) => e.code ?? String(e));
  const log = await askResolver<{ blocked: BlockedEntry[] }>(where, 'blocked').then((r) => r.blocked, () => []);
  const seen = log.some((e) => e.kind === 'name' && e.value === name);
  const ok = code === 'ENOTFOUND' && seen;
  return { target: `${name} via ${upstream}`, address: upstream, ok, ms: ms(t0),
    detail: ok ? 'answered NXDOMAIN by the filtering resolver; nothing left the netns'
      : `${code === 'ANSWERED' ? 'RESOLVED' : code}${seen ? '' : ', and the filtering resolver never saw it: the query went elsewhere'}` };
}

export async function runAgent(req: AgentRequest): Promise<AgentResult> {
  if (req.blockedOnly) {
    const { blocked } = await askResolver<{ blocked: BlockedEntry[] }>(req.resolver, 'blocked');
    return { dns: { v4: [], v6: [] }, unresolved: [], loaded: { v4: 0, v6: 0 }, verify: {}, blocked, ms: { load: 0, verify: 0 } };
  }
  let t0 = performance.now();
  const dns = await pinnedResolvers();
  const set = allowSet(req.policy);
  let resolverError: string | undefined;
  if (!req.dryRun && !req.loadedAtStart) {
    await mustRun('ipset', ['restore'], ipsetPayload(set, { resetDns: false }));
    await askResolver(req.resolver, 'reload').catch((e: Error) => { resolverError = e.message; });
  }
  const tLoad = ms(t0);
  t0 = performance.now();
  // Names resolve as the workspace's do: through the filtering resolver on the loopback.
  const resolver = new Resolver({ timeout: 1500, tries: 2 });
  resolver.setServers(['127.0.0.1']);
  const [allowed, blocked, leak, status, portStart, lookup] = await Promise.all([
    req.verify?.allowed ? probe(req.verify.allowed, resolver, true) : undefined,
    req.verify?.blocked ? probe(req.verify.blocked, resolver, false) : undefined,
    leakProbe(dns, req.resolver),
    askResolver<{ status: ResolverStatus }>(req.resolver, 'status').then((r) => r.status, (e: Error) => { resolverError ??= e.message; return undefined; }),
    readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').then((t) => Number(t.trim()), () => undefined),
    req.lookup ? lookupName(req.lookup, resolver) : undefined,
  ]);
  // The resolver that answers the control socket must serve this namespace: a resolver of
  // another start (the socket path is per firewall directory) does not answer its queries.
  const ownNetns = await readlink('/proc/self/ns/net').catch(() => undefined);
  if (status?.netns && ownNetns && status.netns !== ownNetns) {
    resolverError ??= `the filtering resolver on the control socket (pid ${status.pid}) serves ${status.netns}, not the workspace's ${ownNetns}`;
  }
  const unresolved = allowed?.unresolved ? [{ name: req.verify?.allowed?.host ?? '', error: allowed.unresolved }] : [];
  const policies = req.dryRun ? await outputPolicies() : undefined;
  return {
    dns, policies, unresolved, loaded: { v4: set.v4.length, v6: set.v6.length },
    resolver: status, resolverError, portStart, lookup,
    verify: { allowed, blocked, leak }, ms: { load: tLoad, verify: ms(t0) },
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
