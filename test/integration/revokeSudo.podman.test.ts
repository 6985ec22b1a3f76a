import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BASE_IMAGE, engine, REPO, requireEngine } from '../support/testbed';

/**
 * revoke-sudo.sh as `up` runs it (as root, the script on stdin, the user as an argument), in
 * a real container whose sudoers grant root in each of the ways images do, and whose group
 * names try to reach the script's patterns.
 */
describe('revoke-sudo.sh on real sudoers shapes (rootless podman)', () => {
  const label = `dev.hardened-devcontainers.test=revoke-${randomBytes(4).toString('hex')}`;
  const script = readFileSync(path.join(REPO, 'src', 'hardening', 'revoke-sudo.sh'), 'utf8');
  let id = '';
  const root = async (cmd: string): Promise<string> => {
    const r = await engine('podman', ['exec', '-u', 'root', id, 'sh', '-c', cmd]);
    assert.equal(r.exitCode, 0, `${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const revoke = async (user = 'vscode') => {
    // engine() has no stdin: the script goes in as a file, run as `up` feeds it (sh -s).
    await root(`cat > /tmp/revoke.sh <<'HDC_EOF'\n${script}\nHDC_EOF`);
    return engine('podman', ['exec', '-u', 'root', id, 'sh', '-c', 'sh -s -- "$1" </tmp/revoke.sh', 'sh', user]);
  };

  before(async function () {
    this.timeout(120_000);
    await requireEngine('podman');
    const r = await engine('podman', ['run', '-d', '--label', label, '--network', 'none', BASE_IMAGE, 'sleep', '600']);
    assert.equal(r.exitCode, 0, r.stderr);
    id = r.stdout.trim();
  });
  after(async () => {
    const ids = (await engine('podman', ['ps', '-aq', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean);
    if (ids.length) await engine('podman', ['rm', '-f', '-t', '0', ...ids]);
  });

  it('removes every grant (the user, its groups, ALL, NOPASSWD in sudoers, the sudo group, an empty root password on the last, unterminated line of /etc/shadow), keeps the rest, and verifies', async function () {
    this.timeout(60_000);
    await root([
      'groupadd devs', 'usermod -aG devs,sudo vscode',
      'echo "%devs ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/devs',
      'printf "  ALL ALL=(ALL) NOPASSWD: ALL\\nDefaults env_reset\\n" > /etc/sudoers.d/everyone',
      'echo "%sudo ALL=(ALL:ALL) NOPASSWD: ALL" >> /etc/sudoers',
      'echo "otheruser ALL=(ALL) ALL" > /etc/sudoers.d/other',
      // An empty root password, on the last line of /etc/shadow with no newline after it.
      'grep -v "^root:" /etc/shadow > /tmp/shadow && printf "root::19000:0:99999:7:::" >> /tmp/shadow && cat /tmp/shadow > /etc/shadow',
    ].join(' && '));
    assert.equal((await engine('podman', ['exec', '-u', 'vscode', id, 'sudo', '-n', 'true'])).exitCode, 0, 'the grants work before');
    const r = await revoke();
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^sudo-check: fails: .*password is required/m);
    assert.match(r.stdout, /^root-password: locked$/m);
    assert.match(r.stdout, /^revoked$/m);
    assert.equal(await root('cat /etc/sudoers.d/devs /etc/sudoers.d/vscode'), '');
    assert.equal(await root('cat /etc/sudoers.d/everyone'), 'Defaults env_reset');
    assert.equal(await root('cat /etc/sudoers.d/other'), 'otheruser ALL=(ALL) ALL', 'a line for another user stays');
    assert.doesNotMatch(await root('cat /etc/sudoers'), /NOPASSWD/);
    assert.doesNotMatch(await root('id -Gn vscode'), /\bsudo\b/);
    assert.notEqual((await engine('podman', ['exec', '-u', 'vscode', id, 'sudo', '-n', 'true'])).exitCode, 0);
    const again = await revoke();
    assert.equal(again.exitCode, 0, `idempotent: ${again.stderr}`);
  });

  it('refuses a user or group name that would reach its patterns (sed\'s "e" command), running nothing', async function () {
    this.timeout(60_000);
    // A group that an image's /etc/group can name anything: here, sed's "e" (run a command).
    await root([
      'printf "#!/bin/sh\\ntouch /tmp/pwned\\n" > /tmp/p && chmod 755 /tmp/p',
      'echo "x/e/tmp/p;#:x:4242:vscode" >> /etc/group',
      'echo "x/e/tmp/p;# ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/bait.bak',
    ].join(' && '));
    const r = await revoke();
    assert.equal(r.exitCode, 3);
    assert.match(r.stderr, /cannot revoke sudo safely: the user or one of its groups is named "x\/e\/tmp\/p;#"/);
    assert.equal((await engine('podman', ['exec', id, 'test', '-e', '/tmp/pwned'])).exitCode, 1, 'nothing ran');
    const missing = await revoke('nobody-here');
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /no such user: nobody-here/);
  });
});
