import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/base/engine';
import { CommandFailedError, EnvironmentError } from '../../src/base/errors';
import type { CliCall, ProcessOutput, Runner } from '../../src/base/runner';
import { EGRESS_IMAGE, ensureEgressImage } from '../../src/firewall/egressImage';

/**
 * The egress image's build as a sequence of calls, with a fake runner: the real build (apt,
 * dpkg-deb, tar, docker import) runs in the docker integration suites.
 */
describe('egress image (firewall/egressImage.ts)', () => {
  let cache: string;
  beforeEach(() => { cache = mkdtempSync(path.join(tmpdir(), 'hdc-egress-')); });
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  /** A runner that answers like the tools; `aptFails` makes apt-get download fail as apt does. */
  function fake(present: boolean, aptFails = false): { runner: Runner; calls: string[] } {
    const calls: string[] = [];
    const runner: Runner = async <T>(call: CliCall<T>): Promise<T> => {
      calls.push([call.command, ...call.args.slice(0, 2)].join(' '));
      const out = (stdout: string, exitCode = 0, stderr = ''): T => {
        const r: ProcessOutput = { stdout, stderr, exitCode };
        if (exitCode !== 0 && !(call.acceptExitCodes ?? []).includes(exitCode)) throw new CommandFailedError(call.command, call.args, exitCode, stdout, stderr);
        return call.parse(r);
      };
      if (call.command === 'docker' && call.args[0] === 'image') return present ? out(JSON.stringify([{ Id: 'sha256:e', Config: {} }])) : out('', 1);
      if (call.command === 'apt-cache') return out('dash\n  PreDepends: libc6\nlibc6\n<awk>\niptables\n');
      if (call.command === 'apt-get') {
        if (aptFails) return out('', 100, 'E: Failed to fetch ... Temporary failure resolving');
        for (const p of call.args.slice(1)) writeFileSync(path.join(call.cwd ?? '.', `${p}_1_amd64.deb`), '');
        return out('');
      }
      return out('');
    };
    return { runner, calls };
  }

  it('builds nothing when the engine has it; otherwise downloads the closure, unpacks each, packs and imports, and leaves no work folder', async () => {
    const engine = new EngineClient('docker', 'docker');
    const have = fake(true);
    assert.deepEqual(await ensureEgressImage(engine, cache, { runner: have.runner }), { built: false });
    assert.deepEqual(have.calls, ['docker image inspect']);
    const none = fake(false);
    const heard: string[] = [];
    assert.deepEqual(await ensureEgressImage(engine, cache, { runner: none.runner }, (w) => heard.push(w)), { built: true });
    assert.deepEqual(none.calls.map((c) => c.replace(/ \/\S*\/debs\//, ' DEBS/')), ['docker image inspect', 'apt-cache depends --recurse', 'apt-get download dash',
      'dpkg-deb -x DEBS/dash_1_amd64.deb', 'dpkg-deb -x DEBS/iptables_1_amd64.deb', 'dpkg-deb -x DEBS/libc6_1_amd64.deb', 'tar --numeric-owner --owner=0', 'docker import --message']);
    assert.match(heard.join('\n'), new RegExp(`building hdc's egress image ${EGRESS_IMAGE.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(readdirSync(cache), [], 'the work folder is gone');
  });

  it('says why when apt cannot download (apt\'s own words) and how to do without; builds nothing', async () => {
    const engine = new EngineClient('docker', 'docker');
    const f = fake(false, true);
    await assert.rejects(ensureEgressImage(engine, cache, { runner: f.runner }), (e: EnvironmentError) => {
      assert.match(e.message, /hdc could not build its egress image .*apt-get download failed: .*Temporary failure resolving/);
      assert.match(e.fix ?? '', /apt-get download must work as your user.*hardenedDevcontainers\.firewall\.guardImage/);
      return true;
    });
    assert.ok(!f.calls.some((c) => c.startsWith('docker import')));
    assert.ok(existsSync(cache) && readdirSync(cache).length === 0);
  });
});
