/**
 * The filtering resolver: one per workspace (and per sidecar), in its network namespace but
 * outside its processes (podman: started by the OCI hook with nsenter -n, in the host's
 * process namespace; docker: a child of the guard's entrypoint). Every DNS packet of the
 * workspace reaches it (the nat rules redirect port 53 to it), and it is the only thing that
 * may talk to the upstream resolvers: it sends from ports below 1024, which nothing in the
 * workspace can bind (ip_unprivileged_port_start is 1024 in the netns, and no workspace
 * process holds NET_BIND_SERVICE over it), and the filter rules let DNS out from those only.
 *
 * A query for a name that the allowlist does not match gets NXDOMAIN from here, and nothing
 * leaves the netns. An allowed one is forwarded; the addresses in the answer enter the
 * hdc-dyn4/hdc-dyn6 sets with the record's TTL (clamped, see TTL) before the answer is
 * released, so the client's first connect never races the set.
 *
 * It keeps the blocked log (refused names here, refused addresses from the xt_recent lists
 * that the filter's last rules fill), and answers `status`, `reload` and `blocked` on a unix
 * socket in a directory the workspace cannot reach. The protocol: base/protocol.ts.
 */
// The resolver is a process of its own: Node's child_process for ipset (argv arrays, no
// shell), like the agent, without execa.
// eslint-disable-next-line no-restricted-imports
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import { readFileSync, readlinkSync } from 'node:fs';
import { readFile, readlink, unlink } from 'node:fs/promises';
import { BlockList, createServer, isIPv4, isIPv6, connect as tcpConnect, type Server, type Socket } from 'node:net';
import * as packet from 'dns-packet';
import { compileRules, nameAllowed, canonicalName, type NameRules } from './names';
import { runAgent, type AgentRequest, type AgentResult } from './agent';
import { startTime } from '../base/files';
import { VERIFY_OTHER_PID } from '../base/protocol';
import { routeGateways } from './route';
import { DYN_TIMEOUT_MAX, RECENT_LISTS, SETS } from './sets';

/** TTL of an admitted address, in seconds: the record's, within these bounds. */
export const TTL = { floor: 300, ceiling: DYN_TIMEOUT_MAX } as const;
/** The blocked log keeps at most this many names and this many addresses (oldest last-seen go first). */
export const BLOCKED_LOG_MAX = 1000;
/**
 * Bounds on what the workspace can make the resolver hold (it runs outside the workspace's
 * cgroup): queries in flight upstream, open TCP clients, names remembered per admitted
 * address, query types remembered per blocked name. Past them: SERVFAIL, or the oldest go.
 */
export const LIMITS = { pending: 2048, tcpClients: 64, namesPerAddress: 32, typesPerName: 8, admitted: 20_000 } as const;

export interface ResolverOptions {
  /** The firewall directory: policy.json is read from here at start and on reload. */
  dir: string;
  /** The control socket, relative to dir unless absolute. */
  socket: string;
  upstream: string[];
  listen: string[];
  port: number;
  upstreamPort: number;
  /** Exit when this process (the workspace's first, in our process namespace) is gone. */
  watchPid?: number;
  /** Load answers into the sets (false in unit tests, which run without a netns). */
  sets: boolean;
  /** How a change reaches the sets (`ipset restore`; a recorder in unit tests). */
  applySets?: (payload: string) => Promise<void>;
  /** Send upstream from ports below 1024 (false in unit tests, as a normal user). */
  privilegedSource: boolean;
  /**
   * The agent's checks, run in this process for `verify` (runAgent; a recorder in unit
   * tests): right after the hook started this resolver, hdc asks for them instead of
   * starting the agent, a Node process, in the netns (~0.1 s of CPU). Unset: no `verify`.
   */
  verifier?: (request: AgentRequest) => Promise<AgentResult>;
  /** How long `verify` waits for a route to the upstream (slirp4netns sets it up after the hook). */
  routeWaitMs?: number;
}

/** What hdc sends with `verify`: the policy (for the counts it reports) and the targets, nothing else is taken. */
export interface VerifyAsk { pid: number; policy: AgentRequest['policy']; verify?: AgentRequest['verify'] }

export interface BlockedEntry {
  kind: 'name' | 'address';
  /** The name (refused by the resolver) or the address (refused by the packet filter). */
  value: string;
  /** Query types seen for a name. */
  types?: string[];
  first: string;
  last: string;
  count: number;
}

