import { access, constants, readFile } from 'node:fs/promises';
import { realpathSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImageItem, EngineClient, Runtime } from '../base/engine';
import { EnvironmentError, InputError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import { containersConfDropIn, hooksHome, installOciHook, verifyThroughResolver } from '../firewall/podmanHook';
import type { BackendContext } from '../firewall/backend';
import type { PrivilegeRequest } from '../base/devcontainerCli';
import { checkPrivilegeSources, checkRunArgs, hostPathWhy, mountProblem, readProcStatus, type HostPathContext, type PrivilegeSource, type ProcPrivilege, type Withheld } from '../hardening/privilege';
import type { MergedConfigRecord } from '../base/devcontainerCli';
import { findWorkspaceContainers } from '../workspace/workspace';

/**
 * What `up` reads or changes on the host besides running processes: passed in (as the
 * runner is), so that the unit tests run `up` as a normal user without an engine.
 */
export interface UpHost {
  /** Installs (or refreshes) the OCI hook that podman runs on every start. */
  installOciHook(): Promise<void>;
  /** The kernel's account of a process's privilege (/proc/PID/status). */
  readProcStatus(pid: number): Promise<ProcPrivilege | undefined>;
  /** podman's storage roots (no mount may reach them). */
  podmanStoreRoots(): Promise<string[]>;
  /** podman's init (catatonit) for "init": true. */
  requireCatatonit(file: string): Promise<void>;
  /** The firewall's checks by the filtering resolver the hook started (its control socket). */
  verifyInResolver: NonNullable<BackendContext['verifyInResolver']>;
}

export const realHost: UpHost = {
  installOciHook: async () => { await installOciHook(); }, readProcStatus: (pid) => readProcStatus(pid), podmanStoreRoots, requireCatatonit,
  verifyInResolver: (dir, role, ask) => verifyThroughResolver(dir, role, ask),
};

/**
 * Host paths no mount may reach, and how to see a path as the kernel follows it: podman's
 * configuration and storage, hdc's hook and state, the runtime folder with the sockets.
 */
export function hostPathContext(stateRoot: string): HostPathContext {
  const home = process.env.HOME || os.homedir();
  const protectedDirs = [
    path.dirname(path.dirname(containersConfDropIn())), // ~/.config/containers
    path.join(process.env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'containers'),
    hooksHome(), stateRoot,
    ...(process.env.XDG_RUNTIME_DIR ? [process.env.XDG_RUNTIME_DIR] : []),
  ].map((d) => path.resolve(d)).flatMap((d) => {
    // Both spellings: a symlinked home (/home → /var/home, stow) must not hide one.
    try { return [...new Set([d, realpathSync(d)])]; } catch { return [d]; }
  });
  return {
    protectedDirs,
    inspect: (p) => {
      try {
        const resolved = realpathSync(p);
        return { resolved, isSocket: statSync(resolved).isSocket() };
      } catch {
        return {};
      }
    },
  };
}

/**
 * podman's storage roots, where its per-container files (resolv.conf, hosts, shm) and named
 * volumes live: the defaults, or what ~/.config/containers/storage.conf sets.
 */
async function podmanStoreRoots(): Promise<string[]> {
  const rootful = process.getuid?.() === 0;
  const home = process.env.HOME || os.homedir();
  let graph = rootful ? '/var/lib/containers/storage' : path.join(process.env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'containers', 'storage');
  let runroot = rootful ? '/run/containers/storage' : path.join(process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.()}`, 'containers');
  const conf = await readFile(rootful ? '/etc/containers/storage.conf' : path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'storage.conf'), 'utf8').catch(() => '');
  graph = /^\s*graphroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1] ?? graph;
  runroot = /^\s*runroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1] ?? runroot;
  return [...new Set([graph, runroot].flatMap((d) => { try { return [d, realpathSync(d)]; } catch { return [d]; } }))];
}

/** podman's `--init` is catatonit (looked up in podman's helper_binaries_dir); say so before anything is created. */
export async function requireCatatonit(file: string, dirs = ['/usr/libexec/podman', '/usr/local/libexec/podman', '/usr/local/lib/podman', '/usr/lib/podman']): Promise<void> {
  for (const d of dirs) if (await access(path.join(d, 'catatonit'), constants.X_OK).then(() => true, () => false)) return;
  throw new EnvironmentError(`${file} asks for "init": true, and podman's init (catatonit) is not installed (looked in ${dirs.join(', ')}).`,
    'install it: apt-get install catatonit (or drop "init": true)');
}

