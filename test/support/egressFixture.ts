/**
 * The egress fixture: an isolated container network with a few test hosts, so the firewall
 * tests have something real to allow and to block without ever touching the outside world.
 *
 *   hdc-egress-dns        .53        dnsmasq: allowed.test, blocked.test (A + AAAA), *.bench.test (A),
 *                                    wild.test and its subdomains (A: allowed), moving.test (moveName)
 *   hdc-egress-rogue-dns  .54        dnsmasq that answers every name with the blocked IPv4
 *   hdc-egress-allowed    .10 / ::10 busybox httpd :80, body "allowed"
 *   hdc-egress-blocked    .20 / ::20 busybox httpd :80 and :22, body "blocked"
 *   hdc-egress-bench      .30        busybox httpd :80, body "bench" (what *.bench.test resolves to)
 *
 * NETWORK SAFETY: the network is always created `--internal`, and start() checks that it really
 * is isolated before any host is probed (podman: no default route; docker: the iptables DROP rules
 * of its bridge). Every container the fixture starts gets `--dns <fixture dns>`, so not even a
 * stray lookup goes to the host's resolvers, and images are never pulled (`--pull never`).
 * The docker network is IPv4 only: docker 20.10 does not isolate IPv6 (notes at the end).
 *
 * One fixture at a time per engine: the names and subnets are fixed, so that a crashed run can be
 * cleaned up by name (removeStaleEgressFixtures) and the firewall tests can use literal addresses.
 */
import { execa } from 'execa';
import { BASE_IMAGE, engine, requireEngine, type Result, type Runtime } from './testbed';

export interface EgressFixture {
  runtime: Runtime;
  /** Network name, to pass as `--network` to a workspace. */
  network: string;
  subnet4: string;
  /** Whether the network carries IPv6. When false, reading subnet6 or any ip6 throws. */
  ipv6: boolean;
  subnet6: string;
  /** IPv4 of the fixture DNS server (dnsmasq). */
  dns: string;
  /** IPv4 of a second DNS server that answers every name (the firewall must block it). */
  rogueDns: string;
  /** busybox httpd on :80 serving body "allowed". */
  allowed: { ip4: string; ip6: string };
  /** busybox httpd on :80 and :22 serving body "blocked". */
  blocked: { ip4: string; ip6: string };
  /** What every name under bench.test resolves to (n1.bench.test, n2.bench.test, ...). */
  benchIp: string;
  /** Idempotent; removes the containers and the network. */
  stop(): Promise<void>;
}

export const FIXTURE_LABEL = 'hdc-test=egress-fixture';
export const FIXTURE_PREFIX = 'hdc-egress-';
const NETWORK = 'hdc-egress';
const READY_TIMEOUT_MS = 20_000;

/** Whether the fixture network of an engine carries IPv6 (see the notes at the end). */
export const EGRESS_IPV6: Record<Runtime, boolean> = { podman: true, docker: false };

/** Fixed addressing: podman and docker get different subnets so both may exist at once. */
const PLAN: Record<Runtime, { v4: string; v6: string }> = {
  podman: { v4: '10.89.77', v6: 'fd00:89:77:' },
  docker: { v4: '10.89.78', v6: 'fd00:89:78:' },
};

interface Host {
  name: string;
  ip4: string;
  ip6?: string;
  argv: string[];
  /** Capabilities beyond NET_BIND_SERVICE (all others are dropped). */
  caps?: string[];
  /** Checks run (via exec) in a probe container; the host is up when all of them pass. */
  checks: Check[];
}

interface Check {
  what: string;
  argv: string[];
  expect: string;
}

// The httpd hosts write their page, then serve it. The shell scripts are fixed literals: the
// only variable part (the body) is a constant chosen here, never input from anywhere else.
// /tmp/www, not /www: the image's / is mode 555 and root has no CAP_DAC_OVERRIDE here.
const httpd = (body: 'allowed' | 'bench'): string[] =>
  ['sh', '-c', `mkdir -p /tmp/www && echo ${body} > /tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www`];
