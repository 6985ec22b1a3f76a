import { strict as assert } from 'node:assert';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI_LABELS } from '../../src/base/labels';
import { chownTree, containersOf, destroyWorkspace, engine, hdc, makeWorkspace, upJson, workspaceOwner, type Result, type Runtime } from '../support/testbed';
import { buildStandInImages, CORPUS } from './corpus.shared';

/** The hello workspace with another devcontainer.json (and settings), owned for the engine. */
function workspace(runtime: Runtime, config: Record<string, unknown>, settings: Record<string, unknown> = {}): string {
  const ws = makeWorkspace(runtime);
  writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image: 'localhost/hardened-devcontainers/base:bookworm', remoteUser: 'vscode', ...config }));
  writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'hardenedDevcontainers.firewall.allowedDomains': [], 'hardenedDevcontainers.firewall.presets': [], ...settings }));
  chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
  return ws;
}

/** A local feature whose metadata asks for privileged and for capabilities (as docker-in-docker does). */
function withPrivilegedFeature(runtime: Runtime): string {
  const ws = workspace(runtime, { features: { './hungry': {} } });
  const dir = path.join(ws, '.devcontainer', 'hungry');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'devcontainer-feature.json'), JSON.stringify({ id: 'hungry', version: '1.0.0', name: 'asks for privilege', privileged: true, capAdd: ['SYS_ADMIN', 'NET_ADMIN'] }));
  writeFileSync(path.join(dir, 'install.sh'), '#!/bin/sh\nset -e\necho installed > /hungry-feature\n', { mode: 0o755 });
  chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
  return ws;
}

/**
 * A wrapped engine: adds privilege to the CLI's run of the workspace, a path no pre-check
 * sees. podman: --privileged. docker: SYS_ADMIN and no seccomp (this docker cannot start a
 * --privileged container next to hdc's cap-drops: "unable to apply caps").
 */
function wrappedEngine(runtime: Runtime): string {
  const extra = runtime === 'podman' ? '--privileged' : '--cap-add SYS_ADMIN --security-opt seccomp=unconfined';
  const dir = mkdtempSync(path.join('/tmp', 'hdc-wrap-'));
  const file = path.join(dir, runtime);
  writeFileSync(file, [
    '#!/bin/sh',
    '# Test double of an engine that adds privilege behind hdc\'s back (privilege.shared.ts).',
    'case " $* " in',
    `  *" run "*${CLI_LABELS.localFolder}=*) sub=$1; shift; exec /usr/bin/${runtime} "$sub" ${extra} "$@" ;;`,
    'esac',
    `exec /usr/bin/${runtime} "$@"`,
    '',
  ].join('\n'));
  chmodSync(file, 0o755);
  chmodSync(dir, 0o755);
  return file;
}

