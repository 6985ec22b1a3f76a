import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { connect } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerItem, EngineClient, MountItem } from '../base/engine';
import { HdcError, InputError } from '../base/errors';
import { LABELS } from '../base/labels';
import { writeIfChanged } from '../base/files';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { SidecarSettings } from '../config/settings';

/**
 * The optional Podman sidecar: podman inside a rootless podman container, serving its API on
 * a socket in a volume that the workspace mounts too. It is a container of its own, in its
 * own network namespace, never the workspace's: a process that can start containers in a
 * network namespace can flush that namespace's rules. Its namespace gets the workspace's
 * allowlist from outside by the same OCI hook, so its nested containers (which share it,
 * netns="host" inside) are firewalled the same way, fail-closed on every start.
 *
 * Inside, podman runs as root with SYS_ADMIN (to mount) and without NET_ADMIN or NET_RAW,
 * so neither it nor a nested container can change the rules. It has a user namespace of its
 * own (a sibling of the workspace's, never its parent), so its SYS_ADMIN gives it nothing
 * over the workspace's namespaces. Its root is your host user (the remote user, in the
 * workspace: it owns the socket); its other ids skip the one that is root in the workspace.
 */

/** Where the socket's volume is mounted, in the sidecar and in the workspace. */
export const SIDECAR_SOCKET_DIR = '/run/hardened-devcontainers/podman';
export const SIDECAR_SOCKET = `${SIDECAR_SOCKET_DIR}/podman.sock`;
const CONF_DIR = '/etc/containers/containers.conf.d';

/** What podman needs to run inside a rootless container (see TESTBED: crun, no cgroups, host netns). */
export const SIDECAR_CONTAINERS_CONF = `# Written by Hardened Dev Containers: podman inside a rootless container.
[containers]
# A rootless container cannot delegate cgroups on every host; nested containers share the sidecar's.
cgroups = "disabled"
# Nested containers share the sidecar's network namespace, and so its firewall.
netns = "host"
default_sysctls = []
# podman's defaults without what the sidecar has not (NET_BIND_SERVICE, NET_RAW, MKNOD):
# a build's RUN step asks for the defaults as they are, and crun refuses what is out of reach.
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
[engine]
runtime = "crun"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;
export const SIDECAR_STORAGE_CONF = `# Written by Hardened Dev Containers: native overlay on the graph volume.
[storage]
driver = "overlay"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
`;

export interface SidecarNames {
  container: string;
  socketVolume: string;
  graphVolume: string;
}

export function sidecarNames(workspaceContainer: string, settings: SidecarSettings): SidecarNames {
  return {
    container: `${workspaceContainer}-podman`,
    socketVolume: `${workspaceContainer}-podman-sock`,
    graphVolume: settings.graphStorage || `${workspaceContainer}-podman-graph`,
  };
}

/**
 * For a podman client in the workspace: a podman client sends its own containers.conf
 * defaults with each container it creates (a docker client does not), so it must say what the
 * sidecar needs. `remote = true` makes plain `podman` talk to the socket.
 */
export const SIDECAR_CLIENT_CONF = `# Written by Hardened Dev Containers: the podman client in the workspace uses the sidecar.
[containers]
cgroups = "disabled"
netns = "host"
[engine]
remote = true
`;
const CLIENT_CONF_TARGET = '/run/hardened-devcontainers/podman-client.conf';

/**
 * The workspace's share: the socket's volume, the client config, and the variables docker
 * and podman clients read. Writes the client config to the state dir.
 */
export async function workspaceSidecarConfig(names: SidecarNames, stateDir: string): Promise<{ mounts: string[]; containerEnv: Record<string, string> }> {
  const url = `unix://${SIDECAR_SOCKET}`;
  const clientConf = path.join(stateDir, 'sidecar', 'podman-client.conf');
  await writeIfChanged(clientConf, SIDECAR_CLIENT_CONF, 0o644);
  return {
    mounts: [
      // nosuid,nodev,noexec: the sidecar writes this volume too; nothing in it may run.
      `type=volume,source=${names.socketVolume},target=${SIDECAR_SOCKET_DIR},nosuid,nodev,noexec`,
      `type=bind,source=${clientConf},target=${CLIENT_CONF_TARGET},readonly`,
    ],
    containerEnv: { DOCKER_HOST: url, CONTAINER_HOST: url, CONTAINERS_CONF: CLIENT_CONF_TARGET },
  };
}

