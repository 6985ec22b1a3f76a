import type { FolderContainerItem, ImageItem } from './engine';
import { HdcError } from './errors';
import { CLI_LABELS } from './labels';
import type { LookupAnswer } from './protocol';
import { devcontainerCliPath } from './paths';
import type { CliCall, LogLevel, ProcessOutput } from './runner';
import { stripAnsi } from './text';

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
  /** Read in place of devcontainer.json (relative paths still resolve against it). */
  overrideConfig?: string;
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
    ...(a.overrideConfig ? ['--override-config', a.overrideConfig] : []),
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

  /**
   * What the CLI makes of the workspace: where it mounts it, and the configuration merged
   * from every source (devcontainer.json, features' metadata, the image's
   * devcontainer.metadata label, or an existing container's), with each feature's own.
   */
  readConfiguration(a: LifecycleArgs): CliCall<ConfigurationItem> {
    const args = [...cliArgs('read-configuration', a), '--include-merged-configuration', '--include-features-configuration'];
    return { command: process.execPath, args, env: a.env, acceptExitCodes: [1], parse: (out) => {
      if (out.exitCode !== 0) throw readConfigurationError(out);
      return parseReadConfiguration(out);
    } };
  },

  /** The lifecycle commands (onCreate … postAttach), run after `up --skip-post-create`. */
  runUserCommands(a: LifecycleArgs): CliCall<void> {
    const args = [...cliArgs('run-user-commands', a), ...(a.extraArgs ?? [])];
    return { command: process.execPath, args, env: a.env, acceptExitCodes: [1], parse: (out) => {
      const record = lastJsonLine(out.stdout);
      if (record?.outcome === 'success') return;
      throw lifecycleError(record) ?? new HdcError(`devcontainer run-user-commands failed: ${record?.message ?? `exit ${out.exitCode}`}`, {
        fix: 'see the log for the command\'s output', detail: out.stderr });
    } };
  } };

/**
 * A lifecycle command of the devcontainer failed (the CLI stops at the first one). The hook
 * and its origin are data, read from the CLI's own description of the failure.
 */
export class LifecycleCommandError extends HdcError {
  constructor(readonly hook: string, readonly origin: string, readonly command: string) {
    super(`The ${hook} from ${origin} failed: ${command}`, { fix: `see the log for the command's output; fix the ${hook} and run up again` });
    this.name = 'LifecycleCommandError';
  }
}

/** "postStartCommand from devcontainer.json failed." / "a of postStartCommand from feature x failed." / "The postCreateCommand in the devcontainer.json failed." */
export function lifecycleError(record: UpResultRecord | undefined): LifecycleCommandError | undefined {
  const d = record?.description ?? '';
  const m = /^(?:\S+ of )?(\w+Command) from (.+) failed\.$/.exec(d) ?? /^The (\w+Command) in the (devcontainer\.json) failed\.$/.exec(d);
  if (!m) return undefined;
  return new LifecycleCommandError(m[1], m[2], (record?.message ?? '').replace(/^Command failed: /, '').split('\n')[0]);
}

/**
 * The engine's own words from the CLI's log (`--log-format json`): the last error line that
 * podman or docker printed, not the CLI's "Command failed: <command line>". An OCI hook's
 * refusal is its stderr, after podman's "error running hook" preamble.
 */
