import { chmod, copyFile, mkdir, mkdtemp, readFile, readlink, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { CancelledError, EnvironmentError, HdcError, TimeoutError } from '../base/errors';
import { run, type CliCall, type ProcessOutput, type RunOptions } from '../base/runner';

/**
 * hdc's egress image: the one image that runs an egress container (the docker guard), built
 * offline from the machine's own Debian packages, not from a registry. It holds only what
 * the guard runs: sh, coreutils, sed, iptables and ipset, and the C++ runtime that the host's
 * Node (mounted in read-only, as the filtering resolver and the agent) needs.
 *
 * Built on first use, as the user that runs hdc: `apt-get download` (from the machine's
 * configured apt sources; no root needed) and `dpkg-deb -x` into a folder, then `tar` and
 * the engine's `import`. No maintainer script runs, so what they would do is done here: the
 * iptables alternatives, a root account, /tmp.
 */

/** Where a user's egress image is built and its id recorded: hdc's state, never a workspace's. */
export const egressImageDir = (stateRoot: string): string => path.join(stateRoot, 'egress-image');

/** The tag changes whenever what goes into the image does (EGRESS_PACKAGES, the fix-ups). */
export const EGRESS_IMAGE = 'localhost/hardened-devcontainers/egress:1';

/**
 * The cluster's egress image (`hdc egress-image --kube`, for `hdc kube`): the same, with this
 * machine's Node at /hdc/node and the filtering resolver's bundle in /hdc/dist, since a
 * cluster's pod cannot mount them from a host. Push it where the cluster pulls from.
 */
export const EGRESS_KUBE_IMAGE = 'localhost/hardened-devcontainers/egress-kube:1';

/** A self-contained build: the Node binary and the bundle files to copy in. */
export interface SelfContained {
  node: string;
  dist: string[];
}

/** What the guard runs (guard.sh), and the host Node's libraries (libstdc++6, libgcc-s1). */
export const EGRESS_PACKAGES = ['dash', 'coreutils', 'sed', 'iptables', 'ipset', 'libstdc++6', 'libgcc-s1'] as const;

/** The names iptables' maintainer script links to its multi-call binary (update-alternatives). */
const IPTABLES_NAMES = ['iptables', 'iptables-restore', 'iptables-save', 'ip6tables', 'ip6tables-restore', 'ip6tables-save'];

const aptCall = <T>(command: string, args: string[], parse: (r: ProcessOutput) => T, cwd?: string): CliCall<T> =>
  ({ command, args, parse, cwd, env: { LC_ALL: 'C' } });

/** The packages and everything they depend on (Depends and Pre-Depends), by name. */
export function dependencyClosure(packages: readonly string[]): CliCall<string[]> {
  return aptCall('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...packages],
    (r) => parseClosure(r.stdout));
}

/**
 * `apt-cache depends --recurse` output: a package name at the start of a line, its relations
 * indented under it. Virtual packages (<name>) have no file of their own.
 */
export function parseClosure(text: string): string[] {
  const names = text.split('\n').filter((l) => /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?$/.test(l)).map((l) => l.replace(/:.*$/, ''));
  return [...new Set(names)].sort();
}

/**
 * The host's iptables flavour (nft or legacy), read from its alternatives link: the guard
 * loads the same rules files as the host's tools would. nft when the host has no iptables.
 */
export async function iptablesFlavour(altLink = '/etc/alternatives/iptables'): Promise<'nft' | 'legacy'> {
  const target = await readlink(altLink).catch(() => '');
  return /xtables-legacy-multi$/.test(target) ? 'legacy' : 'nft';
}

/**
 * The image id of the egress image this user built, recorded in hdc's state (never in a
 * workspace): the guard runs that id, never the tag. A tag is a name anyone with the engine
 * can move, a workspace's own build included (`build.options: ["-t", EGRESS_IMAGE]`).
 */
const recordFile = (dir: string, engine: EngineClient, kube = false): string => path.join(dir, `${engine.runtime}${kube ? '-kube' : ''}.json`);

async function recordedId(dir: string, engine: EngineClient, kube = false): Promise<string | undefined> {
  try {
    const rec = JSON.parse(await readFile(recordFile(dir, engine, kube), 'utf8')) as { id?: unknown };
    return typeof rec.id === 'string' && /^sha256:[0-9a-f]{64}$/.test(rec.id) ? rec.id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The egress image's id: the one recorded in `dir` if the engine still has it, else a new
 * build (whatever the tag names now is not trusted). `progress` hears each stage of a build
 * (~10-30 s, once). The work folder is removed afterwards, also when a stage fails; a failed
 * build records nothing.
 */
export async function ensureEgressImage(engine: EngineClient, dir: string, options: RunOptions, progress: (what: string) => void = () => undefined,
  selfContained?: SelfContained): Promise<{ id: string; built: boolean }> {
  const kube = selfContained !== undefined;
  const tag = kube ? EGRESS_KUBE_IMAGE : EGRESS_IMAGE;
  const known = await recordedId(dir, engine, kube);
  const bare = (id: string | undefined): string | undefined => id?.replace(/^sha256:/, '');
  if (known && bare((await run(engine.imageInspect(known), options))?.id) === bare(known)) return { id: known, built: false };
  progress(`building hdc's egress image ${tag} from this machine's Debian packages (once)`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(path.join(dir, 'build-'));
  try {
    const packages = await run(dependencyClosure(EGRESS_PACKAGES), options).catch((e: unknown) => { throw buildError('apt-cache could not list the packages', e); });
    const debs = path.join(work, 'debs');
    const root = path.join(work, 'root');
    await mkdir(debs);
    await mkdir(root);
    progress(`downloading ${packages.length} packages (apt-get download, from this machine's apt sources)`);
    await run(aptCall('apt-get', ['download', ...packages], () => undefined, debs), options).catch((e: unknown) => { throw buildError('apt-get download failed', e); });
    progress('unpacking');
    for (const deb of (await readdir(debs)).filter((f) => f.endsWith('.deb')).sort()) {
      await run({ command: 'dpkg-deb', args: ['-x', path.join(debs, deb), root], parse: () => undefined }, options);
    }
    await fixUps(root, await iptablesFlavour());
    if (selfContained) {
      await mkdir(path.join(root, 'hdc', 'dist'), { recursive: true });
      await copyFile(selfContained.node, path.join(root, 'hdc', 'node'));
      for (const f of selfContained.dist) await copyFile(f, path.join(root, 'hdc', 'dist', path.basename(f)));
    }
    const tarball = path.join(work, 'egress.tar');
    await run({ command: 'tar', args: ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, '.'], parse: () => undefined }, options);
    progress(`importing into ${engine.runtime}`);
    const id = await run(engine.importImage(tarball, tag, ['CMD ["/bin/sh"]'], `hdc egress image: ${packages.join(' ')}${kube ? ' + Node and the filtering resolver' : ''}`), options);
    if (!/^sha256:[0-9a-f]{64}$/.test(id)) throw new HdcError(`${engine.runtime} import gave no image id (${JSON.stringify(id.slice(0, 100))})`);
    const tmp = `${recordFile(dir, engine, kube)}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ id, tag, packages })}\n`, { mode: 0o600 });
    await rename(tmp, recordFile(dir, engine, kube));
    return { id, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** What the packages' maintainer scripts would have done, for what the guard runs. */
async function fixUps(root: string, flavour: 'nft' | 'legacy'): Promise<void> {
  await mkdir(path.join(root, 'usr', 'sbin'), { recursive: true });
  for (const name of IPTABLES_NAMES) {
    const link = path.join(root, 'usr', 'sbin', name);
    await rm(link, { force: true });
    await symlink(`xtables-${flavour}-multi`, link);
  }
  // Documentation and translations: nothing in the image reads them.
  for (const dir of ['doc', 'doc-base', 'man', 'info', 'locale', 'lintian', 'bug']) await rm(path.join(root, 'usr', 'share', dir), { recursive: true, force: true });
  // Root, for `id` and the C library's look-ups; /tmp for the resolver's log and socket.
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  await mkdir(path.join(root, 'tmp'), { recursive: true });
  await chmod(path.join(root, 'tmp'), 0o1777);
  await mkdir(path.join(root, 'root'), { recursive: true });
  await chmod(path.join(root, 'root'), 0o700);
}

function buildError(what: string, e: unknown): unknown {
  if (e instanceof HdcError && !(e instanceof CancelledError || e instanceof TimeoutError || e instanceof EnvironmentError)) {
    return new EnvironmentError(`hdc could not build its egress image (${EGRESS_IMAGE}): ${what}: ${e.message}`,
      'fix the machine\'s apt sources (apt-get download must work as your user), or set hardenedDevcontainers.firewall.guardImage to an image with sh, iptables and ipset');
  }
  return e;
}
