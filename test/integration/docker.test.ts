import { strict as assert } from 'node:assert';
import { existsSync, rmSync } from 'node:fs';
import { destroyWorkspace, hdc, makeWorkspace, useDockerDaemon } from '../support/testbed';
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
});
