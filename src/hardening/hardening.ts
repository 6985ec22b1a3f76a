import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { HdcError } from '../base/errors';
import { REFUSED_CAPS } from './privilege';
import { packageRoot } from '../base/paths';
import { run, type CliCall, type RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import { WorkspaceLayout } from '../base/mounts';

/**
 * The parts of the hardening that are not the firewall: capabilities, limits, read-only
 * config mounts, and sudo revocation with its verification.
 */

/**
 * Dropped explicitly, whatever the engine's defaults are: every capability hdc refuses, but
 * the three that Linux 5.8/5.9 added (BPF, PERFMON, CHECKPOINT_RESTORE): Docker 20.10 does
 * not know their names and refuses the flag. No engine grants them by default; a request for
 * them is refused, and the read-back checks them like the rest.
 */
export const DROPPED_CAPS = REFUSED_CAPS.filter((c) => !['BPF', 'PERFMON', 'CHECKPOINT_RESTORE'].includes(c));

/**
 * Rootless podman can only enforce resource limits on a cgroup v2 host: on v1 (or hybrid)
 * it ignores them. Detected from the filesystem, with no process: v2 has cgroup.controllers
 * at the root.
 */
export function limitsEnforceable(runtime: Settings['runtime'], rootless: boolean, cgroupRoot = '/sys/fs/cgroup'): boolean {
  return !(runtime === 'podman' && rootless && !existsSync(path.join(cgroupRoot, 'cgroup.controllers')));
}

export const LIMITS_NOT_ENFORCED = 'not enforced: rootless podman ignores resource limits on a cgroup v1 host (boot with cgroup v2, systemd.unified_cgroup_hierarchy=1, to enforce them)';

export function hardeningRunArgs(settings: Settings): string[] {
  const args = DROPPED_CAPS.flatMap((c) => ['--cap-drop', c]);
  if (settings.limits.cpus) args.push('--cpus', settings.limits.cpus);
  if (settings.limits.memory) args.push('--memory', settings.limits.memory);
  if (settings.limits.pids > 0) args.push('--pids-limit', String(settings.limits.pids));
  if (settings.noNewPrivileges) args.push('--security-opt', 'no-new-privileges');
  return args;
}

/**
 * The config that the next rebuild reads, and the git hooks that the next commit runs, as
 * host paths: the config folder (or a root .devcontainer.json), .vscode, .git/hooks.
 */
export function protectedPaths(workspaceFolder: string, configFile: string, mountSource: string): string[] {
  const candidates = [
    path.basename(path.dirname(configFile)) === '.devcontainer' ? path.dirname(configFile) : configFile,
    path.join(workspaceFolder, '.vscode'),
  ];
  // .git/hooks of the repository that contains the workspace, if it is inside the mount.
  for (let dir = workspaceFolder; dir.startsWith(mountSource); dir = path.dirname(dir)) {
    const hooks = path.join(dir, '.git', 'hooks');
    if (existsSync(hooks) && statSync(path.join(dir, '.git')).isDirectory()) {
      candidates.push(hooks);
      break;
    }
    if (dir === path.dirname(dir)) break;
  }
  return candidates.filter((p) => existsSync(p) && (p === mountSource || p.startsWith(mountSource + path.sep)));
}

/** `mounts` entries that lay each protected path read-only over the workspace mount. */
export function readOnlyMounts(paths: string[], layout: WorkspaceLayout): string[] {
  return paths.map((p) => `type=bind,source=${p},target=${path.posix.join(layout.target, path.relative(layout.source, p).split(path.sep).join('/'))},readonly`);
}

/** The revocation script, fed on stdin; the user name is an argument, never text in a script. */
export async function revokeSudoCall(engine: EngineClient, containerId: string, user: string): Promise<CliCall<string>> {
  const script = await readFile(path.join(packageRoot(), 'src', 'hardening', 'revoke-sudo.sh'), 'utf8');
  // Its last line, "revoked", comes only after every step and check passed.
  return { ...engine.execWithInput(containerId, ['sh', '-s', '--', user], script, (r) => r.stdout.trim(), { user: 'root' }), doneWhen: (out) => /(^|\n)revoked\n$/.test(out) };
}

/**
 * The revocation's exec, started ahead: `podman exec` costs 0.1–0.2 s to set up, so it is
 * opened while the CLI still runs and waits (a root `sh` reading stdin, outside the
 * workspace's reach) for the script, which `go()` sends once the lifecycle commands are done.
 * `cancel()` closes it unused.
 */
export interface PreparedRevoke {
  go(): Promise<string>;
  cancel(): void;
}

export async function prepareRevokeSudo(engine: EngineClient, containerId: string, user: string, options: RunOptions): Promise<PreparedRevoke> {
  const call = await revokeSudoCall(engine, containerId, user);
  let send!: (script: string) => void;
  let close!: () => void;
  const input = new Promise<string>((resolve, reject) => { send = resolve; close = () => reject(new Error('not needed')); });
  const out = run({ ...call, input }, options);
  out.catch(() => undefined); // seen by go(); unused when cancelled
  return {
    go: () => { send(call.input as string); return out; },
    cancel: close };
}

export interface SudoCheck {
  ok: boolean;
  evidence: string;
}

/** Revoked means: as the remote user, `sudo -n true` fails and `su` fails. */
export async function checkSudoRevoked(engine: EngineClient, containerId: string, user: string, options: RunOptions): Promise<SudoCheck> {
  const [sudo, su] = await Promise.all([
    run(engine.exec(containerId, ['sudo', '-n', 'true'], { user }), options),
    run(engine.exec(containerId, ['su', '-c', 'true', 'root'], { user }), options),
  ]);
  const describe = (name: string, r: { exitCode: number; stderr: string }): string =>
    `${name} ${r.exitCode === 0 ? 'SUCCEEDED' : `fails (exit ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''})`}`;
  return { ok: sudo.exitCode !== 0 && su.exitCode !== 0, evidence: `as ${user}: ${describe('sudo -n true', sudo)}; ${describe('su -c true root', su)}` };
}

