import { execa } from 'execa';
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { REPO, requireEngine } from '../support/testbed';
import { hardeningContract } from './hardening.shared';

describe('hardening on docker', function () {
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

  hardeningContract('docker');
});
