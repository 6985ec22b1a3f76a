import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chownSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI_LABELS, LABELS } from '../../src/base/labels';

/** Names shared with scripts/env.sh. */
export const TEST_USER = process.env.HDC_TEST_USER ?? 'hdctest';
export const TEST_UID = Number(process.env.HDC_TEST_UID ?? 1500);
export const BASE_IMAGE = 'localhost/hardened-devcontainers/base:bookworm';
export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const HDC = path.join(REPO, 'dist', 'hdc.cjs');
const SETUP_HINT = 'run `sudo bash scripts/setup-host.sh` (the README quick start does it)';

/** The environment of a login of the rootless user, without a systemd session. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOME: `/home/${TEST_USER}`, USER: TEST_USER, LOGNAME: TEST_USER, XDG_RUNTIME_DIR: `/run/user/${TEST_UID}`,
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extra,
  };
}

/** argv that runs a command as the rootless user (tests run as root). */
export function asUser(argv: string[], extra: Record<string, string> = {}): [string, string[]] {
  const env = Object.entries(userEnv(extra)).map(([k, v]) => `${k}=${v}`);
  return ['runuser', ['-u', TEST_USER, '--', 'env', '-i', ...env, ...argv]];
}

export type Runtime = 'podman' | 'docker';

/** What a finished process left: the few fields the tests read. */
export interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function exec(cmd: string, args: string[], options: { timeout: number; env?: Record<string, string> }): Promise<Result> {
  const r = await execa(cmd, args, { reject: false, cwd: '/tmp', stdin: 'ignore', ...options });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), timedOut: r.timedOut };
}

export interface HdcOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Add `--runtime <runtime>` (default). Off to test how settings pick the runtime. */
  runtimeFlag?: boolean;
}

/** Runs the real `hdc` bundle: as the rootless user for podman, as root for docker. */
export async function hdc(runtime: Runtime, args: string[], options: HdcOptions = {}): Promise<Result> {
  const at = args.includes('--') ? args.indexOf('--') : args.length;
  // `--runtime` must stay before the `--` that starts the command of `hdc exec`.
  const own = options.runtimeFlag === false ? args.slice(0, at) : [...args.slice(0, at), '--runtime', runtime];
  const argv = [process.execPath, HDC, ...own, ...args.slice(at)];
  const timeout = options.timeoutMs ?? 180_000;
  if (runtime === 'podman') {
    const [cmd, a] = asUser(argv, options.env);
    return exec(cmd, a, { timeout });
  }
  return exec(argv[0], argv.slice(1), { timeout, env: options.env });
}

/** The engine CLI itself, as the user that owns the containers. */
export async function engine(runtime: Runtime, args: string[], timeoutMs = 120_000): Promise<Result> {
  if (runtime === 'podman') {
    const [cmd, a] = asUser(['podman', ...args]);
    return exec(cmd, a, { timeout: timeoutMs });
  }
  return exec('docker', args, { timeout: timeoutMs });
}

