import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as packet from 'dns-packet';
import { spawnSync } from 'node:child_process';
import { answerAddresses, BlockedLog, clampTtl, FilteringResolver, LIMITS, parseArgs, parseRecent, refusal, routeToUpstream, tcpExchange, TTL } from '../../src/firewall/resolver';
import type { AgentRequest, AgentResult } from '../../src/firewall/agent';
import { verifyThroughResolver } from '../../src/firewall/podmanHook';
import { resolverSocket } from '../../src/base/protocol';
import { compileRules, matches, nameAllowed } from '../../src/firewall/names';

/**
 * The filtering resolver, run for real on the loopback against a fake upstream resolver
 * (a dgram server answering from a table, recording every query it receives). No netns and
 * no ipset here: the integration suites run it in the workspace's namespace.
 */

/** dns-packet's types lack the decoded rcode. */
type Reply = packet.DecodedPacket & { rcode: string };
const decode = (b: Buffer): Reply => packet.decode(b) as Reply;

interface Upstream {
  port: number;
  queries: { name: string; type: string }[];
  close(): void;
}

async function fakeUpstream(table: Record<string, string>): Promise<Upstream> {
  const socket = dgram.createSocket('udp4');
  const queries: Upstream['queries'] = [];
  socket.on('message', (msg, rinfo) => {
    const q = packet.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    queries.push({ name: question.name, type: String(question.type) });
    const address = table[question.name.toLowerCase()];
    const reply = packet.encode({
      type: 'response', id: q.id, flags: packet.RECURSION_AVAILABLE | (address ? 0 : 3), questions: q.questions,
      answers: address && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 30, data: address }] : [],
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { port: socket.address().port, queries, close: () => socket.close() };
}

function ask(port: number, name: string, type: 'A' | 'AAAA' | 'TXT' = 'A'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 65535);
    const timer = setTimeout(() => { s.close(); reject(new Error('no answer')); }, 5000);
    s.on('message', (msg) => { clearTimeout(timer); s.close(); resolve(decode(msg)); });
    s.send(packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] }), port, '127.0.0.1');
  });
}

function control(socket: string, op: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = connect({ path: socket });
    let text = '';
    c.on('connect', () => c.write(`${JSON.stringify({ op })}\n`));
    c.on('data', (d) => { text += String(d); });
    c.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    c.on('error', reject);
  });
}

