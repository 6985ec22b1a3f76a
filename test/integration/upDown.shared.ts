import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { containersOf, destroyWorkspace, engine, hashTree, hdc, makeWorkspace, upJson, type Runtime } from '../support/testbed';

/** The up/exec/down contract, identical for both engines. */
export function upDownContract(runtime: Runtime): void {
  describe(`up, exec and down (${runtime})`, () => {
    let ws: string;
    let hashesBefore: Record<string, string>;
    let container: ReturnType<typeof upJson>;

    before(async () => {
      ws = makeWorkspace(runtime);
      hashesBefore = hashTree(ws);
      const r = await hdc(runtime, ['up', ws, '--json']);
      assert.equal(r.exitCode, 0, `hdc up failed:\n${r.stderr}`);
      container = upJson(r);
    });
    after(async () => destroyWorkspace(runtime, ws));

    it('leaves the container running with the remote user at uid 1000', async () => {
      const state = await engine(runtime, ['container', 'inspect', '--format', '{{.State.Running}}', container.containerId]);
      assert.equal(state.stdout.trim(), 'true');
      assert.equal(container.remoteUser, 'vscode');
      const id = await hdc(runtime, ['exec', ws, '--', 'id', '-u', 'vscode']);
      assert.equal(id.stdout.trim(), '1000', id.stderr);
      const who = await hdc(runtime, ['exec', ws, '--', 'id', '-un']);
      assert.equal(who.stdout.trim(), 'vscode');
    });

    it('ran the postCreateCommand as vscode in the workspace', () => {
      assert.equal(readFileSync(path.join(ws, '.postcreate-ran'), 'utf8').trim(), 'created by vscode (1000)');
    });

    it('mounts the workspace owned by vscode and writable; the host sees the write', async () => {
      const owner = await hdc(runtime, ['exec', ws, '--', 'stat', '-c', '%U', container.remoteWorkspaceFolder]);
      assert.equal(owner.stdout.trim(), 'vscode');
      const token = `written-inside-${Date.now()}`;
      const write = await hdc(runtime, ['exec', ws, '--', 'sh', '-c', 'printf %s "$1" > from-container.txt', 'sh', token]);
      assert.equal(write.exitCode, 0, write.stderr);
      assert.equal(readFileSync(path.join(ws, 'from-container.txt'), 'utf8'), token);
    });

    it('status reports the running container', async () => {
      const r = await hdc(runtime, ['status', ws, '--json']);
      assert.equal(r.exitCode, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.container.id, container.containerId);
      assert.equal(report.container.remoteWorkspaceFolder, container.remoteWorkspaceFolder);
      assert.equal(report.runtime, runtime);
    });

    it('down removes the container and loses nothing in the workspace', async () => {
      const r = await hdc(runtime, ['down', ws]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(await containersOf(runtime, ws), []);
      const after = hashTree(ws);
      for (const [file, hash] of Object.entries(hashesBefore)) assert.equal(after[file], hash, `${file} changed`);
      // The only new files are the ones the user's own commands wrote.
      assert.deepEqual(Object.keys(after).filter((f) => !(f in hashesBefore)).sort(), ['.postcreate-ran', 'from-container.txt']);
      const status = await hdc(runtime, ['status', ws, '--json']);
      assert.equal(status.exitCode, 1);
      assert.equal(JSON.parse(status.stdout).container, null);
    });
  });

  describe(`bad input (${runtime}): a clear message, a non-zero exit, no container`, () => {
    let ws: string;
    beforeEach(() => {
      ws = makeWorkspace(runtime);
    });
    afterEach(async () => destroyWorkspace(runtime, ws));

    const config = (): string => path.join(ws, '.devcontainer', 'devcontainer.json');
    const rewrite = (text: string): void => writeFileSync(config(), text);

    it('malformed devcontainer.json: names the file and the position, and leaves it as it was', async () => {
      const broken = '{\n  "image": "x"\n  "remoteUser": "vscode"\n}\n';
      rewrite(broken);
      const r = await hdc(runtime, ['up', ws]);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, new RegExp(`${config().replace(/[.]/g, '\\.')}:3:3: comma expected`));
      assert.equal(readFileSync(config(), 'utf8'), broken);
      assert.deepEqual(await containersOf(runtime, ws), []);
    });

    it('missing image: says which image and what to do', async () => {
      rewrite('{"image": "localhost/hardened-devcontainers/does-not-exist:1", "remoteUser": "vscode"}');
      const r = await hdc(runtime, ['up', ws]);
      assert.notEqual(r.exitCode, 0);
      assert.match(r.stderr, /Image "localhost\/hardened-devcontainers\/does-not-exist:1" .* is not available/);
      assert.match(r.stderr, /Fix: check the image name/);
      assert.deepEqual(await containersOf(runtime, ws), []);
    });

    it('unknown runtime value, in settings or --runtime: names the value and the choices', async () => {
      mkdirSync(path.join(ws, '.vscode'), { recursive: true });
      writeFileSync(path.join(ws, '.vscode', 'settings.json'), '{ "hardenedDevcontainers.runtime": "containerd" }');
      const fromSettings = await hdc(runtime, ['up', ws], { runtimeFlag: false });
      assert.equal(fromSettings.exitCode, 2);
      assert.match(fromSettings.stderr, /Unknown container runtime "containerd" \(from hardenedDevcontainers\.runtime\)/);
      assert.match(fromSettings.stderr, /Fix: use one of: podman, docker/);
      const fromFlag = await hdc(runtime, ['up', ws, '--runtime', 'lxc'], { runtimeFlag: false });
      assert.equal(fromFlag.exitCode, 2);
      assert.match(fromFlag.stderr, /Unknown container runtime "lxc" \(from --runtime\)/);
      assert.deepEqual(await containersOf(runtime, ws), []);
    });

    it('a remote user that is root is refused: every process would be root', async () => {
      rewrite('{"image": "localhost/hardened-devcontainers/base:bookworm", "remoteUser": "root"}');
      const r = await hdc(runtime, ['up', ws]);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, /the remote user \(root, remoteUser of the merged configuration\) is root, so every process in the workspace would be root/);
      assert.match(r.stderr, /Fix: set "remoteUser" to a non-root user/);
      assert.deepEqual(await containersOf(runtime, ws), []);
    });

    it('engine missing from PATH: says which PATH was searched', async () => {
      const r = await hdc(runtime, ['up', ws], { env: { PATH: '/nonexistent/bin' } });
      assert.equal(r.exitCode, 3);
      assert.match(r.stderr, new RegExp(`${runtime} was not found on PATH \\(searched: /nonexistent/bin\\)`));
      assert.match(r.stderr, /Fix: install it/);
      assert.deepEqual(await containersOf(runtime, ws), []);
    });
  });
}