// busybox httpd without -f daemonizes: the :22 one goes to the background, the :80 one is PID 1.
const blockedHttpd = ['sh', '-c',
  'mkdir -p /tmp/www && echo blocked > /tmp/www/index.html && busybox httpd -p 22 -h /tmp/www && exec busybox httpd -f -p 80 -h /tmp/www'];

function dnsmasq(listen: string, addresses: string[]): string[] {
  return [
    'dnsmasq', '-k', // -k: stay in the foreground as the container's PID 1
    '--no-resolv', '--no-hosts', '--no-poll', // never forward: unknown names get REFUSED/NXDOMAIN
    '--user=root', `--listen-address=${listen}`, '--bind-interfaces',
    // The queries land in `<engine> logs`, so a test can show which server was really asked.
    '--log-queries', '--log-facility=-',
    // Names a test can move (moveName): re-read on SIGHUP. Every answer has TTL 0 (the default).
    `--addn-hosts=${MOVING_HOSTS}`,
    ...addresses.map((a) => `--address=${a}`),
  ];
}

const MOVING_HOSTS = '/tmp/moving.hosts';

const curl = (url: string, ...opts: string[]): string[] => ['curl', '-sS', '--max-time', '2', '--noproxy', '*', ...opts, url];
const dig = (server: string, name: string, type: 'A' | 'AAAA'): string[] =>
  ['dig', '+short', '+time=1', '+tries=1', `@${server}`, name, type];

type Addresses = Omit<EgressFixture, 'stop'>;

/**
 * Without IPv6 the v6 fields throw when read: a firewall test that reaches for them must check
 * `ipv6` first, rather than "prove" that IPv6 is blocked on a network that has none.
 */
function withoutIpv6<T extends object>(runtime: Runtime, obj: T, key: string): T {
  return Object.defineProperty(obj, key, {
    enumerable: true,
    get: (): never => { throw new Error(`the ${runtime} egress fixture has no IPv6 (EGRESS_IPV6.${runtime} is false): check fx.ipv6 first`); },
  });
}

function hostsOf(runtime: Runtime): { fixture: Addresses; hosts: Host[] } {
  const { v4, v6 } = PLAN[runtime];
  const ipv6 = EGRESS_IPV6[runtime];
  const fixture: Addresses = {
    runtime,
    network: NETWORK,
    subnet4: `${v4}.0/24`,
    ipv6,
    subnet6: `${v6}:/64`,
    dns: `${v4}.53`,
    rogueDns: `${v4}.54`,
    allowed: { ip4: `${v4}.10`, ip6: `${v6}:10` },
    blocked: { ip4: `${v4}.20`, ip6: `${v6}:20` },
    benchIp: `${v4}.30`,
  };
  // The planned v6 addresses, for building the hosts; the fixture only exposes them with ipv6.
  const allowed6 = fixture.allowed.ip6;
  const blocked6 = fixture.blocked.ip6;
  if (!ipv6) {
    withoutIpv6(runtime, fixture, 'subnet6');
    withoutIpv6(runtime, fixture.allowed, 'ip6');
    withoutIpv6(runtime, fixture.blocked, 'ip6');
  }
  const { dns, rogueDns, allowed, blocked, benchIp } = fixture;
  const only6 = <T>(...items: T[]): T[] => (ipv6 ? items : []);
  const hosts: Host[] = [
    {
      name: `${FIXTURE_PREFIX}dns`, ip4: dns, caps: ['SETGID'], // dnsmasq calls setgroups() even as root
      argv: dnsmasq(dns, [
        `/allowed.test/${allowed.ip4}`, ...only6(`/allowed.test/${allowed6}`),
        `/blocked.test/${blocked.ip4}`, ...only6(`/blocked.test/${blocked6}`),
        `/bench.test/${benchIp}`, // also covers every subdomain: n1.bench.test, n2.bench.test, ...
        `/wild.test/${allowed.ip4}`, // wild.test, a.wild.test, x.y.wild.test ...
      ]),
      checks: [
        { what: 'A allowed.test', argv: dig(dns, 'allowed.test', 'A'), expect: allowed.ip4 },
        ...only6({ what: 'AAAA blocked.test', argv: dig(dns, 'blocked.test', 'AAAA'), expect: blocked6 }),
      ],
    },
    {
      name: `${FIXTURE_PREFIX}rogue-dns`, ip4: rogueDns, caps: ['SETGID'],
      argv: dnsmasq(rogueDns, [`/#/${blocked.ip4}`]),
      checks: [{ what: 'A probe.invalid', argv: dig(rogueDns, 'probe.invalid', 'A'), expect: blocked.ip4 }],
    },
    {
      name: `${FIXTURE_PREFIX}allowed`, ip4: allowed.ip4, ip6: ipv6 ? allowed6 : undefined, argv: httpd('allowed'),
      checks: [
        { what: 'http (IPv4)', argv: curl(`http://${allowed.ip4}/`), expect: 'allowed' },
        ...only6({ what: 'http (IPv6)', argv: curl(`http://[${allowed6}]/`, '-g'), expect: 'allowed' }),
      ],
    },
    {
      name: `${FIXTURE_PREFIX}blocked`, ip4: blocked.ip4, ip6: ipv6 ? blocked6 : undefined, argv: blockedHttpd,
      checks: [
        { what: 'http (IPv4)', argv: curl(`http://${blocked.ip4}/`), expect: 'blocked' },
        { what: 'port 22', argv: curl(`http://${blocked.ip4}:22/`), expect: 'blocked' },
        ...only6({ what: 'http (IPv6)', argv: curl(`http://[${blocked6}]/`, '-g'), expect: 'blocked' }),
      ],
    },
    {
      name: `${FIXTURE_PREFIX}bench`, ip4: benchIp, argv: httpd('bench'),
      checks: [{ what: 'http', argv: curl(`http://${benchIp}/`), expect: 'bench' }],
    },
  ];
  return { fixture, hosts };
}

