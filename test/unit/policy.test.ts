import { strict as assert } from 'node:assert';
import { InputError } from '../../src/base/errors';
import { defaultGateway } from '../../src/firewall/route';
import { allowSet, buildPolicy, ipsetPayload, natPayload, parseNameservers, parseSetMembers, rulesPayload, validateCidr, validateDomain } from '../../src/firewall/policy';
import { SETS } from '../../src/firewall/sets';
import { checkVerification, parseTarget } from '../../src/firewall/firewall';
import { agentCall, dropInContent, firewallRunArgs, hookJson, rootlessUserNs } from '../../src/firewall/podmanHook';
import { EngineClient } from '../../src/base/engine';
import { ANNOTATIONS } from '../../src/base/labels';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

describe('firewall policy', () => {
  describe('validation: the message names the value, and nothing is applied', () => {
    const rejects = (value: string, pattern: RegExp): void => {
      assert.throws(() => buildPolicy([value], []), (e: InputError) =>
        e instanceof InputError && e.message.includes(JSON.stringify(value)) && pattern.test(e.message) && /nothing was applied/.test(e.message));
    };
    it('rejects shell metacharacters', () => rejects('evil.com;rm -rf /', /not a valid host name/));
    it('rejects empty labels', () => rejects('a..b', /empty label/));
    it('rejects a 64-character label', () => rejects(`${'a'.repeat(64)}.example.com`, /label of 64 characters; at most 63/));
    it('rejects a wildcard over a public suffix (ICANN section of the PSL), and a star anywhere but first', () => {
      rejects('*.com', /wildcard over the public suffix "com"/);
      rejects('*.co.uk', /wildcard over the public suffix "co\.uk"/);
      rejects('a.*.example.com', /"\*" that is not a leading "\*\."/);
      rejects('*example.com', /"\*" that is not a leading/);
    });
    it('accepts wildcards under a registrable domain, a private-section suffix included', () => {
      assert.deepEqual(buildPolicy(['*.Example.com', '*.githubusercontent.com', '*.wild.test'], []).domains, ['*.example.com', '*.githubusercontent.com', '*.wild.test']);
    });
    it('validates deny entries the same way, naming their setting', () => {
      assert.throws(() => buildPolicy([], [], ['*.org']), /deniedDomains: "\*\.org" is a wildcard over the public suffix/);
      assert.deepEqual(buildPolicy(['*.x.test'], [], ['Bad.X.test']).denied, ['bad.x.test']);
    });
    it('rejects a bad IPv4 prefix', () => {
      assert.throws(() => buildPolicy([], ['10.0.0.0/33']), /"10\.0\.0\.0\/33" has prefix length \/33; an IPv4 prefix must be 0 to 32/);
    });
    it('reports every bad entry at once', () => {
      assert.throws(() => buildPolicy(['ok.example', 'bad_name', '$(id)'], ['300.1.1.1', 'fd00::/129']), (e: InputError) =>
        ['bad_name', '$(id)', '300.1.1.1', 'fd00::/129'].every((v) => e.message.includes(JSON.stringify(v))));
    });
    it('rejects /0, IP addresses given as domains, and non-strings', () => {
      assert.throws(() => validateCidr('0.0.0.0/0'), /would allow every address/);
      assert.throws(() => validateDomain('10.0.0.1'), /looks like an IP address/);
      assert.throws(() => validateDomain(7), /is not a string/);
      assert.throws(() => buildPolicy('github.com', []), /must be an array/);
    });
  });

  it('normalises and deduplicates; a duplicate is never an error', () => {
    const p = buildPolicy(['GitHub.com.', 'github.com', 'api.github.com'], ['10.1.2.3/8', '10.0.0.0/8', '192.0.2.7', '2001:DB8::/32', '2001:db8::/32']);
    assert.deepEqual(p.domains, ['api.github.com', 'github.com']);
    assert.deepEqual(p.cidrs4, ['10.0.0.0/8', '192.0.2.7/32']);
    assert.deepEqual(p.cidrs6, ['2001:db8::/32']);
  });

  it('loads only the CIDRs into the static sets: names are for the resolver', () => {
    const p = buildPolicy(['allowed.test'], ['10.0.0.0/8', 'fd00:1::/64']);
    assert.deepEqual(allowSet(p), { v4: ['10.0.0.0/8'], v6: ['fd00:1::/64'] });
    assert.deepEqual(allowSet(buildPolicy(['allowed.test'], ['10.0.0.0/8'])).v6, []);
  });

  it('loads the allowlist in one batched ipset payload, swapped in atomically', () => {
    const text = ipsetPayload({ v4: ['1.2.3.4', '10.0.0.0/8'], v6: ['fd00::1'] }, { resetDns: true });
    const lines = text.trim().split('\n');
    for (const set of Object.values(SETS)) {
      const type = set.includes('allow') ? 'hash:net' : 'hash:ip';
      assert.ok(lines.includes(`create ${set} ${type} family ${set.endsWith('6') ? 'inet6' : 'inet'}${set.includes('dyn') ? ' timeout 86400' : ''} -exist`), set);
    }
    assert.ok(!lines.some((l) => l.startsWith(`flush ${SETS.dyn4}`) || l.startsWith(`swap ${SETS.dyn4}`)), 'the dyn sets are the resolver\'s: never flushed here');
    assert.ok(lines.includes(`add ${SETS.allow4}-next 1.2.3.4 -exist`));
    assert.ok(lines.includes(`add ${SETS.allow6}-next fd00::1 -exist`));
    assert.ok(lines.indexOf(`swap ${SETS.allow4}-next ${SETS.allow4}`) > lines.indexOf(`add ${SETS.allow4}-next 10.0.0.0/8 -exist`));
    assert.ok(lines.includes(`flush ${SETS.dns4}`));
    assert.ok(!ipsetPayload({ v4: [], v6: [] }, { resetDns: false }).includes(`flush ${SETS.dns4}\n`), 'a live refresh keeps the pinned resolvers');
  });

  describe('rules', () => {
    for (const family of [4, 6] as const) {
      it(`IPv${family}: default deny, loopback, replies, pinned DNS, allowlist, fast reject`, () => {
        const rules = rulesPayload(family);
        const lines = rules.split('\n').filter((l) => l.startsWith('-') || l.startsWith(':'));
        assert.deepEqual(lines.slice(0, 3), [':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT DROP [0:0]']);
        const allow = family === 4 ? SETS.allow4 : SETS.allow6;
        const dns = family === 4 ? SETS.dns4 : SETS.dns6;
        const at = (rule: string): number => {
          const i = lines.indexOf(rule);
          assert.ok(i >= 0, `missing: ${rule}`);
          return i;
        };
        const dnsOk = at(`-A OUTPUT -p udp --dport 53 --sport 1:1023 -m set --match-set ${dns} dst -j ACCEPT`);
        at(`-A OUTPUT -p tcp --dport 53 --sport 1:1023 -m set --match-set ${dns} dst -j ACCEPT`);
        const dyn = at(`-A OUTPUT -m set --match-set ${family === 4 ? SETS.dyn4 : SETS.dyn6} dst -j ACCEPT`);
        const recent = at(`-A OUTPUT -m recent --name hdc-blocked${family} --rdest --set`);
        const dnsReject = at('-A OUTPUT -p tcp --dport 53 -j REJECT --reject-with tcp-reset');
        const allowed = at(`-A OUTPUT -m set --match-set ${allow} dst -j ACCEPT`);
        const tcpReset = at('-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset');
        assert.ok(dnsOk < dnsReject && dnsReject < allowed && allowed < tcpReset, 'DNS is pinned before the allowlist; the reject comes last');
        assert.ok(dnsReject < dyn && dyn < recent && recent < tcpReset, 'answers\' addresses after DNS; only refused packets are recorded');
        assert.ok(at('-A OUTPUT -o lo -j ACCEPT') < allowed);
        assert.ok(lines.every((l) => !/--dport 22\b/.test(l)), 'no blanket port 22');
        assert.ok(lines.every((l) => !/\/24\b/.test(l)), 'no blanket host /24');
        assert.equal(rules.trim().split('\n').pop(), 'COMMIT');
        // Every rule that starts a group carries a comment saying why.
        assert.ok(rules.split('\n').filter((l) => l.startsWith('# ')).length >= 6);
      });
    }
  });

  it('redirects DNS from unprivileged ports to the resolver, ahead of the engine\'s nat rules', () => {
    for (const family of [4, 6] as const) {
      const nat = natPayload(family).split('\n');
      assert.ok(nat.includes('-I OUTPUT 1 -p udp --dport 53 --sport 1024:65535 -j REDIRECT --to-ports 53'));
      assert.ok(nat.includes('-I OUTPUT 2 -p tcp --dport 53 --sport 1024:65535 -j REDIRECT --to-ports 53'));
      assert.ok(nat.includes('*nat') && nat.includes('COMMIT'));
    }
  });

  it('reads nameservers and set members', () => {
    assert.deepEqual(parseNameservers('# c\nnameserver 10.0.2.3\nnameserver fe80::1%eth0\nnameserver bogus\nsearch x\n'), { v4: ['10.0.2.3'], v6: ['fe80::1'] });
    assert.deepEqual(parseSetMembers('create hdc-dns4 hash:ip family inet\nadd hdc-dns4 10.0.2.3\nadd hdc-dns4 1.1.1.1\n', 'hdc-dns4'), ['10.0.2.3', '1.1.1.1']);
  });

  it('finds the default gateway in /proc/net/route', () => {
    const route = 'Iface\tDestination\tGateway \tFlags\nTap0\t0002000A\t00000000\t0001\ntap0\t00000000\t0202000A\t0003\n';
    assert.equal(defaultGateway(route), '10.0.2.2');
    assert.equal(defaultGateway('Iface\tDestination\tGateway\n'), undefined);
  });

  it('parses verification targets', () => {
    assert.deepEqual(parseTarget('allowed.test:80', 's', 'allowed'), { host: 'allowed.test', port: 80 });
    assert.deepEqual(parseTarget('[fd00::20]:443', 's', 'blocked'), { host: 'fd00::20', port: 443 });
    assert.deepEqual(parseTarget('gateway:9', 's', 'blocked'), { host: 'gateway', port: 9 });
    assert.throws(() => parseTarget('blocked.test:80', 'x.verifyBlockedTarget', 'blocked'), /x\.verifyBlockedTarget "blocked\.test:80" is not an "ip:port"/);
    assert.throws(() => parseTarget('a;b:80', 's', 'allowed'), /is not a "host:port"/);
  });

  it('fails verification when a blocked target is reachable or an allowed one is silent', () => {
    const base = { dns: { v4: [], v6: [] }, unresolved: [], loaded: { v4: 0, v6: 0 }, ms: { load: 0, verify: 0 }, portStart: 1024,
      resolver: { pid: 9, generation: 1, upstream: [], rules: { allowed: 1, denied: 0, ipv6: false }, stats: { queries: 0, refused: 0, forwarded: 0, failed: 0, admitted: 0 } } };
    const request = { policy: buildPolicy(['allowed.test'], []) };
    assert.throws(() => checkVerification({ ...base, verify: { blocked: { target: '10.0.0.20:80', ok: false, detail: 'CONNECTED', ms: 1 } } }, request),
      /Firewall verification failed: blocked target 10\.0\.0\.20:80 was not refused/);
    assert.throws(() => checkVerification({ ...base, verify: { allowed: { target: 'allowed.test:80', ok: false, detail: 'did not answer: ETIMEDOUT', ms: 1 } } }, request),
      /allowed target allowed\.test:80 did not answer/);
    assert.deepEqual(checkVerification({ ...base, unresolved: [{ name: 'x.test', error: 'ENOTFOUND' }], verify: {} }, request), ['warning: x.test did not resolve (ENOTFOUND); it is not reachable until it does']);
  });

  it('fails verification when the filtering resolver is missing, leaks, or the workspace could bind a port below 1024', () => {
    const request = { policy: buildPolicy(['allowed.test'], []) };
    const base = { dns: { v4: [], v6: [] }, unresolved: [], loaded: { v4: 0, v6: 0 }, ms: { load: 0, verify: 0 }, portStart: 1024, verify: {},
      resolver: { pid: 9, generation: 1, upstream: [], rules: { allowed: 1, denied: 0, ipv6: false }, stats: { queries: 0, refused: 0, forwarded: 0, failed: 0, admitted: 0 } } };
    assert.deepEqual(checkVerification(base, request), []);
    assert.throws(() => checkVerification({ ...base, resolver: undefined, resolverError: 'the filtering resolver does not answer (ENOENT)' }, request),
      /the filtering resolver does not answer \(ENOENT\), so nothing resolves/);
    assert.throws(() => checkVerification({ ...base, verify: { leak: { target: 'p.invalid via 10.0.0.53', ok: false, detail: 'REFUSED, and the filtering resolver never saw it', ms: 1 } } }, request),
      /a query for p\.invalid via 10\.0\.0\.53 was not stopped by the filtering resolver/);
    assert.throws(() => checkVerification({ ...base, portStart: 0 }, request), /ip_unprivileged_port_start is 0/);
  });

  it('marks the workspace for the hook (the capabilities are dropped by the hardening)', () => {
    assert.deepEqual(firewallRunArgs('/s/fw'), ['--annotation', `${ANNOTATIONS.firewall}=/s/fw`, '--annotation', `${ANNOTATIONS.role}=workspace`]);
    assert.deepEqual(firewallRunArgs('/s/fw', 'sidecar').slice(2), ['--annotation', `${ANNOTATIONS.role}=sidecar`]);
    const hook = JSON.parse(hookJson('/h/oci-hook.sh'));
    assert.deepEqual(hook.stages, ['createRuntime']);
    assert.deepEqual(Object.keys(hook.when.annotations), [`^${ANNOTATIONS.firewall.replace(/\./g, '\\.')}$`]);
    assert.match(dropInContent('/h/oci-hooks.d'), /hooks_dir = \["\/usr\/share\/containers\/oci\/hooks\.d", "\/etc\/containers\/oci\/hooks\.d", "\/h\/oci-hooks\.d"\]/);
  });

  it('runs the agent through nsenter into the rootless user namespace when it is known, else podman unshare', () => {
    const engine = new EngineClient('podman', '/usr/bin/podman');
    const request = { policy: buildPolicy([], []), resolver: { dir: '/s/fw', socket: 'resolver-workspace.sock' } };
    const direct = agentCall(engine, 42, request, '/proc/7/ns/user');
    assert.deepEqual([direct.command, ...direct.args.slice(0, 8)], ['nsenter', '--user=/proc/7/ns/user', '--preserve-credentials', '--', 'nsenter', '-t', '42', '-n', '--']);
    const fallback = agentCall(engine, 42, request);
    assert.deepEqual([fallback.command, ...fallback.args.slice(0, 6)], ['/usr/bin/podman', 'unshare', 'nsenter', '-t', '42', '-n', '--']);
    assert.equal(direct.input, JSON.stringify(request));
  });

  it('takes the pause process only when it is podman\'s and this user\'s', async function () {
    if (process.getuid?.() === 0) {
      // As root there is no rootless namespace: always podman unshare.
      assert.equal(await rootlessUserNs({ XDG_RUNTIME_DIR: '/nonexistent' }), undefined);
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'hdc-pause-'));
    try {
      mkdirSync(path.join(dir, 'libpod', 'tmp'), { recursive: true });
      assert.equal(await rootlessUserNs({ XDG_RUNTIME_DIR: dir }), undefined, 'no pause.pid');
      writeFileSync(path.join(dir, 'libpod', 'tmp', 'pause.pid'), String(process.pid));
      assert.equal(await rootlessUserNs({ XDG_RUNTIME_DIR: dir }), undefined, 'this process is not "podman pause"');
      // With catatonit installed, podman's pause process is "catatonit -P" (the CI machine's case).
      const catatonit = ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit'].find((p) => existsSync(p));
      if (!catatonit && process.env.CI === 'true') assert.fail('catatonit is not installed (scripts/setup-host.sh installs it)');
      if (catatonit) {
        const pause = spawn(catatonit, ['-P'], { stdio: 'ignore' });
        try {
          writeFileSync(path.join(dir, 'libpod', 'tmp', 'pause.pid'), String(pause.pid));
          assert.equal(await rootlessUserNs({ XDG_RUNTIME_DIR: dir }), `/proc/${pause.pid}/ns/user`, 'catatonit -P is the pause process');
        } finally {
          pause.kill();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker guard upstream', () => {
  it('takes the --dns servers of runArgs, else the host\'s resolvers, never a loopback address', async () => {
    const { guardUpstream } = await import('../../src/firewall/dockerGuard');
    assert.deepEqual(guardUpstream(['--network', 'n', '--dns', '10.0.0.53', '--dns=fd00::53'], 'nameserver 1.1.1.1\n'), { v4: ['10.0.0.53'], v6: ['fd00::53'] });
    assert.deepEqual(guardUpstream([], 'nameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n'), { v4: ['192.0.2.1'], v6: [] });
  });
});
