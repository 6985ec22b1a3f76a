import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../core/errors';
import type { Runtime } from '../core/settings';

/**
 * Privilege: what no workspace may hold, whichever source asks for it. Checked twice: the
 * request, before anything is created (the devcontainers CLI's merged configuration, every
 * source named), and the result, before the workspace's first process or lifecycle command
 * (the OCI spec in the podman hook, the engine's record and the kernel's on docker).
 */

/**
 * Capabilities that undo a guarantee: the firewall (NET_*), the container boundary
 * (SYS_ADMIN, SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH's open_by_handle_at, BPF, PERFMON,
 * MAC_*), other processes (SYS_PTRACE), devices (MKNOD), the host's clock, log and audit.
 * hdc drops every one of them and refuses a request for any.
 */
export const CAP_BITS = {
  DAC_READ_SEARCH: 2, LINUX_IMMUTABLE: 9, NET_ADMIN: 12, NET_RAW: 13, SYS_MODULE: 16, SYS_RAWIO: 17, SYS_PTRACE: 19,
  SYS_ADMIN: 21, SYS_BOOT: 22, SYS_TIME: 25, MKNOD: 27, AUDIT_CONTROL: 30, MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34,
  PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40,
} as const;
export type RefusedCap = keyof typeof CAP_BITS;
export const REFUSED_CAPS = Object.keys(CAP_BITS) as RefusedCap[];

/** Asked for by agent devcontainers for their own in-container firewall: withheld, not refused. */
export const WITHHELD_CAPS = ['NET_ADMIN', 'NET_RAW'] as const;

/** Host devices a workspace may have: fuse, and GPUs (DRI, NVIDIA, AMD's kfd). */
export const ALLOWED_DEVICE = /^\/dev\/(fuse|kfd|dri(\/[\w.-]+)*|nvidia[\w-]*|nvidia-caps(\/[\w.-]+)*)$/;

const normCap = (c: string): string => c.trim().toUpperCase().replace(/^CAP_/, '');

/**
 * A host path that is, or holds, a container engine's socket: whoever reaches it can start a
 * container with any privilege. The same rule is in privilege-check.sh (the podman hook).
 */
export function isEngineSocketPath(p: string): boolean {
  const n = path.posix.normalize(p).replace(/\/+$/, '') || '/';
  if (/\/(docker|podman|containerd|buildkitd|crio|dockershim)\.sock$/.test(n)) return true;
  if (['/', '/run', '/var/run', '/run/user', '/var/lib/docker', '/var/lib/containers', '/proc'].includes(n)) return true;
  if (/^\/run\/user\/\d+$/.test(n) || /^\/run\/user\/\d+\/(podman|docker)(\/|$)/.test(n)) return true;
  return /^(\/var)?\/run\/(docker|podman|containerd)(\/|$)/.test(n);
}

/** Why a security option weakens the container, or undefined when it does not. */
export function weakeningSecurityOpt(opt: string, noNewPrivileges: boolean): string | undefined {
  const o = opt.trim().toLowerCase();
  const [key, value = ''] = o.split(/[=:](.*)/s);
  if (key === 'seccomp') return 'replaces the engine\'s default seccomp filter (or turns it off)';
  if (key === 'apparmor' && value === 'unconfined') return 'turns AppArmor confinement off';
  if (key === 'label' && (value === 'disable' || value.startsWith('type:spc_t') || value === 'type=spc_t')) return 'turns SELinux confinement off';
  if (key === 'systempaths' || key === 'unmask') return 'unmasks /proc and /sys paths that hide the host';
  if (key === 'no-new-privileges' && noNewPrivileges && /^(false|0)$/.test(value)) return 'turns off no-new-privileges, which hardenedDevcontainers.noNewPrivileges sets';
  return undefined;
}