/** Refused before anything starts: the sidecar is a podman feature, as its firewall hook is. */
export function checkSidecarPlan(settings: SidecarSettings, runtime: string, configFile: string): void {
  if (settings.enabled && runtime !== 'podman') {
    throw new InputError(`${configFile}: hardenedDevcontainers.podmanSidecar.enabled needs the podman runtime (the runtime is ${runtime}).`,
      'set hardenedDevcontainers.runtime to "podman", or turn the sidecar off');
  }
}

/** Warnings for settings that trade isolation for convenience; `up` prints them. */
export function sidecarWarnings(settings: SidecarSettings): string[] {
  const w: string[] = [];
  if (settings.privileged) {
    w.push('warning: podmanSidecar.privileged = true runs the sidecar with --privileged: it holds every capability in its own user namespace, '
      + 'NET_ADMIN included, so anything that reaches its socket may be able to change the sidecar\'s firewall, and nested containers could then '
      + 'reach any host. Turn it off for the rootless-safe sidecar.');
  }
  if (settings.parentStorages) {
    w.push('warning: podmanSidecar.parentStorages = true gives the sidecar the workspace folder, writable. The read-only .devcontainer, .vscode '
      + 'and .git/hooks mounts are repeated there, but the sidecar holds SYS_ADMIN and can unmount them: anything that reaches the socket can '
      + 'then change the config the next rebuild reads, and .git/hooks, which run on the host at the next commit. Turn it off unless you trust that.');
  }
  return w;
}

export interface SidecarSpec {
  names: SidecarNames;
  settings: SidecarSettings;
  workspaceFolder: string;
  configFile: string;
  /** The run arguments that put the sidecar under the workspace's firewall (the hook's annotation); undefined when the firewall is off. */
  firewallArgs?: string[];
  /** The user's runArgs: their network flags (network, DNS, hosts) apply to the sidecar too. */
  userRunArgs: string[] | undefined;
  /** Where generated files go (the workspace's state dir). */
  stateDir: string;
  /** The sidecar's copies of Node and of the API gateway's bundle (writeGatewayFiles), mounted read-only. */
  gateway: GatewayFiles;
}

export interface GatewayFiles {
  node: string;
  script: string;
  /** The script's content hash: a new hdc recreates the sidecar. */
  digest: string;
}

/**
 * The gateway's Node and script, as copies in the workspace's state for this sidecar alone.
 * Never the host's own files: the sidecar's root is your host user and holds SYS_ADMIN, so
 * a nested container can lift a read-only bind and write through it, and the host runs its
 * Node and hdc's bundle. A copy that the sidecar changes only ever runs in that sidecar.
 * Written by rename (a link planted in their place is replaced, not followed); Node is
 * copied again when the host's differs in size or time.
 */
export async function writeGatewayFiles(stateDir: string, source: { node: string; script: string }): Promise<GatewayFiles> {
  const dir = path.join(stateDir, 'sidecar', 'gateway');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const content = await readFile(source.script, 'utf8');
  const script = path.join(dir, 'sidecar-gateway.cjs');
  await writeIfChanged(script, content, 0o644);
  const node = path.join(dir, 'node');
  const [src, have] = await Promise.all([stat(source.node), lstat(node).catch(() => undefined)]);
  if (!have?.isFile() || have.size !== src.size || have.mtimeMs !== src.mtimeMs) {
    const tmp = `${node}.tmp`;
    await rm(tmp, { force: true });
    await copyFile(source.node, tmp);
    await chmod(tmp, 0o755);
    await utimes(tmp, src.atime, src.mtime);
    await rename(tmp, node);
  }
  return { node, script, digest: createHash('sha256').update(content).digest('hex') };
}

