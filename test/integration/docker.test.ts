import { strict as assert } from 'node:assert';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BASE_IMAGE, chownTree, destroyWorkspace, engine, hdc, makeWorkspace, useDockerDaemon } from '../support/testbed';
import { upDownContract } from './upDown.shared';

describe('docker engine', function () {
  // The suite owns its daemon: started here, stopped by PID afterwards (scripts/dockerd.sh).
  useDockerDaemon();

  upDownContract('docker');

  it('uses docker directly: the podman shim is not involved', async () => {
    const ws = makeWorkspace('docker');
    const log = `/tmp/hdc-it-docker-shim-${process.pid}.log`;
    try {
      const r = await hdc('docker', ['up', ws], { env: { HDC_SHIM_LOG: log } });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /Docker is running rootful/);
      assert.ok(!existsSync(log), 'the shim must not run for docker');
    } finally {
      await destroyWorkspace('docker', ws);
      rmSync(log, { force: true });
    }
  });

  it('runs the firewall guard as root of its own container when the workspace image\'s USER is not root', async function () {
    this.timeout(300_000);
    // An image that ends with `USER vscode` (as the Claude Code reference image ends with
    // `USER node`), made with commit: no build, nothing looked up.
    const tag = `localhost/hdc-test/user-vscode:${process.pid}`;
    const made = await engine('docker', ['create', '--label', 'dev.hardened-devcontainers.test=user-image', BASE_IMAGE, 'true']);
    assert.equal(made.exitCode, 0, made.stderr);
    const ws = makeWorkspace('docker');
    try {
      assert.equal((await engine('docker', ['commit', '--change', 'USER vscode', made.stdout.trim(), tag])).exitCode, 0);
      writeFileSync(path.join(ws, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image: tag, remoteUser: 'vscode' }));
      chownTree(ws, 1000, 1000);
      const r = await hdc('docker', ['up', ws, '--json']);
      assert.equal(r.exitCode, 0, r.stderr);
      const name = (JSON.parse(r.stdout) as { containerName: string }).containerName;
      assert.equal((await engine('docker', ['exec', `${name}-fw`, 'id', '-u'])).stdout.trim(), '0', 'the guard runs as root of its container');
      assert.equal((await engine('docker', ['exec', name, 'id', '-un'])).stdout.trim(), 'vscode', 'the workspace keeps the image\'s user');
      const status = await hdc('docker', ['status', ws, '--json']);
      assert.equal((JSON.parse(status.stdout) as { ok: boolean }).ok, true, status.stdout);
    } finally {
      await destroyWorkspace('docker', ws);
      await engine('docker', ['rm', '-f', made.stdout.trim()]);
      await engine('docker', ['rmi', '-f', tag]);
    }
  });
});
