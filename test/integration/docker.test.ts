import { strict as assert } from 'node:assert';
import { existsSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import * as path from 'node:path';
import { destroyWorkspace, hdc, makeWorkspace, REPO, requireEngine } from '../support/testbed';
import { upDownContract } from './upDown.shared';

describe('docker engine', function () {
  // The suite owns its daemon: started here, stopped by PID afterwards (scripts/dockerd.sh).
  before(async function () {
    this.timeout(300_000);
    const r = await execa('bash', [path.join(REPO, 'scripts', 'dockerd.sh'), 'start'], { reject: false });
    assert.equal(r.exitCode, 0, `dockerd did not start:\n${r.stdout}\n${r.stderr}`);
    await requireEngine('docker');
  });
  after(async function () {
    this.timeout(60_000);
    await execa('bash', [path.join(REPO, 'scripts', 'dockerd.sh'), 'stop'], { reject: false });
  });

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
});