/** podman's own socket inside the sidecar, behind the gateway (never in the shared volume). */
export const SIDECAR_PODMAN_SOCKET = '/run/hdc-podman/podman.sock';

/** Writes our podman config and the extFiles to the state dir; returns their bind mounts and a digest of their content. */
export async function writeSidecarFiles(spec: SidecarSpec): Promise<{ mounts: string[]; digest: string }> {
  const dir = path.join(spec.stateDir, 'sidecar');
  const ours = `${CONF_DIR}/10-hardened-devcontainers.conf`;
  const files: [string, string][] = [
    // An extFiles entry at exactly our paths replaces ours (one mount per target).
    ...(spec.settings.extFiles[ours] === undefined ? [[ours, SIDECAR_CONTAINERS_CONF] as [string, string]] : []),
    // An extFiles storage.conf replaces ours (podman has no drop-ins for storage.conf).
    ...(spec.settings.extFiles['/etc/containers/storage.conf'] === undefined ? [['/etc/containers/storage.conf', SIDECAR_STORAGE_CONF] as [string, string]] : []),
    ...Object.entries(spec.settings.extFiles),
  ];
  const mounts: string[] = [];
  const digest = createHash('sha256');
  for (const [i, [target, content]] of files.entries()) {
    digest.update(`${target}\0${content}\0`);
    const source = path.join(dir, `${i}-${path.basename(target)}`);
    await writeIfChanged(source, content, 0o644);
    mounts.push('--mount', `type=bind,source=${source},target=${target},readonly`);
  }
  return { mounts, digest: digest.digest('hex') };
}

/** The user's network runArgs that the sidecar shares: network, DNS and hosts (not ports or addresses). */
export function sidecarNetworkArgs(runArgs: string[] = []): string[] {
  const keep = new Set(['--network', '--net', '--dns', '--dns-search', '--dns-option', '--dns-opt', '--add-host']);
  const out: string[] = [];
  for (let i = 0; i < runArgs.length; i++) {
    const arg = runArgs[i];
    const flag = arg.split('=')[0];
    if (!keep.has(flag)) continue;
    if (arg === flag) out.push(arg, runArgs[++i] ?? '');
    else out.push(arg);
  }
  return out;
}

/** The workspace's mounts, again in the sidecar (parentStorages); the socket volume is ours already. */
export function parentStorageMounts(workspace: ContainerItem, names: SidecarNames): string[] {
  return workspace.mounts.filter((m) => m.name !== names.socketVolume).flatMap((m: MountItem) => {
    if ([m.source, m.destination, m.name].some((v) => v.includes(','))) {
      throw new InputError(`The workspace mount ${m.source} → ${m.destination} has a comma in its path, which podman's --mount cannot carry.`,
        'rename the path, or turn hardenedDevcontainers.podmanSidecar.parentStorages off');
    }
    const src = m.type === 'volume' ? `type=volume,source=${m.name}` : `type=bind,source=${m.source}`;
    return ['--mount', `${src},target=${m.destination}${m.rw ? '' : ',readonly'}`];
  });
}

