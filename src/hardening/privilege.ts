import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../base/errors';
import type { Runtime } from '../base/engine';
import { HostConfigPrivilege } from '../base/engine';
import { PrivilegeRequest } from '../base/devcontainerCli';

/**
 * Privilege: what no workspace may hold, whichever source asks for it. Checked twice: the
 * request, before anything is created (the devcontainers CLI's merged configuration, every
 * source named), and the result, before the workspace's first process or lifecycle command
 * (the OCI spec in the podman hook, the engine's record and the kernel's on docker).
 */

/**
 * Capabilities that undo a guarantee: the firewall (NET_*; NET_BIND_SERVICE binds the ports
 * that only the filtering resolver may send DNS from), the container boundary
 * (SYS_ADMIN, SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH's open_by_handle_at, BPF, PERFMON,
 * MAC_*), other processes (SYS_PTRACE), devices (MKNOD), the host's clock, log and audit.
 * hdc drops every one of them and refuses a request for any.
 */
export const CAP_BITS = {
  DAC_READ_SEARCH: 2, LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13, SYS_MODULE: 16, SYS_RAWIO: 17, SYS_PTRACE: 19,
  SYS_ADMIN: 21, SYS_BOOT: 22, SYS_TIME: 25, MKNOD: 27, AUDIT_CONTROL: 30, MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34,
  PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40 } as const;
export type RefusedCap = keyof typeof CAP_BITS;
export const REFUSED_CAPS = Object.keys(CAP_BITS) as RefusedCap[];

/**
 * Asked for by agent devcontainers for their own in-container firewall (NET_ADMIN, NET_RAW),
 * or to serve on a port below 1024 (NET_BIND_SERVICE, which would let the workspace send DNS
 * past the filtering resolver): withheld, not refused.
 */
export const WITHHELD_CAPS = ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'] as const;

/** Host devices a workspace may have: fuse, and GPUs (DRI, NVIDIA, AMD's kfd). No "." or ".." parts. */
export const ALLOWED_DEVICE = /^\/dev\/(fuse|kfd|dri(\/[\w-]+)*|nvidia[\w-]*|nvidia-caps(\/[\w-]+)*)$/;

const normCap = (c: string): string => c.trim().toUpperCase().replace(/^CAP_/, '');

/**
 * Why a host path may not be mounted into the workspace, or undefined. The rule is the same
 * in privilege-check.sh (the podman hook). A path is judged as written and, where it exists,
 * as the kernel would follow it (`resolved`): no "." or ".." tricks, no socket (an engine's,
 * the session bus, systemd's, X11's, an ssh agent's: each is a way out), nothing under /run,
 * /proc, /sys or /dev (but the allowed devices), no engine storage, and not the home folder
 * itself nor the parts of it that configure podman and hdc (`protectedDirs`).
 */
export function refusedHostPath(p: string, opts: { resolved?: string; isSocket?: boolean; protectedDirs?: string[] } = {}): string | undefined {
  if (/(^|\/)\.\.?(\/|$)/.test(p) || p.includes('//')) return 'has "." or ".." parts or "//"';
  for (const q of [p, opts.resolved ?? p]) {
    const n = q.replace(/\/+$/, '') || '/';
    // A socket by what it is; by name (".sock") where it cannot be looked at. The session
    // bus, systemd's and wayland's live in /run/user, refused below.
    if (opts.isSocket || /\.sock$/.test(n)) return 'is a socket (a way to a daemon outside the workspace)';
    if (ALLOWED_DEVICE.test(n)) continue;
    if (/^\/(run|var\/run|proc|sys|dev|tmp\/\.X11-unix|var\/lib\/docker|var\/lib\/containers)(\/|$)/.test(n)) return 'is, or is under, a system folder that holds sockets, devices or engine state';
    if (['/', '/home', '/root', '/var', '/var/lib', '/tmp', '/var/tmp'].includes(n)) return 'holds the home folders, engine state or other users\' sockets';
    if (/^\/(tmp|var\/tmp)\/(tmux-|ssh-|\.ICE-unix|\.font-unix|systemd-private-)/.test(n)) return 'is a folder of session sockets';
    for (const dir of opts.protectedDirs ?? []) {
      if (n === dir || n.startsWith(`${dir}/`) || dir.startsWith(`${n}/`)) return `is, holds or is inside ${dir}, which configures podman or hdc`;
    }
  }
  return undefined;
}

