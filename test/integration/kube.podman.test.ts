import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { dnsQueries, removeStaleEgressFixtures, startEgressFixture, type EgressFixture } from '../support/egressFixture';
import { BASE_IMAGE, chownTree, engine, hdc, makeWorkspace, requireEngine, TEST_UID, type Result } from '../support/testbed';
import { importTinyImage, TINY_IMAGE } from '../support/tinyImage';

const PODMAN_IMAGE = 'localhost/hardened-devcontainers/podman:bookworm';

/**
 * `hdc kube --target podman`: the generated manifests run by a real rootless `podman kube
 * play` on the egress fixture's internal network. Inside the pod's workspace container the
 * same guarantees as `hdc up`'s are probed: the allowlist by name through the filtering
 * resolver, nothing else out (names, raw addresses, IPv6, other resolvers, DNS tunnelling),
 * no sudo, no capability, the config read-only, the lifecycle under the rules.
 */
/** Removes pods of ours that a crashed run left (by their names, which only this suite uses). */
async function removeStalePods(): Promise<void> {
  const r = await engine('podman', ['pod', 'ps', '--format', '{{.Name}}', '--filter', 'name=^hdc-kube-test-']);
  for (const name of r.stdout.split('\n').filter(Boolean)) await engine('podman', ['pod', 'rm', '-f', '-t', '0', name]);
  const v = await engine('podman', ['volume', 'ls', '--format', '{{.Name}}']);
  const stale = v.stdout.split('\n').filter((n) => n.startsWith('hdc-kube-test-'));
  if (stale.length) await engine('podman', ['volume', 'rm', '-f', ...stale]);
}

/** podman kube play keeps the ConfigMaps' volumes (and a claim's) after `kube down`: ours go by name. */
async function removePodVolumes(pod: string, extra: string[] = []): Promise<void> {
  const names = [`${pod}-hdc-firewall`, `${pod}-hdc-lifecycle`, ...extra];
  const r = await engine('podman', ['volume', 'ls', '--format', '{{.Name}}']);
  const ours = r.stdout.split('\n').filter((v) => names.includes(v));
  if (ours.length) await engine('podman', ['volume', 'rm', '-f', ...ours]);
}