export function engineWords(stderr: string): string | undefined {
  let found: string | undefined;
  for (const line of stderr.split('\n')) {
    let text = line;
    try {
      const rec = JSON.parse(line) as CliLogRecord;
      text = rec.text ?? '';
    } catch {
      // a plain line
    }
    for (const raw of text.split(/\r?\n/)) {
      // eslint-disable-next-line no-control-regex -- ANSI colour codes, as the CLI prints them
      const l = raw.replace(/\x1b\[[0-9;]*m/g, '').trim();
      const m = /^(?:docker: )?(?:Error|error)(?: response from daemon)?: (.*)$/.exec(l);
      if (!m || /^Command failed:/.test(m[1]) || /buildx/.test(m[1])) continue;
      const hook = /error running hook[^]*?stderr: (.*)$/.exec(m[1]);
      found = (hook?.[1] ?? m[1]).trim();
    }
  }
  return found;
}

/**
 * `read-configuration` failed: the engine's words if it refused (an image it could not
 * inspect), else the CLI's own error, its first line without the stack.
 */
export function readConfigurationError(out: ProcessOutput): HdcError {
  const detail = `devcontainer read-configuration (exit ${out.exitCode}):\n${out.stderr}`;
  // The CLI's own error, unless it only names the engine call that failed: then the engine's words.
  const said = cliError(out.stderr);
  const words = said === undefined || said.startsWith('Command failed:') ? engineWords(out.stderr) : undefined;
  if (words) return new EngineRefusedError(words, { detail });
  return new HdcError(`The devcontainers CLI could not read the configuration (read-configuration): ${said ?? `exit ${out.exitCode}, no error message`}`, {
    detail, fix: 'fix what it names in devcontainer.json (HDC_VERBOSE=1 shows the CLI\'s whole output)' });
}

/** The CLI's own last "Error: …" in its JSON log, first line only (its stack trace is detail). */
function cliError(stderr: string): string | undefined {
  let found: string | undefined;
  for (const line of stderr.split('\n')) {
    let text: string;
    try {
      text = (JSON.parse(line) as CliLogRecord).text ?? '';
    } catch {
      text = line;
    }
    const m = /^(?:Error: )?(.*)$/.exec(text.split('\n')[0].trim());
    if (text.trimStart().startsWith('Error: ') && m?.[1]) found = m[1];
  }
  return found;
}

/** Reads the final JSON line of `devcontainer up`. Errors become an HdcError with the engine's (or the CLI's) words. */
export function parseUpOutput(out: ProcessOutput): UpResultItem {
  const record = lastJsonLine(out.stdout);
  if (!record) {
    throw new HdcError(`devcontainer up printed no result (exit ${out.exitCode}).`, {
      detail: out.stderr, fix: 'see the log for the devcontainers CLI output' });
  }
  if (record.outcome !== 'success') {
    const lifecycle = lifecycleError(record);
    if (lifecycle) throw lifecycle;
    const words = engineWords(out.stderr);
    const cli = `${record.message ?? 'unknown error'}${record.description && record.description !== record.message ? `\n${record.description}` : ''}`;
    if (words) {
      throw new EngineRefusedError(words, { detail: `devcontainer up: ${cli}` });
    }
    throw new HdcError(`devcontainer up failed: ${cli}`, { fix: 'see the log for the devcontainers CLI output' });
  }
  if (!record.containerId || !record.remoteWorkspaceFolder) {
    throw new HdcError('devcontainer up reported success without a container id or workspace folder.');
  }
  return { containerId: record.containerId, remoteUser: record.remoteUser ?? 'root', remoteWorkspaceFolder: record.remoteWorkspaceFolder };
}

/** The engine (or hdc's hook in it) refused what the CLI asked: its words lead, the command line is detail. */
export class EngineRefusedError extends HdcError {
  constructor(words: string, options: { detail?: string }) {
    super(words.startsWith('hardened-devcontainers: ') ? words.replace(/^hardened-devcontainers: refused: /, 'Refused: ') : `The engine refused: ${words}`, {
      detail: options.detail,
      fix: words.startsWith('hardened-devcontainers: ')
        ? 'remove what gives the workspace this privilege (HDC_VERBOSE=1 shows the full command); the container was removed'
        : 'fix what it names in devcontainer.json (HDC_VERBOSE=1 shows the full command line)' });
    this.name = 'EngineRefusedError';
  }
}

/** What `devcontainer read-configuration` prints (the parts we read). */
export interface ReadConfigurationRecord {
  workspace?: { workspaceFolder?: string; workspaceMount?: string };
  featuresConfiguration?: { featureSets?: { sourceInformation?: { userFeatureId?: string }; features?: (PrivilegeRequest & { id?: string })[] }[] };
  mergedConfiguration?: MergedConfigRecord;
}

/** The CLI's merge of devcontainer.json, features' metadata and the image label (the fields we check). */
export interface MergedConfigRecord extends PrivilegeRequest {
  remoteUser?: string;
  containerUser?: string;
  updateRemoteUserUID?: boolean;
  runArgs?: string[];
  [key: string]: unknown;
}

export interface ConfigurationItem {
  workspaceFolder: string;
  workspaceMount: string;
  merged: MergedConfigRecord;
  features: { id: string; request: PrivilegeRequest }[];
}

export function parseReadConfiguration(out: ProcessOutput): ConfigurationItem {
  const line = out.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}';
  const rec = JSON.parse(line) as ReadConfigurationRecord;
  const workspace = rec.workspace;
  if (!workspace?.workspaceFolder || !workspace.workspaceMount) {
    throw new HdcError('devcontainer read-configuration did not say where the workspace is mounted.', { detail: out.stdout });
  }
  if (!rec.mergedConfiguration) throw new HdcError('devcontainer read-configuration printed no merged configuration.', { detail: out.stdout });
  const features = (rec.featuresConfiguration?.featureSets ?? []).flatMap((set) => (set.features ?? []).map((f) => ({
    id: set.sourceInformation?.userFeatureId ?? f.id ?? 'unknown', request: f })));
  return { workspaceFolder: workspace.workspaceFolder, workspaceMount: workspace.workspaceMount, merged: rec.mergedConfiguration, features };
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

/** The CLI's `start` records that name a command it runs, not a step a person follows. */
const COMMAND_START = /^(Run|Run in container|Start|Stop): /;
/** What the CLI logs without it mattering: its optional probes failing as expected. */
const NOISE = [/unrecognized command .*buildx/i, /^Error: .*buildx/i, /unknown (shorthand flag|flag|command).*buildx/i];
/** The lifecycle announcement that the CLI writes as raw terminal text. */
const LIFECYCLE = /^Running the (\w+) from (.+?)\.*$/;

/**
 * One line of the CLI's `--log-format json` stream, for the log (ANSI stripped, with a
 * level) and, when it is one of the CLI's own progress steps, for a progress text. Commands
 * the CLI runs are logged at debug level and never become a step.
 */
export function renderCliLogLine(line: string): { text: string; step?: string; level: LogLevel } | undefined {
  if (!line.trim()) return undefined;
  let rec: CliLogRecord;
  try {
    rec = JSON.parse(line) as CliLogRecord;
  } catch {
    const text = stripAnsi(line).trimEnd();
    return text ? { text, level: NOISE.some((n) => n.test(text)) ? 'trace' : 'info' } : undefined;
  }
  const text = stripAnsi(rec.text ?? '').trim();
  const quiet: LogLevel | undefined = rec.level !== undefined && rec.level <= 1 ? 'trace' : rec.level === 2 ? 'debug' : undefined;
  switch (rec.type) {
    case 'start': return COMMAND_START.test(text) ? { text: `▶ ${text}`, level: 'debug' } : { text: `▶ ${text}`, step: text, level: quiet ?? 'info' };
    case 'stop': return { text: `■ ${text}`, level: 'debug' };
    case 'progress': return { text: `${rec.name ?? ''} ${rec.status ?? ''}`.trim(), level: 'debug' };
    default: {
      if (!text) return undefined;
      const lifecycle = LIFECYCLE.exec(text);
      // The step names only the lifecycle command: a container's own output can print this line too.
      if (lifecycle) return { text, step: `Running the ${lifecycle[1]}`, level: 'info' };
      return { text, level: NOISE.some((n) => n.test(text)) ? 'trace' : quiet ?? 'info' };
    }
  }
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

/**
 * The CLI's engine look-ups before it makes its container, as it spells them (`ps -q -a
 * --filter label=…` for its container by folder and config file, and by folder alone;
 * `inspect --type image` of devcontainer.json's image), with the answers podman gives:
 * computed from hdc's own look-ups moments before, for the shim to give (protocol.ts, 7.).
 * A look-up that would list more than one container is left to podman (its order).
 */
export function cliLookupAnswers(o: { workspaceFolder: string; configFile: string; folderContainers: FolderContainerItem[]; imageName?: string; image?: ImageItem }): LookupAnswer[] {
  const byFolder = ['--filter', `label=${CLI_LABELS.localFolder}=${o.workspaceFolder}`];
  const ps = (filters: string[], ids: string[]): LookupAnswer[] =>
    (ids.length <= 1 ? [{ argv: ['ps', '-q', '-a', ...filters], stdout: ids.map((id) => `${id.slice(0, 12)}\n`).join('') }] : []);
  return [
    ...ps([...byFolder, '--filter', `label=${CLI_LABELS.configFile}=${o.configFile}`], o.folderContainers.filter((c) => c.configFile === o.configFile).map((c) => c.id)),
    ...ps(byFolder, o.folderContainers.map((c) => c.id)),
    ...(o.imageName && o.image?.inspectOutput !== undefined ? [{ argv: ['inspect', '--type', 'image', o.imageName], stdout: o.image.inspectOutput }] : []),
  ];
}