export interface ResolverStatus {
  pid: number;
  generation: number;
  upstream: string[];
  rules: { allowed: number; denied: number; ipv6: boolean };
  stats: { queries: number; refused: number; forwarded: number; failed: number; admitted: number };
  /** The network namespace it serves ("net:[inode]"): the agent checks that it is the workspace's. */
  netns?: string;
}

interface PolicyFile {
  policy: { domains: string[]; denied?: string[]; cidrs6: string[] };
}

/** The two rule sets and whether IPv6 is open, from the firewall directory's policy.json. */
export function loadPolicy(text: string): { allow: NameRules; deny: NameRules; ipv6: boolean; counts: { allowed: number; denied: number } } {
  const { policy } = JSON.parse(text) as PolicyFile;
  const denied = policy.denied ?? [];
  return { allow: compileRules(policy.domains), deny: compileRules(denied), ipv6: policy.cidrs6.length > 0, counts: { allowed: policy.domains.length, denied: denied.length } };
}

/**
 * Addresses that no DNS answer may open, whatever name it is for: loopback, link-local (the
 * cloud metadata service among them), unspecified, multicast and broadcast, and the
 * namespace's default gateway (for rootless podman, slirp4netns's alias of the host's own
 * loopback; on a bridge, the host). A name whose owner points it there (DNS rebinding) gets
 * its answer, and the connect is refused like any other. CIDRs can still open them.
 */
export function specialAddresses(gateways: string[] = []): BlockList {
  const b = new BlockList();
  for (const [net, prefix] of [['0.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4], ['255.255.255.255', 32]] as const) b.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of [['::', 128], ['::1', 128], ['fe80::', 10], ['ff00::', 8]] as const) b.addSubnet(net, prefix, 'ipv6');
  for (const g of gateways) if (isIPv4(g)) b.addAddress(g, 'ipv4'); else if (isIPv6(g)) b.addAddress(g, 'ipv6');
  return b;
}

export const clampTtl = (ttl: number): number => Math.min(TTL.ceiling, Math.max(TTL.floor, Math.floor(ttl)));

/** The NXDOMAIN answer to a refused query: its header and question, nothing else. */
export function refusal(query: packet.Packet): Buffer {
  const rd = (query.flags ?? 0) & packet.RECURSION_DESIRED;
  return packet.encode({ type: 'response', id: query.id, flags: rd | packet.RECURSION_AVAILABLE | 3, questions: query.questions });
}

function servfail(query: packet.Packet): Buffer {
  const rd = (query.flags ?? 0) & packet.RECURSION_DESIRED;
  return packet.encode({ type: 'response', id: query.id, flags: rd | packet.RECURSION_AVAILABLE | 2, questions: query.questions });
}

/** The A and AAAA records of an answer (any owner name: a CNAME's target counts), with TTLs. */
export function answerAddresses(answer: packet.Packet): { v4: [string, number][]; v6: [string, number][] } {
  const v4: [string, number][] = [];
  const v6: [string, number][] = [];
  for (const a of answer.answers ?? []) {
    if (a.type === 'A' && typeof a.data === 'string' && isIPv4(a.data)) v4.push([a.data, a.ttl ?? 0]);
    if (a.type === 'AAAA' && typeof a.data === 'string' && isIPv6(a.data)) v6.push([a.data, a.ttl ?? 0]);
  }
  return { v4, v6 };
}

/** Runs ipset restore with `input`; rejects with ipset's own words. */
function ipsetRestore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Bounded: one change at a time (setChange), so a hung ipset would hold every later one.
    const child = execFile('ipset', ['restore', '-exist'], { timeout: 5000, killSignal: 'SIGKILL' },
      (error, _stdout, stderr) => (error ? reject(new Error(`ipset: ${String(stderr).trim() || error.message}`)) : resolve()));
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** The address entries of an xt_recent list: address → the jiffies of its last packets. */
export function parseRecent(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const m = /^src=(\S+) .*oldest_pkt: \d+ ([\d, ]+)$/.exec(line.trim());
    if (m) out.set(m[1], m[2].split(',').map((s) => Number(s.trim())).filter(Number.isFinite));
  }
  return out;
}

/** A bounded log of first/last/count per key; the least recently seen entries leave first. */
export class BlockedLog {
  private readonly entries = new Map<string, BlockedEntry>();
  constructor(private readonly max = BLOCKED_LOG_MAX) {}

  record(kind: BlockedEntry['kind'], value: string, count = 1, type?: string, now = new Date()): void {
    const key = `${kind} ${value}`;
    const stamp = now.toISOString();
    const e = this.entries.get(key) ?? { kind, value, first: stamp, last: stamp, count: 0, ...(kind === 'name' ? { types: [] } : {}) };
    e.last = stamp;
    e.count += count;
    if (type && e.types && !e.types.includes(type) && e.types.length < LIMITS.typesPerName) e.types.push(type);
    this.entries.delete(key); // re-insert: the Map's order is the least-recently-seen order
    this.entries.set(key, e);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  list(): BlockedEntry[] {
    return [...this.entries.values()].reverse();
  }
}

interface Admitted {
  until: number;
  names: Set<string>;
  adding?: Promise<void>;
}

interface Pending {
  resolve: (answer: Buffer) => void;
  timer: NodeJS.Timeout;
}

const randomPrivilegedPort = (): number => 600 + Math.floor(Math.random() * 424);

/** Binds a UDP socket, below 1024 when asked, retrying another port when one is taken. */
async function bindUpstreamSocket(family: 4 | 6, privileged: boolean): Promise<dgram.Socket> {
  for (let attempt = 0; ; attempt++) {
    const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: privileged ? randomPrivilegedPort() : 0, address: family === 4 ? '0.0.0.0' : '::' }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      return socket;
    } catch (e) {
      socket.close();
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 50) throw e;
    }
  }
}

