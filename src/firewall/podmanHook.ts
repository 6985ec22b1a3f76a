import { open, readFile, readlink, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { EnvironmentError } from '../base/errors';
import { eventsWaitPath, firewallAgentPath, firewallResolverPath, ociHookSourcePath, privilegeCheckPath } from '../base/paths';
import { resolveExecutable } from '../base/executables';
import { ANNOTATIONS } from '../base/labels';
import { writeIfChanged } from '../base/files';
import { HOOK_SCRIPTS, resolverSocket, VERIFY_OTHER_PID, type FirewallRole } from '../base/protocol';
import { controlRequest } from './control';
import type { CliCall, ProcessOutput } from '../base/runner';
import type { AgentRequest, AgentResult } from './agent';
import type { VerifyAsk } from './resolver';

/**
 * The egress firewall's start-time mechanism on rootless podman: an OCI createRuntime hook.
 * Podman runs it before the workspace's first process, on every start, as root of the
 * rootless user namespace; it loads the workspace's firewall files (see firewall.ts; the
 * files it reads and writes: base/protocol.ts). The agent enters the same netns from
 * outside with `podman unshare nsenter`.
 */

/** The tools the hook and the agent run on the host, inside the workspace netns. */
const HOST_TOOLS = ['nsenter', 'setsid', 'ipset', 'iptables-restore', 'ip6tables-restore'];
export const HOOK_PATH_ENV = '/usr/sbin:/usr/bin:/sbin:/bin';

/** One hooks directory per user, shared by the extension and `hdc` (their state roots differ). */
export function hooksHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share'), 'hardened-devcontainers');
}

/** The hook's copy of the filtering resolver's bundle (installOciHook writes it). */
export const installedResolverPath = (env: NodeJS.ProcessEnv = process.env): string => path.join(hooksHome(env), 'bin', 'firewall-resolver.cjs');

export function containersConfDropIn(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config'), 'containers', 'containers.conf.d', '99-hardened-devcontainers.conf');
}

/** The hooks_dir drop-in: podman's defaults plus ours, so `podman start` by hand runs the hook too. */
/** Drop-ins are read in name order and the last hooks_dir wins: "99-" keeps ours last. */
export function dropInContent(hooksDir: string): string {
  return `# Written by Hardened Dev Containers: lets podman run the firewall hook on every start of a\n`
    + `# hardened workspace, including podman start/restart run by hand. Remove it to uninstall.\n`
    + `[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d", ${JSON.stringify(hooksDir)}]\n`
    // podman 4.3's file event logger truncates events.log at 1 MB; a `podman events` follower
    // (the devcontainers CLI waiting for its container's start) can miss the event then and
    // wait for ever. Rotating at 64 MB makes that thousands of runs apart instead of ~50.
    + `# Rare rotation: podman truncates the events log at this size, racing event followers.\n`
    + `events_logfile_max_size = 67108864\n`;
}

export function hookJson(hookScript: string): string {
  return `${JSON.stringify({
    version: '1.0.0',
    hook: { path: hookScript, args: ['hardened-devcontainers-oci-hook'] },
    when: { annotations: { [`^${ANNOTATIONS.firewall.replace(/\./g, '\\.')}$`]: '^/.+' } },
    stages: ['createRuntime'],
  }, null, 2)}\n`;
}

/** Checks the host tools and installs the hook, its hooks dir and the podman drop-in (idempotent). */
export async function installOciHook(env: NodeJS.ProcessEnv = process.env): Promise<{ hooksDir: string; dropIn: string }> {
  for (const tool of HOST_TOOLS) {
    try {
      await resolveExecutable(tool, HOOK_PATH_ENV);
    } catch {
      throw new EnvironmentError(`The firewall needs ${tool} on the host (searched ${HOOK_PATH_ENV}).`,
        'install it: apt-get install iptables ipset util-linux (or turn the firewall off, which is not recommended)');
    }
  }
  const home = hooksHome(env);
  const script = path.join(home, 'bin', HOOK_SCRIPTS.hook);
  const hooksDir = path.join(home, 'oci-hooks.d');
  // The helpers first, next to the hook: it sources them from its own folder.
  await writeIfChanged(path.join(home, 'bin', HOOK_SCRIPTS.eventsWait), await readFile(eventsWaitPath(), 'utf8'), 0o644);
  await writeIfChanged(path.join(home, 'bin', HOOK_SCRIPTS.privilegeCheck), await readFile(privilegeCheckPath(), 'utf8'), 0o644);
  // The filtering resolver, next to the hook: what a start by hand runs is this copy, never
  // a file of the package (which may sit in a folder a workspace can write).
  await writeIfChanged(installedResolverPath(env), await readFile(firewallResolverPath(), 'utf8'), 0o644);
  await writeIfChanged(script, await readFile(ociHookSourcePath(), 'utf8'), 0o755);
  await writeIfChanged(path.join(hooksDir, 'hardened-devcontainers.json'), hookJson(script));
  const dropIn = containersConfDropIn(env);
  await writeIfChanged(dropIn, dropInContent(hooksDir));
  return { hooksDir, dropIn };
}