function failure(what: string, r: Result): Error {
  const out = (r.stderr.trim() || r.stdout.trim() || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`));
  return new Error(`${what}: ${out}`);
}

async function must(runtime: Runtime, what: string, args: string[]): Promise<Result> {
  const r = await engine(runtime, args);
  if (r.exitCode !== 0) throw failure(`egress fixture (${runtime}): ${what}`, r);
  return r;
}

/** Options for every container on the fixture network: labelled, never pulled, fixture DNS only. */
function runArgs(fx: Addresses): string[] {
  return ['--pull', 'never', '--label', FIXTURE_LABEL, '--network', fx.network, '--dns', fx.dns];
}

let probeSeq = 0;

/**
 * Runs argv in a plain, short-lived container on the fixture network (no firewall), with the
 * fixture DNS as its only resolver. For checking the fixture itself; never a workspace.
 */
export async function probe(fx: EgressFixture, argv: string[], timeoutMs = 60_000): Promise<Result> {
  const name = `${FIXTURE_PREFIX}probe-${process.pid}-${++probeSeq}`;
  return engine(fx.runtime, ['run', '--rm', '--name', name, ...runArgs(fx), BASE_IMAGE, ...argv], timeoutMs);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls every check of every host (in parallel) until all pass or the deadline is over. */
async function waitUntilReady(fx: Addresses, hosts: Host[], prober: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const pending: string[] = [];
  await Promise.all(hosts.flatMap((host) => host.checks.map(async (check) => {
    let last: Result | undefined;
    while (Date.now() < deadline) {
      last = await engine(fx.runtime, ['exec', prober, ...check.argv], 10_000);
      if (last.exitCode === 0 && last.stdout.trim() === check.expect) return;
      await sleep(200);
    }
    const got = last ? `exit ${last.exitCode}, stdout ${JSON.stringify(last.stdout.trim())}, stderr ${JSON.stringify(last.stderr.trim())}` : 'never ran';
    pending.push(`${host.name} ${check.what} (want ${JSON.stringify(check.expect)}; last: ${got})`);
  })));
  if (pending.length) {
    const logs = await Promise.all(hosts.map(async (h) => {
      const r = await engine(fx.runtime, ['logs', '--tail', '20', h.name], 10_000);
      return `--- ${h.name}:\n${(r.stdout + r.stderr).trim()}`;
    }));
    throw new Error(`egress fixture (${fx.runtime}): not up after ${READY_TIMEOUT_MS / 1000} s:\n  ${pending.join('\n  ')}\n${logs.join('\n')}`);
  }
}

/** Removes the named containers and the network; missing ones are fine. */
async function teardown(runtime: Runtime, names: string[], network: boolean): Promise<void> {
  if (names.length) {
    // podman: -t 0 because httpd/dnsmasq as PID 1 ignore SIGTERM (it would wait 10 s each).
    const rm = runtime === 'podman' ? ['rm', '-f', '-t', '0', '--ignore', ...names] : ['rm', '-f', ...names];
    const r = await engine(runtime, rm);
    // docker has no --ignore: "No such container" for names that never existed is expected.
    const real = r.stderr.split('\n').filter((l) => l.trim() && !/no such container/i.test(l));
    if (r.exitCode !== 0 && (real.length || r.timedOut)) throw failure(`egress fixture (${runtime}): rm`, r);
  }
  if (network) await removeNetwork(runtime);
}

async function networkExists(runtime: Runtime): Promise<boolean> {
  // `network inspect` instead of `network exists`: docker has no `exists`.
  const r = await engine(runtime, ['network', 'inspect', '--format', '{{.Name}}', NETWORK]);
  return r.exitCode === 0;
}

/**
 * Removes the fixture network, never with -f: `podman network rm -f` would also delete whatever
 * else is attached (a workspace of a test that is still running). Say who holds it instead.
 */
async function removeNetwork(runtime: Runtime): Promise<void> {
  if (!(await networkExists(runtime))) return;
  const r = await engine(runtime, ['network', 'rm', NETWORK]);
  if (r.exitCode === 0) return;
  const users = await engine(runtime, ['ps', '-a', '--filter', `network=${NETWORK}`, '--format', '{{.Names}}']);
  const held = users.stdout.split('\n').filter(Boolean);
  throw failure(`egress fixture (${runtime}): network rm ${NETWORK}${held.length ? ` (still attached: ${held.join(', ')})` : ''}`, r);
}

/** The addresses as plain data; the v6 ones only when the network has IPv6. */
function plain(fx: Addresses): Record<string, unknown> {
  const { runtime, network, subnet4, ipv6, dns, rogueDns, benchIp } = fx;
  const host = (h: { ip4: string; ip6: string }) => (ipv6 ? { ip4: h.ip4, ip6: h.ip6 } : { ip4: h.ip4 });
  return {
    runtime, network, subnet4, ipv6, ...(ipv6 ? { subnet6: fx.subnet6 } : {}),
    dns, rogueDns, allowed: host(fx.allowed), blocked: host(fx.blocked), benchIp,
  };
}

/**
 * Refuses to go on unless the network is really cut off from the outside, before any traffic.
 * podman (CNI): an internal network gives its containers no default route at all.
 * docker: containers do get a default route to the bridge (.1); what isolates them is a pair of
 * iptables DROP rules for the bridge. Without them (dockerd --iptables=false) "internal" is a name.
 */
async function assertIsolated(fx: Addresses, prober: string): Promise<void> {
  const where = `egress fixture (${fx.runtime}): network ${fx.network} is not isolated`;
  // (podman 4.3 ignores `--format '{{json .}}'` for networks; single fields work for both.)
  const internal = await must(fx.runtime, 'network inspect', ['network', 'inspect', '--format', '{{.Internal}}', fx.network]);
  if (internal.stdout.trim() !== 'true') throw new Error(`${where}: it is not --internal`);
  if (fx.runtime === 'podman') {
    for (const family of ['-4', '-6']) {
      const r = await must(fx.runtime, 'ip route', ['exec', prober, 'ip', family, 'route', 'show', 'default']);
      if (r.stdout.trim()) throw new Error(`${where}: a container on it has a default route (${r.stdout.trim()})`);
    }
    return;
  }
  const id = await must(fx.runtime, 'network inspect', ['network', 'inspect', '--format', '{{.Id}}', fx.network]);
  const bridge = `br-${id.stdout.trim().slice(0, 12)}`;
  const rules = await execa('iptables', ['-S'], { reject: false });
  const drops = rules.stdout.split('\n').filter((l) => l.includes(bridge) && l.includes(`! -d ${fx.subnet4}`) && l.endsWith('-j DROP'));
  if (rules.exitCode !== 0 || drops.length === 0) {
    throw new Error(`${where}: no iptables rule drops traffic from ${bridge} to outside ${fx.subnet4} (${rules.stderr.trim() || 'rule missing'}); is dockerd running with --iptables=false?`);
  }
}

/**
 * Starts the fixture and returns once every host answers. On any failure it removes what it
 * created, then throws. Fails at once if a fixture network already exists for this engine.
 */
export async function startEgressFixture(runtime: Runtime): Promise<EgressFixture> {
  await requireEngine(runtime);
  const { fixture, hosts } = hostsOf(runtime);
  if (await networkExists(runtime)) {
    throw new Error(`egress fixture (${runtime}): network ${NETWORK} already exists (another fixture running, or a crashed run: removeStaleEgressFixtures)`);
  }
  const prober = `${FIXTURE_PREFIX}prober-${process.pid}`;
  // From here on every name is ours: we checked that no fixture existed for this engine.
  const names = [...hosts.map((h) => h.name), prober];
  let networkCreated = false;
  try {
    // podman: --disable-dns keeps aardvark/dnsname off the network (the fixture DNS is the only one).
    const own = runtime === 'podman' ? ['--disable-dns'] : [];
    const v6 = fixture.ipv6 ? ['--subnet', fixture.subnet6] : [];
    await must(runtime, 'network create', [
      'network', 'create', '--internal', ...own, '--label', FIXTURE_LABEL, '--subnet', fixture.subnet4, ...v6, NETWORK,
    ]);
    networkCreated = true;
    // docker's safety net is on the host: check it before a single container joins.
    if (runtime === 'docker') await assertIsolated(fixture, prober);
    // The fixed addresses must all be claimed before any container with a dynamic address joins
    // (the prober, a workspace): neither IPAM keeps them out of its pool. See the notes below.
    await Promise.all(hosts.map((h) => must(runtime, `start ${h.name}`, [
      'run', '-d', '--name', h.name, ...runArgs(fixture), '--ip', h.ip4, ...(h.ip6 ? ['--ip6', h.ip6] : []),
      // Root in the container only needs to bind ports 22, 53 and 80 (and dnsmasq, setgroups()).
      '--cap-drop', 'ALL', ...['NET_BIND_SERVICE', ...(h.caps ?? [])].flatMap((c) => ['--cap-add', c]),
      '--security-opt', 'no-new-privileges',
      BASE_IMAGE, ...h.argv,
    ])));
    // One long-lived probe container, many cheap `exec`s: much faster than a `run` per attempt.
    // `sleep` bounds its life should this process die before removing it.
    await must(runtime, 'start the prober', ['run', '-d', '--rm', '--name', prober, ...runArgs(fixture), BASE_IMAGE, 'sleep', '300']);
    if (runtime === 'podman') await assertIsolated(fixture, prober);
    await waitUntilReady(fixture, hosts, prober);
    await teardown(runtime, [prober], false);
  } catch (err) {
    try {
      await teardown(runtime, names, networkCreated);
    } catch (cleanupErr) {
      throw new Error(`${(err as Error).message}\n(cleanup failed too: ${(cleanupErr as Error).message})`, { cause: err });
    }
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // Concurrent and repeated calls share one teardown; a failed one may be retried.
    stopping ??= teardown(runtime, hosts.map((h) => h.name), true).catch((err: unknown) => {
      stopping = undefined;
      throw err;
    });
    return stopping;
  };
  // Object.assign, not a spread: a spread would read (and so fire) the throwing ip6 getters.
  // toJSON (not enumerable) keeps JSON.stringify(fx) working for logs: it omits absent v6 fields.
  Object.defineProperty(fixture, 'toJSON', { value: () => plain(fixture) });
  return Object.assign(fixture, { stop });
}

/** Removes what a crashed run left: containers by label and name prefix, then the network. */
export async function removeStaleEgressFixtures(runtime: Runtime): Promise<void> {
  await requireEngine(runtime); // a missing test bed fails here, with the setup hint
  const byLabel = await must(runtime, 'ps', ['ps', '-a', '--filter', `label=${FIXTURE_LABEL}`, '--format', '{{.Names}}']);
  const byName = await must(runtime, 'ps', ['ps', '-a', '--filter', `name=^${FIXTURE_PREFIX}`, '--format', '{{.Names}}']);
  const names = [...new Set([...byLabel.stdout.split('\n'), ...byName.stdout.split('\n')])].filter(Boolean);
  await teardown(runtime, names, true);
}

/*
 * Notes on the engines (podman 4.3.1 with CNI; docker: client 28.2.2, daemon 20.10.24):
 *
 * - Dynamic addresses. CNI host-local hands out addresses sequentially after the last one it
 *   gave, and refuses a fixed `--ip` outside `--ip-range` ("failed to allocate all requested
 *   IPs"), so the pool cannot be fenced off from .10/.20/.30/.53/.54: a probe container started
 *   while only .53 was taken got .54. Hence every fixed host is started before anything with a
 *   dynamic address joins (the prober, a workspace); both IPAMs skip addresses in use.
 * - podman: an internal CNI network has no default route, v4 or v6, so IPv6 is as safe as IPv4.
 * - docker IPv6, tried with `network create --internal --ipv6 --subnet 10.89.78.0/24
 *   --subnet fd00:89:78::/64`: it works (curl -6 to ::10 answered), but it is NOT isolated. The
 *   daemon runs without ip6tables (an experimental option in 20.10), so it writes no ip6tables
 *   rules: the container gets `default via fd00:89:78::1`, the host has
 *   net.ipv6.conf.all.forwarding=1, a v6 default route, and ip6tables FORWARD policy ACCEPT with
 *   no rules; one stray packet to an outside v6 address would be forwarded. (IPv4 is dropped by
 *   DOCKER-ISOLATION-STAGE-1: `! -d 10.89.78.0/24 -i br-<id> -j DROP` and the `-o` twin.)
 *   Without `--ipv6` docker 20.10 accepts the v6 `--subnet` silently (EnableIPv6 false) and
 *   ignores `--ip6` without an error: the container just has no v6 address. So the docker fixture
 *   is IPv4 only (EGRESS_IPV6.docker = false). `dockerd --experimental --ip6tables` does write the
 *   v6 twins of those DROP rules (checked by hand); with such a daemon IPv6 could be turned on,
 *   after extending assertIsolated to ip6tables.
 * - docker: "internal" cuts off forwarding only. Through the bridge address (.1) a container can
 *   still reach the docker host's own addresses (INPUT is not filtered). No fixture check does.
 */

/**
 * Points `name` at `ip` in the fixture's DNS (its hosts file, re-read on SIGHUP; TTL 0), as
 * a CDN moves a name. The values are the test's own constants, passed as argv.
 */
export async function moveName(fx: EgressFixture, name: string, ip: string): Promise<void> {
  await must(fx.runtime, `move ${name}`, ['exec', `${FIXTURE_PREFIX}dns`, 'sh', '-c', 'printf "%s %s\\n" "$1" "$2" > "$3" && kill -HUP 1', 'sh', ip, name, MOVING_HOSTS]);
}

/** Every query the fixture's DNS server received so far (dnsmasq's log, one line each). */
export async function dnsQueries(fx: EgressFixture, server: 'dns' | 'rogue-dns' = 'dns'): Promise<string[]> {
  const r = await engine(fx.runtime, ['logs', `${FIXTURE_PREFIX}${server}`]);
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /query\[/.test(l));
}