/** The sidecar's `podman run` arguments (after `run -d`), and their hash. Pure. */
export function sidecarRunArgs(spec: SidecarSpec, files: { mounts: string[]; digest: string }, parentMounts: string[], limits: { pids: number }): { args: string[]; hash: string } {
  const { names, settings } = spec;
  for (const p of [spec.gateway.node, spec.gateway.script]) {
    if (p.includes(',')) throw new InputError(`hdc's own path ${p} has a comma, which podman's --mount cannot carry.`, 'install hdc (or Node) under a path without commas');
  }
  const fileMounts = files.mounts;
  const body = [
    '--label', `${LABELS.managed}=true`,
    ...(spec.firewallArgs ?? []),
    ...(settings.privileged
      ? ['--privileged']
      // SYS_ADMIN lets podman mount inside; the network capabilities stay out of reach.
      // NET_BIND_SERVICE: a port below 1024 is what only the filtering resolver may send DNS from.
      : ['--cap-add', 'SYS_ADMIN', '--cap-drop', 'NET_ADMIN', '--cap-drop', 'NET_RAW', '--cap-drop', 'NET_BIND_SERVICE', '--cap-drop', 'SYS_PTRACE', '--cap-drop', 'MKNOD']),
    '--security-opt', 'label=disable',
    // Its own user namespace: root = your host user; ids 1… skip the one that is root in the workspace.
    ...userNamespaceArgs(),
    ...(limits.pids > 0 ? ['--pids-limit', String(limits.pids)] : []),
    ...(settings.resources.cpu ? ['--cpus', settings.resources.cpu] : []),
    ...(settings.resources.memory ? ['--memory', settings.resources.memory] : []),
    ...sidecarNetworkArgs(spec.userRunArgs),
    '--mount', `type=volume,source=${names.socketVolume},target=${SIDECAR_SOCKET_DIR}`,
    '--mount', `type=volume,source=${names.graphVolume},target=/var/lib/containers`,
    ...parentMounts,
    ...fileMounts,
    // The API gateway (gateway.ts) serves the shared socket and runs podman's service behind it.
    '--env', 'ELECTRON_RUN_AS_NODE=1',
    '--mount', `type=bind,source=${spec.gateway.node},target=/hdc/node,readonly`,
    '--mount', `type=bind,source=${spec.gateway.script},target=/hdc/sidecar-gateway.cjs,readonly`,
    '--entrypoint', '/hdc/node',
    settings.image,
    '/hdc/sidecar-gateway.cjs', '--listen', SIDECAR_SOCKET, '--podman-socket', SIDECAR_PODMAN_SOCKET,
  ];
  // Same arguments, same sidecar: an `up` of a running workspace keeps its nested containers.
  // The files' content counts too: a changed extFile recreates the sidecar.
  const hash = createHash('sha256').update(JSON.stringify(body)).update(files.digest).update(spec.gateway.digest).digest('hex').slice(0, 16);
  return { args: ['--name', names.container, ...sidecarLabels(spec), '--label', `${LABELS.sidecarSpec}=${hash}`, ...body], hash };
}

/**
 * The workspace (keep-id:uid=U) maps its uid 0 to id 1 of the rootless user namespace. The
 * sidecar maps its root to id 0 (your user) and its ids 1-65535 to 2-65536: no file it makes
 * can belong to the workspace's root.
 */
export function userNamespaceArgs(): string[] {
  return ['--uidmap', '0:0:1', '--uidmap', '1:2:65535', '--gidmap', '0:0:1', '--gidmap', '1:2:65535'];
}

const sidecarLabels = (spec: Pick<SidecarSpec, 'workspaceFolder' | 'configFile'>): string[] =>
  ['--label', `${LABELS.sidecarFor}=${spec.workspaceFolder}`, '--label', `${LABELS.sidecarConfig}=${spec.configFile}`];

export interface SidecarUp {
  id: string;
  /** What this `up` did: kept a running sidecar, started a stopped one, or created it. */
  action: 'kept' | 'started' | 'created';
  /** Whether this `up` created the graph volume (a failed up removes it again). */
  createdGraph: boolean;
  ms: number;
}

/**
 * Brings the sidecar up (or keeps an identical running one) and waits for its socket. The
 * hook has loaded its firewall before its first process ran; the caller resolves and verifies.
 */
