import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * The protocol between hdc (ops/up.ts), the podman --docker-path shim (shim/podman-shim.sh,
 * which sources shim/events-wait.sh) and the podman OCI hook (firewall/oci-hook.sh, which
 * sources hardening/privilege-check.sh and events-wait.sh). They talk through files and
 * HDC_* variables only; this module owns every state, file name and variable, and the
 * scripts name it in their headers.
 *
 * hdc starts the devcontainers CLI with the shim as its docker path and the environment of
 * shimEnvironment(). The shim sees every podman call of the CLI and ends by exec'ing the
 * real podman (HDC_ENGINE). podman runs the hook (createRuntime, before the container's
 * first process) for a container annotated with its hook directory (ANNOTATIONS.firewall in
 * labels.ts); the hook reads that directory and gets the OCI state on stdin.
 *
 * 1. Pregate (HDC_PREGATE, a new file per up; HDC_PID is hdc's pid). hdc writes it once:
 *    "open UID GID" (the remote user's ids), "open image" (a build: the ids come from the
 *    built image, 2.) or "closed" (hdc stopped before any container was made). Every shim
 *    call waits until the file is non-empty (10 ms polls for 0.5 s, then 100 ms; no limit)
 *    and then refuses (exit 1, nothing reaches podman) unless its first word is "open".
 *    While it waits it refuses as soon as /proc/$HDC_PID is gone (HDC_PID unset: at once);
 *    once the file is written it no longer looks at HDC_PID. Without HDC_PREGATE,
 *    HDC_UID/HDC_GID give the ids; `run`/`create` refuse without them.
 * 2. Build ids ("open image"). The shim's `run` and `create` write their argv, each
 *    argument NUL-terminated, to $HDC_PREGATE.run (whole: .run.tmp, then mv) and wait for
 *    $HDC_PREGATE.ids as in 1 (HDC_PID included). hdc reads the image from that argv and
 *    answers "open UID GID", or "closed" (no such user, or root): the shim then refuses.
 * 3. Gate (HDC_GATE, a new file per up; podman with a firewall or the sidecar). Every
 *    `exec` (the lifecycle commands among them) waits until it is non-empty (50 ms polls,
 *    refused after 10 minutes) and goes on only if it says exactly "open"; anything else
 *    refuses. hdc writes "open" once the firewall is verified and the sidecar is up,
 *    "closed" when not. This wait does not look at HDC_PID.
 * 4. Events note (HDC_EVENTS, created empty by hdc per up). The shim's `events` (the CLI's
 *    follower) writes "PID LOG" when podman logs events to the file at its default path
 *    (PID is the follower, a child of the shim: podman 4.3's follower can end on a
 *    half-written line, and the shim then follows again with --since), else "since" (and
 *    adds --since);
 *    `start` writes "none" while it is empty. hdc_wait_for_events (events-wait.sh) waits
 *    until PID has LOG open past its start; it never fails (about 1 s for the note, 3 s
 *    for the follower at most). `run` waits unless HDC_EVENTS_WAIT=hook: then the note is
 *    $dir/events and the hook waits instead, before it writes `started`.
 * 5. Hook directory (the annotation's value; the sidecar, role=sidecar, shares it). hdc
 *    writes `mode` ("firewall": load ipset.restore, rules.v4 and rules.v6 into the
 *    container's netns; "check": the privilege check only) and `privilege` (the policy
 *    privilege-check.sh reads; written by writePrivilegePolicy in hardening/privilege.ts).
 *    The hook fails the start (exit 1: podman does not start the container) when `mode` is
 *    missing or unknown, a firewall file is missing or does not load, the filtering
 *    resolver does not say it listens (not waited for with role=workspace while
 *    $dir/events exists: an up then waits for its control socket), or (not for the
 *    sidecar) the spec is weaker than `privilege` allows. Then, not for the sidecar, it
 *    waits for $dir/events if that exists, and writes "PID ID" to `started` (the
 *    container's pid and its full id from the OCI state), which hdc removes before the up
 *    and polls (waitForStart in shim/gate.ts). The directory is the workspace folder's: a
 *    note naming another container of the folder (another config file's) is not taken.
 * 6. HDC_SHIM_LOG: if set, the shim appends the argv of each call that reaches podman, a
 *    line per call: the time in seconds, then a tab before each argument.
 * 7. Look-up answers (HDC_ANSWERS, a new folder per CLI run: $HDC_PREGATE.answers for the
 *    up, written before the pregate opens; one of its own for `read-configuration`): the
 *    CLI's look-ups before its container starts that hdc has just made itself (the
 *    workspace's containers, `ps -q -a --filter …`; the image, `inspect --type image`).
 *    Each answer is N.key (the argv, an argument per line) and N.out (what podman printed,
 *    status 0). After the pregate, a `ps` or `inspect` whose argv equals a key (no argument
 *    with a newline) gets N.out at once, without podman; every other call but `events`,
 *    `version`, `info` and `buildx version` (which change nothing) removes the folder
 *    first, so that nothing is answered once the CLI may have changed what they say. hdc
 *    removes it when the CLI run ends (with the pregate).
 *    After the start: once `started` names a new container (the workspace had none), hdc
 *    adds the answers to the same `ps` look-ups, now naming it (started-N.key/.out; the
 *    folder is made again, `run` removed it). The shim itself keeps podman's answer to
 *    `inspect --type container ID` (ID: 64 hex digits, status 0) for that argv and for the
 *    same with the 12-digit id (inspect-PID-N.key/.out), if the folder exists. A key is
 *    written last and renamed into place. Both are true until a call changes the container,
 *    and every such call removes the folder first, as above; hdc writes its own before it
 *    opens the exec gate, and an `exec` removes the folder again once the gate has let it
 *    through.
 */

/** Every variable the shim (and events-wait.sh, sourced by it) reads. */
export const SHIM_ENV = {
  engine: 'HDC_ENGINE',
  uid: 'HDC_UID',
  gid: 'HDC_GID',
  pregate: 'HDC_PREGATE',
  pid: 'HDC_PID',
  shimLog: 'HDC_SHIM_LOG',
  gate: 'HDC_GATE',
  events: 'HDC_EVENTS',
  eventsWait: 'HDC_EVENTS_WAIT',
  probes: 'HDC_PROBES',
  answers: 'HDC_ANSWERS',
} as const;

/**
 * The CLI's engine probes that the shim answers from HDC_PROBES (a folder per podman binary,
 * see probesDir): the same binary answers them the same way. A kept answer reaches no
 * podman, so it is given before the pregate; the first one goes through it, and is kept.
 */
/**
 * HDC_PROBES for a podman binary: a folder under the state root named by the binary's inode,
 * size and modification time (a new podman gets a new folder). Undefined for a remote podman
 * (CONTAINER_HOST), whose answers depend on the connection.
 */
export async function probesDir(stateRoot: string, enginePath: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.CONTAINER_HOST) return undefined;
  const st = await stat(enginePath).catch(() => undefined);
  if (!st) return undefined;
  const dir = path.join(stateRoot, 'engine-probes', `${st.ino}-${st.size}-${Math.round(st.mtimeMs)}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export const SHIM_PROBES = { buildx: 'buildx version', v: '-v', server: 'version --format {{.Server.Version}}' } as const;

/** The files in the hook directory, by the names the hook reads and writes. */
export const HOOK_FILES = {
  /** hdc → hook: a HookMode. */
  mode: 'mode',
  /** hdc → hook: privilege-check.sh's policy (writePrivilegePolicy in hardening/privilege.ts). */
  privilege: 'privilege',
  /** hdc → hook, loaded in "firewall" mode (the docker guard reads them too). */
  ipset: 'ipset.restore',
  rulesV4: 'rules.v4',
  rulesV6: 'rules.v6',
  /** hdc → hook and guard: the DNS redirect to the filtering resolver (iptables-restore --noflush). */
  natV4: 'nat.v4',
  natV6: 'nat.v6',
  /** hdc → hook: two lines, the Node to run the filtering resolver with, and its script. */
  resolver: 'resolver',
  /** shim → hook: the events note, when the hook waits (HDC_EVENTS_WAIT=hook). */
  events: 'events',
  /** hook → hdc: the workspace container's pid. */
  started: 'started',
} as const;

/** The hook and the helpers it sources from its own folder, by their installed names. */
export const HOOK_SCRIPTS = { hook: 'oci-hook.sh', eventsWait: 'events-wait.sh', privilegeCheck: 'privilege-check.sh' } as const;

export const hookFile = (dir: string, name: keyof typeof HOOK_FILES): string => path.join(dir, HOOK_FILES[name]);

/**
 * The filtering resolver's control socket and log, per container role (the workspace and
 * its sidecar share the firewall directory). The socket's path is relative to that
 * directory (the resolver and the agent change into it: a socket path must fit 107 bytes).
 * In the docker guard the socket is in the guard's own /tmp.
 */
export type FirewallRole = 'workspace' | 'sidecar';
export const resolverSocket = (role: FirewallRole): string => `resolver-${role}.sock`;
export const resolverLog = (role: FirewallRole): string => `resolver-${role}.log`;
export const GUARD_RESOLVER_SOCKET = '/tmp/hdc-resolver.sock';

/** `verify`'s refusal (the reply's `code`) when the resolver watches another pid: another start's. */
export const VERIFY_OTHER_PID = 'EOTHERPID';

/** What the resolver answers on its control socket (one JSON line in, one out). */
export type ResolverOp = 'status' | 'reload' | 'blocked' | 'verify';

export type PregateState = { kind: 'open'; uid: number; gid: number } | { kind: 'open-image' } | { kind: 'closed' };
/** hdc's answer to a build's `run`/`create`. */
export type IdsAnswer = { kind: 'open'; uid: number; gid: number } | { kind: 'closed' };
export type GateState = 'open' | 'closed';
export type HookMode = 'firewall' | 'check';
/** The events note as the shim leaves it ("unknown": the waiters do not wait). */
export type EventsNoteState =
  | { kind: 'empty' }
  | { kind: 'follower'; pid: number; log: string }
  | { kind: 'since' }
  | { kind: 'none' }
  | { kind: 'unknown'; text: string };
/** Where the events note is, and who waits for the follower: the hook, or the shim's `run`. */
export interface EventsNote { file: string; waiter: 'hook' | 'run' }

/** A new per-up file in the state dir (its name is never reused). */
export const newProtocolFile = (stateDir: string, kind: 'pregate' | 'gate' | 'events' | 'answers'): string =>
  path.join(stateDir, `${kind}-${randomBytes(6).toString('hex')}`);
export const runRequestFile = (pregate: string): string => `${pregate}.run`;
export const answersDir = (pregate: string): string => `${pregate}.answers`;
export const idsAnswerFile = (pregate: string): string => `${pregate}.ids`;

/** The note for one up: in the hook directory when the hook waits, else a new file in the state dir. */
export function eventsNote(stateDir: string, hookDir?: string): EventsNote {
  return hookDir ? { file: hookFile(hookDir, 'events'), waiter: 'hook' } : { file: newProtocolFile(stateDir, 'events'), waiter: 'run' };
}

/**
 * Writes a file whole (a temporary file, then rename), mode 0o600: the scripts never read
 * half of it. `ifChanged`: leaves an equal file as it is.
 */
export async function writeProtocolFile(file: string, content: string, ifChanged = false): Promise<void> {
  if (ifChanged && await readFile(file, 'utf8').catch(() => undefined) === content) return;
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

const ID = /^(0|[1-9]\d{0,9})$/;
function idsText(uid: number, gid: number): string {
  if (!ID.test(String(uid)) || !ID.test(String(gid))) throw new Error(`not a uid and gid: ${uid} ${gid}`);
  return `${uid} ${gid}`;
}

export function formatPregate(state: PregateState): string {
  switch (state.kind) {
    case 'open': return `open ${idsText(state.uid, state.gid)}\n`;
    case 'open-image': return 'open image\n';
    case 'closed': return 'closed\n';
  }
}

/** What hdc writes, read back; undefined for anything else (the shim refuses all but "open"). */
export function parsePregate(text: string): PregateState | undefined {
  const t = text.trim();
  if (t === 'open image') return { kind: 'open-image' };
  if (t === 'closed') return { kind: 'closed' };
  const m = /^open (\d+) (\d+)$/.exec(t);
  return m && ID.test(m[1]) && ID.test(m[2]) ? { kind: 'open', uid: Number(m[1]), gid: Number(m[2]) } : undefined;
}

export const writePregate = (file: string, state: PregateState): Promise<void> => writeProtocolFile(file, formatPregate(state));

export const formatIdsAnswer = (answer: IdsAnswer): string => formatPregate(answer);

export function parseIdsAnswer(text: string): IdsAnswer | undefined {
  const state = parsePregate(text);
  return state?.kind === 'open-image' ? undefined : state;
}

/** hdc's answer to the build's `run`/`create` ($HDC_PREGATE.ids). */
export const writeIdsAnswer = (pregate: string, answer: IdsAnswer): Promise<void> => writeProtocolFile(idsAnswerFile(pregate), formatIdsAnswer(answer));

/** The argv of the shim's `run`/`create` ($HDC_PREGATE.run); undefined until the shim wrote it. */
export async function readRunRequest(pregate: string): Promise<string[] | undefined> {
  const text = await readFile(runRequestFile(pregate), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseRunRequest(text);
}

/** NUL-terminated arguments (printf '%s\0'). */
export const parseRunRequest = (text: string): string[] => text.split('\0').slice(0, -1);

export const formatGate = (state: GateState): string => `${state}\n`;

export function parseGate(text: string): GateState | undefined {
  const t = text.trim();
  return t === 'open' || t === 'closed' ? t : undefined;
}

export const writeGate = (file: string, state: GateState): Promise<void> => writeProtocolFile(file, formatGate(state));

/** Removes a pregate with its handshake files (.run, .ids, .answers/, and what a killed shim left of them: .answers.*). */
export async function removePregate(file: string): Promise<void> {
  const left = `${path.basename(answersDir(file))}.`;
  const leftovers = (await readdir(path.dirname(file)).catch(() => [])).filter((f) => f.startsWith(left)).map((f) => path.join(path.dirname(file), f));
  await Promise.all([file, runRequestFile(file), idsAnswerFile(file), answersDir(file), ...leftovers].map((f) => rm(f, { force: true, recursive: true })));
}

/** One look-up the shim answers (7.): the CLI's exact argv, and podman's output to it. */
export interface LookupAnswer { argv: string[]; stdout: string }

/**
 * Writes the answers (7.) into a new folder, before the CLI may ask. An answer with a
 * newline in an argument is left out: the shim never answers such a call.
 */
export async function writeLookupAnswers(dir: string, answers: LookupAnswer[], prefix = ''): Promise<void> {
  const usable = answers.filter((a) => a.argv.length > 0 && a.argv.every((w) => !w.includes('\n')));
  if (!usable.length) return;
  await mkdir(dir, { mode: 0o700, recursive: prefix !== '' });
  // N.out before N.key, and the key whole (renamed into place): the shim reads a key first.
  await Promise.all(usable.map(async (a, i) => {
    const base = path.join(dir, `${prefix}${i + 1}`);
    await writeFile(`${base}.out`, a.stdout, { mode: 0o600 });
    await writeFile(`${base}.k`, a.argv.map((w) => `${w}\n`).join(''), { mode: 0o600 });
    await rename(`${base}.k`, `${base}.key`);
  }));
}

export const formatHookMode = (mode: HookMode): string => `${mode}\n`;

export function parseHookMode(text: string): HookMode | undefined {
  const t = text.replace(/\n+$/, '');
  return t === 'firewall' || t === 'check' ? t : undefined;
}

/** What the hook does at each start: "firewall" loads the firewall files; "check" only reads the privilege back. */
export async function writeHookMode(dir: string, mode: HookMode): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeProtocolFile(hookFile(dir, 'mode'), formatHookMode(mode), true);
}

/** Before an up: a `started` left by an earlier start must not count. */
export async function clearStarted(dir: string): Promise<void> {
  await rm(hookFile(dir, 'started'), { force: true });
}

/** What the hook's `started` says: the container's pid and, from the OCI state, its full id. */
export interface StartedNote { pid: number; id?: string }

/** The hook's `started`, "PID" or "PID ID"; undefined while it is missing or not (yet) whole. */
export function parseStarted(text: string): StartedNote | undefined {
  const m = /^([1-9]\d{0,9})(?: ([0-9a-f]{64}))?$/.exec(text.trim());
  return m ? { pid: Number(m[1]), ...(m[2] ? { id: m[2] } : {}) } : undefined;
}

export async function readStarted(dir: string): Promise<StartedNote | undefined> {
  return parseStarted(await readFile(hookFile(dir, 'started'), 'utf8').catch(() => ''));
}

/** Creates the note empty (mode 0o600): the waiters then wait for the CLI's follower. */
export async function createEventsNote(note: EventsNote): Promise<void> {
  await mkdir(path.dirname(note.file), { recursive: true, mode: 0o700 });
  await writeFile(note.file, '', { mode: 0o600 });
  await chmod(note.file, 0o600);
}

/** As events-wait.sh reads it: the first line, "PID LOG", "since" or "none". */
export function parseEventsNote(text: string): EventsNoteState {
  const line = text.split('\n')[0].trim();
  if (line === '') return { kind: 'empty' };
  if (line === 'since' || line === 'none') return { kind: line };
  const m = /^(\d+)\s+(\S.*)$/.exec(line);
  return m ? { kind: 'follower', pid: Number(m[1]), log: m[2] } : { kind: 'unknown', text: line };
}

/** undefined: no note (a start not run by hdc: nobody waits). */
export async function readEventsNote(file: string): Promise<EventsNoteState | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseEventsNote(text);
}

/**
 * HDC_SHIM_LOG, a call per record: the time, then the argv podman got. Lossy for an
 * argument with a tab; one with a newline (the CLI's `run` script) is kept.
 */
export function parseShimLog(text: string): { time: number; argv: string[] }[] {
  const records: string[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    if (/^\d+(\t|$)/.test(line)) records.push(line);
    else if (records.length > 0) records[records.length - 1] += `\n${line}`;
  }
  return records.map((r) => {
    const [time, ...argv] = r.split('\t');
    return { time: Number(time), argv };
  });
}

export interface ShimEnvironmentOptions {
  /** The real podman (HDC_ENGINE). */
  engine: string;
  /** HDC_PREGATE: every call waits for it; its ids win over `ids`. */
  pregate?: string;
  /** HDC_PID, with a pregate: hdc's pid (default: this process). */
  pid?: number;
  /** HDC_UID/HDC_GID: the remote user's ids, for run/create without a pregate. */
  ids?: { uid: number; gid: number };
  /** HDC_GATE: `exec` waits for it. */
  gate?: string;
  /** HDC_EVENTS, and HDC_EVENTS_WAIT=hook when the hook waits for the follower. */
  events?: EventsNote;
  /** HDC_SHIM_LOG. */
  shimLog?: string;
  /** HDC_PROBES: the folder of kept engine probes. */
  probes?: string;
  /** HDC_ANSWERS: the folder of hdc's answers to this CLI run's look-ups (7.). */
  answers?: string;
}

/** The shim's whole environment from hdc (added to the CLI's own). */
export function shimEnvironment(o: ShimEnvironmentOptions): Record<string, string> {
  const env: Record<string, string> = { [SHIM_ENV.engine]: o.engine };
  if (o.pregate) {
    env[SHIM_ENV.pregate] = o.pregate;
    env[SHIM_ENV.pid] = String(o.pid ?? process.pid);
  }
  if (o.ids) {
    const [uid, gid] = idsText(o.ids.uid, o.ids.gid).split(' ');
    env[SHIM_ENV.uid] = uid;
    env[SHIM_ENV.gid] = gid;
  }
  if (o.gate) env[SHIM_ENV.gate] = o.gate;
  if (o.events) {
    env[SHIM_ENV.events] = o.events.file;
    if (o.events.waiter === 'hook') env[SHIM_ENV.eventsWait] = 'hook';
  }
  if (o.shimLog) env[SHIM_ENV.shimLog] = o.shimLog;
  if (o.probes) env[SHIM_ENV.probes] = o.probes;
  if (o.answers) env[SHIM_ENV.answers] = o.answers;
  return env;
}