/** The devcontainer.metadata label's entries (JSON array, or one object), for naming sources. */
export function imageLabelEntries(image: ImageItem | undefined, name: string | undefined): PrivilegeRequest[] {
  if (!image?.metadata) return [];
  try {
    const value = JSON.parse(image.metadata) as unknown;
    return (Array.isArray(value) ? value : [value]).filter((e): e is PrivilegeRequest => typeof e === 'object' && e !== null);
  } catch {
    throw new InputError(`The devcontainer.metadata label of image ${name ?? image.id} is not valid JSON.`, 'rebuild the image, or use another');
  }
}

/**
 * The privilege that the configuration asks for, checked where each request comes from (the
 * file, each feature's metadata, the image label, the CLI's merge of all of them), and the
 * folder that the CLI mounts: throws the refusals; returns what is withheld. `up` and
 * `hdc kube` read the same configuration through this one check.
 */
export function checkMergedPrivilege(c: {
  file: string; fileSource: PrivilegeSource; features: { id: string; request: PrivilegeRequest }[];
  image: ImageItem | undefined; imageName: string | undefined; merged: MergedConfigRecord; mountSource: string;
  runtime: Runtime; noNewPrivileges: boolean; paths: HostPathContext;
}): Withheld[] {
  const sources: PrivilegeSource[] = [
    ...c.features.map((f): PrivilegeSource => ({ kind: 'feature', name: f.id, request: f.request })),
    ...imageLabelEntries(c.image, c.imageName).map((entry): PrivilegeSource => ({ kind: 'image label', name: c.imageName, request: entry })),
    { kind: 'merged configuration', request: c.merged },
  ];
  // runArgs and the workspace mount as the CLI will use them (variables substituted), and the folder it mounts.
  const paths = { ...c.paths, workspace: c.mountSource };
  const checked = checkRunArgs(c.merged.runArgs, c.file, c.runtime, c.noNewPrivileges, paths);
  const mountWhy = [typeof c.merged.workspaceMount === 'string' ? mountProblem(c.merged.workspaceMount, paths) : undefined, hostPathWhy(c.mountSource, paths)].find(Boolean);
  if (mountWhy) checked.refusals.push({ source: c.file, what: `the workspace mount (${c.mountSource})`, why: mountWhy, fix: 'open the project from a folder of its own (and check "workspaceMount")' });
  return checkPrivilegeSources([c.fileSource, ...sources], c.file, c.noNewPrivileges, checked, paths);
}

/** "line N" of a top-level property in the user's file, for messages that point into it. */
export function lineOf(text: string, property: string): string {
  const at = text.search(new RegExp(`"${property}"\\s*:`));
  return at < 0 ? `"${property}"` : `"${property}", line ${text.slice(0, at).split('\n').length}`;
}

/** Fail-closed clean-up: whatever this run created goes; what was there before stays. */
export async function removeNewContainers(engine: EngineClient, folder: string, configFile: string, before: string[], options: RunOptions): Promise<void> {
  try {
    const now = await findWorkspaceContainers(engine, folder, configFile, options);
    for (const id of now.filter((c) => !before.includes(c))) {
      options.log?.(`removing container ${id.slice(0, 12)} left by the failed up`);
      await run(engine.removeContainer(id), options);
    }
  } catch (e) {
    options.log?.(`clean-up after the failed up did not finish: ${(e as Error).message}`);
  }
}
