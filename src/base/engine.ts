import { CLI_LABELS } from './labels';
import type { CliCall, ProcessOutput } from './runner';
import { json, ok } from './runner';

/** The engines hdc drives. */
export const RUNTIMES = ['podman', 'docker'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/**
 * Engine calls as data. Podman and Docker share this CLI surface; where they differ the
 * call says so. Raw engine JSON types are `...Record`, cleaned models are `...Item`.
 */
export class EngineClient {
  constructor(readonly runtime: Runtime, readonly path: string) {}

  private call<T>(args: string[], parse: (r: ProcessOutput) => T, extra: Partial<CliCall<T>> = {}): CliCall<T> {
    return { command: this.path, args, parse, ...extra };
  }

  /**
   * Engine facts that preflight needs. Podman is daemonless: it is rootless exactly when it
   * runs as a non-root user, and `podman version` answers in a seventh of `podman info`'s time.
   */
  info(uid: number): CliCall<EngineInfoItem> {
    return this.runtime === 'podman'
      ? this.call(['version', '--format', '{{.Client.Version}}'], (r) => ({ version: r.stdout.trim(), rootless: uid !== 0 }))
      : this.call(['info', '--format', '{{json .}}'], (r) => dockerInfo(json<DockerInfoRecord>(r)));
  }

  imageInspect(image: string): CliCall<ImageItem | undefined> {
    return this.call(['image', 'inspect', image], (r) => {
      if (r.exitCode !== 0) return undefined;
      const [rec] = json<ImageRecord[]>(r);
      return rec ? { id: rec.Id, user: rec.Config?.User ?? '', metadata: rec.Config?.Labels?.[CLI_LABELS.metadata], annotations: rec.Annotations ?? undefined,
        hasPath: (rec.Config?.Env ?? []).some((e) => e.startsWith('PATH=')), inspectOutput: r.stdout } : undefined;
    }, { acceptExitCodes: [1, 125] });
  }

  /** An image from a root file system tarball (`import`), with Dockerfile-style changes. */
  importImage(tarball: string, tag: string, changes: string[], message: string): CliCall<string> {
    // Prints the new image's id (docker: sha256:…; podman: the bare hex, given the prefix here).
    return this.call(['import', '--message', message, ...changes.flatMap((c) => ['--change', c]), tarball, tag], (r) => {
      const id = r.stdout.trim().split('\n').pop() ?? '';
      return /^[0-9a-f]{64}$/.test(id) ? `sha256:${id}` : id;
    });
  }

  pull(image: string): CliCall<void> {
    return this.call(['pull', image], () => undefined);
  }

  /** Reads files from an image without a shell: `cat` is the entrypoint, paths are argv. */
  catFromImage(image: string, files: string[]): CliCall<string> {
    return this.call(['run', '--rm', '--network', 'none', '--entrypoint', 'cat', image, ...files], (r) => r.stdout);
  }

  /**
   * The apt source files of an image (sources.list and everything in sources.list.d), each
   * after a line that holds an RS character (\x1e) and its path. The script is a fixed
   * literal with no value in it: the image is an argument of its own, and nothing runs with
   * a network.
   */
  aptSourceFiles(image: string): CliCall<{ name: string; text: string }[]> {
    return this.call(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', image, '-c', APT_SOURCES_SCRIPT], (r) => splitSourceFiles(r.stdout));
  }

  /** Containers carrying every one of these labels, running or not. */
  findContainers(labels: Record<string, string>): CliCall<string[]> {
    const filters = Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
    return this.call(['ps', '-a', '-q', '--no-trunc', ...filters], (r) => r.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
  }

  /** The same, with whether each runs (one `ps`). */
  findContainerStates(labels: Record<string, string>): CliCall<{ id: string; running: boolean }[]> {
    const filters = Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
    return this.call(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}', ...filters], (r) => r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)
      .map((l) => {
        // docker says "running"; podman 4 says "Up 3 minutes ago" (its .State is the status text).
        const [id, state = ''] = [l.slice(0, l.indexOf(' ') < 0 ? l.length : l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)];
        return { id, running: state === 'running' || /^Up\b/.test(state) };
      }));
  }

  /**
   * podman: every container of a workspace folder (the CLI's local_folder label), with the
   * config file each was made for. One call answers hdc and the CLI's own look-ups.
   */
  folderContainers(localFolder: string): CliCall<FolderContainerItem[]> {
    return this.call(['ps', '-a', '--format', 'json', '--filter', `label=${CLI_LABELS.localFolder}=${localFolder}`],
      (r) => (json<PodmanPsRecord[] | null>(r) ?? []).map((c) => ({ id: c.Id, running: c.State === 'running', configFile: c.Labels?.[CLI_LABELS.configFile] })));
  }

  containerInspect(id: string): CliCall<ContainerItem | undefined> {
    return this.call(['container', 'inspect', id], (r) => {
      if (r.exitCode !== 0) return undefined;
      const [rec] = json<ContainerRecord[]>(r);
      return rec ? containerItem(rec) : undefined;
    }, { acceptExitCodes: [1, 125] });
  }

  /** `run -d ARGS…`: the new container's id. */
  runDetached(args: string[]): CliCall<string> {
    return this.call(['run', '-d', ...args], (r) => r.stdout.trim().split('\n').pop() ?? '');
  }

  /**
   * A container's output, stdout then stderr (the last `tail` lines when given). When the
   * engine cannot read it (exit 1 or 125), its error text.
   */
  logs(id: string, tail?: number): CliCall<string> {
    return this.call(['logs', ...(tail ? ['--tail', String(tail)] : []), id], (r) => `${r.stdout}${r.stderr}`, { acceptExitCodes: [1, 125] });
  }

  startContainer(id: string): CliCall<void> {
    return this.call(['start', id], () => undefined);
  }

  volumeExists(name: string): CliCall<boolean> {
    return this.call(['volume', 'inspect', '--format', '{{.Name}}', name], ok, { acceptExitCodes: anyExit });
  }

  /**
   * Removes a volume unless a container uses it (never `-f`, which would remove that
   * container); a missing volume is not an error. Returns why it was kept, or "".
   */
  volumeRemove(name: string): CliCall<string> {
    return this.call(['volume', 'rm', name], (r) => (r.exitCode === 0 || /no such volume/i.test(r.stderr) ? '' : r.stderr.trim() || `exit ${r.exitCode}`), { acceptExitCodes: anyExit });
  }

  stopContainer(id: string): CliCall<void> {
    return this.call(['stop', '-t', '2', id], () => undefined);
  }

  removeContainer(id: string): CliCall<void> {
    return this.call(['rm', '-f', id], () => undefined);
  }

  exec(id: string, command: string[], options: { user?: string; workdir?: string; interactive?: boolean; tty?: boolean } = {}): CliCall<ProcessOutput> {
    const args = ['exec'];
    if (options.interactive) args.push('-i');
    if (options.tty) args.push('-t');
    if (options.user) args.push('-u', options.user);
    if (options.workdir) args.push('-w', options.workdir);
    return this.call([...args, id, ...command], (r) => r, { acceptExitCodes: anyExit });
  }

  /**
   * The user's login shell from the container's passwd, interactive, in `workdir` (an editor
   * terminal runs this call). No value of ours is interpolated into the fixed script: user
   * and folder are separate arguments.
   */
  loginShell(id: string, user: string, workdir: string): CliCall<void> {
    return this.call(['exec', '-it', '-u', user, '-w', workdir, id,
      'sh', '-c', 'shell=$(getent passwd "$(id -un)" | cut -d: -f7); exec "${shell:-/bin/sh}" -l'], () => undefined);
  }

  /**
   * `exec -i`: COMMAND reads `input` on stdin; a non-zero exit fails. `env` is set inside
   * the container (`-e`), not for the engine.
   */
  execWithInput<T>(id: string, command: string[], input: string, parse: (r: ProcessOutput) => T, options: { user?: string; env?: Record<string, string> } = {}): CliCall<T> {
    const args = ['exec', '-i'];
    if (options.user) args.push('-u', options.user);
    for (const [name, value] of Object.entries(options.env ?? {})) args.push('-e', `${name}=${value}`);
    return this.call([...args, id, ...command], parse, { input });
  }

  /**
   * podman only: COMMAND in podman's rootless user namespace (`podman unshare`), where this
   * user holds the capabilities over its containers' namespaces. `env` is the process's own.
   */
  unshare<T>(command: string[], parse: (r: ProcessOutput) => T, extra: { env?: Record<string, string>; input?: string } = {}): CliCall<T> {
    return this.call(['unshare', ...command], parse, extra);
  }

  ok(args: string[]): CliCall<boolean> {
    return this.call(args, ok, { acceptExitCodes: anyExit });
  }
}

/** Prints each apt source file after a marker line: RS (octal 036) and the file's path. */
export const APT_SOURCES_SCRIPT = 'for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do if [ -f "$f" ]; then printf \'\\036%s\\n\' "$f"; cat "$f"; echo; fi; done; exit 0';

/** The files of APT_SOURCES_SCRIPT's output. */
export function splitSourceFiles(stdout: string): { name: string; text: string }[] {
  const files: { name: string; text: string }[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('\x1e')) files.push({ name: line.slice(1), text: '' });
    else if (files.length > 0) files[files.length - 1].text += `${line}\n`;
  }
  return files;
}

const anyExit = Array.from({ length: 255 }, (_, i) => i + 1);

export interface EngineInfoItem {
  rootless: boolean;
  version: string;
}

interface DockerInfoRecord {
  SecurityOptions?: string[];
  ServerVersion?: string;
}
interface ImageRecord {
  Id: string;
  Config?: { User?: string; Labels?: Record<string, string> | null; Env?: string[] | null };
  /** podman only. */
  Annotations?: Record<string, string> | null;
}
interface PodmanPsRecord {
  Id: string;
  /** "running", "exited", "created", … */
  State?: string;
  Labels?: Record<string, string> | null;
}
export interface FolderContainerItem {
  id: string;
  running: boolean;
  configFile?: string;
}
export interface ImageItem {
  id: string;
  user: string;
  /** The devcontainer.metadata label, as JSON text, if the image has one. */
  metadata?: string;
  /** The image's OCI annotations (podman copies them into its containers). */
  annotations?: Record<string, string>;
  /** Whether the image's environment sets PATH (a pod gives none of its own on podman). */
  hasPath?: boolean;
  /** What the engine printed (`inspect --type image` prints the same): the shim's answer to the CLI's. */
  inspectOutput?: string;
}
interface ContainerRecord {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid?: number; StartedAt?: string };
  Config: { Labels?: Record<string, string> | null; Image?: string; User?: string };
  Image?: string;
  ImageName?: string;
  Mounts?: { Type?: string; Name?: string; Source: string; Destination: string; RW?: boolean }[];
  HostConfig?: {
    PidsLimit?: number | null; NanoCpus?: number; Memory?: number; CapDrop?: string[] | null; SecurityOpt?: string[] | null;
    Privileged?: boolean; CapAdd?: string[] | null; PidMode?: string; IpcMode?: string; UTSMode?: string; UsernsMode?: string;
    NetworkMode?: string; Devices?: { PathOnHost?: string }[] | null; Sysctls?: Record<string, string> | null;
  };
}
export interface MountItem {
  type: string;
  /** A volume's name ("" for binds). */
  name: string;
  source: string;
  destination: string;
  rw: boolean;
}
export interface ContainerItem {
  id: string;
  name: string;
  status: string;
  running: boolean;
  pid: number;
  labels: Record<string, string>;
  mounts: MountItem[];
  limits: { pids: number; nanoCpus: number; memory: number };
  securityOpt: string[];
  /** The container's user (Config.User): the image's USER, or the CLI's containerUser. */
  user: string;
  /** The image id it runs. */
  image: string;
  /** When its current run began (the engine's RFC 3339 time, nanoseconds; "" if unknown). */
  startedAt: string;
  /** The engine's record of its privilege. */
  privilege: HostConfigPrivilege;
}