/** The privilege fields of devcontainer.json, of a feature's metadata and of an image label entry. */
export interface PrivilegeRequest {
  id?: string;
  privileged?: boolean;
  capAdd?: string[];
  securityOpt?: string[];
  mounts?: unknown[];
  init?: boolean;
}

/** Where a request came from, for the message and the fix. */
export interface PrivilegeSource {
  kind: 'devcontainer.json' | 'runArgs' | 'feature' | 'image label' | 'merged configuration';
  /** The feature id, or the image. */
  name?: string;
  request: PrivilegeRequest;
}

export interface Refusal {
  source: string;
  what: string;
  why: string;
  fix: string;
}

/** A capability the config asked for and hdc left out, with where it was asked. */
export interface Withheld {
  cap: string;
  where: string;
}

function mountSource(m: unknown): string | undefined {
  if (typeof m === 'string') {
    for (const kv of m.split(',')) {
      const at = kv.indexOf('=');
      if (at > 0 && ['source', 'src'].includes(kv.slice(0, at).trim())) return kv.slice(at + 1).trim();
    }
    return undefined;
  }
  if (m && typeof m === 'object' && typeof (m as { source?: unknown }).source === 'string') return (m as { source: string }).source;
  return undefined;
}

function describeSource(s: PrivilegeSource, file: string): { source: string; fix: (what: string) => string } {
  switch (s.kind) {
    case 'devcontainer.json': return { source: `${file}`, fix: (w) => `remove ${w} from ${path.basename(file)}` };
    case 'runArgs': return { source: `${file}: runArgs`, fix: () => 'remove it from runArgs; the hardened container does not allow it' };
    case 'feature': return { source: `feature "${s.name}" (its devcontainer-feature.json)`, fix: () => `remove the feature "${s.name}" from "features": its metadata asks for this, and hdc cannot take part of a feature away` };
    case 'image label': return { source: `the devcontainer.metadata label of image ${s.name}${s.request.id ? ` (entry "${s.request.id}")` : ''}`, fix: () => 'use an image whose devcontainer.metadata label does not ask for it (or build one that replaces the label)' };
    default: return { source: 'the merged configuration (as the devcontainers CLI computes it)', fix: () => 'run with HDC_VERBOSE=1 to see the merged configuration, and remove what asks for it' };
  }
}

/**
 * Checks one source's request. NET_ADMIN/NET_RAW asked in devcontainer.json itself are
 * withheld (hdc writes the override without them); from a feature or an image label they
 * cannot be withheld, so they are refused.
 */
export function checkRequest(s: PrivilegeSource, file: string, noNewPrivileges: boolean): { refusals: Refusal[]; withheld: Withheld[] } {
  const { source, fix } = describeSource(s, file);
  const refusals: Refusal[] = [];
  const withheld: Withheld[] = [];
  const r = s.request;
  if (r.privileged === true) {
    refusals.push({ source, what: '"privileged": true', why: 'gives the workspace every capability (NET_ADMIN included), every host device and no seccomp filter', fix: fix('"privileged"') });
  }
  for (const raw of Array.isArray(r.capAdd) ? r.capAdd : []) {
    const cap = normCap(String(raw));
    const withholdable = (WITHHELD_CAPS as readonly string[]).includes(cap);
    if (withholdable && s.kind === 'devcontainer.json') {
      withheld.push({ cap, where: `"capAdd" in ${path.basename(file)}` });
    } else if (withholdable && s.kind === 'merged configuration') {
      // Judged by the caller: withheld when devcontainer.json asked for it, refused otherwise.
    } else if (cap === 'ALL' || (REFUSED_CAPS as string[]).includes(cap)) {
      refusals.push({ source, what: `capAdd ${cap}`, why: capWhy(cap), fix: fix(`"${cap}" from "capAdd"`) });
    }
  }
  for (const opt of Array.isArray(r.securityOpt) ? r.securityOpt : []) {
    const why = weakeningSecurityOpt(String(opt), noNewPrivileges);
    if (why) refusals.push({ source, what: `securityOpt "${opt}"`, why, fix: fix(`"${opt}" from "securityOpt"`) });
  }
  for (const m of Array.isArray(r.mounts) ? r.mounts : []) {
    const src = mountSource(m);
    if (src && isEngineSocketPath(src)) {
      refusals.push({ source, what: `mount of ${src}`, why: 'gives the workspace a container engine\'s socket (or the folder that holds it): it could start a container with any privilege', fix: fix('that mount') });
    }
  }
  return { refusals, withheld };
}