export class FilteringResolver {
  private allow: NameRules = { exact: new Set(), under: [] };
  private deny: NameRules = { exact: new Set(), under: [] };
  private ipv6 = false;
  private counts = { allowed: 0, denied: 0 };
  private generation = 0;
  readonly stats = { queries: 0, refused: 0, forwarded: 0, failed: 0, admitted: 0 };
  readonly blocked = new BlockedLog();
  /** Address → until when the set holds it (ms), for which names, and the change that adds it while in flight. */
  private readonly admitted = new Map<string, Admitted>();
  private readonly pending = new Map<number, Pending>();
  private readonly upstreamSockets = new Map<4 | 6, dgram.Socket>();
  private readonly servers: (dgram.Socket | Server)[] = [];
  private control?: Server;
  private readonly recentSeen = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private special = specialAddresses();
  private tcpClients = 0;
  private setChanges: Promise<void> = Promise.resolve();
  /** Answers waiting for their addresses to enter the sets: they count against LIMITS.pending. */
  private admitting = 0;

  constructor(private readonly opts: ResolverOptions) {}

  async start(): Promise<void> {
    this.special = specialAddresses(routeGateways(await readFile('/proc/net/route', 'utf8').catch(() => '')));
    await this.reload();
    for (const family of new Set(this.opts.upstream.map((u) => (isIPv4(u) ? 4 : 6) as 4 | 6))) {
      const socket = await bindUpstreamSocket(family, this.opts.privilegedSource);
      socket.on('message', (msg, rinfo) => this.onUpstreamAnswer(msg, rinfo));
      this.upstreamSockets.set(family, socket);
    }
    for (const address of this.opts.listen) {
      const udp = dgram.createSocket(isIPv4(address) ? 'udp4' : 'udp6');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ port: this.opts.port, address }, () => resolve());
      });
      udp.on('message', (msg, rinfo) => {
        void this.answer(msg, false).then((reply) => reply && udp.send(reply, rinfo.port, rinfo.address));
      });
      this.servers.push(udp);
      const tcp = createServer((s) => this.serveTcp(s));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ port: this.opts.port, host: address }, () => resolve());
      });
      this.servers.push(tcp);
    }
    this.control = createServer((s) => this.serveControl(s));
    await unlink(this.opts.socket).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.control?.once('error', reject);
      this.control?.listen(this.opts.socket, () => resolve());
    });
    this.timers.push(setInterval(() => void this.pollRecent(), 1000));
    if (this.opts.watchPid) {
      const born = await startTime(this.opts.watchPid);
      this.timers.push(setInterval(() => {
        void startTime(this.opts.watchPid as number).then((t) => {
          if (t === '' || t !== born) {
            // Exit without closing the control server: Node would unlink its socket path,
            // which the resolver of the container's next start may already listen on.
            process.exit(0);
          }
        });
      }, 1000));
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.servers) s.close();
    for (const s of this.upstreamSockets.values()) s.close();
    this.control?.close();
  }

  async reload(): Promise<number> {
    const loaded = loadPolicy(await readFile(`${this.opts.dir}/policy.json`, 'utf8'));
    this.allow = loaded.allow;
    this.deny = loaded.deny;
    this.ipv6 = loaded.ipv6;
    this.counts = loaded.counts;
    // Addresses admitted only for names that are no longer allowed leave the sets now.
    const gone: string[] = [];
    for (const [address, entry] of this.admitted) {
      for (const n of entry.names) if (!nameAllowed(this.allow, this.deny, n)) entry.names.delete(n);
      if (entry.names.size === 0) gone.push(address);
    }
    // Forgotten before the set changes: an answer admitted meanwhile adds its address again,
    // after this removal (the set changes run in order, see setChange).
    for (const a of gone) this.admitted.delete(a);
    if (gone.length && this.opts.sets) {
      try {
        await this.setChange(gone.map((a) => `del ${isIPv4(a) ? SETS.dyn4 : SETS.dyn6} ${a}`).join('\n') + '\n');
      } catch (e) {
        // Not removed: remembered again, for no name, so that the next reload (hdc deny run
        // again) removes them, unless an answer admitted one meanwhile.
        for (const a of gone) if (!this.admitted.has(a)) this.admitted.set(a, { until: 0, names: new Set() });
        throw e;
      }
    }
    return ++this.generation;
  }

  /**
   * One change to the allow sets (an `ipset restore` payload), run after every change asked
   * for before it: an answer's add and a deny's removal of the same address land in the
   * order they were decided, never the other way round.
   */
  private setChange(payload: string): Promise<void> {
    const change = this.setChanges.then(() => (this.opts.applySets ?? ipsetRestore)(payload));
    this.setChanges = change.catch(() => undefined);
    return change;
  }

  private readonly netns = ((): string | undefined => {
    try {
      return readlinkSync('/proc/self/ns/net');
    } catch {
      return undefined;
    }
  })();

  status(): ResolverStatus {
    return { pid: process.pid, generation: this.generation, upstream: this.opts.upstream, rules: { ...this.counts, ipv6: this.ipv6 }, stats: { ...this.stats }, netns: this.netns };
  }

  /** The reply to one query (undefined: drop it). */
  async answer(msg: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return undefined;
    }
    if (query.type !== 'query') return undefined;
    this.stats.queries++;
    const q = query.questions?.[0];
    // A standard query (opcode 0) for one IN name made of host-name labels; anything else is
    // refused (an UPDATE or NOTIFY, a label with a dot or a byte outside letters, digits, "-"
    // and "_", which a rule could never mean).
    const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
    const plain = !!q && query.questions?.length === 1 && opcode === 0 && (!q.class || q.class === 'IN') && validQueryName(q.name);
    if (!q || !plain || !nameAllowed(this.allow, this.deny, q.name)) {
      this.stats.refused++;
      if (q) this.blocked.record('name', canonicalName(q.name).slice(0, 253), 1, String(q.type));
      return refusal(query);
    }
    // In flight: queries out to the upstream, and answers waiting for their addresses to
    // enter the sets (one change at a time, see setChange).
    if (this.pending.size + this.admitting >= LIMITS.pending) {
      this.stats.failed++;
      return servfail(query);
    }
    // Upstream gets the question only, rebuilt: nothing else of the client's bytes (extra
    // records, options, trailing data) leaves the netns.
    const rebuilt = packet.encode({ type: 'query', id: 0, flags: packet.RECURSION_DESIRED, questions: [{ type: q.type, name: q.name, class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as packet.Answer] });
    const answer = await this.forward(rebuilt, tcp);
    if (!answer) {
      this.stats.failed++;
      return servfail(query);
    }
    // The policy may have changed while the query was out (hdc deny): decide again.
    if (!nameAllowed(this.allow, this.deny, q.name)) {
      this.stats.refused++;
      return refusal(query);
    }
    // An answer to this question, or none: a late reply under a reused id is not it.
    if (!answersQuestion(answer, q)) {
      this.stats.failed++;
      return servfail(query);
    }
    this.stats.forwarded++;
    this.admitting++;
    try {
      await this.admit(canonicalName(q.name), packet.decode(answer));
    } catch (e) {
      // The addresses could not enter the sets: the answer is not released.
      process.stderr.write(`hdc resolver: ${(e as Error).message}\n`);
      this.stats.failed++;
      return servfail(query);
    } finally {
      this.admitting--;
    }
    // A deny that came while the addresses were entering: its removal runs after them, and
    // this answer is not released.
    if (!nameAllowed(this.allow, this.deny, q.name)) {
      this.stats.refused++;
      return refusal(query);
    }
    answer.writeUInt16BE(query.id ?? 0, 0);
    return answer;
  }

  /** Puts an answer's addresses into the sets (only those new or about to expire). */
  private async admit(name: string, answer: packet.Packet): Promise<void> {
    const { v4, v6 } = answerAddresses(answer);
    const now = Date.now();
    const lines: string[] = [];
    const mine: Admitted[] = [];
    // Adds of these addresses that another answer asked for and that have not landed yet:
    // this answer is not released before them either.
    const others = new Set<Promise<void>>();
    for (const [list, set] of [[v4, SETS.dyn4], [v6, this.ipv6 ? SETS.dyn6 : undefined]] as const) {
      if (!set) continue;
      for (const [address, ttl] of list) {
        if (this.special.check(address, isIPv4(address) ? 'ipv4' : 'ipv6')) continue;
        const seconds = clampTtl(ttl);
        const entry = this.admitted.get(address) ?? { until: 0, names: new Set<string>() };
        if (entry.names.size < LIMITS.namesPerAddress) entry.names.add(name);
        if (!this.admitted.has(address) && this.admitted.size >= LIMITS.admitted) this.forgetExpired(now);
        // Renewed when less than half of the new lifetime is left.
        if (entry.until - now < (seconds * 1000) / 2) {
          lines.push(`add ${set} ${address} timeout ${seconds}`);
          entry.until = now + seconds * 1000;
          mine.push(entry);
        } else if (entry.adding) {
          others.add(entry.adding);
        }
        this.admitted.set(address, entry);
      }
    }
    if (lines.length > 0 && this.opts.sets) {
      const change = this.setChange(`${lines.join('\n')}\n`);
      for (const entry of mine) entry.adding = change;
      try {
        await change;
      } catch (e) {
        // Not in the set: the next answer for these addresses adds them again.
        for (const entry of mine) entry.until = 0;
        throw e;
      } finally {
        for (const entry of mine) if (entry.adding === change) entry.adding = undefined;
      }
    }
    // Another answer's add that failed fails this one too (its catch reset the entry).
    await Promise.all(others);
    this.stats.admitted += lines.length;
  }

  /** Drops what has expired from the admitted map (the sets drop it themselves). */
  private forgetExpired(now: number): void {
    for (const [address, entry] of this.admitted) if (entry.until < now) this.admitted.delete(address);
  }

  /** Forwards a query to the upstream resolvers in turn; undefined when none answered. */
  private async forward(msg: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    for (const server of this.opts.upstream) {
      for (let attempt = 0; attempt < 2; attempt++) {
        let reply = await this.viaUdp(msg, server);
        // Truncated over UDP: a TCP client gets the whole answer over TCP; a UDP client gets
        // the truncated one and asks again over TCP itself.
        if (tcp && reply && (reply.readUInt16BE(2) & 0x0200)) reply = (await this.viaTcp(msg, server)) ?? reply;
        if (reply) return reply;
      }
    }
    return undefined;
  }

  private viaUdp(msg: Buffer, server: string): Promise<Buffer | undefined> {
    const socket = this.upstreamSockets.get(isIPv4(server) ? 4 : 6);
    if (!socket) return Promise.resolve(undefined);
    if (this.pending.size >= LIMITS.pending) return Promise.resolve(undefined);
    let id = 0;
    do id = Math.floor(Math.random() * 65536); while (this.pending.has(id));
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, 1500);
      this.pending.set(id, { resolve: (a) => { clearTimeout(timer); resolve(a); }, timer });
      socket.send(out, this.opts.upstreamPort, server, (e) => {
        if (e) {
          clearTimeout(timer);
          this.pending.delete(id);
          resolve(undefined);
        }
      });
    });
  }

  private onUpstreamAnswer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || !(msg[2] & 0x80) || rinfo.port !== this.opts.upstreamPort || !this.opts.upstream.includes(rinfo.address)) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(msg);
  }

  private async viaTcp(msg: Buffer, server: string): Promise<Buffer | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        return await tcpExchange(msg, server, this.opts.upstreamPort, this.opts.privilegedSource ? randomPrivilegedPort() : undefined);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') return undefined;
      }
    }
    return undefined;
  }

  private serveTcp(socket: Socket): void {
    if (this.tcpClients >= LIMITS.tcpClients) {
      socket.destroy();
      return;
    }
    this.tcpClients++;
    socket.once('close', () => { this.tcpClients--; });
    let buffered = Buffer.alloc(0);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        void this.answer(Buffer.from(msg), true).then((reply) => {
          if (!reply || socket.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length, 0);
          socket.write(Buffer.concat([len, reply]));
        });
      }
      if (buffered.length > 70_000) socket.destroy();
    });
  }

  private serveControl(socket: Socket): void {
    let text = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      text += String(chunk);
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const line = text.slice(0, nl);
      void this.control_(line).then(
        (reply) => socket.end(`${JSON.stringify({ ok: true, ...reply })}\n`),
        (e: unknown) => socket.end(`${JSON.stringify({ ok: false, error: (e as Error).message, code: (e as NodeJS.ErrnoException).code })}\n`),
      );
    });
  }

  private async control_(line: string): Promise<Record<string, unknown>> {
    const { op, ...rest } = JSON.parse(line) as { op: string } & Partial<VerifyAsk>;
    if (op === 'status') return { status: this.status() };
    if (op === 'verify') return { result: await this.verify(rest) };
    if (op === 'reload') return { generation: await this.reload() };
    if (op === 'blocked') {
      await this.pollRecent();
      return { blocked: this.blocked.list() };
    }
    throw new Error(`unknown operation ${JSON.stringify(op)}`);
  }

  /**
   * The agent's checks, in this process, for the container whose first process hdc names:
   * only when this resolver watches that process and serves its network namespace. The
   * request is built here: only checks (the hook loaded the sets at this start), against
   * this resolver, with hdc's policy and targets; no other field of the ask is read.
   */
  private async verify(ask: Partial<VerifyAsk>): Promise<AgentResult> {
    const { verifier, watchPid } = this.opts;
    if (!verifier) throw new Error('this resolver does not verify');
    // Another start's resolver (it leaves within a second of its container): hdc asks again.
    if (!ask.pid || ask.pid !== watchPid) throw Object.assign(new Error(`this resolver watches pid ${watchPid ?? 'none'}, not ${ask.pid}`), { code: VERIFY_OTHER_PID });
    const theirs = await readlink(`/proc/${ask.pid}/ns/net`).catch(() => undefined);
    if (!theirs || theirs !== this.netns) throw new Error(`pid ${ask.pid} is in ${theirs ?? 'no readable'} network namespace, this resolver in ${this.netns}`);
    if (!ask.policy || !Array.isArray(ask.policy.cidrs4) || !Array.isArray(ask.policy.cidrs6)) throw new Error('verify needs the policy');
    await routeToUpstream(this.opts.upstream, this.opts.upstreamPort, this.opts.routeWaitMs ?? 3000);
    const { allowed, blocked, allowedExplicit } = ask.verify ?? {};
    return verifier({ policy: ask.policy, verify: { allowed, blocked, allowedExplicit }, loadedAtStart: true, resolver: { dir: this.opts.dir, socket: this.opts.socket } });
  }

  /** Moves new hits of the packet filter's xt_recent lists into the blocked log. */
  private async pollRecent(): Promise<void> {
    for (const list of Object.values(RECENT_LISTS)) {
      const text = await readFile(`/proc/net/xt_recent/${list}`, 'utf8').catch(() => '');
      for (const [address, stamps] of parseRecent(text)) {
        const seen = this.recentSeen.get(address) ?? -1;
        const fresh = stamps.filter((s) => s > seen);
        if (fresh.length === 0) continue;
        this.recentSeen.set(address, Math.max(...stamps));
        this.blocked.record('address', address, fresh.length);
      }
    }
  }
}