/** An engine's RFC 3339 time (fraction of any length) in nanoseconds since the epoch; undefined if unreadable. */
export function engineTimeNs(t: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms) || ms <= 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

function dockerInfo(rec: DockerInfoRecord): EngineInfoItem {
  return { rootless: (rec.SecurityOptions ?? []).some((o) => o.includes('rootless')), version: rec.ServerVersion ?? '' };
}

function containerItem(rec: ContainerRecord): ContainerItem {
  return {
    id: rec.Id,
    name: rec.Name.replace(/^\//, ''),
    status: rec.State.Status,
    running: rec.State.Running,
    pid: rec.State.Pid ?? 0,
    labels: rec.Config.Labels ?? {},
    mounts: (rec.Mounts ?? []).map((m) => ({ type: m.Type ?? 'bind', name: m.Name ?? '', source: m.Source, destination: m.Destination, rw: m.RW !== false })),
    limits: { pids: rec.HostConfig?.PidsLimit ?? 0, nanoCpus: rec.HostConfig?.NanoCpus ?? 0, memory: rec.HostConfig?.Memory ?? 0 },
    securityOpt: rec.HostConfig?.SecurityOpt ?? [],
    user: rec.Config.User ?? '',
    image: rec.Image ?? rec.Config.Image ?? '',
    startedAt: rec.State.StartedAt ?? '',
    privilege: {
      privileged: rec.HostConfig?.Privileged ?? false,
      capAdd: rec.HostConfig?.CapAdd ?? [],
      securityOpt: rec.HostConfig?.SecurityOpt ?? [],
      pidMode: rec.HostConfig?.PidMode ?? '',
      ipcMode: rec.HostConfig?.IpcMode ?? '',
      utsMode: rec.HostConfig?.UTSMode ?? '',
      usernsMode: rec.HostConfig?.UsernsMode ?? '',
      networkMode: rec.HostConfig?.NetworkMode ?? '',
      devices: (rec.HostConfig?.Devices ?? []).map((d) => d.PathOnHost ?? '').filter(Boolean),
      mountSources: (rec.Mounts ?? []).filter((m) => (m.Type ?? 'bind') === 'bind').map((m) => m.Source),
      sysctls: Object.keys(rec.HostConfig?.Sysctls ?? {}) } };
}

/** The engine's record of a container's privilege (docker inspect's HostConfig). */
export interface HostConfigPrivilege {
  privileged: boolean;
  capAdd: string[];
  securityOpt: string[];
  pidMode: string;
  ipcMode: string;
  utsMode: string;
  usernsMode: string;
  networkMode: string;
  devices: string[];
  mountSources: string[];
  /** The kernel parameters the container sets (`--sysctl`), by name. */
  sysctls: string[];
}

/**
 * An image reference as engines write it. Anything else (a leading "-" above all) would
 * reach the engine's argv as an option: `-v/:/host` is not an image.
 */
export const IMAGE_REFERENCE = /^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$/;