function capWhy(cap: string): string {
  if (cap === 'ALL') return 'adds every capability, NET_ADMIN included';
  if (cap.startsWith('NET_')) return 'would let the workspace change or bypass its firewall';
  if (cap === 'SYS_PTRACE') return 'would let the workspace trace and take over other processes, hdc\'s own agents included';
  return 'is a capability hdc drops: it reaches past the container boundary';
}

/**
 * runArgs, flag by flag. Returns the NET_ADMIN/NET_RAW asked for (withheld) and the runArgs
 * without them; anything else that would undo a guarantee is a refusal.
 */
export function checkRunArgs(runArgs: string[] | undefined, file: string, runtime: Runtime, noNewPrivileges = false): { refusals: Refusal[]; withheld: Withheld[]; runArgs: string[] } {
  const args = runArgs ?? [];
  const out: string[] = [];
  const refusals: Refusal[] = [];
  const withheld: Withheld[] = [];
  const source = `${file}: runArgs`;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const inline = arg.startsWith('--') && arg.includes('=');
    const flag = inline ? arg.slice(0, arg.indexOf('=')) : arg;
    const takesValue = VALUE_FLAGS.has(flag);
    const value = inline ? arg.slice(arg.indexOf('=') + 1) : takesValue ? args[i + 1] ?? '' : '';
    const shown = inline || !takesValue ? arg : `${arg} ${value}`;
    const refuse = (why: string): void => { refusals.push({ source, what: `"${shown}"`, why, fix: 'remove it from runArgs; the hardened container does not allow it' }); };
    if (flag === '--cap-add') {
      const caps = value.split(',').map(normCap).filter(Boolean);
      const keep = caps.filter((c) => !(WITHHELD_CAPS as readonly string[]).includes(c));
      for (const c of caps.filter((x) => !keep.includes(x))) withheld.push({ cap: c, where: `runArgs "${shown}"` });
      const bad = keep.filter((c) => c === 'ALL' || (REFUSED_CAPS as string[]).includes(c));
      if (bad.length) refuse(`adds ${bad.join(', ')}, which the hardened container drops (${capWhy(bad[0])})`);
      if (keep.length) out.push('--cap-add', keep.join(','));
      if (!inline) i++;
      continue;
    }
    if (flag === '--privileged') refuse('gives the workspace every capability, NET_ADMIN included');
    if ((flag === '--network' || flag === '--net') && /^(host|container:|ns:|pasta)/.test(value)) refuse(`puts the workspace in the network namespace "${value}", outside its firewall`);
    for (const ns of ['pid', 'ipc', 'uts'] as const) {
      if (flag === `--${ns}` && /^(host|container:|ns:)/.test(value)) refuse(`puts the workspace in the ${ns} namespace "${value}", shared with processes outside it`);
    }
    if (flag === '--userns' && !(runtime === 'podman' && value === 'keep-id')) refuse('changes the user namespace hdc maps the remote user with (podman: keep-id:uid=,gid=)');
    if (['--uidmap', '--gidmap', '--subuidname', '--subgidname'].includes(flag)) refuse('changes the user namespace hdc maps the remote user with');
    if (flag === '--volumes-from') refuse('copies another container\'s mounts into the workspace, which hdc cannot check');
    if (flag === '--security-opt') {
      const why = weakeningSecurityOpt(value, noNewPrivileges);
      if (why) refuse(why);
    }
    if (flag === '--device' && !ALLOWED_DEVICE.test(value.split(':')[0])) refuse(`gives the workspace the host device ${value.split(':')[0]} (allowed: /dev/fuse and GPUs)`);
    if ((flag === '-v' || flag === '--volume') && value.startsWith('/') && isEngineSocketPath(value.split(':')[0])) refuse('mounts a container engine\'s socket (or the folder that holds it) into the workspace');
    if (flag === '--mount' && (() => { const s = mountSource(value); return s !== undefined && isEngineSocketPath(s); })()) refuse('mounts a container engine\'s socket (or the folder that holds it) into the workspace');
    if (flag === '--annotation' && value.startsWith('dev.hardened-devcontainers.')) refuse('sets an annotation that belongs to hdc (it tells the firewall hook where the workspace\'s rules are and what the container is)');
    out.push(arg);
    if (takesValue && !inline) out.push(args[++i] ?? '');
  }
  return { refusals, withheld, runArgs: out };
}

