import { strict as assert } from 'node:assert';
import { EnvironmentError } from '../../src/base/errors';
import { evaluateEngine, evaluateSubIds, hasSubIdRange, podmanVersionOk } from '../../src/workspace/preflight';
import { resolveExecutable } from '../../src/base/executables';

describe('preflight', () => {
  it('needs podman 4.3 or newer', () => {
    for (const v of ['4.3.0', '4.3.1', '4.9.4-rhel', '5.0.0-dev', '10.0']) assert.ok(podmanVersionOk(v), v);
    for (const v of ['4.2.9', '3.4.4', '', 'unknown']) assert.ok(!podmanVersionOk(v), v);
  });

  it('says when podman is too old, and how to fix it', () => {
    const [f] = evaluateEngine('podman', { version: '4.2.1', rootless: true });
    assert.equal(f.level, 'error');
    assert.match(f.message, /podman 4\.2\.1 is too old: 4\.3 or newer/);
    assert.match(f.fix, /upgrade podman/);
  });

  it('warns when podman is rootful and when docker is rootful', () => {
    assert.deepEqual(evaluateEngine('podman', { version: '4.3.1', rootless: false }).map((f) => f.level), ['warning']);
    assert.match(evaluateEngine('podman', { version: '4.3.1', rootless: false })[0].message, /running as root \(rootful\)/);
    const [d] = evaluateEngine('docker', { version: '20.10', rootless: false });
    assert.equal(d.level, 'warning');
    assert.match(d.message, /Docker is running rootful/);
    assert.deepEqual(evaluateEngine('docker', { version: '24', rootless: true }), []);
    assert.deepEqual(evaluateEngine('podman', { version: '4.3.1', rootless: true }), []);
  });

  it('finds subuid ranges by name or uid', () => {
    assert.ok(hasSubIdRange('alice:100000:65536\n', 'alice', 1500));
    assert.ok(hasSubIdRange('1500:100000:65536\n', 'alice', 1500));
    assert.ok(!hasSubIdRange('bob:100000:65536\n', 'alice', 1500));
    assert.ok(!hasSubIdRange('alice:100000:0\n', 'alice', 1500));
  });

  it('names the missing subuid or subgid file and the usermod fix', () => {
    const findings = evaluateSubIds({ user: 'alice', uid: 1500, subuid: 'alice:1:65536', subgid: '' });
    assert.equal(findings.length, 1);
    assert.match(findings[0].message, /No subgid range for user alice \(uid 1500\) in \/etc\/subgid/);
    assert.match(findings[0].fix, /usermod --add-subuids .* alice/);
  });

  it('says which PATH was searched for a missing engine', async () => {
    await assert.rejects(resolveExecutable('podman', '/nowhere/a:/nowhere/b'), (e: EnvironmentError) =>
      e instanceof EnvironmentError && /podman was not found on PATH \(searched: \/nowhere\/a:\/nowhere\/b\)/.test(e.message) && /apt-get install podman/.test(e.fix ?? ''));
    await assert.rejects(resolveExecutable('/nowhere/docker'), /\/nowhere\/docker does not exist or is not executable/);
    assert.equal(await resolveExecutable('sh', '/nowhere:/bin'), '/bin/sh');
  });
});
