import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { engine } from './testbed';

/**
 * A test image of a few MB for nested containers: the host's static busybox (sh, echo,
 * wget, cat, true) plus lib, lib64 and sbin links into /usr, so that a nested container can
 * mount the sidecar's /usr read-only and use its curl and iptables.
 */
export const TINY_IMAGE = 'localhost/hdc-test/tiny:1';

/** Imports TINY_IMAGE into the test user's podman (idempotent); returns a clean-up. */
export async function importTinyImage(): Promise<() => Promise<void>> {
  const dir = mkdtempSync('/tmp/hdc-tiny-');
  try {
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    mkdirSync(path.join(root, 'usr'));
    copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    for (const tool of ['sh', 'echo', 'wget', 'cat', 'true']) symlinkSync('busybox', path.join(root, 'bin', tool));
    for (const [link, to] of [['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['sbin', 'usr/sbin']]) symlinkSync(to, path.join(root, link));
    await execa('tar', ['-C', root, '-cf', path.join(dir, 'tiny.tar'), '.']);
    chmodSync(dir, 0o755);
    const r = await engine('podman', ['import', '--change', 'CMD ["/bin/sh"]', path.join(dir, 'tiny.tar'), TINY_IMAGE]);
    if (r.exitCode !== 0) throw new Error(`podman import of the test image failed: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return async () => { await engine('podman', ['rmi', '-f', TINY_IMAGE]); };
}
