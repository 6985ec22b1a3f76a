import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../support/testbed';

/** `hdc`'s own argument handling (no engine involved): the source, run through tsx. */
describe('hdc arguments', () => {
  const hdc = (args: string[]): { status: number; stdout: string; stderr: string } => {
    try {
      const stdout = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'cli', 'hdc.ts'), ...args], { encoding: 'utf8', stdio: 'pipe', cwd: REPO });
      return { status: 0, stdout, stderr: '' };
    } catch (e) {
      const err = e as { status: number; stdout: string; stderr: string };
      return { status: err.status, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(hdc(['--version']), { status: 0, stdout: `hdc ${version}\n`, stderr: '' });
  });

  it('an unknown option is a usage error (exit 2) that names it, with no stack trace', () => {
    const r = hdc(['up', '--bogus']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "hdc: unknown option '--bogus'\nFix: see hdc --help\n");
  });

  it('an option without its value, and an unknown command, are usage errors too', () => {
    const missing = hdc(['up', '--runtime']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^hdc: Option '--runtime <value>' argument missing\nFix: see hdc --help\n$/);
    const unknown = hdc(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });
});
