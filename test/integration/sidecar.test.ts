import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseJsonc } from 'jsonc-parser';
import * as path from 'node:path';
import { execa } from 'execa';
import { LABELS } from '../../src/base/labels';
import { dnsQueries, removeStaleEgressFixtures, startEgressFixture, type EgressFixture } from '../support/egressFixture';
import { randomBytes } from 'node:crypto';
import { importTinyImage, TINY_IMAGE } from '../support/tinyImage';
import { chownTree, containersOf, destroyWorkspace, engine, hdc, makeWorkspace, REPO, requireEngine, TEST_UID, upJson, type Result } from '../support/testbed';

/**
 * The Podman sidecar on real rootless podman, on the egress fixture's internal network: its
 * socket in the workspace, nested containers from a test image, their egress under the same
 * allowlist, escape attempts, the settings, restart and down.
 */
const PODMAN_IMAGE = 'localhost/hardened-devcontainers/podman:bookworm';
const SOCKET = '/run/hardened-devcontainers/podman/podman.sock';
const TINY = TINY_IMAGE;

describe('Podman sidecar (rootless podman)', function () {
  let fx: EgressFixture;
  let ws: string;
  let id: string;
  let name: string;
  const suffix = Math.random().toString(36).slice(2, 8);
  const graph = `hdc-it-graph-${suffix}`;
  let removeTiny: (() => Promise<void>) | undefined;

  const sidecarName = (): string => `${name}-podman`;
  const inside = (args: string[], timeoutMs = 60_000): Promise<Result> => hdc('podman', ['exec', ws, '--', ...args], { timeoutMs });
  /** `podman --remote` in the workspace: the client talks to the sidecar through CONTAINER_HOST. */
  const nested = (args: string[], timeoutMs = 90_000): Promise<Result> => inside(['podman', '--remote', ...args], timeoutMs);
  /**
   * curl in a nested container: the test image plus the sidecar's /usr, read-only (busybox's
   * static wget cannot look names up without the libc's NSS modules).
   */
  const wget = (url: string, ...runFlags: string[]): Promise<Result> =>
    nested(['run', '--rm', ...runFlags, '-v', '/usr:/usr:ro', TINY, '/usr/bin/curl', '-sS', '-m', '3', url]);

  before(async function () {
    this.timeout(600_000);
    await requireEngine('podman');
    const img = await engine('podman', ['image', 'inspect', '--format', '{{.Id}}', PODMAN_IMAGE]);
    if (img.exitCode !== 0) throw new Error(`the sidecar image is missing: run sudo bash scripts/setup-host.sh (${img.stderr.trim()})`);
    await removeStaleEgressFixtures('podman');
    fx = await startEgressFixture('podman');

    removeTiny = await importTinyImage();

    // examples/sidecar (image, remote user, and the host's docker client mounted read-only),
    // on the fixture's network.
    ws = makeWorkspace('podman', 'sidecar');
    const example = parseJsonc(readFileSync(path.join(REPO, 'examples', 'sidecar', '.devcontainer', 'devcontainer.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(example.image, PODMAN_IMAGE);
    writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({
      ...example,
      runArgs: ['--network', fx.network],
      // Lifecycle commands can use the sidecar: it is up before they run.
      postCreateCommand: 'curl -sS --unix-socket /run/hardened-devcontainers/podman/podman.sock -o .sidecar-from-postcreate http://d/_ping',
    }));
    writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({
      'hardenedDevcontainers.firewall.allowedDomains': ['allowed.test'], 'hardenedDevcontainers.firewall.presets': [],
      'hardenedDevcontainers.firewall.dnsServers': [fx.dns],
      'hardenedDevcontainers.firewall.verifyAllowedTarget': 'allowed.test:80',
      'hardenedDevcontainers.firewall.verifyBlockedTarget': `${fx.blocked.ip4}:80`,
      'hardenedDevcontainers.podmanSidecar.enabled': true,
      'hardenedDevcontainers.podmanSidecar.resources.cpu': '1',
      'hardenedDevcontainers.podmanSidecar.resources.memory': '512m',
      'hardenedDevcontainers.podmanSidecar.extFiles': { '/etc/hdc-test/hello.conf': 'from extFiles\n' },
      'hardenedDevcontainers.podmanSidecar.graphStorage': graph,
    }, null, 2));
    chownTree(ws, TEST_UID, TEST_UID);
    const r = await hdc('podman', ['up', ws, '--json'], { timeoutMs: 300_000 });
    assert.equal(r.exitCode, 0, `hdc up failed:\n${r.stderr}`);
    const out = upJson(r) as ReturnType<typeof upJson> & { sidecar: { name: string; socket: string } };
    ({ containerId: id, containerName: name } = out);
    assert.equal(out.sidecar.name, `${name}-podman`);
    assert.equal(out.sidecar.socket, SOCKET);

    // The test image goes into the sidecar through the socket, from inside the workspace.
    const saved = await engine('podman', ['save', '-o', path.join(ws, 'tiny.tar'), TINY]);
    assert.equal(saved.exitCode, 0, saved.stderr);
    const loaded = await nested(['load', '-i', 'tiny.tar'], 120_000);
    assert.equal(loaded.exitCode, 0, `podman --remote load: ${loaded.stderr}`);
  });

  after(async function () {
    this.timeout(180_000);
    if (ws) {
      const left = await engine('podman', ['ps', '-a', '-q', '--filter', `label=${LABELS.sidecarFor}=${ws}`]);
      const ids = left.stdout.split('\n').filter(Boolean);
      if (ids.length) await engine('podman', ['rm', '-f', ...ids]);
      await destroyWorkspace('podman', ws);
      if (name) await engine('podman', ['volume', 'rm', '-f', `${name}-podman-sock`]);
    }
    await engine('podman', ['volume', 'rm', '-f', graph]);
    await removeTiny?.();
    await fx?.stop();
  });

  it('answers on the socket from inside the workspace (Docker-compatible API), as the remote user', async () => {
    const r = await inside(['curl', '-sS', '--unix-socket', SOCKET, 'http://d/version']);
    assert.equal(r.exitCode, 0, r.stderr);
    const version = JSON.parse(r.stdout) as { ApiVersion?: string; Components?: { Name: string }[] };
    assert.ok(version.ApiVersion, r.stdout);
    assert.ok(version.Components?.some((c) => c.Name === 'Podman Engine'), r.stdout);
    assert.equal((await inside(['id', '-un'])).stdout.trim(), 'vscode');
  });

  it('sets DOCKER_HOST and CONTAINER_HOST, links /var/run/docker.sock, and was up for the lifecycle commands', async () => {
    const env = await inside(['printenv', 'DOCKER_HOST', 'CONTAINER_HOST']);
    assert.deepEqual(env.stdout.trim().split('\n'), [`unix://${SOCKET}`, `unix://${SOCKET}`]);
    assert.equal((await inside(['readlink', '/var/run/docker.sock'])).stdout.trim(), SOCKET);
    const ping = await inside(['cat', '.sidecar-from-postcreate']);
    assert.equal(ping.stdout.trim(), 'OK');
  });

  it('runs a nested container from the loaded test image', async () => {
    const r = await nested(['run', '--rm', TINY, 'echo', 'hi']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'hi');
  });

  it('firewalls nested egress: allowed.test answers, blocked.test does not', async () => {
    const allowed = await wget('http://allowed.test/');
    assert.equal(allowed.stdout.trim(), 'allowed', `control (exit ${allowed.exitCode}): ${allowed.stderr}`);
    const blocked = await wget('http://blocked.test/');
    assert.notEqual(blocked.exitCode, 0, `blocked.test answered a nested container: ${blocked.stdout}`);
    const byIp = await wget(`http://${fx.blocked.ip4}/`);
    assert.notEqual(byIp.exitCode, 0, 'blocked host by IP');
  });

  it('sends a nested container\'s DNS through the sidecar\'s filtering resolver: names outside the allowlist never reach the upstream', async () => {
    const token = randomBytes(4).toString('hex');
    const lookup = (name: string): Promise<Result> => nested(['run', '--rm', '-v', '/usr:/usr:ro', TINY, '/usr/bin/getent', 'ahosts', name]);
    const ok = await lookup('allowed.test');
    assert.match(ok.stdout, new RegExp(fx.allowed.ip4.replace(/\./g, '\\.')), `control: ${ok.stderr}`);
    for (const n of [1, 2]) assert.notEqual((await lookup(`leak-${token}-${n}.evil.test`)).exitCode, 0, 'a name outside the allowlist does not resolve');
    const log = await dnsQueries(fx);
    assert.ok(log.some((l) => l.includes('allowed.test')), 'control: the upstream logs what it receives');
    assert.deepEqual(log.filter((l) => l.includes(token)), [], 'the upstream saw none of the nested queries for names outside the allowlist');
  });

  it('keeps the sidecar out of the workspace netns and without network capabilities', async () => {
    const ns = async (c: string): Promise<string> => {
      const pid = (await engine('podman', ['container', 'inspect', '--format', '{{.State.Pid}}', c])).stdout.trim();
      return (await execa('readlink', [`/proc/${pid}/ns/net`])).stdout;
    };
    assert.notEqual(await ns(sidecarName()), await ns(id), 'the sidecar shares the workspace netns');
    const st = await engine('podman', ['exec', sidecarName(), 'grep', 'CapBnd', '/proc/1/status']);
    const bnd = BigInt(`0x${/CapBnd:\s+([0-9a-f]+)/.exec(st.stdout)?.[1] ?? 'x'}`);
    assert.equal((bnd >> 12n) & 1n, 0n, 'NET_ADMIN in the sidecar bounding set');
    assert.equal((bnd >> 13n) & 1n, 0n, 'NET_RAW in the sidecar bounding set');
    assert.equal((bnd >> 10n) & 1n, 0n, 'NET_BIND_SERVICE in the sidecar bounding set (a port below 1024 is the filtering resolver\'s)');
  });

  it('stops every nested escape: host network, NET_ADMIN, privileged, iptables -F, the workspace netns', async () => {
    const usr = ['-v', '/usr:/usr:ro'];
    // --network host is the sidecar's netns (firewalled); container:<workspace> is unknown to it.
    const flush = ['/usr/sbin/xtables-nft-multi', 'iptables', '-F'];
    const attempts: Record<string, Result> = {
      'network host': await wget('http://blocked.test/', '--network', 'host'),
      'cap-add NET_ADMIN + iptables -F': await nested(['run', '--rm', '--cap-add', 'NET_ADMIN', ...usr, TINY, ...flush]),
      'privileged + iptables -F': await nested(['run', '--rm', '--privileged', ...usr, TINY, ...flush]),
      'iptables -F': await nested(['run', '--rm', ...usr, TINY, ...flush]),
      'ip6tables -F as NET_ADMIN': await nested(['run', '--rm', '--cap-add', 'NET_ADMIN', ...usr, TINY, '/usr/sbin/xtables-nft-multi', 'ip6tables', '-F']),
      'network container:<workspace>': await wget('http://blocked.test/', '--network', `container:${name}`),
    };
    // Each fails, and for the right reason: refused by the firewall, or no permission.
    const why: Record<string, RegExp> = {
      'network host': /Could not resolve host/,
      'network container:<workspace>': /no such container/,
    };
    for (const [what, r] of Object.entries(attempts)) {
      assert.notEqual(r.exitCode, 0, `${what} succeeded: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why[what] ?? /Permission denied|not permitted/i, `${what}: ${r.stderr}`);
    }

    // After all of them: blocked from the workspace and from a nested container, allowed still works.
    const ws1 = await inside(['curl', '-sS', '-m', '3', 'http://blocked.test/']);
    assert.notEqual(ws1.exitCode, 0, `the workspace reached blocked.test: ${ws1.stdout}`);
    const n1 = await wget('http://blocked.test/');
    assert.notEqual(n1.exitCode, 0, `a nested container reached blocked.test: ${n1.stdout}`);
    assert.equal((await wget('http://allowed.test/')).stdout.trim(), 'allowed', 'control: the allowlist still works');
    const st = await hdc('podman', ['status', ws, '--json']);
    const report = JSON.parse(st.stdout) as { ok: boolean; checks: { name: string; ok: boolean; evidence: string }[] };
    const sidecar = report.checks.find((c) => c.name === 'sidecar');
    assert.ok(sidecar?.ok, `sidecar check: ${sidecar?.evidence}`);
    assert.ok(report.ok, JSON.stringify(report.checks));
  });

  // Docker-native tools through the socket (the API gateway). Plain tests of this suite, not
  // a nested describe: mocha runs a describe's own tests first, and later ones take the
  // workspace down.
  {
    const docker = (args: string[], timeoutMs = 90_000): Promise<Result> => inside(['docker', ...args], timeoutMs);
    let sidecarNetns = '';
    /**
     * What a nested container tries, as a shell script for the test image with the sidecar's
     * /usr: every way out but the allowlist must fail ("LEAK …" if one answers), allowed.test
     * must answer, and the last lines name its network namespace.
     */
    const probe = (): string => [
      'leak() { echo "LEAK $1"; }',
      'c() { /usr/bin/curl -sS -m 3 -o /dev/null "$@" 2>/dev/null; }',
      'c http://blocked.test/ && leak name',
      `c http://${fx.blocked.ip4}/ && leak address`,
      `c http://${fx.blocked.ip4}:22/ && leak port22`,
      `c -g "http://[${fx.blocked.ip6}]/" && leak ipv6`,
      // (A DNS packet to any server goes to the filtering resolver: only a name outside the allowlist tells.)
      `[ -n "$(/usr/bin/dig +time=2 +tries=1 +short @${fx.rogueDns} rogue-probe.evil.test 2>/dev/null)" ] && leak rogue-resolver`,
      '/usr/bin/curl -sS -m 3 http://allowed.test/ | /bin/busybox grep -q allowed || echo NOALLOW',
      'echo "netns $(/bin/busybox readlink /proc/self/ns/net)"',
      'echo probed',
    ].join('\n');
    const checkProbe = (r: Result, mode: string): void => {
      assert.ok(sidecarNetns, 'the sidecar\'s namespace was read first');
      const out = `${r.stdout}\n${r.stderr}`;
      assert.match(out, /probed/, `${mode}: the probe did not run (exit ${r.exitCode}): ${out}`);
      assert.doesNotMatch(out, /LEAK|NOALLOW/, `${mode}: ${out}`);
      assert.match(out, new RegExp(`netns ${sidecarNetns.replace(/[[\]]/g, '\\$&')}`), `${mode}: not in the sidecar's namespace: ${out}`);
    };
    const until = (url: string): string => `i=0; until /usr/bin/curl -sf -m 2 ${url}; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.2; done`;

    it('docker run with no network flag runs, in the sidecar\'s namespace, behind its firewall; --rm keeps the exit code', async () => {
      const pid = (await engine('podman', ['container', 'inspect', '--format', '{{.State.Pid}}', sidecarName()])).stdout.trim();
      sidecarNetns = (await execa('readlink', [`/proc/${pid}/ns/net`])).stdout;
      const v = await docker(['version', '--format', '{{.Client.Version}} {{.Server.APIVersion}}']);
      assert.equal(v.exitCode, 0, `the docker client (the host's, mounted read-only) talks to the sidecar: ${v.stderr}`);
      assert.equal((await docker(['run', '--rm', TINY, 'echo', 'hi'])).stdout.trim(), 'hi');
      assert.equal((await docker(['run', '--rm', TINY, 'sh', '-c', 'exit 3'])).exitCode, 3, 'docker run --rm says the container\'s exit code');
      checkProbe(await docker(['run', '--rm', '-v', '/usr:/usr:ro', TINY, '/bin/sh', '-c', probe()]), 'default network');
    });

    it('a user network: containers on it reach each other by name and alias, and nothing else but the allowlist', async () => {
      assert.equal((await docker(['network', 'create', 'hdc-it-net'])).exitCode, 0);
      const web = await docker(['run', '-d', '--network', 'hdc-it-net', '--network-alias', 'web', '--name', 'hdc-it-web', TINY,
        '/bin/sh', '-c', 'mkdir -p /w && echo web-ok > /w/index.html && exec /bin/busybox httpd -f -p 8081 -h /w']);
      assert.equal(web.exitCode, 0, web.stderr);
      const client = await docker(['run', '--rm', '--network', 'hdc-it-net', '-v', '/usr:/usr:ro', TINY, '/bin/sh', '-c',
        `${until('http://web:8081/')}\n/usr/bin/curl -sS http://hdc-it-web:8081/\n${probe()}`]);
      assert.match(client.stdout, /web-ok\s+web-ok/, `by alias and by name: ${client.stdout}${client.stderr}`);
      checkProbe(client, 'user network');
      const inspect = await docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'hdc-it-web']);
      assert.deepEqual(Object.keys(JSON.parse(inspect.stdout) as object), ['hdc-it-net'], 'inspect shows the network it asked for');
      assert.notEqual((await docker(['run', '--rm', '--network', 'no-such-net', TINY, 'true'])).exitCode, 0, 'a network that does not exist is refused');
      await docker(['rm', '-f', 'hdc-it-web']);
    });

    it('docker build: a RUN step runs in the sidecar\'s namespace, behind its firewall', async () => {
      writeFileSync(path.join(ws, 'Dockerfile.hdc-it'), [
        `FROM ${TINY}`,
        // busybox's nc and nslookup (its own DNS client): the test image has no curl, and a
        // build mounts nothing of the sidecar's. allowed.test resolving is the control.
        `RUN for p in 80 22; do /bin/busybox nc -w 3 ${fx.blocked.ip4} $p </dev/null && echo LEAK-build-$p || echo build-blocked-$p; done; `
          + `/bin/busybox nc -w 3 ${fx.blocked.ip6} 80 </dev/null && echo LEAK-build-ipv6 || echo build-blocked-ipv6; `
          + '/bin/busybox nslookup blocked.test >/dev/null 2>&1 && echo LEAK-build-name || echo build-blocked-name; '
          + `/bin/busybox nslookup rogue-probe.evil.test ${fx.rogueDns} >/dev/null 2>&1 && echo LEAK-build-rogue || echo build-blocked-rogue; `
          + '/bin/busybox nslookup allowed.test >/dev/null 2>&1 && echo build-allowed-name || echo NOALLOW-build; '
          + '/bin/busybox readlink /proc/self/ns/net > /netns',
        '',
      ].join('\n'));
      chownTree(ws, TEST_UID, TEST_UID);
      const b = await docker(['build', '-f', 'Dockerfile.hdc-it', '-t', 'hdc-it-built:1', '.'], 180_000);
      assert.equal(b.exitCode, 0, b.stderr);
      for (const what of ['80', '22', 'ipv6', 'name', 'rogue']) assert.match(b.stdout, new RegExp(`^build-blocked-${what}$`, 'm'), b.stdout);
      assert.match(b.stdout, /^build-allowed-name$/m, `control: allowed.test resolves in a RUN step: ${b.stdout}`);
      assert.doesNotMatch(b.stdout, /^(LEAK|NOALLOW)/m);
      assert.equal((await docker(['run', '--rm', 'hdc-it-built:1', 'cat', '/netns'])).stdout.trim(), sidecarNetns);
    });

    it('docker-compose: two services on the project network reach each other by service name; one reaches allowed.test and nothing else', async () => {
      const esc = (t: string): string => t.replaceAll('$', '$$$$'); // compose reads $$ as $
      writeFileSync(path.join(ws, 'compose.hdc-it.yml'), JSON.stringify({
        version: '3',
        services: {
          web: { image: TINY, command: ['/bin/sh', '-c', 'mkdir -p /w && echo compose-web > /w/index.html && exec /bin/busybox httpd -f -p 8085 -h /w'] },
          client: { image: TINY, depends_on: ['web'], volumes: ['/usr:/usr:ro'], command: ['/bin/sh', '-c', esc(`${until('http://web:8085/')}\n${probe()}`)] },
        },
      }, null, 2));
      chownTree(ws, TEST_UID, TEST_UID);
      const compose = ['docker-compose', '-f', 'compose.hdc-it.yml', '-p', 'hdcit'];
      try {
        const up = await inside([...compose, 'up', '--abort-on-container-exit', '--exit-code-from', 'client'], 240_000);
        assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
        assert.match(up.stdout, /compose-web/, up.stdout);
        checkProbe(up, 'compose');
      } finally {
        await inside([...compose, 'down'], 120_000);
      }
    });

    it('a port is published as itself; another host port is refused with the reason', async () => {
      const refused = await docker(['run', '--rm', '-p', '8080:80', TINY, 'true']);
      assert.notEqual(refused.exitCode, 0);
      assert.match(refused.stderr, /port 80\/tcp cannot be published as 8080\. Publish it as itself/);
      const p = await docker(['run', '-d', '-p', '8086:8086', '--name', 'hdc-it-port', TINY, '/bin/busybox', 'httpd', '-f', '-p', '8086', '-h', '/bin']);
      assert.equal(p.exitCode, 0, p.stderr);
      assert.equal((await docker(['port', 'hdc-it-port', '8086'])).stdout.trim(), '0.0.0.0:8086');
      await docker(['rm', '-f', 'hdc-it-port']);
    });

    it('no rule changes through the docker client either: --cap-add NET_ADMIN and --privileged cannot flush; re-probed afterwards', async () => {
      const flush = ['/usr/sbin/xtables-nft-multi', 'iptables', '-F'];
      for (const flags of [['--cap-add', 'NET_ADMIN'], ['--privileged'], ['--network', 'hdc-it-net', '--cap-add', 'NET_ADMIN']]) {
        if (flags.includes('hdc-it-net')) await docker(['network', 'create', 'hdc-it-net']);
        // Either podman refuses to start it (--privileged: crun cannot mount sysfs in a
        // namespace it does not own), or it starts and iptables is refused.
        const r = await docker(['run', '-d', ...flags, '-v', '/usr:/usr:ro', TINY, ...flush]);
        if (r.exitCode !== 0) {
          assert.match(r.stderr, /Permission denied|not permitted/i, `${flags.join(' ')}: ${r.stderr}`);
          continue;
        }
        const id = r.stdout.trim();
        assert.notEqual((await docker(['wait', id])).stdout.trim(), '0', `${flags.join(' ')}: iptables -F succeeded`);
        const logs = await docker(['logs', id]);
        assert.match(`${logs.stdout}${logs.stderr}`, /Permission denied|not permitted/i, `${flags.join(' ')}: ${logs.stdout}${logs.stderr}`);
        await docker(['rm', '-f', id]);
      }
      checkProbe(await docker(['run', '--rm', '-v', '/usr:/usr:ro', TINY, '/bin/sh', '-c', probe()]), 'after the attempts');
      assert.notEqual((await inside(['curl', '-sS', '-m', '3', 'http://blocked.test/'])).exitCode, 0, 'the workspace reached blocked.test');
    });

    it('a testcontainers-style flow through the Docker API alone: network, container on it, wait for its port, remove both', async () => {
      const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
        const r = await inside(['curl', '-sS', '-m', '60', '--unix-socket', SOCKET, '-X', method, '-H', 'Content-Type: application/json',
          ...(body === undefined ? [] : ['-d', JSON.stringify(body)]), '-w', '\n%{http_code}', `http://d/v1.41${url}`]);
        const lines = r.stdout.split('\n');
        const text = lines.slice(0, -1).join('\n');
        return { status: Number(lines.at(-1)), json: text ? JSON.parse(text) as unknown : undefined };
      };
      const net = await api('POST', '/networks/create', { Name: 'hdc-it-tc', CheckDuplicate: true });
      assert.equal(net.status, 201, JSON.stringify(net.json));
      const created = await api('POST', '/containers/create?name=hdc-it-tc-web', {
        Image: TINY, Cmd: ['/bin/sh', '-c', 'mkdir -p /w && echo tc-ok > /w/index.html && exec /bin/busybox httpd -f -p 8087 -h /w'],
        ExposedPorts: { '8087/tcp': {} }, Labels: { 'org.testcontainers': 'true' },
        HostConfig: { NetworkMode: 'hdc-it-tc', PortBindings: { '8087/tcp': [{ HostIp: '', HostPort: '' }] } },
        NetworkingConfig: { EndpointsConfig: { 'hdc-it-tc': { Aliases: ['tcweb'] } } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const id = (created.json as { Id: string }).Id;
      assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
      const info = (await api('GET', `/containers/${id}/json`)).json as { NetworkSettings: { Ports: Record<string, { HostPort: string }[]>; Networks: Record<string, unknown> } };
      assert.equal(info.NetworkSettings.Ports['8087/tcp'][0].HostPort, '8087');
      assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ['hdc-it-tc']);
      // Wait for the port as testcontainers does from inside: exec in the container until it answers.
      let answered = '';
      for (let i = 0; i < 50 && !answered.includes('tc-ok'); i++) {
        const exec = await api('POST', `/containers/${id}/exec`, { Cmd: ['/bin/busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8087/'], AttachStdout: true, AttachStderr: true, Tty: true });
        const start = await inside(['curl', '-sS', '-m', '30', '--unix-socket', SOCKET, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"Detach":false,"Tty":true}',
          `http://d/v1.41/exec/${(exec.json as { Id: string }).Id}/start`]);
        answered = start.stdout;
        if (!answered.includes('tc-ok')) await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(answered, /tc-ok/);
      assert.equal((await api('DELETE', `/containers/${id}?force=true`)).status, 204);
      assert.equal((await api('DELETE', '/networks/hdc-it-tc')).status, 204);
      assert.equal((await api('GET', `/containers/${id}/json`)).status, 404);
    });
  }

  it('gives no way to root through the shared volume: nosuid,noexec there, and the sidecar in a user namespace of its own', async () => {
    const mounts = await inside(['grep', ' /run/hardened-devcontainers/podman ', '/proc/mounts']);
    assert.match(mounts.stdout, /nosuid/);
    assert.match(mounts.stdout, /noexec/);
    // A nested root plants a setuid-root program in the socket volume; the workspace cannot use it.
    const plant = await nested(['run', '--rm', '-v', '/run/hardened-devcontainers/podman:/s', TINY, 'sh', '-c', 'cp /bin/busybox /s/x && chmod 4755 /s/x']);
    assert.equal(plant.exitCode, 0, plant.stderr);
    const run = await inside(['/run/hardened-devcontainers/podman/x', 'id', '-u']);
    assert.notEqual(run.stdout.trim(), '0', 'the planted program ran as root');
    assert.notEqual(run.exitCode, 0, 'noexec: the planted program ran at all');
    // The sidecar's ids: its root is the host user, and rootless id 1 (the workspace's root) is not among them.
    const map = await engine('podman', ['exec', sidecarName(), 'cat', '/proc/self/uid_map']);
    assert.deepEqual(map.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')), ['0 0 1', '1 2 65535']);
  });

  it('passes the cpu and memory limits to the engine (inspect shows them)', async () => {
    const r = await engine('podman', ['container', 'inspect', '--format', '{{json .Config.CreateCommand}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.Memory}}', sidecarName()]);
    const [cmdJson, nanoCpus, memory] = r.stdout.trim().split('|');
    const cmd = JSON.parse(cmdJson) as string[];
    assert.equal(cmd[cmd.indexOf('--cpus') + 1], '1');
    assert.equal(cmd[cmd.indexOf('--memory') + 1], '512m');
    // Rootless podman on a cgroup v1 host records but does not apply limits (HostConfig 0);
    // on cgroup v2 the applied values show too.
    const v2 = (await execa('test', ['-e', '/sys/fs/cgroup/cgroup.controllers'], { reject: false })).exitCode === 0;
    if (v2) {
      assert.equal(nanoCpus, '1000000000');
      assert.equal(memory, String(512 * 1024 * 1024));
    }
  });

  it('puts the extFiles into the sidecar', async () => {
    const r = await engine('podman', ['exec', sidecarName(), 'cat', '/etc/hdc-test/hello.conf']);
    assert.equal(r.stdout, 'from extFiles');
  });

  it('keeps the loaded image on the graph volume across a sidecar restart, firewall re-applied', async () => {
    const restarted = await engine('podman', ['restart', sidecarName()]);
    assert.equal(restarted.exitCode, 0, restarted.stderr);
    let images: Result | undefined;
    for (let i = 0; i < 40; i++) {
      images = await nested(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      if (images.exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(images?.stdout ?? '', /hdc-test\/tiny:1/, images?.stderr);
    // The hook loaded the rules again before the restarted sidecar's first process.
    assert.notEqual((await wget('http://blocked.test/')).exitCode, 0, 'blocked.test after a restart');
    assert.equal((await wget('http://allowed.test/')).stdout.trim(), 'allowed');
  });

  it('a second up of the running workspace keeps the running sidecar (the same container) and the workspace', async () => {
    const before = (await engine('podman', ['container', 'inspect', '--format', '{{.Id}}', sidecarName()])).stdout.trim();
    const again = await hdc('podman', ['up', ws, '--json'], { timeoutMs: 300_000 });
    assert.equal(again.exitCode, 0, again.stderr);
    const out = upJson(again) as ReturnType<typeof upJson> & { sidecar: { action: string } };
    assert.equal(out.sidecar.action, 'kept');
    assert.equal((await engine('podman', ['container', 'inspect', '--format', '{{.Id}}', sidecarName()])).stdout.trim(), before);
    assert.equal(out.containerId, id, 'the workspace itself was kept too');
  });

  it('down removes the sidecar and its socket volume, keeps the graph volume; up brings it back with the images', async () => {
    const down = await hdc('podman', ['down', ws]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.equal((await engine('podman', ['container', 'exists', sidecarName()])).exitCode, 1, 'sidecar left behind');
    assert.equal((await engine('podman', ['volume', 'exists', `${name}-podman-sock`])).exitCode, 1, 'socket volume left behind');
    assert.equal((await engine('podman', ['volume', 'exists', graph])).exitCode, 0, 'the graph volume was removed without --volumes');
    assert.deepEqual(await containersOf('podman', ws), []);

    const up = await hdc('podman', ['up', ws, '--json'], { timeoutMs: 300_000 });
    assert.equal(up.exitCode, 0, up.stderr);
    id = upJson(up).containerId;
    const images = await nested(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(images.stdout, /hdc-test\/tiny:1/, 'a rebuilt sidecar has the images of the graph volume');

    const gone = await hdc('podman', ['down', ws, '--volumes']);
    assert.equal(gone.exitCode, 0, gone.stderr);
    assert.equal((await engine('podman', ['volume', 'exists', graph])).exitCode, 1, '--volumes keeps the graph volume');
  });

  it('cleans everything up when a step fails (a missing sidecar image): no workspace, sidecar or socket left', async () => {
    const dir = makeWorkspace('podman');
    try {
      writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({
        'hardenedDevcontainers.firewall.allowedDomains': [], 'hardenedDevcontainers.firewall.presets': [],
        'hardenedDevcontainers.podmanSidecar.enabled': true,
        'hardenedDevcontainers.podmanSidecar.image': 'localhost/hdc-test/no-such-sidecar:1',
      }));
      chownTree(dir, TEST_UID, TEST_UID);
      const r = await hdc('podman', ['up', dir, '--json'], { timeoutMs: 300_000 });
      assert.equal(r.exitCode, 2, r.stderr);
      assert.match(r.stderr, /sidecar image localhost\/hdc-test\/no-such-sidecar:1 is not in podman's image store/);
      assert.deepEqual(await containersOf('podman', dir), [], 'the workspace was left behind');
      const left = await engine('podman', ['ps', '-a', '-q', '--filter', `label=${LABELS.sidecarFor}=${dir}`]);
      assert.equal(left.stdout.trim(), '');
      const vols = await engine('podman', ['volume', 'ls', '-q']);
      assert.doesNotMatch(vols.stdout, new RegExp(`${path.basename(dir).toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}-[0-9a-f]{8}-podman`), 'a sidecar volume was left behind');
    } finally {
      await destroyWorkspace('podman', dir);
    }
  });
});