export async function sidecarUp(engine: EngineClient, spec: SidecarSpec, runArgs: { args: string[]; hash: string }, options: RunOptions,
  progress: { createdGraph: boolean } = { createdGraph: false }): Promise<SidecarUp> {
  const t0 = performance.now();
  const { names } = spec;
  const [existing, graphExists, image] = await Promise.all([
    run(engine.containerInspect(names.container), options),
    run(engine.volumeExists(names.graphVolume), options),
    run(engine.imageInspect(spec.settings.image), options),
  ]);
  if (!image) {
    throw new InputError(`The sidecar image ${spec.settings.image} is not in ${engine.runtime}'s image store.`,
      spec.settings.image.startsWith('localhost/hardened-devcontainers/')
        ? 'build it from your Debian mirror: sudo bash scripts/base-image.sh podman podman (as in the README), or set hardenedDevcontainers.podmanSidecar.image to a podman image you have'
        : `pull it (podman pull ${spec.settings.image}) or set hardenedDevcontainers.podmanSidecar.image`);
  }
  // Known before anything can fail: a failed up removes a graph volume it made.
  progress.createdGraph = !graphExists;
  let action: SidecarUp['action'] = 'created';
  let id: string;
  if (existing && existing.labels[LABELS.sidecarSpec] === runArgs.hash) {
    action = existing.running ? 'kept' : 'started';
    if (!existing.running) await run(engine.startContainer(existing.id), options);
    id = existing.id;
  } else {
    if (existing) await run(engine.removeContainer(existing.id), options);
    id = await run(engine.runDetached(runArgs.args), options);
  }
  await waitForSocket(engine, names, id, options);
  return { id, action, createdGraph: !graphExists, ms: Math.round(performance.now() - t0) };
}

/** Ready once the API accepts a connection on the socket (about half a second after start). */
async function waitForSocket(engine: EngineClient, names: SidecarNames, id: string, options: RunOptions): Promise<void> {
  const deadline = Date.now() + 30_000;
  let pid = 0;
  for (let i = 0; ; i++) {
    // Every half second (and first): is it still starting, or did it exit? Its pid gives the path.
    const item = i % 20 === 0 || Date.now() > deadline ? await run(engine.containerInspect(id), options) : undefined;
    if (item && (!item.running || Date.now() > deadline)) {
      const logs = (await run(engine.logs(id, 5), options)).trim();
      throw new HdcError(`The Podman sidecar ${names.container} did not open its socket: ${item.running ? 'timed out after 30 s' : `it exited (${item.status})`}. ${logs.split('\n').pop() ?? ''}`,
        { fix: `see \`podman logs ${names.container}\`; the image needs podman and crun (hardenedDevcontainers.podmanSidecar.image)` });
    }
    if (item) pid = item.pid;
    if (pid && await accepts(socketOnHost(pid))) return;
    await sleep(25, undefined, { signal: options.signal });
  }
}

/**
 * The socket as the host sees it, through the sidecar's root. (The volume's own directory
 * can belong to a subordinate uid, when a keep-id workspace created it first.)
 */
export const socketOnHost = (sidecarPid: number): string => `/proc/${sidecarPid}/root${SIDECAR_SOCKET}`;

/** Whether a unix socket accepts a connection (one left by an earlier start exists but refuses). */
export function accepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/**
 * Removes the sidecar (found by label, whatever its name) and its socket volume; the graph
 * volume only when asked (`--volumes`, or a failed up that created it). A volume that a
 * container still uses is kept and logged.
 */
export async function removeSidecar(engine: EngineClient, ws: { workspaceFolder: string; configFile: string }, names: SidecarNames, opts: RunOptions & { removeGraph?: boolean; log: LogFn }): Promise<string[]> {
  const options: RunOptions = { log: opts.log, signal: opts.signal, runner: opts.runner };
  const ids = await run(engine.findContainers({ [LABELS.sidecarFor]: ws.workspaceFolder, [LABELS.sidecarConfig]: ws.configFile }), options);
  for (const id of ids) {
    opts.log(`removing the sidecar ${id.slice(0, 12)}`);
    await run(engine.removeContainer(id), options);
  }
  for (const volume of [names.socketVolume, ...(opts.removeGraph ? [names.graphVolume] : [])]) {
    const kept = await run(engine.volumeRemove(volume), options);
    if (kept) opts.log(`volume ${volume} kept: ${kept}`);
  }
  return ids;
}