describe('filtering resolver', () => {
  let dir: string;
  let upstream: Upstream;
  let resolver: FilteringResolver;
  const port = 20_000 + Math.floor(Math.random() * 6_000); // below the ephemeral range (32768-), which busy clients use
  const writePolicy = (domains: string[], denied: string[] = []): void =>
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({ policy: { domains, denied, cidrs4: [], cidrs6: [] } }));

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-'));
    writePolicy(['allowed.test', '*.wild.test'], ['no.wild.test']);
    upstream = await fakeUpstream({ 'allowed.test': '10.0.0.10', 'a.wild.test': '10.0.0.11', 'x.y.wild.test': '10.0.0.12', 'wild.test': '10.0.0.13', 'no.wild.test': '10.0.0.14' });
    resolver = new FilteringResolver({ dir, socket: path.join(dir, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port, upstreamPort: upstream.port, sets: false, privilegedSource: false });
    await resolver.start();
  });
  after(() => {
    resolver?.stop();
    upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => { upstream.queries.length = 0; });

  it('forwards an allowed name and returns the upstream\'s answer under the client\'s id', async () => {
    const a = await ask(port, 'allowed.test');
    assert.equal(a.rcode, 'NOERROR');
    assert.deepEqual(a.answers?.map((r) => (r as { data?: unknown }).data), ['10.0.0.10']);
    assert.deepEqual(upstream.queries, [{ name: 'allowed.test', type: 'A' }]);
  });

  it('answers NXDOMAIN for a name outside the allowlist, any type, and nothing reaches the upstream', async () => {
    for (const type of ['A', 'AAAA', 'TXT'] as const) {
      const a = await ask(port, 'secret-data.evil.test', type);
      assert.equal(a.rcode, 'NXDOMAIN', type);
      assert.equal(a.answers?.length, 0);
    }
    assert.deepEqual(upstream.queries, []);
    const entry = resolver.blocked.list().find((e) => e.value === 'secret-data.evil.test');
    assert.equal(entry?.count, 3);
    assert.deepEqual(entry?.types, ['A', 'AAAA', 'TXT']);
  });

  it('*.wild.test: subdomains at any depth, not the apex; a deny entry wins', async () => {
    assert.equal((await ask(port, 'a.wild.test')).rcode, 'NOERROR');
    assert.equal((await ask(port, 'X.Y.Wild.Test')).rcode, 'NOERROR', 'case-insensitive');
    assert.equal((await ask(port, 'wild.test')).rcode, 'NXDOMAIN');
    assert.equal((await ask(port, 'no.wild.test')).rcode, 'NXDOMAIN');
    assert.deepEqual(upstream.queries.map((q) => q.name.toLowerCase()), ['a.wild.test', 'x.y.wild.test']);
  });

  it('answers over TCP too, with the same decision', async () => {
    const q = (name: string): Buffer => packet.encode({ type: 'query', id: 7, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
    assert.equal(decode(await tcpExchange(q('allowed.test'), '127.0.0.1', port)).rcode, 'NOERROR');
    assert.equal(decode(await tcpExchange(q('blocked.test'), '127.0.0.1', port)).rcode, 'NXDOMAIN');
  });

  it('re-reads the policy on "reload" (hdc allow/deny), and reports status on its control socket', async () => {
    assert.equal((await ask(port, 'later.test')).rcode, 'NXDOMAIN');
    writePolicy(['allowed.test', '*.wild.test', 'later.test'], ['no.wild.test']);
    const r = await control(path.join(dir, 'ctl.sock'), 'reload');
    assert.equal(r.ok, true);
    assert.equal((await ask(port, 'later.test')).rcode, 'NXDOMAIN', 'the fake upstream has no record: its own NXDOMAIN');
    assert.deepEqual(upstream.queries.map((q) => q.name), ['later.test']);
    const st = (await control(path.join(dir, 'ctl.sock'), 'status')).status as { pid: number; rules: { allowed: number; denied: number } };
    assert.equal(st.pid, process.pid);
    assert.deepEqual(st.rules, { allowed: 3, denied: 1, ipv6: false });
    const bad = await control(path.join(dir, 'ctl.sock'), 'rm -rf');
    assert.equal(bad.ok, false);
  });

  it('changes the sets in the order it decided: an answer\'s add, then a deny\'s removal of the same address', async () => {
    const changes: string[] = [];
    let first = true;
    const applySets = async (payload: string): Promise<void> => {
      // The add is slow (a loaded machine): the removal, asked for meanwhile, must wait for it.
      if (first) { first = false; await new Promise((r) => setTimeout(r, 300)); }
      changes.push(payload.trim());
    };
    const own = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-order-'));
    const policy = (denied: string[]): void => writeFileSync(path.join(own, 'policy.json'), JSON.stringify({ policy: { domains: ['allowed.test'], denied, cidrs4: [], cidrs6: [] } }));
    policy([]);
    const ordered = new FilteringResolver({ dir: own, socket: path.join(own, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 2, upstreamPort: upstream.port, sets: true, applySets, privilegedSource: false });
    await ordered.start();
    try {
      const answered = ask(port + 2, 'allowed.test');
      for (let waited = 0; ordered.status().stats.forwarded === 0 && waited < 3000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      policy(['allowed.test']);
      await ordered.reload();
      assert.equal((await answered).rcode, 'NXDOMAIN', 'denied while its address entered the set: not released');
      assert.deepEqual(changes, ['add hdc-dyn4 10.0.0.10 timeout 300', 'del hdc-dyn4 10.0.0.10']);
      assert.equal((await ask(port + 2, 'allowed.test')).rcode, 'NXDOMAIN', 'denied from now on');
    } finally {
      ordered.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('an answer is released only once its addresses are in the set, also when another answer\'s add of them is in flight; a failed removal is tried again', async () => {
    const twins = await fakeUpstream({ 'one.test': '10.0.0.20', 'two.test': '10.0.0.20' });
    const landed: { payload: string; at: number }[] = [];
    let slowAdd = true;
    let failDel = true;
    const applySets = async (payload: string): Promise<void> => {
      if (payload.startsWith('add') && slowAdd) { slowAdd = false; await new Promise((r) => setTimeout(r, 300)); }
      if (payload.startsWith('del') && failDel) { failDel = false; throw new Error('ipset: fork failed'); }
      landed.push({ payload: payload.trim(), at: Date.now() });
    };
    const own = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-twins-'));
    const policy = (domains: string[]): void => writeFileSync(path.join(own, 'policy.json'), JSON.stringify({ policy: { domains, denied: [], cidrs4: [], cidrs6: [] } }));
    policy(['one.test', 'two.test']);
    const r = new FilteringResolver({ dir: own, socket: path.join(own, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 3, upstreamPort: twins.port, sets: true, applySets, privilegedSource: false });
    await r.start();
    try {
      const first = ask(port + 3, 'one.test');
      for (let waited = 0; r.status().stats.forwarded === 0 && waited < 3000; waited += 10) await new Promise((res) => setTimeout(res, 10));
      // The same address for another name, while the first add is still on its way.
      const second = await ask(port + 3, 'two.test');
      const releasedAt = Date.now();
      assert.equal(second.rcode, 'NOERROR');
      assert.equal((await first).rcode, 'NOERROR');
      assert.deepEqual(landed.map((l) => l.payload), ['add hdc-dyn4 10.0.0.20 timeout 300'], 'one add for both');
      assert.ok(landed[0].at <= releasedAt, 'the second answer waited for the first one\'s add');
      // Both names denied; the removal fails once: the next reload removes the address.
      policy([]);
      await assert.rejects(r.reload(), /fork failed/);
      await r.reload();
      assert.deepEqual(landed.map((l) => l.payload), ['add hdc-dyn4 10.0.0.20 timeout 300', 'del hdc-dyn4 10.0.0.20']);
    } finally {
      r.stop();
      twins.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('answers SERVFAIL when the addresses cannot enter the sets, and adds them again for the next answer', async () => {
    const changes: string[] = [];
    let fail = true;
    const applySets = async (payload: string): Promise<void> => {
      if (fail) { fail = false; throw new Error('ipset: cannot allocate memory'); }
      changes.push(payload.trim());
    };
    const own = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-addfail-'));
    writeFileSync(path.join(own, 'policy.json'), JSON.stringify({ policy: { domains: ['allowed.test'], denied: [], cidrs4: [], cidrs6: [] } }));
    const r = new FilteringResolver({ dir: own, socket: path.join(own, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 4, upstreamPort: upstream.port, sets: true, applySets, privilegedSource: false });
    await r.start();
    try {
      assert.equal((await ask(port + 4, 'allowed.test')).rcode, 'SERVFAIL', 'not released: its address is not in the set');
      assert.equal((await ask(port + 4, 'allowed.test')).rcode, 'NOERROR');
      assert.deepEqual(changes, ['add hdc-dyn4 10.0.0.10 timeout 300'], 'the next answer added it again');
    } finally {
      r.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('verify: runs the agent\'s checks in its own process, for the pid it watches only, from a request it builds itself (hdc\'s client, through the folder\'s descriptor)', async () => {
    const own = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-verify-'));
    writeFileSync(path.join(own, 'policy.json'), JSON.stringify({ policy: { domains: ['allowed.test'], denied: [], cidrs4: [], cidrs6: [] } }));
    const seen: AgentRequest[] = [];
    const fake = { dns: { v4: [], v6: [] }, unresolved: [], loaded: { v4: 1, v6: 0 }, verify: {}, ms: { load: 0, verify: 1 } } satisfies AgentResult;
    const verifier = async (request: AgentRequest): Promise<AgentResult> => { seen.push(request); return fake; };
    const policy = { domains: ['allowed.test'], cidrs4: ['10.9.9.9/32'], cidrs6: [] } as unknown as AgentRequest['policy'];
    const socket = resolverSocket('workspace');
    const r = new FilteringResolver({ dir: own, socket: path.join(own, socket), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 6, upstreamPort: upstream.port, sets: false, privilegedSource: false, watchPid: process.pid, verifier });
    await r.start();
    let stopped = false;
    try {
      // An ask with more in it (a load, a dry run, another socket) gets only checks, against this resolver.
      const ask = { pid: process.pid, policy, verify: { blocked: { host: '10.0.2.2', port: 9 } }, loadedAtStart: false, dryRun: true, resolver: { dir: '/elsewhere', socket: 'x.sock' } };
      assert.deepEqual(await verifyThroughResolver(own, 'workspace', ask), fake);
      assert.deepEqual(seen, [{ policy, verify: { allowed: undefined, blocked: { host: '10.0.2.2', port: 9 }, allowedExplicit: undefined }, loadedAtStart: true, resolver: { dir: own, socket: path.join(own, socket) } }]);
      // Another start's resolver: asked again until the start wait ends (then its refusal stands).
      const t1 = Date.now();
      await assert.rejects(verifyThroughResolver(own, 'workspace', { ...ask, pid: process.pid + 1 }, 5000, 300), /watches pid \d+, not \d+/);
      assert.ok(Date.now() - t1 >= 290, 'a resolver that watches another pid is asked again until the start wait ends');
      const t0 = Date.now();
      await assert.rejects(verifyThroughResolver(own, 'sidecar', ask, 5000, 300), /does not answer \(ENOENT\)/);
      assert.ok(Date.now() - t0 >= 290, 'a missing socket is tried again until the start wait ends');
      await assert.rejects(verifyThroughResolver(own, 'workspace', { ...ask, policy: undefined as unknown as AgentRequest['policy'] }), /verify needs the policy/);
      assert.equal(seen.length, 1, 'nothing ran for another pid or without the policy');
      // A resolver that starts after the ask (the hook does not wait for it during an up) is waited for.
      r.stop();
      stopped = true;
      const late = verifyThroughResolver(own, 'workspace', ask, 5000, 5000);
      await new Promise((res) => setTimeout(res, 200));
      const again = new FilteringResolver({ dir: own, socket: path.join(own, socket), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 7, upstreamPort: upstream.port, sets: false, privilegedSource: false, watchPid: process.pid, verifier });
      await again.start();
      try {
        assert.deepEqual(await late, fake);
      } finally {
        again.stop();
      }
    } finally {
      if (!stopped) r.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('verify waits (bounded) for a route to the upstream: none in a new network namespace, at once where there is one', async () => {
    const script = `import { routeToUpstream } from ${JSON.stringify(path.resolve('src/firewall/resolver.ts'))};
      const t = Date.now(); await routeToUpstream(['10.0.2.3'], 53, 400); const none = Date.now() - t;
      const u = Date.now(); await routeToUpstream(['127.0.0.1'], 53, 400); console.log(JSON.stringify({ none, loopback: Date.now() - u }));`;
    // A new netns (unshare -rn): no route at all, the loopback down too.
    const r = spawnSync('unshare', ['-rn', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const { none, loopback } = JSON.parse(r.stdout) as { none: number; loopback: number };
    assert.ok(none >= 390, `waited ${none} ms without a route`);
    assert.ok(loopback >= 390, `the loopback is down in a new netns too: waited ${loopback} ms`);
    // Here (the loopback is up): no wait.
    const t = Date.now();
    await routeToUpstream(['127.0.0.1'], 53, 5000);
    assert.ok(Date.now() - t < 390, `waited ${Date.now() - t} ms with a route`);
  });

  it('answers SERVFAIL when no upstream answers', async () => {
    const dead = new FilteringResolver({ dir, socket: path.join(dir, 'ctl2.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 1, upstreamPort: 9, sets: false, privilegedSource: false });
    await dead.start();
    try {
      assert.equal((await ask(port + 1, 'allowed.test')).rcode, 'SERVFAIL');
    } finally {
      dead.stop();
    }
  });
});

describe('filtering resolver: bounds on what the workspace can make it hold (LIMITS)', () => {
  let dir: string;
  let silent: dgram.Socket;
  let resolver: FilteringResolver;
  const port = 26_000 + Math.floor(Math.random() * 6_000); // apart from the other suite's, below the ephemeral range
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-limits-'));
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({ policy: { domains: ['*.allowed.test'], denied: [], cidrs4: [], cidrs6: [] } }));
    // An upstream that never answers: every allowed query stays in flight until it times out.
    silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    resolver = new FilteringResolver({ dir, socket: path.join(dir, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port, upstreamPort: silent.address().port, sets: false, privilegedSource: false });
    await resolver.start();
  });
  after(() => {
    resolver?.stop();
    silent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`answers SERVFAIL at once past ${LIMITS.pending} queries in flight upstream`, async () => {
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const replies: { id: number; rcode: string }[] = [];
    client.on('message', (msg) => { const d = decode(msg); replies.push({ id: d.id ?? -1, rcode: d.rcode }); });
    const send = (id: number): void => client.send(packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name: `n${id}.allowed.test` }] }), port, '127.0.0.1');
    try {
      // In batches (a burst overflows the socket's buffer), until the resolver has taken in
      // more than the bound, well within the 1.5 s an upstream query may take.
      let id = 0;
      const begun = Date.now();
      while (resolver.status().stats.queries <= LIMITS.pending && Date.now() - begun < 1000) {
        const missing = LIMITS.pending + 1 - resolver.status().stats.queries;
        for (let i = 0; i < Math.min(128, missing); i++) send(++id);
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(Date.now() - begun < 1400, 'no query in flight has timed out yet');
      const { queries, failed } = resolver.status().stats;
      assert.ok(queries > LIMITS.pending, `${queries} queries taken in`);
      // Those past the bound were answered at once, SERVFAIL; those within it still wait.
      assert.equal(failed, queries - LIMITS.pending);
      assert.equal(replies.length, queries - LIMITS.pending);
      assert.deepEqual([...new Set(replies.map((r) => r.rcode))], ['SERVFAIL']);
    } finally {
      client.close();
    }
  });

  it('counts answers waiting for the allow sets against the same bound', async () => {
    // An upstream that answers every name with one address, and sets that never take it.
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, rinfo) => {
      const q = packet.decode(msg);
      socket.send(packet.encode({ type: 'response', id: q.id, flags: packet.RECURSION_AVAILABLE, questions: q.questions,
        answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', ttl: 600, data: '10.0.0.30' }] }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    let release!: () => void;
    const stuck = new Promise<void>((r) => { release = r; });
    const own = mkdtempSync(path.join(tmpdir(), 'hdc-resolver-admitting-'));
    writeFileSync(path.join(own, 'policy.json'), JSON.stringify({ policy: { domains: ['*.allowed.test'], denied: [], cidrs4: [], cidrs6: [] } }));
    const r = new FilteringResolver({ dir: own, socket: path.join(own, 'ctl.sock'), upstream: ['127.0.0.1'], listen: ['127.0.0.1'], port: port + 5,
      upstreamPort: socket.address().port, sets: true, applySets: () => stuck, privilegedSource: false });
    await r.start();
    const client = dgram.createSocket('udp4');
    await new Promise<void>((res) => client.bind(0, '127.0.0.1', () => res()));
    const rcodes: string[] = [];
    client.on('message', (msg) => rcodes.push(decode(msg).rcode));
    try {
      let id = 0;
      const begun = Date.now();
      while (r.status().stats.forwarded < LIMITS.pending && Date.now() - begun < 5000) {
        const missing = LIMITS.pending - r.status().stats.forwarded;
        for (let i = 0; i < Math.min(128, missing); i++) {
          id++;
          client.send(packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name: `n${id}.allowed.test` }] }), port + 5, '127.0.0.1');
        }
        await new Promise((res) => setTimeout(res, 10));
      }
      assert.equal(r.status().stats.forwarded, LIMITS.pending, 'answers waiting for the sets, up to the bound');
      await new Promise((res) => setTimeout(res, 200)); // the last batch's queries past the bound are answered
      const before = rcodes.length;
      client.send(packet.encode({ type: 'query', id: 65_001, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name: 'one-more.allowed.test' }] }), port + 5, '127.0.0.1');
      for (let waited = 0; rcodes.length === before && waited < 1000; waited += 10) await new Promise((res) => setTimeout(res, 10));
      assert.deepEqual(rcodes.slice(before), ['SERVFAIL'], 'past the bound: SERVFAIL at once, the waiting answers still wait');
      assert.ok(rcodes.slice(0, before).every((c) => c === 'SERVFAIL'), 'no waiting answer was released before its addresses entered the sets');
    } finally {
      release();
      client.close();
      r.stop();
      socket.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it(`closes a TCP client past ${LIMITS.tcpClients} open ones`, async () => {
    const open = await Promise.all(Array.from({ length: LIMITS.tcpClients }, () => new Promise<import('node:net').Socket>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port }, () => resolve(c));
      c.on('error', reject);
    })));
    try {
      const extra = connect({ host: '127.0.0.1', port });
      const closed = await new Promise<boolean>((resolve) => {
        extra.on('close', () => resolve(true));
        extra.on('error', () => undefined);
        setTimeout(() => resolve(false), 2000);
      });
      assert.ok(closed, 'the client past the bound was closed');
      assert.ok(open.every((c) => !c.destroyed), 'the clients within the bound stay open');
    } finally {
      for (const c of open) c.destroy();
    }
  });

  it(`keeps at most ${LIMITS.typesPerName} query types per blocked name`, () => {
    const log = new BlockedLog(10);
    const types = ['A', 'AAAA', 'TXT', 'MX', 'NS', 'SRV', 'CAA', 'PTR', 'SOA', 'CNAME', 'HTTPS'];
    for (const t of types) log.record('name', 'many.types.test', 1, t);
    const entry = log.list()[0];
    assert.equal(entry.count, types.length);
    assert.deepEqual(entry.types, types.slice(0, LIMITS.typesPerName));
  });
});

describe('filtering resolver: pure parts', () => {
  it('matches exact names and wildcards; deny wins', () => {
    const allow = compileRules(['github.com', '*.githubusercontent.com']);
    assert.ok(matches(allow, 'GitHub.com.'));
    assert.ok(!matches(allow, 'api.github.com'));
    assert.ok(matches(allow, 'raw.githubusercontent.com'));
    assert.ok(!matches(allow, 'githubusercontent.com'));
    assert.ok(!matches(allow, 'evilgithubusercontent.com'), 'a suffix match is on a label boundary');
    assert.ok(!nameAllowed(allow, compileRules(['*.githubusercontent.com']), 'raw.githubusercontent.com'));
  });

  it('clamps TTLs to the documented floor and ceiling', () => {
    assert.equal(clampTtl(1), TTL.floor);
    assert.equal(clampTtl(600), 600);
    assert.equal(clampTtl(10 ** 7), TTL.ceiling);
  });

  it('takes every A and AAAA record of an answer, CNAME targets included', () => {
    const answer = packet.decode(packet.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'x.test' }], answers: [
      { type: 'CNAME', name: 'x.test', ttl: 60, data: 'cdn.other.test' },
      { type: 'A', name: 'cdn.other.test', ttl: 20, data: '192.0.2.1' },
      { type: 'AAAA', name: 'cdn.other.test', ttl: 90, data: '2001:db8::1' },
    ] }));
    assert.deepEqual(answerAddresses(answer), { v4: [['192.0.2.1', 20]], v6: [['2001:db8::1', 90]] });
  });

  it('refuses with NXDOMAIN, echoing the id and the question', () => {
    const q = packet.decode(packet.encode({ type: 'query', id: 4711, flags: packet.RECURSION_DESIRED, questions: [{ type: 'TXT', name: 'leak.evil.test' }] }));
    const r = decode(refusal(q));
    assert.equal(r.id, 4711);
    assert.equal(r.rcode, 'NXDOMAIN');
    assert.deepEqual(r.questions, q.questions);
  });

  it('keeps a bounded blocked log: the least recently seen leave first', () => {
    const log = new BlockedLog(2);
    log.record('name', 'a.test', 1, 'A', new Date(1000));
    log.record('name', 'b.test', 1, 'A', new Date(2000));
    log.record('name', 'a.test', 1, 'TXT', new Date(3000));
    log.record('address', '192.0.2.9', 4, undefined, new Date(4000));
    assert.deepEqual(log.list().map((e) => [e.value, e.count]), [['192.0.2.9', 4], ['a.test', 2]]);
  });

  it('reads the kernel\'s xt_recent list', () => {
    const text = 'src=10.89.77.20 ttl: 64 last_seen: 4295001000 oldest_pkt: 3 4295000000, 4295000500, 4295001000\nsrc=fd00::20 ttl: 64 last_seen: 5 oldest_pkt: 1 5\n';
    assert.deepEqual([...parseRecent(text)], [['10.89.77.20', [4295000000, 4295000500, 4295001000]], ['fd00::20', [5]]]);
  });

  it('takes its arguments as argv, and never a loopback upstream', () => {
    const o = parseArgs(['--dir', '/d', '--socket', 's', '--upstream', '10.0.2.3,127.0.0.11,::1,fd00::53,bogus', '--watch-pid', '42']);
    assert.deepEqual(o.upstream, ['10.0.2.3', 'fd00::53']);
    assert.equal(o.watchPid, 42);
    assert.equal(o.port, 53);
    assert.throws(() => parseArgs(['--dir', '/d']), /usage/);
  });
});

describe('filtering resolver: addresses no answer may open', () => {
  it('refuses loopback, link-local (metadata), unspecified, multicast, mapped and the gateway; admits the rest', async () => {
    const { specialAddresses } = await import('../../src/firewall/resolver');
    const { routeGateways } = await import('../../src/firewall/route');
    const gw = routeGateways('Iface\tDestination\tGateway \tFlags\ntap0\t00000000\t0202000A\t0003\n');
    assert.deepEqual(gw, ['10.0.2.2']);
    const b = specialAddresses(gw);
    for (const a of ['127.0.0.1', '169.254.169.254', '0.0.0.0', '224.0.0.251', '10.0.2.2']) assert.ok(b.check(a, 'ipv4'), a);
    for (const a of ['::1', 'fe80::1', '::ffff:127.0.0.1', 'ff02::1']) assert.ok(b.check(a, 'ipv6'), a);
    for (const a of ['10.89.77.10', '192.0.2.1', '140.82.112.3']) assert.ok(!b.check(a, 'ipv4'), a);
    assert.ok(!b.check('2001:db8::1', 'ipv6'));
  });
});

describe('filtering resolver: upstream answers', () => {
  it('takes an answer only for the question asked (name, any case, and type)', async () => {
    const { answersQuestion } = await import('../../src/firewall/resolver');
    const reply = (name: string, type: 'A' | 'TXT', response = true): Buffer => packet.encode({ type: response ? 'response' : 'query', id: 1, questions: [{ type, name }] });
    assert.ok(answersQuestion(reply('Allowed.Test', 'A'), { type: 'A', name: 'allowed.test' }));
    assert.ok(!answersQuestion(reply('other.test', 'A'), { type: 'A', name: 'allowed.test' }));
    assert.ok(!answersQuestion(reply('allowed.test', 'TXT'), { type: 'A', name: 'allowed.test' }));
    assert.ok(!answersQuestion(reply('allowed.test', 'A', false), { type: 'A', name: 'allowed.test' }));
    assert.ok(!answersQuestion(Buffer.from('junk'), { type: 'A', name: 'allowed.test' }));
  });
});