/** Flags of `run` whose value is the next argument (when not written `--flag=value`). */
const VALUE_FLAGS = new Set(['--cap-add', '--cap-drop', '--network', '--net', '--pid', '--ipc', '--uts', '--userns', '--uidmap', '--gidmap',
  '--subuidname', '--subgidname', '--volumes-from', '--security-opt', '--device', '-v', '--volume', '--mount', '--annotation', '--name',
  '-e', '--env', '-l', '--label', '-u', '--user', '-p', '--publish', '-w', '--workdir', '--entrypoint', '--hostname', '-h', '--dns',
  '--add-host', '--cpus', '--memory', '-m', '--pids-limit', '--ulimit', '--tmpfs', '--shm-size', '--env-file', '--group-add']);

/** The whole pre-check: every source, then the CLI's merge itself. Throws one InputError listing every refusal. */
export function checkPrivilegeSources(sources: PrivilegeSource[], file: string, noNewPrivileges: boolean, runArgsResult?: { refusals: Refusal[] }): Withheld[] {
  const refusals: Refusal[] = [...(runArgsResult?.refusals ?? [])];
  const withheld: Withheld[] = [];
  const named = sources.filter((s) => s.kind !== 'merged configuration');
  for (const s of named) {
    const r = checkRequest(s, file, noNewPrivileges);
    refusals.push(...r.refusals);
    withheld.push(...r.withheld);
  }
  // The merge is the authority: anything it holds that no named source explained is refused too.
  for (const s of sources.filter((x) => x.kind === 'merged configuration')) {
    const seen = new Set(refusals.map((r) => r.what.toLowerCase()));
    for (const r of checkRequest(s, file, noNewPrivileges).refusals) if (!seen.has(r.what.toLowerCase())) refusals.push(r);
    const askedInFile = new Set(withheld.map((w) => w.cap));
    for (const raw of s.request.capAdd ?? []) {
      const cap = normCap(String(raw));
      if ((WITHHELD_CAPS as readonly string[]).includes(cap) && !askedInFile.has(cap) && !refusals.some((r) => r.what === `capAdd ${cap}`)) {
        refusals.push({ source: describeSource(s, file).source, what: `capAdd ${cap}`, why: capWhy(cap), fix: describeSource(s, file).fix(cap) });
      }
    }
  }
  if (refusals.length) {
    const lines = refusals.map((r) => `${r.source}: ${r.what} ${r.why}.`);
    throw new InputError(lines.length === 1 ? lines[0] : `The configuration asks for privilege the hardened container does not allow:\n${lines.map((l) => `  - ${l}`).join('\n')}`,
      [...new Set(refusals.map((r) => r.fix))].join('; '));
  }
  return withheld;
}

/** The kernel's view of a process: /proc/PID/status. */
export interface ProcPrivilege {
  capBnd: bigint;
  seccomp: number;
  noNewPrivs: boolean;
}