/**
 * What the revocation script saw in its own check: `sudo -n true` as the user, and whether
 * root's password is empty. undefined when the image has no runuser (then execs check).
 */
export function parseRevokeOutput(out: string, user: string): SudoCheck | undefined {
  const sudo = /^sudo-check: (.*)$/m.exec(out)?.[1];
  const root = /^root-password: (.*)$/m.exec(out)?.[1] ?? 'unreadable';
  if (!sudo || sudo === 'unavailable') return undefined;
  const sudoOk = sudo !== 'SUCCEEDED';
  const rootOk = root !== 'EMPTY';
  return {
    ok: sudoOk && rootOk,
    evidence: `as ${user}: sudo -n true ${sudo === 'SUCCEEDED' ? 'SUCCEEDED' : sudo.replace(/^fails: /, 'fails (') + (sudo.startsWith('fails: ') ? ')' : '')}; `
      + `root password ${root === 'EMPTY' ? 'EMPTY (su would work)' : `${root} (su needs it)`}` };
}

/**
 * Revokes, then verifies; throws when the user can still become root. One exec when the
 * image has runuser (the check is in the script); otherwise the checks run as execs.
 */
export async function revokeSudo(engine: EngineClient, containerId: string, user: string, options: RunOptions, prepared?: PreparedRevoke): Promise<SudoCheck> {
  // A prepared exec that died (the container restarted, a timeout) is replaced by a new one.
  const out = await (prepared?.go() ?? Promise.reject(new Error('none')))
    .catch(async () => run(await revokeSudoCall(engine, containerId, user), options));
  const check = parseRevokeOutput(out, user) ?? await checkSudoRevoked(engine, containerId, user, options);
  if (!check.ok) {
    throw new HdcError(`Sudo revocation did not hold: ${check.evidence}.`, {
      fix: 'the container was stopped; the image grants root some other way (e.g. a setuid binary or a sudoers alias): fix the image, or set hardenedDevcontainers.noNewPrivileges' });
  }
  return check;
}
