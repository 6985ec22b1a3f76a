import { strict as assert } from 'node:assert';
import { execa } from 'execa';
import * as path from 'node:path';
import { EGRESS_IPV6, probe, removeStaleEgressFixtures, startEgressFixture, type EgressFixture } from '../support/egressFixture';
import { engine, REPO, type Runtime } from '../support/testbed';

/**
 * The fixture itself, WITHOUT any firewall: every host must answer from a plain container on the
 * fixture network, so that a "blocked" result in the firewall tests can be trusted.
 */
function fixtureContract(runtime: Runtime): void {
  describe(`egress fixture (${runtime})`, () => {
    let fx: EgressFixture;

    before(async function () {
      this.timeout(120_000);
      await removeStaleEgressFixtures(runtime);
      fx = await startEgressFixture(runtime);
    });
    after(async function () {
      this.timeout(60_000);
      await fx?.stop();
    });

    /** stdout of argv run in a short-lived plain container on the fixture network; must exit 0. */
    async function run(argv: string[]): Promise<string> {
      const r = await probe(fx, argv);
      assert.equal(r.exitCode, 0, `${argv.join(' ')} failed (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
      return r.stdout.trim();
    }

    it('is an internal network, cut off from the outside', async () => {
      const inspect = await engine(runtime, ['network', 'inspect', fx.network]);
      assert.equal(inspect.exitCode, 0, inspect.stderr);
      const [net] = JSON.parse(inspect.stdout);
      // podman says `internal`, docker `Internal`.
      assert.equal(net.internal ?? net.Internal, true, 'the fixture network must be --internal');
      assert.equal((net.labels ?? net.Labels)['hdc-test'], 'egress-fixture');
      if (runtime === 'podman') {
        assert.equal(await run(['ip', '-4', 'route', 'show', 'default']), '', 'podman: no IPv4 route out');
        assert.equal(await run(['ip', '-6', 'route', 'show', 'default']), '', 'podman: no IPv6 route out');
      } else {
        // docker gives a default route to the bridge; the host's iptables drop what would leave.
        const rules = await execa('iptables', ['-S'], { reject: false });
        const bridge = `br-${String(net.Id).slice(0, 12)}`;
        assert.ok(rules.stdout.split('\n').some((l) => l.includes(`! -d ${fx.subnet4} -i ${bridge}`) && l.endsWith('-j DROP')),
          `no iptables DROP rule for traffic leaving ${bridge}:\n${rules.stdout}\n${rules.stderr}`);
      }
    });

    it('serves "allowed" at http://allowed.test through the fixture DNS', async () => {
      assert.equal(await run(['curl', '-sS', '--max-time', '5', 'http://allowed.test/']), 'allowed');
    });

    it('serves "blocked" at http://blocked.test, on port 80 and port 22', async () => {
      assert.equal(await run(['curl', '-sS', '--max-time', '5', 'http://blocked.test/']), 'blocked');
      assert.equal(await run(['curl', '-sS', '--max-time', '5', 'http://blocked.test:22/']), 'blocked');
    });

    if (EGRESS_IPV6[runtime]) {
      it('answers A and AAAA for allowed.test and blocked.test', async () => {
        const out = await run(['sh', '-c', 'for q in "allowed.test A" "allowed.test AAAA" "blocked.test A" "blocked.test AAAA"; do dig +short +time=2 @"$1" $q; done', 'sh', fx.dns]);
        assert.deepEqual(out.split('\n'), [fx.allowed.ip4, fx.allowed.ip6, fx.blocked.ip4, fx.blocked.ip6]);
      });

      it('reaches the allowed and blocked hosts over IPv6', async () => {
        assert.equal(fx.ipv6, true);
        assert.equal(await run(['curl', '-6', '-g', '-sS', '--max-time', '5', `http://[${fx.allowed.ip6}]/`]), 'allowed');
        assert.equal(await run(['curl', '-6', '-g', '-sS', '--max-time', '5', `http://[${fx.blocked.ip6}]/`]), 'blocked');
        // By name too: curl -6 must pick the AAAA record.
        assert.equal(await run(['curl', '-6', '-sS', '--max-time', '5', 'http://allowed.test/']), 'allowed');
      });
    } else {
      it('answers A only, and has no IPv6 at all (so none can leak)', async () => {
        const out = await run(['sh', '-c', 'for q in "allowed.test A" "allowed.test AAAA" "blocked.test A" "blocked.test AAAA"; do dig +short +time=2 @"$1" $q; done', 'sh', fx.dns]);
        assert.deepEqual(out.split('\n'), [fx.allowed.ip4, fx.blocked.ip4]);
        assert.equal(await run(['ip', '-6', 'addr', 'show', 'scope', 'global']), '');
        assert.equal(await run(['ip', '-6', 'route', 'show', 'default']), '');
        assert.equal(fx.ipv6, false);
        assert.throws(() => fx.allowed.ip6, /has no IPv6/);
        assert.throws(() => fx.blocked.ip6, /has no IPv6/);
        assert.throws(() => fx.subnet6, /has no IPv6/);
        assert.doesNotMatch(JSON.stringify(fx), /ip6|subnet6/, 'logging the fixture must still work');
      });
    }

    it('resolves every name under bench.test to benchIp, which serves "bench"', async () => {
      assert.equal(await run(['dig', '+short', '+time=2', `@${fx.dns}`, 'n7.bench.test', 'A']), fx.benchIp);
      assert.equal(await run(['dig', '+short', '+time=2', `@${fx.dns}`, 'n12345.bench.test', 'A']), fx.benchIp);
      assert.equal(await run(['getent', 'ahostsv4', 'n7.bench.test']).then((s) => s.split(/\s+/)[0]), fx.benchIp);
      assert.equal(await run(['curl', '-sS', '--max-time', '5', 'http://n7.bench.test/']), 'bench');
    });

    it('does not invent answers: the fixture DNS does not know other names', async () => {
      // Proves --no-resolv: nothing is forwarded anywhere, an unknown name just fails.
      const r = await probe(fx, ['dig', '+time=2', '+tries=1', `@${fx.dns}`, 'anything.example', 'A']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /status: (REFUSED|NXDOMAIN)/);
      assert.doesNotMatch(r.stdout, /ANSWER SECTION/);
    });

    it('has a rogue DNS server that answers any name', async () => {
      assert.equal(await run(['dig', '+short', '+time=2', `@${fx.rogueDns}`, 'anything.example', 'A']), fx.blocked.ip4);
      assert.equal(await run(['dig', '+short', '+time=2', `@${fx.rogueDns}`, 'allowed.test', 'A']), fx.blocked.ip4);
    });

    it('refuses a second fixture on the same engine and leaves the running one alone', async () => {
      await assert.rejects(startEgressFixture(runtime), /network hdc-egress already exists/);
      assert.equal(await run(['curl', '-sS', '--max-time', '5', 'http://allowed.test/']), 'allowed');
    });

    it('stop() removes the containers and the network, and may be called again', async () => {
      await Promise.all([fx.stop(), fx.stop()]);
      await fx.stop();
      const left = await engine(runtime, ['ps', '-a', '--filter', 'label=hdc-test=egress-fixture', '--format', '{{.Names}}']);
      assert.equal(left.exitCode, 0, left.stderr);
      assert.equal(left.stdout.trim(), '');
      const net = await engine(runtime, ['network', 'inspect', fx.network]);
      assert.notEqual(net.exitCode, 0, 'the fixture network is still there');
    });
  });
}

describe('egress fixture', () => {
  fixtureContract('podman');

  describe('with docker', () => {
    const dockerd = (cmd: 'start' | 'stop') => execa('bash', [path.join(REPO, 'scripts', 'dockerd.sh'), cmd], { reject: false });
    let startedDaemon = false;

    before(async function () {
      this.timeout(300_000);
      // Stop in `after` only a daemon this suite started: one that already answered is someone else's.
      startedDaemon = (await execa('docker', ['version'], { reject: false })).exitCode !== 0;
      const r = await dockerd('start');
      assert.equal(r.exitCode, 0, `dockerd did not start:\n${r.stdout}\n${r.stderr}`);
    });
    after(async function () {
      this.timeout(60_000);
      if (startedDaemon) await dockerd('stop');
    });

    fixtureContract('docker');
  });
});