export function parseProcStatus(text: string): ProcPrivilege | undefined {
  const hex = /^CapBnd:\s+([0-9a-f]+)/m.exec(text)?.[1];
  if (!hex) return undefined;
  return { capBnd: BigInt(`0x${hex}`), seccomp: Number(/^Seccomp:\s+(\d+)/m.exec(text)?.[1] ?? 0), noNewPrivs: /^NoNewPrivs:\s+1/m.test(text) };
}

/** What is wrong with a running process's privilege, by the kernel's own account. */
export function procProblems(p: ProcPrivilege, noNewPrivileges: boolean): string[] {
  const problems: string[] = [];
  const held = REFUSED_CAPS.filter((c) => ((p.capBnd >> BigInt(CAP_BITS[c])) & 1n) === 1n);
  if (held.length) problems.push(`holds ${held.join(', ')} (CapBnd ${p.capBnd.toString(16)})`);
  if (p.seccomp !== 2) problems.push(`runs without a seccomp filter (Seccomp ${p.seccomp})`);
  if (noNewPrivileges && !p.noNewPrivs) problems.push('runs without no-new-privileges');
  return problems;
}

/**
 * The kernel's account of a container's first process. A pid from podman's createRuntime
 * hook is still the runtime's init (runc/crun, every capability, no seccomp yet) until it
 * execs the container's program: wait for that first (at most `waitMs`).
 */
export async function readProcStatus(pid: number, waitMs = 3000): Promise<ProcPrivilege | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (!/^(runc|crun)\b/.test(comm) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return parseProcStatus(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
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
}

/** What is weaker than hdc requires in an engine's record of a container. */
export function hostConfigProblems(h: HostConfigPrivilege, noNewPrivileges: boolean, joinsGuard: boolean): string[] {
  const problems: string[] = [];
  if (h.privileged) problems.push('is privileged');
  const caps = h.capAdd.map(normCap).filter((c) => c === 'ALL' || (REFUSED_CAPS as string[]).includes(c));
  if (caps.length) problems.push(`was given ${caps.join(', ')}`);
  for (const o of h.securityOpt) {
    const why = weakeningSecurityOpt(o, noNewPrivileges);
    if (why) problems.push(`has security option ${o} (${why})`);
  }
  if (noNewPrivileges && !h.securityOpt.some((o) => /^no-new-privileges(?:[=:]true)?$/.test(o))) problems.push('lacks no-new-privileges');
  for (const [ns, mode] of [['pid', h.pidMode], ['ipc', h.ipcMode], ['uts', h.utsMode], ['user', h.usernsMode]] as const) {
    if (/^(host|container:)/.test(mode)) problems.push(`shares the ${ns} namespace "${mode}"`);
  }
  // With the firewall, the workspace joins its guard's namespace (container:GUARD) and no other.
  if (h.networkMode === 'host' || (joinsGuard && !h.networkMode.startsWith('container:'))) problems.push(`has network mode "${h.networkMode}"`);
  for (const d of h.devices) if (!ALLOWED_DEVICE.test(d)) problems.push(`has the host device ${d}`);
  for (const s of h.mountSources) if (isEngineSocketPath(s)) problems.push(`mounts ${s} (a container engine's socket or its folder)`);
  return problems;
}

/**
 * The podman hook's per-workspace policy file (key=value lines, read by privilege-check.sh):
 * the refused capabilities, whether no-new-privileges and a user namespace are required.
 */
export async function writePrivilegePolicy(dir: string, policy: { noNewPrivileges: boolean; userNamespace: boolean }): Promise<void> {
  const content = `caps=${REFUSED_CAPS.join(' ')}\nnnp=${policy.noNewPrivileges ? 1 : 0}\nuserns=${policy.userNamespace ? 1 : 0}\n`;
  const file = path.join(dir, 'privilege');
  if (await readFile(file, 'utf8').catch(() => '') === content) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, content, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