/** Generates the manifests with hdc, runs them with the command hdc names, waits for the workspace. */
async function generateAndPlay(ws: string, pod: string, file: string): Promise<{ generated: Result; playArgs: string[] }> {
  const generated = await hdc('podman', ['kube', ws, '--target', 'podman', '--name', pod, '--out', file]);
  assert.equal(generated.exitCode, 0, `hdc kube failed:\n${generated.stderr}`);
  const line = generated.stderr.split('\n').find((l) => l.startsWith('run it here: podman kube play '));
  assert.ok(line, `hdc kube names the command that runs the manifests here:\n${generated.stderr}`);
  const playArgs = line.slice('run it here: podman '.length).split(' ');
  const play = await engine('podman', playArgs, 180_000);
  assert.equal(play.exitCode, 0, `podman kube play failed:\n${play.stderr}`);
  // The workspace's own process prints this once the lifecycle commands are done.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const logs = await engine('podman', ['logs', `${pod}-workspace`]);
    if (logs.stdout.includes('Container started')) break;
    if (Date.now() > deadline) {
      const egress = await engine('podman', ['logs', `${pod}-hdc-egress`]);
      const resolver = await engine('podman', ['exec', `${pod}-hdc-egress`, '/bin/cat', '/tmp/hdc-resolver.log']);
      assert.fail(`the workspace did not start within 60 s:\n${logs.stdout.split('\n').slice(-6).join('\n')}${logs.stderr.split('\n').slice(-6).join('\n')}\n`
        + `egress: ${egress.stdout}${egress.stderr}\nresolver log: ${resolver.stdout}${resolver.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { generated, playArgs };
}

describe('hdc kube: the manifests under podman kube play (egress fixture)', function () {
  let fx: EgressFixture;

  before(async function () {
    this.timeout(300_000);
    await requireEngine('podman');
    await removeStalePods();
    await removeStaleEgressFixtures('podman');
    fx = await startEgressFixture('podman');
  });
  after(async function () {
    this.timeout(120_000);
    await removeStalePods();
    await fx?.stop();
  });

  describe('the workspace', function () {
    const pod = `hdc-kube-test-${process.pid}`;
    let ws: string;
    let file: string;
    let playArgs: string[];

    const inside = (argv: string[], timeoutMs = 30_000): Promise<Result> => engine('podman', ['exec', `${pod}-workspace`, ...argv], timeoutMs);
    const curl = (url: string, ...flags: string[]): Promise<Result> => inside(['curl', '-sS', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', ...flags, url]);

    before(async function () {
      this.timeout(300_000);
      ws = makeWorkspace('podman');
      writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({
        image: BASE_IMAGE, remoteUser: 'vscode',
        runArgs: ['--network', fx.network],
        // Runs once the rules and the resolver are up: the first must get through, the second not.
        // ($(…) and $$ reach the shell as written: podman's kube play expands neither.)
        postCreateCommand: 'test "$(printf %s ab)" = ab && curl -sS -m 3 -o .allowed-from-postcreate http://allowed.test/ && ! curl -sS -m 3 http://blocked.test/ 2>.blocked-from-postcreate',
      }));
      writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({
        'hardenedDevcontainers.firewall.allowedDomains': ['allowed.test'], 'hardenedDevcontainers.firewall.presets': [],
        'hardenedDevcontainers.firewall.dnsServers': [fx.dns],
      }));
      chownTree(ws);
      file = path.join(ws, '..', `${path.basename(ws)}-kube.yaml`);
      ({ playArgs } = await generateAndPlay(ws, pod, file));
    });

    after(async function () {
      this.timeout(120_000);
      if (file) await engine('podman', ['kube', 'down', file]);
      await removePodVolumes(pod);
      if (ws) rmSync(ws, { recursive: true, force: true });
      if (file) rmSync(file, { force: true });
    });

    it('writes valid objects: the firewall and lifecycle ConfigMaps and the pod, with its network and user', () => {
      const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as { kind: string; metadata: { name: string } });
      assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.name}`), [`ConfigMap ${pod}-hdc-firewall`, `ConfigMap ${pod}-hdc-lifecycle`, `Pod ${pod}`]);
      assert.deepEqual(playArgs, ['kube', 'play', '--userns', 'keep-id:uid=1000,gid=1000', '--network', fx.network, file]);
    });

    it('lets allowed.test answer 200, by name through the filtering resolver', async () => {
      const r = await curl('http://allowed.test/');
      assert.equal(r.stdout, '200', r.stderr);
    });

    it('ran the postCreateCommand after the rules were in place (it reached allowed.test and not blocked.test)', () => {
      assert.equal(readFileSync(path.join(ws, '.allowed-from-postcreate'), 'utf8').trim(), 'allowed');
      assert.match(readFileSync(path.join(ws, '.blocked-from-postcreate'), 'utf8'), /Could not resolve host: blocked\.test/);
    });

    it('refuses blocked.test, its raw address, port 22 and IPv6', async () => {
      const name = await inside(['curl', '-sS', '-m', '2', '-o', '/dev/null', 'http://blocked.test/']);
      assert.equal(name.exitCode, 6, `curl exit 6 is "could not resolve": ${name.stderr}`);
      assert.notEqual((await curl(`http://${fx.blocked.ip4}/`)).exitCode, 0, 'the blocked address answered');
      assert.notEqual((await curl(`http://${fx.blocked.ip4}:22/`)).exitCode, 0, 'port 22 answered');
      // Control: the allowed host's IPv4 answers once resolved; its IPv6 is refused (no v6 CIDR).
      for (const ip6 of [fx.allowed.ip6, fx.blocked.ip6]) assert.notEqual((await curl(`http://[${ip6}]/`, '-6')).exitCode, 0, `IPv6 ${ip6} answered`);
    });

    it('lets no query for a name outside the allowlist reach any resolver: UDP, TCP, via resolv.conf, to the upstream and a rogue one', async () => {
      const label = `t${randomBytes(6).toString('hex')}`;
      const tunnel = `${label}.exfil.test`;
      for (const argv of [
        ['dig', '+time=1', '+tries=1', tunnel, 'TXT'],
        ['dig', '+time=1', '+tries=1', '+tcp', tunnel, 'A'],
        ['dig', '+time=1', '+tries=1', `@${fx.dns}`, tunnel, 'AAAA'],
        ['dig', '+time=1', '+tries=1', '+tcp', `@${fx.dns}`, tunnel, 'TXT'],
        ['dig', '+time=1', '+tries=1', `@${fx.rogueDns}`, tunnel, 'A'],
      ]) {
        const r = await inside(argv);
        assert.doesNotMatch(r.stdout, /status: NOERROR[\s\S]*ANSWER: [1-9]/, `${argv.join(' ')} got an answer:\n${r.stdout}`);
      }
      // Control: the upstream does log what reaches it (the allowed name, asked just now).
      assert.equal((await inside(['dig', '+short', '+time=2', '+tries=1', 'allowed.test'])).stdout.trim(), fx.allowed.ip4);
      const upstream = await dnsQueries(fx);
      assert.ok(upstream.some((l) => l.includes('allowed.test')), `control: the upstream logged the allowed name:\n${upstream.join('\n')}`);
      assert.deepEqual(upstream.filter((l) => l.includes(label)), [], 'a query for the non-allowed name reached the upstream resolver');
      assert.deepEqual((await dnsQueries(fx, 'rogue-dns')).filter((l) => l.includes(label)), [], 'a query reached the rogue resolver');
    });

    it('runs the workspace as vscode with no capability, no sudo and no way to new privileges', async () => {
      const status = (await inside(['cat', '/proc/self/status'])).stdout;
      assert.match(status, /^CapEff:\s+0000000000000000$/m);
      assert.match(status, /^CapBnd:\s+0000000000000000$/m, 'not even in the bounding set: no NET_ADMIN, no NET_RAW');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.equal((await inside(['id', '-u'])).stdout.trim(), '1000');
      const sudo = await inside(['sudo', '-n', 'true']);
      assert.notEqual(sudo.exitCode, 0, 'sudo worked');
      // The egress container's processes (and its NET_ADMIN) are out of sight: no shared PID namespace.
      const ps = await inside(['ps', '-e', '-o', 'comm=']);
      assert.doesNotMatch(ps.stdout, /node|sh -c guard/, ps.stdout);
    });

    it('mounts .devcontainer and .vscode read-only over a writable source', async () => {
      const folder = '/workspaces/' + path.basename(ws);
      for (const dir of ['.devcontainer', '.vscode']) {
        const r = await inside(['touch', `${folder}/${dir}/x`]);
        assert.notEqual(r.exitCode, 0, `${dir} is writable`);
        assert.match(r.stderr, /Read-only file system/);
      }
      const ok = await inside(['touch', `${folder}/written-in-the-pod`]);
      assert.equal(ok.exitCode, 0, ok.stderr);
      // keep-id: the workspace's vscode is the host user, as with `hdc up`.
      assert.equal(statSync(path.join(ws, 'written-in-the-pod')).uid, TEST_UID);
    });

    it('a stopped and started pod loads the rules again before the workspace\'s first process, which waits for the new resolver', async function () {
      this.timeout(180_000);
      const count = async (container: string, text: string): Promise<number> => {
        const logs = await engine('podman', ['logs', container]);
        return `${logs.stdout}${logs.stderr}`.split(text).length - 1;
      };
      assert.equal((await engine('podman', ['pod', 'stop', '-t', '0', pod])).exitCode, 0);
      const start = await engine('podman', ['pod', 'start', pod], 120_000);
      assert.equal(start.exitCode, 0, start.stderr);
      const deadline = Date.now() + 60_000;
      while (await count(`${pod}-workspace`, 'Container started') < 2) {
        assert.ok(Date.now() < deadline, 'the workspace did not start again within 60 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      // The init container ran again (podman runs a pod's init containers once unless told "always").
      assert.equal(await count(`${pod}-hdc-egress-rules`, 'hdc-guard-rules-loaded'), 2);
      const rules = await engine('podman', ['inspect', '--format', '{{.State.FinishedAt}} {{.State.ExitCode}}', `${pod}-hdc-egress-rules`]);
      const egress = await engine('podman', ['inspect', '--format', '{{.State.StartedAt}}', `${pod}-hdc-egress`]);
      assert.match(rules.stdout, / 0\n?$/, rules.stdout);
      assert.equal((await curl('http://allowed.test/')).stdout, '200');
      const blocked = await curl('http://blocked.test/');
      assert.notEqual(blocked.stdout, '200', `blocked.test answered after the restart (rules ${rules.stdout.trim()}, egress started ${egress.stdout.trim()})`);
      assert.notEqual((await curl(`http://${fx.blocked.ip4}/`)).stdout, '200');
    });

    it('the workspace container started on its own (podman start NAME-workspace) runs nothing of devcontainer.json without the rules: it waits for the resolver', async function () {
      this.timeout(120_000);
      const ran = async (): Promise<number> => {
        const logs = await engine('podman', ['logs', `${pod}-workspace`]);
        return `${logs.stdout}${logs.stderr}`.split('hdc: running the postCreate command').length - 1;
      };
      assert.equal((await engine('podman', ['pod', 'stop', '-t', '0', pod])).exitCode, 0);
      const before = await ran();
      const start = await engine('podman', ['start', `${pod}-workspace`], 60_000);
      assert.equal(start.exitCode, 0, start.stderr);
      await new Promise((r) => setTimeout(r, 5000));
      const states = (await engine('podman', ['ps', '-a', '--format', '{{.Names}} {{.State}}', '--filter', `pod=${pod}`])).stdout;
      // podman 4's {{.State}} is its status text ("Up 5 seconds ago").
      assert.match(states, new RegExp(`^${pod}-workspace (Up|running)\\b`, 'm'), states);
      if (new RegExp(`^${pod}-hdc-egress (Up|running)\\b`, 'm').test(states)) {
        // Should podman start the egress container with it, that container loads the rules first.
        assert.notEqual((await curl('http://blocked.test/')).stdout, '200', `blocked.test answered:\n${states}`);
      } else {
        assert.equal(await ran(), before, `a lifecycle command ran with no egress container:\n${states}`);
        const first = await inside(['cat', '/proc/1/cmdline']);
        assert.match(first.stdout, /lifecycle\.sh/, 'the first process is the lifecycle script, still waiting');
      }
    });

    it('podman kube down removes the pod and its containers', async () => {
      const down = await engine('podman', ['kube', 'down', file]);
      assert.equal(down.exitCode, 0, down.stderr);
      assert.notEqual((await engine('podman', ['pod', 'exists', pod])).exitCode, 0, 'the pod is still there');
      const left = await engine('podman', ['ps', '-a', '--format', '{{.Names}}', '--filter', `name=^${pod}`]);
      assert.equal(left.stdout.trim(), '', `containers left: ${left.stdout}`);
    });
  });

  it('refuses before writing anything: a workspaceMount of the home folder (a hostPath would make it writable), a privileged sidecar (it would share the pod\'s rules), a graph storage named like the pod\'s objects', async function () {
    this.timeout(120_000);
    const ws = makeWorkspace('podman');
    try {
      const out = path.join(ws, 'refused.yaml');
      const cases: { config: Record<string, unknown>; settings?: Record<string, unknown>; message: RegExp }[] = [
        { config: { workspaceMount: 'source=/home/hdctest,target=/w,type=bind', workspaceFolder: '/w' }, message: /the workspace mount \(\/home\/hdctest\)/ },
        { config: {}, settings: { 'hardenedDevcontainers.podmanSidecar.enabled': true, 'hardenedDevcontainers.podmanSidecar.privileged': true }, message: /hardenedDevcontainers\.podmanSidecar\.privileged is on, and in a pod the sidecar shares/m },
        { config: {}, settings: { 'hardenedDevcontainers.podmanSidecar.enabled': true, 'hardenedDevcontainers.podmanSidecar.graphStorage': 'refused-workspace' }, message: /graphStorage "refused-workspace" could name one of the pod's own objects/ },
      ];
      for (const c of cases) {
        writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image: BASE_IMAGE, remoteUser: 'vscode', ...c.config }));
        writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify(c.settings ?? {}));
        chownTree(ws);
        const r = await hdc('podman', ['kube', ws, '--target', 'podman', '--name', 'refused', '--out', out]);
        assert.notEqual(r.exitCode, 0, r.stderr);
        assert.match(r.stderr, c.message);
        assert.equal(existsSync(out), false, 'manifests were written');
      }
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  describe('with the Podman sidecar', function () {
    const pod = `hdc-kube-test-${process.pid}-sc`;
    const graph = `hdc-kube-test-${process.pid}-graph`;
    let ws: string;
    let file: string;
    let removeTiny: (() => Promise<void>) | undefined;
    const nested = (args: string[]): Promise<Result> => engine('podman', ['exec', '-w', `/workspaces/${path.basename(ws)}`, `${pod}-workspace`, 'podman', '--remote', ...args], 120_000);
    const nestedCurl = (url: string): Promise<Result> => nested(['run', '--rm', '-v', '/usr:/usr:ro', TINY_IMAGE, '/usr/bin/curl', '-sS', '-m', '3', url]);

    before(async function () {
      this.timeout(300_000);
      ws = makeWorkspace('podman');
      writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({
        image: PODMAN_IMAGE, remoteUser: 'vscode', runArgs: ['--network', fx.network],
      }));
      writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({
        'hardenedDevcontainers.firewall.allowedDomains': ['allowed.test'], 'hardenedDevcontainers.firewall.presets': [],
        'hardenedDevcontainers.firewall.dnsServers': [fx.dns],
        'hardenedDevcontainers.podmanSidecar.enabled': true,
        'hardenedDevcontainers.podmanSidecar.graphStorage': graph,
      }));
      chownTree(ws);
      file = path.join(ws, '..', `${path.basename(ws)}-kube.yaml`);
      await generateAndPlay(ws, pod, file);
      // The test image goes into the sidecar through the socket, from inside the workspace.
      removeTiny = await importTinyImage();
      assert.equal((await engine('podman', ['save', '-o', path.join(ws, 'tiny.tar'), TINY_IMAGE])).exitCode, 0);
      chownTree(ws);
      const deadline = Date.now() + 30_000;
      let loaded: Result;
      do {
        loaded = await nested(['load', '-i', 'tiny.tar']);
      } while (loaded.exitCode !== 0 && Date.now() < deadline && await new Promise((r) => setTimeout(r, 500, true)));
      if (loaded.exitCode !== 0) {
        const logs = await engine('podman', ['logs', `${pod}-podman`]);
        const ls = await engine('podman', ['exec', `${pod}-workspace`, 'ls', '-la', '/run/hardened-devcontainers/podman/']);
        assert.fail(`podman --remote load: ${loaded.stderr}\nsidecar: ${logs.stdout}${logs.stderr}\n${ls.stdout}${ls.stderr}`);
      }
    });

    after(async function () {
      this.timeout(120_000);
      if (file) await engine('podman', ['kube', 'down', file]);
      await removePodVolumes(pod, [graph]);
      await removeTiny?.();
      if (ws) rmSync(ws, { recursive: true, force: true });
      if (file) rmSync(file, { force: true });
    });

    it('the socket is the remote user\'s, and DOCKER_HOST and CONTAINER_HOST name it', async () => {
      const ls = await engine('podman', ['exec', `${pod}-workspace`, 'stat', '-c', '%U %a', '/run/hardened-devcontainers/podman/podman.sock']);
      assert.equal(ls.stdout.trim(), 'vscode 600');
      // Its folder is read-only in the workspace: nothing can be planted where the socket goes.
      const plant = await engine('podman', ['exec', `${pod}-workspace`, 'touch', '/run/hardened-devcontainers/podman/planted']);
      assert.notEqual(plant.exitCode, 0, 'the workspace wrote into the socket\'s folder');
      assert.match(plant.stderr, /Read-only file system/);
      const env = await engine('podman', ['exec', `${pod}-workspace`, 'printenv', 'DOCKER_HOST', 'CONTAINER_HOST']);
      assert.deepEqual(env.stdout.trim().split('\n'), ['unix:///run/hardened-devcontainers/podman/podman.sock', 'unix:///run/hardened-devcontainers/podman/podman.sock']);
    });

    it('a nested container reaches allowed.test and not blocked.test nor its address: it is behind the pod\'s rules', async () => {
      const allowed = await nestedCurl('http://allowed.test/');
      assert.equal(allowed.stdout.trim(), 'allowed', allowed.stderr);
      assert.notEqual((await nestedCurl('http://blocked.test/')).exitCode, 0, 'blocked.test answered a nested container');
      assert.notEqual((await nestedCurl(`http://${fx.blocked.ip4}/`)).exitCode, 0, 'the blocked address answered a nested container');
    });

    it('the sidecar holds no network capability, and a nested --cap-add NET_ADMIN cannot flush the rules', async () => {
      const status = await engine('podman', ['exec', `${pod}-podman`, 'cat', '/proc/1/status']);
      const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)/m.exec(status.stdout)?.[1] ?? 'x'}`);
      assert.equal(bnd & ((1n << 12n) | (1n << 13n)), 0n, 'NET_ADMIN or NET_RAW in the sidecar\'s bounding set');
      const flush = await nested(['run', '--rm', '--cap-add', 'NET_ADMIN', '-v', '/usr:/usr:ro', TINY_IMAGE, '/usr/sbin/iptables', '-F']);
      assert.notEqual(flush.exitCode, 0, 'iptables -F worked in a nested container');
      assert.notEqual((await nestedCurl('http://blocked.test/')).exitCode, 0, 'blocked.test answered after the attempt');
    });

    it('a nested container cannot lower ip_unprivileged_port_start in the pod\'s namespace (then a process could send DNS past the resolver from a low port): not with NET_ADMIN, --sysctl or --privileged', async () => {
      const portStart = async (): Promise<string> => (await engine('podman', ['exec', `${pod}-workspace`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).stdout.trim();
      assert.equal(await portStart(), '1024');
      const write = ['sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start && cat /proc/sys/net/ipv4/ip_unprivileged_port_start'];
      // In the pod's own namespace (--network host, as the sidecar sees it) and in the default
      // one; a nested namespace of its own may set its own value, which is not the pod's.
      const attempts: Result[] = [];
      for (const net of [['--network', 'host'], []]) {
        attempts.push(await nested(['run', '--rm', ...net, '--cap-add', 'NET_ADMIN', TINY_IMAGE, ...write]));
        attempts.push(await nested(['run', '--rm', ...net, '--privileged', TINY_IMAGE, ...write]));
        attempts.push(await nested(['run', '--rm', ...net, '--sysctl', 'net.ipv4.ip_unprivileged_port_start=0', TINY_IMAGE, 'true']));
      }
      // Past podman's read-only /proc/sys: a proc of its own (SYS_ADMIN), where only the kernel's
      // rule stands (a net sysctl is writable with NET_ADMIN over the namespace's owner only).
      attempts.push(await nested(['run', '--rm', '--network', 'host', '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', TINY_IMAGE, 'sh', '-c',
        'mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo 0 > /tmp/p/sys/net/ipv4/ip_unprivileged_port_start']));
      const said = attempts.map((a) => `${a.exitCode}: ${a.stdout}${a.stderr}`).join('\n');
      assert.notEqual(attempts[0].exitCode, 0, `NET_ADMIN in the pod's namespace wrote it:\n${said}`);
      assert.notEqual(attempts[attempts.length - 1].exitCode, 0, `a proc of its own wrote it:\n${said}`);
      assert.equal(await portStart(), '1024', said);
    });

    it('podman kube down removes the pod; the graph storage (a claim: a podman volume) stays', async () => {
      assert.equal((await engine('podman', ['kube', 'down', file])).exitCode, 0);
      assert.notEqual((await engine('podman', ['pod', 'exists', pod])).exitCode, 0, 'the pod is still there');
      assert.equal((await engine('podman', ['volume', 'exists', graph])).exitCode, 0, 'the graph volume is gone');
    });
  });
});
