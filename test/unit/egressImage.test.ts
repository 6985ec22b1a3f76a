import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  const ID = `sha256:${'a'.repeat(64)}`;
  const NEW = `sha256:${'b'.repeat(64)}`;
  /**
   * A runner that answers like the tools. `images`: what the engine has (by id or tag);
   * `aptFails` makes apt-get download fail as apt does; import prints NEW.
   */
  function fake(images: Record<string, string>, aptFails = false): { runner: Runner; calls: string[] } {
    const calls: string[] = [];
    const runner: Runner = async <T>(call: CliCall<T>): Promise<T> => {
      calls.push([call.command, ...call.args.slice(0, 2)].join(' '));
      const out = (stdout: string, exitCode = 0, stderr = ''): T => {
        const r: ProcessOutput = { stdout, stderr, exitCode };
        if (exitCode !== 0 && !(call.acceptExitCodes ?? []).includes(exitCode)) throw new CommandFailedError(call.command, call.args, exitCode, stdout, stderr);
        return call.parse(r);
      };
      if (call.command === 'docker' && call.args[0] === 'image') {
        const id = images[call.args[2]];
        return id ? out(JSON.stringify([{ Id: id, Config: {} }])) : out('', 1);
      }
      if (call.command === 'docker' && call.args[0] === 'import') return out(`${NEW}\n`);
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
  const record = (id: string): void => {
    mkdirSync(cache, { recursive: true });
    writeFileSync(path.join(cache, 'docker.json'), JSON.stringify({ id }));
  };

  it('runs the recorded id while the engine has it; builds when it has not, or when only the tag is there (a tag can be moved), and records the new id', async () => {
    const engine = new EngineClient('docker', 'docker');
    record(ID);
    const have = fake({ [ID]: ID });
    assert.deepEqual(await ensureEgressImage(engine, cache, { runner: have.runner }), { id: ID, built: false });
    assert.deepEqual(have.calls, ['docker image inspect']);
    // The tag names some image (a workspace's build could have moved it there): not used.
    const tagOnly = fake({ [EGRESS_IMAGE]: `sha256:${'f'.repeat(64)}` });
    const heard: string[] = [];
    rmSync(path.join(cache, 'docker.json'));
    assert.deepEqual(await ensureEgressImage(engine, cache, { runner: tagOnly.runner }, (w) => heard.push(w)), { id: NEW, built: true });
    assert.deepEqual(tagOnly.calls.map((c) => c.replace(/ \/\S*\/debs\//, ' DEBS/')), ['apt-cache depends --recurse', 'apt-get download dash',
      'dpkg-deb -x DEBS/dash_1_amd64.deb', 'dpkg-deb -x DEBS/iptables_1_amd64.deb', 'dpkg-deb -x DEBS/libc6_1_amd64.deb', 'tar --numeric-owner --owner=0', 'docker import --message']);
    assert.match(heard.join('\n'), new RegExp(`building hdc's egress image ${EGRESS_IMAGE.replace(/[.]/g, '\\.')}`));
    assert.equal((JSON.parse(readFileSync(path.join(cache, 'docker.json'), 'utf8')) as { id: string }).id, NEW);
    assert.deepEqual(readdirSync(cache), ['docker.json'], 'the work folder is gone');
    // Recorded, but the engine lost it (docker rmi): built again.
    record(ID);
    const gone = fake({});
    assert.equal((await ensureEgressImage(engine, cache, { runner: gone.runner })).built, true);
  });

  it('says why when apt cannot download (apt\'s own words) and how to do without; builds nothing', async () => {
    const engine = new EngineClient('docker', 'docker');
    const f = fake({}, true);
    await assert.rejects(ensureEgressImage(engine, cache, { runner: f.runner }), (e: EnvironmentError) => {
      assert.match(e.message, /hdc could not build its egress image .*apt-get download failed: .*Temporary failure resolving/);
      assert.match(e.fix ?? '', /apt-get download must work as your user.*hardenedDevcontainers\.firewall\.guardImage/);
      return true;
    });
    assert.ok(!f.calls.some((c) => c.startsWith('docker import')));
    assert.ok(existsSync(cache) && readdirSync(cache).length === 0, 'nothing recorded, no work folder');
  });
});