/** Privilege from every source is refused before a container exists, and a weaker result is caught after. */
export function privilegeContract(runtime: Runtime): void {
  describe(`privilege from every source (${runtime})`, () => {
    const made: string[] = [];
    before(async function () {
      this.timeout(600_000);
      await buildStandInImages(runtime);
    });
    after(async () => { for (const ws of made) await destroyWorkspace(runtime, ws); });
    const refused = async (ws: string, pattern: RegExp): Promise<Result> => {
      made.push(ws);
      const r = await hdc(runtime, ['up', ws, '--json'], { timeoutMs: 300_000 });
      assert.notEqual(r.exitCode, 0, `came up:\n${r.stdout}`);
      assert.match(r.stderr, pattern);
      assert.match(r.stderr, /Fix: /);
      assert.deepEqual(await containersOf(runtime, ws), [], 'a container exists');
      return r;
    };

    it('refuses a local feature whose metadata asks for privileged and capAdd, naming the feature', async () => {
      const r = await refused(withPrivilegedFeature(runtime), /feature "\.\/hungry" \(its devcontainer-feature\.json\): "privileged": true/);
      assert.match(r.stderr, /feature "\.\/hungry".*capAdd SYS_ADMIN/);
      assert.match(r.stderr, /feature "\.\/hungry".*capAdd NET_ADMIN/, 'a feature\'s NET_ADMIN cannot be withheld, so it is refused');
      assert.match(r.stderr, /remove the feature "\.\/hungry"/);
      assert.equal(r.exitCode, 2);
    });

    it('refuses an image whose devcontainer.metadata label asks for SYS_PTRACE and seccomp=unconfined, naming the label', async () => {
      const ws = makeWorkspace(runtime);
      cpSync(path.join(CORPUS, 'template-go', '.devcontainer'), path.join(ws, '.devcontainer'), { recursive: true });
      chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
      await refused(ws, /devcontainer\.metadata label of image localhost\/hdc-corpus\/devcontainers-go:latest \(entry "go"\): capAdd SYS_PTRACE/);
    });

    for (const [what, config, pattern] of [
      ['"privileged": true', { privileged: true }, /devcontainer\.json: "privileged": true gives the workspace every capability/],
      ['"capAdd": ["SYS_ADMIN"]', { capAdd: ['SYS_ADMIN'] }, /devcontainer\.json: capAdd SYS_ADMIN/],
      ['"securityOpt": ["seccomp=unconfined"]', { securityOpt: ['seccomp=unconfined'] }, /devcontainer\.json: securityOpt "seccomp=unconfined"/],
      ['a mount of the docker socket', { mounts: ['source=/var/run/docker.sock,target=/var/run/docker-host.sock,type=bind'] }, /devcontainer\.json: mount of \/var\/run\/docker\.sock/],
      ['runArgs --cap-add=SYS_PTRACE', { runArgs: ['--cap-add=SYS_PTRACE'] }, /devcontainer\.json: runArgs: "--cap-add=SYS_PTRACE" adds SYS_PTRACE/],
      ['runArgs --security-opt apparmor=unconfined', { runArgs: ['--security-opt', 'apparmor=unconfined'] }, /runArgs: "--security-opt apparmor=unconfined" turns AppArmor confinement off/],
      ['runArgs --device /dev/mem', { runArgs: ['--device', '/dev/mem'] }, /runArgs: "--device \/dev\/mem" gives the workspace the host device \/dev\/mem/],
    ] as const) {
      it(`refuses ${what} in devcontainer.json, naming it`, async () => {
        const r = await refused(workspace(runtime, config as Record<string, unknown>), pattern);
        assert.equal(r.exitCode, 2);
      });
    }

    it('removes a container that came up weaker: an engine wrapper adds privilege behind the pre-check', async () => {
      const ws = workspace(runtime, {}, { [`hardenedDevcontainers.${runtime}Path`]: wrappedEngine(runtime) });
      const r = await refused(ws, /Refused: /);
      // podman: the OCI hook read the spec back and refused the start; docker: the engine's
      // record and the kernel's were read back before any lifecycle command.
      assert.match(r.stderr, runtime === 'podman' ? /the container holds CAP_|without a default-deny seccomp filter/ : /came up weaker than hdc requires: it was given SYS_ADMIN; has security option seccomp=unconfined/);
    });

    it('refuses a remote user the image does not have, before a container exists', async () => {
      const r = await refused(workspace(runtime, { remoteUser: 'ghost' }), /the remote user "ghost" \(remoteUser of the merged configuration\) does not exist in image/);
      assert.equal(r.exitCode, 2);
    });

    it('takes the remote user from the image\'s devcontainer.metadata label when devcontainer.json names none', async () => {
      const ws = makeWorkspace(runtime);
      cpSync(path.join(CORPUS, 'template-debian', '.devcontainer'), path.join(ws, '.devcontainer'), { recursive: true });
      chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
      made.push(ws);
      const r = await hdc(runtime, ['up', ws, '--json'], { timeoutMs: 300_000 });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(upJson(r).remoteUser, 'vscode');
      assert.equal((await hdc(runtime, ['exec', ws, '--', 'id', '-un'])).stdout.trim(), 'vscode');
      assert.equal((await hdc(runtime, ['status', ws])).exitCode, 0);
    });

    if (runtime === 'podman') {
      it('refuses a remote user that a Dockerfile build lacks: read from the built image, nothing runs', async () => {
        const ws = workspace(runtime, { image: undefined, build: { dockerfile: 'Dockerfile' }, remoteUser: 'ghost' });
        writeFileSync(path.join(ws, '.devcontainer', 'Dockerfile'), 'FROM localhost/hardened-devcontainers/base:bookworm\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
        chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
        const r = await refused(ws, /the remote user "ghost" .* does not exist in image/);
        assert.doesNotMatch(r.stderr, /lifecycle/);
      });

      it('a Dockerfile build with a uid-1234 user: its ids from the built image, and from the container on the next up (running, then stopped)', async () => {
        const ws = workspace(runtime, { image: undefined, build: { dockerfile: 'Dockerfile' }, remoteUser: 'dev' });
        writeFileSync(path.join(ws, '.devcontainer', 'Dockerfile'), 'FROM localhost/hardened-devcontainers/base:bookworm\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
          + 'RUN groupadd -g 4321 dev && useradd -m -u 1234 -g 4321 dev\n');
        chownTree(ws, workspaceOwner(runtime), workspaceOwner(runtime));
        made.push(ws);
        for (const when of ['new', 'running', 'stopped']) {
          if (when === 'stopped') await engine(runtime, ['stop', '-t', '1', ...(await containersOf(runtime, ws))]);
          const r = await hdc(runtime, ['up', ws, '--json'], { timeoutMs: 300_000 });
          assert.equal(r.exitCode, 0, `${when}: ${r.stderr}`);
          assert.equal((upJson(r) as ReturnType<typeof upJson> & { remoteUserIds: { uid: number } }).remoteUserIds.uid, 1234, when);
        }
        const touch = await hdc(runtime, ['exec', ws, '--', 'sh', '-c', 'id -u > written-by-dev']);
        assert.equal(touch.exitCode, 0, touch.stderr);
        assert.equal(readFileSync(path.join(ws, 'written-by-dev'), 'utf8').trim(), '1234');
        assert.equal((await hdc(runtime, ['status', ws])).exitCode, 0);
      });

      it('runs "init": true (catatonit is podman\'s init)', async () => {
        const ws = workspace(runtime, { init: true });
        made.push(ws);
        const r = await hdc(runtime, ['up', ws, '--json']);
        assert.equal(r.exitCode, 0, r.stderr);
        // podman copies catatonit into the container as podman-init.
        assert.match((await hdc(runtime, ['exec', ws, '--', 'cat', '/proc/1/comm'])).stdout.trim(), /^(catatonit|podman-init)$/);
      });

      it('leads with the engine\'s own words when it refuses (a mount without type=), and creates nothing', async () => {
        const r = await refused(workspace(runtime, { mounts: ['source=hdc-no-type,target=/data'] }), /^hdc: The engine refused: incorrect mount format/m);
        assert.doesNotMatch(r.stderr.slice(r.stderr.indexOf('hdc: ')), /--sig-proxy/, 'the command line goes to the log, not the message');
      });
    }
  });
}