/**
 * The annotations that make podman run the hook for this container (capabilities:
 * hardening.ts), and say whose it is. They go after the user's runArgs: the engine keeps
 * the last value of a key.
 */
export function firewallRunArgs(dir: string, role: 'workspace' | 'sidecar' = 'workspace'): string[] {
  return ['--annotation', `${ANNOTATIONS.firewall}=${dir}`, '--annotation', `${ANNOTATIONS.role}=${role}`];
}

/**
 * The rootless user namespace, held by podman's pause process. Entering it with nsenter
 * takes ~6 ms; `podman unshare`, which joins the same namespace, ~70 ms. undefined (use
 * `podman unshare`) for root, or when the pause process is not there or not podman's.
 */
export async function rootlessUserNs(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return undefined;
  const runtimeDir = env.XDG_RUNTIME_DIR || `/run/user/${uid}`;
  const pid = Number((await readFile(path.join(runtimeDir, 'libpod', 'tmp', 'pause.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  // podman's, this user's, and in hdc's own process namespace: a process of a container
  // (which runs as this user too, with keep-id) is in the container's.
  // Its name: podman's own "podman pause", or "catatonit -P" when catatonit is installed
  // (podman then uses it as the pause process).
  const [comm, cmdline, owner, pidNs, ownPidNs] = await Promise.all([
    readFile(`/proc/${pid}/comm`, 'utf8').then((c) => c.trim(), () => ''),
    readFile(`/proc/${pid}/cmdline`, 'utf8').then((c) => c.split('\0').filter(Boolean), () => [] as string[]),
    stat(`/proc/${pid}`).then((st) => st.uid, () => -1),
    readlink(`/proc/${pid}/ns/pid`).catch(() => 'unknown'),
    readlink('/proc/self/ns/pid').catch(() => 'self'),
  ]);
  const isPause = comm === 'podman pause' || (path.basename(cmdline[0] ?? '') === 'catatonit' && cmdline[1] === '-P');
  return isPause && owner === uid && pidNs === ownPidNs ? `/proc/${pid}/ns/user` : undefined;
}

export function agentCall(engine: EngineClient, pid: number, request: AgentRequest, userNs?: string): CliCall<AgentResult> {
  // Into the rootless user namespace (where this user has the capabilities over the
  // workspace's netns), then into the netns; the host's Node runs the agent there.
  const inNetns = ['nsenter', '-t', String(pid), '-n', '--', process.execPath, firewallAgentPath()];
  const extra = { env: { PATH: HOOK_PATH_ENV, ELECTRON_RUN_AS_NODE: '1' }, input: JSON.stringify(request) };
  const parse = (r: ProcessOutput): AgentResult => JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as AgentResult;
  if (!userNs) return engine.unshare(inNetns, parse, extra);
  return { command: 'nsenter', args: [`--user=${userNs}`, '--preserve-credentials', '--', ...inNetns], parse, ...extra };
}

/**
 * The agent's checks, run by the filtering resolver that the hook has just started in the
 * workspace's netns (its control socket's `verify`): no agent process to start (~0.1 s of
 * CPU). The resolver takes only the policy and the targets, and answers only for the
 * container whose first process it watches, in that process's netns. Anything else fails
 * (the caller then starts the agent).
 */
export async function verifyThroughResolver(dir: string, role: FirewallRole, ask: VerifyAsk, timeoutMs = 12_000, startWaitMs = 10_000): Promise<AgentResult> {
  // timeoutMs: its wait for a route (3 s at most) and the checks' own limits (~6 s at most).
  // The socket through an open descriptor of its folder: the folder's path may be longer
  // than a socket path may be (107 bytes), and this process must not change directory.
  const folder = await open(dir, 'r');
  const socketPath = `/proc/self/fd/${folder.fd}/${resolverSocket(role)}`;
  const once = async (): Promise<AgentResult> => {
    const reply = await controlRequest<{ result?: AgentResult }>(socketPath, { op: 'verify', pid: ask.pid, policy: ask.policy, verify: ask.verify }, timeoutMs);
    if (!reply.result) throw new Error('the filtering resolver did not verify: no result');
    return reply.result;
  };
  try {
    // During an up the hook does not wait for the resolver's start: until it listens there
    // is no socket, or an earlier start's (refused, or its resolver, which watches another
    // pid, still answers for up to a second), so those are tried again a while.
    const until = Date.now() + startWaitMs;
    for (;;) {
      try {
        return await once();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (!(code === 'ENOENT' || code === 'ECONNREFUSED' || code === VERIFY_OTHER_PID) || Date.now() >= until) throw e;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await folder.close();
  }
}