/**
 * A mount's fields, from a mount string or an object. Engines read a mount string as CSV
 * (quotes group commas) and let a repeated key win; hdc reads neither: `ambiguous` says
 * why it will not guess, and such a mount is refused.
 */
export function mountFields(m: unknown): { type?: string; source?: string; target?: string; readonly: boolean; options: string[]; ambiguous?: string } {
  if (typeof m === 'string') {
    if (m.includes('"')) return { readonly: false, options: [], ambiguous: 'has quoted fields' };
    const fields: Record<string, string> = {};
    const options: string[] = [];
    for (const raw of m.split(',')) {
      const at = raw.indexOf('=');
      let key = (at < 0 ? raw : raw.slice(0, at)).trim().toLowerCase();
      if (key === 'src') key = 'source';
      if (key === 'dst' || key === 'destination') key = 'target';
      if (key in fields && key !== 'volume-opt') return { readonly: false, options: [], ambiguous: `repeats "${key}"` };
      fields[key] = at < 0 ? '' : raw.slice(at + 1).trim();
      options.push(key);
    }
    const ro = fields.readonly ?? fields.ro;
    return { type: fields.type, source: fields.source, target: fields.target, readonly: ro !== undefined && ro !== 'false' && ro !== '0', options };
  }
  if (m && typeof m === 'object') {
    const o = m as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof o[k] === 'string' ? o[k] as string : undefined);
    // The CLI turns an object into a mount string: a comma or "=" in a value would add fields.
    if (['type', 'source', 'target'].some((k) => /[,="]/.test(str(k) ?? ''))) return { readonly: false, options: [], ambiguous: 'has a "," or "=" in a value' };
    return { type: str('type'), source: str('source'), target: str('target'), readonly: false, options: Object.keys(o).map((k) => k.toLowerCase()) };
  }
  return { readonly: false, options: [] };
}

/** What is wrong with one mount, or undefined: an ambiguous string, volume options, a refused host path. */
export function mountProblem(m: unknown, ctx: HostPathContext = {}): string | undefined {
  const f = mountFields(m);
  if (f.ambiguous) return `${f.ambiguous}, which engines and hdc could read differently`;
  if (f.options.some((o) => o.startsWith('volume-opt') || o === 'volume-driver')) return 'sets volume options (a volume can bind any host path)';
  if (!f.source) return undefined;
  if ((f.type ?? 'volume') !== 'bind' && !f.source.startsWith('/')) return undefined; // a named volume
  const why = hostPathWhy(f.source, ctx);
  if (why) return why;
  if (!f.readonly && ctx.workspace && !insideWorkspace(f.source, ctx)) return 'is writable and outside the workspace folder (the workspace could change what runs on the host: a dotfile, a git config)';
  return undefined;
}

/** True when a host path (as written, and as resolved) lies in the folder the CLI mounts. */
export function insideWorkspace(p: string, ctx: HostPathContext): boolean {
  const ws = ctx.workspace;
  if (!ws) return true;
  const resolved = ctx.inspect?.(p).resolved ?? p;
  return [p, resolved].every((q) => q === ws || q.startsWith(`${ws}/`));
}

/** Checks the host filesystem for the path's real target and kind (when hdc runs on that host). */
export interface HostPathContext {
  protectedDirs?: string[];
  /** The host folder the CLI mounts as the workspace (writable binds must lie in it). */
  workspace?: string;
  inspect?: (p: string) => { resolved?: string; isSocket?: boolean };
}

export function hostPathWhy(p: string, ctx: HostPathContext = {}): string | undefined {
  const seen = ctx.inspect?.(p) ?? {};
  return refusedHostPath(p, { ...seen, protectedDirs: ctx.protectedDirs });
}

/** Why a security option weakens the container, or undefined when it does not. */
/**
 * Why an annotation key is refused (from runArgs, or an image's own, which podman copies into
 * the container): hdc's, the runtime's (crun's run.oci.* open host files and change the
 * process), systemd's or podman's; or a quote, which no key of theirs has.
 */
export function annotationWhy(key: string): string | undefined {
  if (key.includes('"')) return `has a quote in the annotation key ${JSON.stringify(key)}`;
  return /^(dev\.hardened-devcontainers\.|run\.oci\.|org\.systemd\.|io\.podman\.|io\.containers\.)/i.test(key.trim())
    ? `sets the annotation ${key.trim()}, which belongs to hdc, the runtime, systemd or podman (they change what the container may do)` : undefined;
}

/** An image whose annotations podman would copy into the workspace: refused before anything runs. */
export function checkImageAnnotations(annotations: Record<string, string> | undefined, imageRef: string, file: string): void {
  const bad = Object.keys(annotations ?? {}).map((k) => annotationWhy(k)).filter((w): w is string => w !== undefined);
  if (bad.length) {
    throw new InputError(`${file}: the image ${imageRef} ${bad.join('; ')}. podman copies an image's annotations into the container.`,
      'use an image without these annotations (podman image inspect --format {{json .Annotations}} shows them)');
  }
}

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
export function checkRequest(s: PrivilegeSource, file: string, noNewPrivileges: boolean, ctx: HostPathContext = {}): { refusals: Refusal[]; withheld: Withheld[] } {
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
  // devcontainer.json's own writable binds outside the workspace are made read-only in
  // the override (hdc's file); a feature's or a label's cannot be, so they are refused.
  const mctx = s.kind === 'feature' || s.kind === 'image label' ? ctx : { ...ctx, workspace: undefined };
  for (const m of Array.isArray(r.mounts) ? r.mounts : []) {
    const why = mountProblem(m, mctx);
    if (why) {
      const src = mountFields(m).source ?? JSON.stringify(m);
      refusals.push({ source, what: `mount of ${src}`, why: `${why}; the workspace must not reach it`, fix: fix('that mount') });
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
 * runArgs, flag by flag, against a list of the `run` flags hdc knows: a flag it does not know
 * is refused (podman accepts its global options after `run` too: --hooks-dir, --runtime,
 * --conmon… would each undo the hardening), and each known flag's value is checked. Returns
 * the NET_ADMIN/NET_RAW asked for (withheld) and the runArgs without them.
 */
export function checkRunArgs(runArgs: string[] | undefined, file: string, runtime: Runtime, noNewPrivileges = false, ctx: HostPathContext = {}): { refusals: Refusal[]; withheld: Withheld[]; runArgs: string[] } {
  const args = runArgs ?? [];
  const out: string[] = [];
  const refusals: Refusal[] = [];
  const withheld: Withheld[] = [];
  const source = `${file}: runArgs`;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // --flag=value, --flag value, -f value, -fvalue, -f=value, -abf value (booleans then one with a value).
    let flag: string;
    let value: string | undefined;
    let consumed = 0;
    if (arg.startsWith('--')) {
      const at = arg.indexOf('=');
      flag = at < 0 ? arg : arg.slice(0, at);
      if (at >= 0) value = arg.slice(at + 1);
    } else if (/^-[A-Za-z]/.test(arg)) {
      let j = 1;
      while (j < arg.length - 1 && SHORT_BOOLEAN.has(arg[j])) j++;
      flag = `-${arg[j]}`;
      const rest = arg.slice(j + 1);
      if (rest) value = rest.replace(/^=/, '');
    } else {
      refusals.push({ source, what: `"${arg}"`, why: 'is not a flag of `run` (the image and command come from devcontainer.json)', fix: 'remove it from runArgs' });
      continue;
    }
    const spec = RUN_FLAGS[flag];
    if (spec === undefined) {
      // Its value, if it has one, is shown with it (and not read as a flag of its own).
      const next = value === undefined && args[i + 1] !== undefined && !args[i + 1].startsWith('-') ? args[++i] : undefined;
      refusals.push({ source, what: `"${next === undefined ? arg : `${arg} ${next}`}"`, why: 'is not a run flag hdc knows, and hdc refuses what it cannot check', fix: 'remove it from runArgs (or ask for it to be added, with what it is for)' });
      continue;
    }
    if (spec !== 'boolean' && flag !== '--privileged' && value === undefined) {
      value = args[i + 1] ?? '';
      consumed = 1;
    }
    const shown = consumed ? `${arg} ${value}` : arg;
    const refuse = (why: string): void => { refusals.push({ source, what: `"${shown}"`, why, fix: 'remove it from runArgs; the hardened container does not allow it' }); };
    const v = value ?? '';
    // podman reads these as CSV (pflag string slices): a comma makes two values, and quotes
    // change where they split ("a""b" is a"b). Each value is checked; quotes are refused.
    if (CSV_FLAGS.has(flag) && v.includes('"')) {
      refuse('has a quote in a list value, which podman reads as CSV; hdc checks each value only without quotes');
      i += consumed;
      continue;
    }
    if (flag === '--cap-add') {
      const caps = v.split(',').map(normCap).filter(Boolean);
      const keep = caps.filter((c) => !(WITHHELD_CAPS as readonly string[]).includes(c));
      for (const c of caps.filter((x) => !keep.includes(x))) withheld.push({ cap: c, where: `runArgs "${shown}"` });
      const bad = keep.filter((c) => c === 'ALL' || (REFUSED_CAPS as string[]).includes(c));
      if (bad.length) refuse(`adds ${bad.join(', ')}, which the hardened container drops (${capWhy(bad[0])})`);
      if (keep.length) out.push('--cap-add', keep.join(','));
      i += consumed;
      continue;
    }
    const values = CSV_FLAGS.has(flag) ? v.split(',') : [v];
    const why = typeof spec === 'function' ? values.map((one) => spec(one, { runtime, noNewPrivileges, ctx })).find(Boolean) : undefined;
    if (why) refuse(why);
    out.push(arg);
    if (consumed) out.push(args[++i] ?? '');
  }
  return { refusals, withheld, runArgs: out };
}

/** The run flags whose value podman splits at commas (CSV, with quotes), as string slices. */
const CSV_FLAGS = new Set(['--annotation', '--cap-add', '--cap-drop', '--device', '--group-add', '--sysctl', '--dns', '--dns-search', '--dns-option', '--dns-opt',
  '--add-host', '--ulimit', '-p', '--publish', '--expose']);

/** Short flags that take no value, so that "-it" and "-itv X" read as pflag reads them. */
const SHORT_BOOLEAN = new Set(['i', 't', 'd', 'q', 'P']);

type FlagCheck = (value: string, c: { runtime: Runtime; noNewPrivileges: boolean; ctx: HostPathContext }) => string | undefined;
const allowed: FlagCheck = () => undefined;
const ownNamespace = (ns: string): FlagCheck => (v) => (/^(host|container:|ns:|pasta)/.test(v) ? `puts the workspace in the ${ns} namespace "${v}", shared with what is outside it` : undefined);
const volume: FlagCheck = (v, c) => {
  // -v SRC:DST[:OPTS]; a SRC without a leading / is a named volume.
  const [src, , opts = ''] = v.split(':');
  if (opts.split(',').some((o) => o === 'U' || o.startsWith('idmap'))) return 'changes the owner of the host folder (U/idmap)';
  if (!(src.startsWith('/') || src.startsWith('.') || src.startsWith('~'))) return undefined;
  const readonly = opts.split(',').includes('ro');
  return hostPathWhy(src, c.ctx)
    ?? (!readonly && c.ctx.workspace && !insideWorkspace(src, c.ctx) ? 'is writable and outside the workspace folder (add :ro)' : undefined);
};
const mount: FlagCheck = (v, c) => mountProblem(v, c.ctx);
const label = (v: string): string | undefined => (/^(devcontainer\.|hardened-devcontainers\.)/.test(v) ? 'sets a label that the devcontainers CLI or hdc finds containers by' : undefined);
const network: FlagCheck = (v) => ownNamespace('network')(v, { runtime: 'podman', noNewPrivileges: false, ctx: {} })
  ?? (/^[\w.-]+$/.test(v) ? undefined : `is a network with options ("${v}"); name a network, or none`);
const device: FlagCheck = (v) => {
  const host = v.split(':')[0];
  return ALLOWED_DEVICE.test(host) ? undefined : `gives the workspace the host device ${host} (allowed: /dev/fuse and GPUs)`;
};

/**
 * Network sysctls the firewall depends on: the ports below 1024 that only the filtering
 * resolver may bind, and which addresses a socket may use. Refused in runArgs, in the OCI
 * spec (the podman hook) and in docker's record. The same pattern is in oci-hook.sh.
 */
export const SYSCTL_NAME = /^net(\.[a-z0-9_-]+)+$/;
export const FIREWALL_SYSCTL = /^net\.(ipv4\.ip_unprivileged_port_start|ipv4\.ip_nonlocal_bind|ipv6\.ip_nonlocal_bind|ipv4\.conf\.[^.=]+\.route_localnet)$/;

/** The `run` flags hdc lets through, with the check of each one's value ('boolean': takes none). */
const RUN_FLAGS: Record<string, FlagCheck | 'boolean'> = {
  // Naming, metadata, environment, process.
  '--name': allowed, '-e': allowed, '--env': allowed,
  '-l': (v) => label(v), '--label': (v) => label(v),
  '--annotation': (v) => annotationWhy(v.split('=')[0]),
  '-u': allowed, '--user': allowed, '-w': allowed, '--workdir': allowed, '--entrypoint': allowed, '--init': 'boolean',
  '-i': 'boolean', '--interactive': 'boolean', '-t': 'boolean', '--tty': 'boolean', '-d': 'boolean', '--detach': 'boolean',
  '--stop-signal': allowed, '--stop-timeout': allowed, '--platform': allowed, '--pull': allowed, '--read-only': 'boolean', '--read-only-tmpfs': 'boolean',
  '--log-opt': (v) => (/^(max-size|max-file|tag)=/.test(v) ? undefined : 'sets a log option other than max-size, max-file or tag (a log path is a host file)'), '--tz': allowed, '--hostuser': allowed, '--health-cmd': allowed, '--no-healthcheck': 'boolean',
  // Resources.
  '--cpus': allowed, '--cpu-shares': (v) => (/^\d+$/.test(v) ? undefined : 'is not a number'), '-c': (v) => (/^\d+$/.test(v) ? undefined : 'is not a number'),
  '--cpuset-cpus': allowed, '--cpuset-mems': allowed, '--cpu-period': allowed, '--cpu-quota': allowed, '-m': allowed, '--memory': allowed,
  '--memory-swap': allowed, '--memory-reservation': allowed, '--shm-size': allowed, '--pids-limit': allowed, '--ulimit': allowed, '--oom-score-adj': allowed,
  '--tmpfs': allowed, '--gpus': allowed,
  // Network: inside the workspace's own namespace (moved to the guard on docker).
  '--network': network, '--net': network, '--ip': allowed, '--ip6': allowed,
  '--mac-address': allowed, '--dns': () => 'chooses the DNS server that hdc\'s filtering resolver asks, which the workspace\'s configuration must not (a server of its own would answer allowed names with any address, and receive every query): set hardenedDevcontainers.firewall.dnsServers instead', '--dns-search': allowed, '--dns-option': allowed, '--dns-opt': allowed, '--add-host': allowed,
  '-h': allowed, '--hostname': allowed, '-p': allowed, '--publish': allowed, '--expose': allowed, '-P': 'boolean', '--publish-all': 'boolean',
  '--sysctl': (v) => (!/^net\./.test(v) ? 'sets a kernel parameter outside the workspace\'s own network namespace'
    // The runtimes turn every "." into "/" and open the path: only one spelling per name.
    : !SYSCTL_NAME.test(v.split('=')[0]) ? 'names a kernel parameter in a spelling hdc does not read (only dot-separated letters, digits, "_" and "-")'
      : FIREWALL_SYSCTL.test(v.split('=')[0]) ? 'sets a kernel parameter the firewall depends on (binding below port 1024, non-local or loopback-routed addresses)' : undefined),
  '--network-alias': (v) => (v.includes('.') ? 'registers a dotted name in the network\'s DNS, where it could stand in for a real host for other containers' : undefined),
  // Namespaces, users, privilege: checked.
  '--pid': ownNamespace('pid'), '--ipc': ownNamespace('ipc'), '--uts': ownNamespace('uts'),
  '--cgroupns': (v) => (v === 'private' ? undefined : `puts the workspace in the cgroup namespace "${v}"`),
  '--userns': (v, c) => (c.runtime === 'podman' && v === 'keep-id' ? undefined : 'changes the user namespace hdc maps the remote user with (podman: keep-id:uid=,gid=)'),
  '--group-add': (v) => (/keep-groups/.test(v) ? 'keeps your host groups in the workspace (a docker group, a device group)' : undefined),
  '--privileged': () => 'gives the workspace every capability, NET_ADMIN included',
  '--cap-add': allowed, '--cap-drop': allowed,
  '--security-opt': (v, c) => weakeningSecurityOpt(v, c.noNewPrivileges)
    ?? (/^(no-new-privileges([=:]true)?|label[=:](level|user|role):[\w.:-]+)$/.test(v.trim().toLowerCase()) ? undefined : `is a security option hdc does not let through ("${v}")`),
  '--device': device, '-v': volume, '--volume': volume, '--mount': mount };

/** The whole pre-check: every source, then the CLI's merge itself. Throws one InputError listing every refusal. */
export function checkPrivilegeSources(sources: PrivilegeSource[], file: string, noNewPrivileges: boolean, runArgsResult?: { refusals: Refusal[] }, ctx: HostPathContext = {}): Withheld[] {
  const refusals: Refusal[] = [...(runArgsResult?.refusals ?? [])];
  const withheld: Withheld[] = [];
  const named = sources.filter((s) => s.kind !== 'merged configuration');
  for (const s of named) {
    const r = checkRequest(s, file, noNewPrivileges, ctx);
    refusals.push(...r.refusals);
    withheld.push(...r.withheld);
  }
  // The merge is the authority: anything it holds that no named source explained is refused too.
  for (const s of sources.filter((x) => x.kind === 'merged configuration')) {
    const seen = new Set(refusals.map((r) => r.what.toLowerCase()));
    for (const r of checkRequest(s, file, noNewPrivileges, ctx).refusals) if (!seen.has(r.what.toLowerCase())) refusals.push(r);
    const askedInFile = new Set(withheld.map((w) => w.cap));
    for (const raw of s.request.capAdd ?? []) {
      const cap = normCap(String(raw));
      if ((WITHHELD_CAPS as readonly string[]).includes(cap) && !askedInFile.has(cap) && !refusals.some((r) => r.what === `capAdd ${cap}`)) {
        refusals.push({ source: describeSource(s, file).source, what: `capAdd ${cap}`, why: capWhy(cap), fix: describeSource(s, file).fix(cap) });
      }
    }
  }
  if (refusals.length) {
    const lines = [...new Set(refusals.map((r) => `${r.source}: ${r.what} ${r.why}.`))];
    throw new InputError(lines.length === 1 ? lines[0] : `The configuration asks for privilege the hardened container does not allow:\n${lines.map((l) => `  - ${l}`).join('\n')}`,
      [...new Set(refusals.map((r) => r.fix))].join('; '));
  }
  return withheld;
}

/** The kernel's view of a process: /proc/PID/status. */
export interface ProcPrivilege {
  /** Bounding, inheritable, permitted, effective and ambient sets. */
  caps: { CapBnd: bigint; CapInh: bigint; CapPrm: bigint; CapEff: bigint; CapAmb: bigint };
  capBnd: bigint;
  seccomp: number;
  noNewPrivs: boolean;
}

export function parseProcStatus(text: string): ProcPrivilege | undefined {
  const read = (name: string): bigint | undefined => {
    const hex = new RegExp(`^${name}:\\s+([0-9a-f]+)`, 'm').exec(text)?.[1];
    return hex === undefined ? undefined : BigInt(`0x${hex}`);
  };
  const capBnd = read('CapBnd');
  if (capBnd === undefined) return undefined;
  const caps = { CapBnd: capBnd, CapInh: read('CapInh') ?? 0n, CapPrm: read('CapPrm') ?? 0n, CapEff: read('CapEff') ?? 0n, CapAmb: read('CapAmb') ?? 0n };
  return { caps, capBnd, seccomp: Number(/^Seccomp:\s+(\d+)/m.exec(text)?.[1] ?? 0), noNewPrivs: /^NoNewPrivs:\s+1/m.test(text) };
}

/** What is wrong with a running process's privilege, by the kernel's own account (every capability set). */
export function procProblems(p: ProcPrivilege, noNewPrivileges: boolean): string[] {
  const problems: string[] = [];
  const any = p.caps.CapBnd | p.caps.CapInh | p.caps.CapPrm | p.caps.CapEff | p.caps.CapAmb;
  const held = REFUSED_CAPS.filter((c) => ((any >> BigInt(CAP_BITS[c])) & 1n) === 1n);
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
  for (const s of h.mountSources) {
    const why = refusedHostPath(s);
    if (why) problems.push(`mounts ${s}, which ${why}`);
  }
  for (const k of h.sysctls) if (FIREWALL_SYSCTL.test(k) || !SYSCTL_NAME.test(k)) problems.push(`sets ${k}, which the firewall depends on (or in a spelling hdc does not read)`);
  return problems;
}

/**
 * The podman hook's per-workspace policy file (key=value lines, read by privilege-check.sh):
 * the refused capabilities, whether no-new-privileges and a user namespace are required.
 */
export async function writePrivilegePolicy(dir: string, policy: { noNewPrivileges: boolean; userNamespace: boolean; protectedDirs: string[]; allowedFiles?: string[]; workspace?: string; storeRoots?: string[] }): Promise<void> {
  const lines = (key: string, list: string[]): string => list.filter((d) => !d.includes('\n')).map((d) => `${key}=${d}\n`).join('');
  const content = `caps=${REFUSED_CAPS.join(' ')}\nnnp=${policy.noNewPrivileges ? 1 : 0}\nuserns=${policy.userNamespace ? 1 : 0}\n`
    + lines('protect', policy.protectedDirs) + lines('allow', policy.allowedFiles ?? []) + lines('workspace', policy.workspace ? [policy.workspace] : []) + lines('store', policy.storeRoots ?? []);
  const file = path.join(dir, 'privilege');
  if (await readFile(file, 'utf8').catch(() => '') === content) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, content, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * devcontainer.json's bind mounts from outside the workspace, made read-only for the
 * override (a variable-free source inside `workspace`, a relative one, or a named volume
 * stays as it is). Returns the mounts and the sources it changed.
 */
export function readOnlyOutside(mounts: unknown[] | undefined, workspace: string): { mounts: unknown[] | undefined; changed: string[] } {
  if (!Array.isArray(mounts)) return { mounts, changed: [] };
  const changed: string[] = [];
  const out = mounts.map((m) => {
    const f = mountFields(m);
    if (f.ambiguous || !f.source || f.readonly || ((f.type ?? 'volume') !== 'bind' && !f.source.startsWith('/') && !f.source.startsWith('${'))) return m;
    const inside = f.source.startsWith('${localWorkspaceFolder}') || (!f.source.includes('${') && (f.source === workspace || f.source.startsWith(`${workspace}/`)));
    if (inside) return m;
    changed.push(f.source);
    return typeof m === 'string' ? `${m},readonly` : { ...(m as object), readonly: true };
  });
  return { mounts: out, changed };
}