/**
 * Waits (up to `ms`) until this netns has a route to every upstream: right after the hook,
 * rootless podman's network (slirp4netns) may not have set up the namespace's route yet, and
 * a query sent then fails at once (ENETUNREACH, which c-ares reports as a refusal). A UDP
 * connect only looks the route up; nothing is sent. Past the wait the checks run anyway,
 * and fail if there is still no route.
 */
export async function routeToUpstream(upstream: string[], port: number, ms: number): Promise<void> {
  const routed = (address: string): Promise<boolean> => new Promise((resolve) => {
    const s = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      s.close();
      resolve(ok);
    };
    s.once('error', () => done(false));
    // The callback gets the connect's error (ENETUNREACH without a route).
    s.connect(port, address, (e?: Error) => done(!e));
  });
  const until = Date.now() + ms;
  let waiting = [...upstream];
  while (waiting.length) {
    const ok = await Promise.all(waiting.map(routed));
    waiting = waiting.filter((_, i) => !ok[i]);
    if (!waiting.length || Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One DNS exchange over TCP (length-prefixed), from `localPort` when given. */
export function tcpExchange(msg: Buffer, host: string, port: number, localPort?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port, localPort, timeout: 3000 });
    let buffered = Buffer.alloc(0);
    const fail = (e: Error): void => {
      socket.destroy();
      reject(e);
    };
    socket.once('error', fail);
    socket.once('timeout', () => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length, 0);
      socket.write(Buffer.concat([len, msg]));
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        socket.end();
        resolve(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      }
    });
  });
}

