import { HdcError } from './errors';
import { devcontainerCliPath } from './paths';
import type { CliCall, ProcessOutput } from './runner';

/** What `devcontainer up` prints as its last stdout line. */
export interface UpResultRecord {
  outcome: 'success' | 'error';
  containerId?: string;
  remoteUser?: string;
  remoteWorkspaceFolder?: string;
  message?: string;
  description?: string;
}

export interface UpResultItem {
  containerId: string;
  remoteUser: string;
  remoteWorkspaceFolder: string;
}

export interface UpArgs {
  workspaceFolder: string;
  dockerPath: string;
  overrideConfig: string;
  /** podman only: the shim's keep-id mapping replaces the CLI's uid-rebuilt image. */
  noUidUpdate: boolean;
  env: Record<string, string>;
  extraArgs?: string[];
}

export type LifecycleArgs = Omit<UpArgs, 'noUidUpdate'>;

/** The arguments every call shares: the workspace, the engine (or shim), our config, JSON logs. */
function cliArgs(subcommand: string, a: LifecycleArgs): string[] {
  return [
    devcontainerCliPath(), subcommand,
    '--workspace-folder', a.workspaceFolder,
    '--docker-path', a.dockerPath,
    '--override-config', a.overrideConfig,
    '--log-format', 'json',
  ];
}

/** Calls of the official devcontainers CLI, run with our own Node and its own JS file. */
export const devcontainerCli = {
  up(a: UpArgs): CliCall<UpResultItem> {
    const args = [
      ...cliArgs('up', a),
      ...(a.noUidUpdate ? ['--update-remote-user-uid-default', 'never'] : []),
      ...(a.extraArgs ?? []),
    ];
    // exit 1 carries the error as JSON on stdout, which says more than stderr.
    return { command: process.execPath, args, env: a.env, parse: parseUpOutput, acceptExitCodes: [1] };
  },

  /** Where the CLI will mount the workspace (it mounts the git root by default). */
  readConfiguration(a: LifecycleArgs): CliCall<{ workspaceFolder: string; workspaceMount: string }> {
    const args = cliArgs('read-configuration', a);
    return { command: process.execPath, args, env: a.env, parse: (out) => {
      const line = out.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}';
      const workspace = (JSON.parse(line) as { workspace?: { workspaceFolder?: string; workspaceMount?: string } }).workspace;
      if (!workspace?.workspaceFolder || !workspace.workspaceMount) {
        throw new HdcError('devcontainer read-configuration did not say where the workspace is mounted.', { detail: out.stdout });
      }
      return { workspaceFolder: workspace.workspaceFolder, workspaceMount: workspace.workspaceMount };
    } };
  },

  /** The lifecycle commands (onCreate … postAttach), run after `up --skip-post-create`. */
  runUserCommands(a: LifecycleArgs): CliCall<void> {
    const args = [...cliArgs('run-user-commands', a), ...(a.extraArgs ?? [])];
    return { command: process.execPath, args, env: a.env, acceptExitCodes: [1], parse: (out) => {
      const record = lastJsonLine(out.stdout);
      if (record?.outcome === 'success') return;
      throw new HdcError(`A lifecycle command failed: ${record?.message ?? `devcontainer run-user-commands exit ${out.exitCode}`}`, {
        fix: 'see the log for the command\'s output; fix the command in devcontainer.json and run up again' });
    } };
  },
};

/** Reads the final JSON line of `devcontainer up`. Errors become an HdcError with the CLI's words. */
export function parseUpOutput(out: ProcessOutput): UpResultItem {
  const record = lastJsonLine(out.stdout);
  if (!record) {
    throw new HdcError(`devcontainer up printed no result (exit ${out.exitCode}).`, {
      detail: out.stderr, fix: 'see the log for the devcontainers CLI output' });
  }
  if (record.outcome !== 'success') {
    const description = record.description && record.description !== record.message ? `\n${record.description}` : '';
    throw new HdcError(`devcontainer up failed: ${record.message ?? 'unknown error'}${description}`, { fix: 'see the log for the devcontainers CLI output' });
  }
  if (!record.containerId || !record.remoteWorkspaceFolder) {
    throw new HdcError('devcontainer up reported success without a container id or workspace folder.');
  }
  return { containerId: record.containerId, remoteUser: record.remoteUser ?? 'root', remoteWorkspaceFolder: record.remoteWorkspaceFolder };
}

function lastJsonLine(stdout: string): UpResultRecord | undefined {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const value = JSON.parse(lines[i]) as UpResultRecord;
      if (value && typeof value === 'object' && 'outcome' in value) return value;
    } catch {
      // not the result line
    }
  }
  return undefined;
}

/** One line of the CLI's `--log-format json` stream, rendered for a log or progress text. */
export interface CliLogRecord {
  type: 'text' | 'raw' | 'start' | 'stop' | 'progress';
  level?: number;
  timestamp?: number;
  text?: string;
  name?: string;
  status?: string;
}

export function renderCliLogLine(line: string): { text: string; step?: string } | undefined {
  if (!line.trim()) return undefined;
  let rec: CliLogRecord;
  try {
    rec = JSON.parse(line) as CliLogRecord;
  } catch {
    return { text: line };
  }
  switch (rec.type) {
    case 'start': return { text: `▶ ${rec.text ?? ''}`, step: rec.text };
    case 'stop': return { text: `■ ${rec.text ?? ''}` };
    case 'progress': return { text: `${rec.name ?? ''} ${rec.status ?? ''}`.trim() };
    default: return rec.text ? { text: rec.text.replace(/\s+$/, '') } : undefined;
  }
}