/** Fails (never skips) when the test bed is missing: CI must not go green without engines. */
export async function requireEngine(runtime: Runtime): Promise<void> {
  const r = await engine(runtime, ['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], 60_000);
  if (r.exitCode !== 0) {
    throw new Error(`${runtime} test bed not ready (${r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`}): ${SETUP_HINT}`);
  }
}

/** Who owns a workspace on the host: the test user (keep-id maps vscode onto it) or uid 1000. */
export const workspaceOwner = (runtime: Runtime): number => (runtime === 'podman' ? TEST_UID : 1000);

/**
 * The settings that allow no public name: no preset (the default presets are public hosts)
 * and no domain. A test that writes its own settings.json spreads these first.
 */
export const NO_PUBLIC_NAMES: Readonly<Record<string, unknown>> = Object.freeze({
  'hardenedDevcontainers.firewall.presets': [],
  'hardenedDevcontainers.firewall.allowedDomains': [],
});

/** A private copy of an example workspace, owned by whoever the container user maps to. */
export function makeWorkspace(runtime: Runtime, example = 'hello'): string {
  const dir = mkdtempSync(path.join('/tmp', `hdc-it-${runtime}-`));
  cpSync(path.join(REPO, 'examples', example), dir, { recursive: true });
  // Network safety: with the default allowlist (the default presets) the agent would resolve
  // public names through the machine's resolver. Test workspaces allow no names unless a test
  // sets its own (the egress tests use the fixture's internal DNS); nothing is looked up off
  // the machine.
  mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  writeFileSync(path.join(dir, '.vscode', 'settings.json'), `${JSON.stringify(NO_PUBLIC_NAMES, null, 2)}\n`);
  // podman: keep-id maps the container's vscode to the test user. docker: no mapping, so
  // the host owner must be the container's uid 1000 (as on a developer's own machine).
  const [uid, gid] = runtime === 'podman' ? [TEST_UID, TEST_UID] : [1000, 1000];
  chownTree(dir, uid, gid);
  return dir;
}

export function chownTree(dir: string, uid = TEST_UID, gid = TEST_UID): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

/** Removes every container made for a workspace (even if hdc itself is broken), then the folder. */
export async function destroyWorkspace(runtime: Runtime, dir: string): Promise<void> {
  // The workspace first, then a docker firewall guard whose namespace it joined.
  for (const label of [`${CLI_LABELS.localFolder}=${dir}`, `${LABELS.guardFor}=${dir}`]) {
    const ids = await engine(runtime, ['ps', '-a', '-q', '--filter', `label=${label}`]);
    const list = ids.stdout.split('\n').filter(Boolean);
    if (list.length) await engine(runtime, ['rm', '-f', ...list]);
  }
  // The images the CLI built for this workspace: docker's "-uid" images, and for a
  // Dockerfile or features the built image (podman names it localhost/vsc-…).
  // The CLI lowercases the folder's name in the image's (mkdtemp's suffix is mixed case).
  const images = await engine(runtime, ['images', '-q', '--filter', `reference=${runtime === 'podman' ? '*' : ''}vsc-${path.basename(dir).toLowerCase()}-*`]);
  const imgs = [...new Set(images.stdout.split('\n').filter(Boolean))];
  if (imgs.length) await engine(runtime, ['rmi', '-f', ...imgs]);
  rmSync(dir, { recursive: true, force: true });
}

export async function containersOf(runtime: Runtime, dir: string): Promise<string[]> {
  const r = await engine(runtime, ['ps', '-a', '-q', '--filter', `label=${CLI_LABELS.localFolder}=${dir}`]);
  return r.stdout.split('\n').filter(Boolean);
}

/** sha256 of every file under dir, by relative path. */
export function hashTree(dir: string, base = dir, out: Record<string, string> = {}): Record<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) hashTree(p, base, out);
    else out[path.relative(base, p)] = `${statSync(p).mode.toString(8)}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

/** The JSON object an `hdc up --json` printed on stdout. */
export function upJson(r: Result): { containerId: string; containerName: string; remoteUser: string; remoteWorkspaceFolder: string; warnings: string[] } {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`hdc up did not print JSON (exit ${r.exitCode}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/**
 * Mocha hooks for a suite that needs the Docker engine: starts a dockerd (scripts/dockerd.sh)
 * before, stops the one it started (by PID) after, and fails, never skips, if it cannot.
 */
export function useDockerDaemon(): void {
  before(async function () {
    this.timeout(300_000);
    const r = await execa('bash', [path.join(REPO, 'scripts', 'dockerd.sh'), 'start'], { reject: false });
    if (r.exitCode !== 0) throw new Error(`dockerd did not start:\n${r.stdout}\n${r.stderr}`);
    await requireEngine('docker');
  });
  after(async function () {
    this.timeout(60_000);
    await execa('bash', [path.join(REPO, 'scripts', 'dockerd.sh'), 'stop'], { reject: false });
  });
}