/** Labels of letters, digits, "-" and "_" (dns-packet reads a dot inside a label as a separator). */
export function validQueryName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => /^[A-Za-z0-9_-]{1,63}$/.test(l));
}

/** Whether an upstream answer is a response to this question (name case-insensitive, and type). */
export function answersQuestion(answer: Buffer, q: packet.Question): boolean {
  try {
    const a = packet.decode(answer);
    const aq = a.questions?.[0];
    return a.type === 'response' && a.questions?.length === 1 && !!aq && canonicalName(aq.name) === canonicalName(q.name) && aq.type === q.type;
  } catch {
    return false;
  }
}

/** `--key value` arguments (the hook and the guard pass them; no shell in between). */
export function parseArgs(argv: string[]): ResolverOptions {
  const get = (key: string): string | undefined => {
    const i = argv.indexOf(`--${key}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = get('dir');
  const socket = get('socket');
  if (!dir || !socket) throw new Error('usage: firewall-resolver.cjs --dir DIR --socket PATH [--upstream A,B] [--watch-pid PID]');
  // Not a loopback address: docker's embedded DNS (127.0.0.11) forwards from the netns,
  // from ports that the rules refuse; the guard records the servers behind it too.
  // The engine's or the user's servers; never loopback (docker's embedded DNS, or the
  // resolver itself) or unspecified. Link-local stays: pasta forwards DNS on 169.254.1.1.
  const notUpstream = new BlockList();
  notUpstream.addSubnet('127.0.0.0', 8, 'ipv4');
  notUpstream.addSubnet('0.0.0.0', 8, 'ipv4');
  notUpstream.addAddress('::1', 'ipv6');
  notUpstream.addAddress('::', 'ipv6');
  const upstream = (get('upstream') ?? '').split(',').filter((u) => (isIPv4(u) || isIPv6(u)) && !notUpstream.check(u, isIPv4(u) ? 'ipv4' : 'ipv6'));
  const watch = Number(get('watch-pid'));
  return {
    dir, socket, upstream,
    listen: (get('listen') ?? '127.0.0.1,::1').split(',').filter(Boolean),
    port: Number(get('port') ?? 53),
    upstreamPort: Number(get('upstream-port') ?? 53),
    watchPid: Number.isSafeInteger(watch) && watch > 0 ? watch : undefined,
    sets: get('sets') !== 'off',
    privilegedSource: get('privileged-source') !== 'off',
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // ::1 is absent when the namespace has IPv6 turned off: listen where we can, but 127.0.0.1 must work.
  const hasV6 = (() => {
    try {
      return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
    } catch {
      return false;
    }
  })();
  options.listen = options.listen.filter((a) => isIPv4(a) || hasV6);
  // The socket is named relative to the firewall directory: a socket path must fit 107
  // bytes, the directory's may not.
  process.chdir(options.dir);
  options.verifier = runAgent;
  const resolver = new FilteringResolver(options);
  await resolver.start();
  // As above: no close, so the socket path (perhaps a newer resolver's) stays.
  process.on('SIGTERM', () => process.exit(0));
  // Ready: the one line the starter waits for. Nothing else goes to stdout.
  process.stdout.write(`ready ${process.pid}\n`);
}

if (process.argv[1]?.endsWith('firewall-resolver.cjs')) {
  main().catch((e: unknown) => {
    process.stderr.write(`hdc resolver: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
