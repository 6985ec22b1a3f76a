import { mkdir, readFile, writeFile, chmod, rename } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineClient } from '../core/engine';
import { EnvironmentError, HdcError, InputError } from '../core/errors';
import { firewallAgentPath, ociHookSourcePath } from '../core/paths';
import { resolveExecutable } from '../core/preflight';
import type { CliCall } from '../core/runner';
import type { FirewallSettings } from '../core/settings';
import type { AgentRequest, AgentResult, Target } from './agent';
import { allowSet, ipsetPayload, rulesPayload, type AllowSet, type FirewallPolicy } from './policy';

/**
 * The egress firewall for rootless podman. Rules enter the workspace's netns from outside
 * its privilege boundary, two ways:
 *  - at every start, an OCI createRuntime hook (run by podman, before the workspace's first
 *    process) loads the precomputed files of this module: default deny, DNS pinned;
 *  - after `up` and on `hdc allow`, the agent (host Node, via `podman unshare nsenter`)
 *    resolves the allowlist through the pinned resolvers, swaps it into the sets, verifies.
 */

/** Annotation that marks a hardened workspace and names its firewall directory. */
export const FIREWALL_ANNOTATION = 'dev.hardened-devcontainers.firewall';

/** The tools the hook and the agent run on the host, inside the workspace netns. */
const HOST_TOOLS = ['nsenter', 'ipset', 'iptables-restore', 'ip6tables-restore'];
export const HOOK_PATH_ENV = '/usr/sbin:/usr/bin:/sbin:/bin';

/** One hooks directory per user, shared by the extension and `hdc` (their state roots differ). */
export function hooksHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share'), 'hardened-devcontainers');
}

export function containersConfDropIn(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config'), 'containers', 'containers.conf.d', '99-hardened-devcontainers.conf');
}

/** The hooks_dir drop-in: podman's defaults plus ours, so `podman start` by hand runs the hook too. */
/** Drop-ins are read in name order and the last hooks_dir wins: "99-" keeps ours last. */
export function dropInContent(hooksDir: string): string {
  return `# Written by Hardened Dev Containers: lets podman run the firewall hook on every start of a\n`
    + `# hardened workspace, including podman start/restart run by hand. Remove it to uninstall.\n`
    + `[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d", ${JSON.stringify(hooksDir)}]\n`;
}

export function hookJson(hookScript: string): string {
  return `${JSON.stringify({
    version: '1.0.0',
    hook: { path: hookScript, args: ['hardened-devcontainers-oci-hook'] },
    when: { annotations: { [`^${FIREWALL_ANNOTATION.replace(/\./g, '\\.')}$`]: '^/.+' } },
    stages: ['createRuntime'],
  }, null, 2)}\n`;
}

async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<void> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === content) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, content, { mode });
  await chmod(`${file}.tmp`, mode);
  await rename(`${file}.tmp`, file);
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
  const script = path.join(home, 'bin', 'oci-hook.sh');
  const hooksDir = path.join(home, 'oci-hooks.d');
  await writeIfChanged(script, await readFile(ociHookSourcePath(), 'utf8'), 0o755);
  await writeIfChanged(path.join(hooksDir, 'hardened-devcontainers.json'), hookJson(script));
  const dropIn = containersConfDropIn(env);
  await writeIfChanged(dropIn, dropInContent(hooksDir));
  return { hooksDir, dropIn };
}

/** The files the hook loads at each start. `resolved` is the last resolution, if any. */
export async function writeFirewallFiles(dir: string, policy: FirewallPolicy, resolved: AllowSet = { v4: [], v6: [] }): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeIfChanged(path.join(dir, 'policy.json'), `${JSON.stringify({ policy, resolved }, null, 2)}\n`, 0o600);
  await writeIfChanged(path.join(dir, 'ipset.restore'), ipsetPayload(allowSet(policy, resolved), { resetDns: true }), 0o600);
  await writeIfChanged(path.join(dir, 'rules.v4'), rulesPayload(4), 0o600);
  await writeIfChanged(path.join(dir, 'rules.v6'), rulesPayload(6), 0o600);
}

export async function readLastResolved(dir: string): Promise<AllowSet | undefined> {
  try {
    return (JSON.parse(await readFile(path.join(dir, 'policy.json'), 'utf8')) as { resolved: AllowSet }).resolved;
  } catch {
    return undefined;
  }
}

/** runArgs that make a workspace hardened: the hook's annotation and no network capabilities. */
export function firewallRunArgs(dir: string): string[] {
  return ['--annotation', `${FIREWALL_ANNOTATION}=${dir}`, '--cap-drop', 'NET_ADMIN', '--cap-drop', 'NET_RAW'];
}

/** "host:port" → Target; `blocked` also takes "gateway:port". */
export function parseTarget(text: string, setting: string, kind: 'allowed' | 'blocked'): Target {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1].replace(/^\[(.*)\]$/, '$1') ?? '';
  const port = Number(m?.[2]);
  const hostOk = kind === 'blocked' ? host === 'gateway' || isIP(host) !== 0 : isIP(host) !== 0 || /^[a-z0-9.-]+$/i.test(host);
  if (!m || !hostOk || port < 1 || port > 65535) {
    throw new InputError(`${setting} ${JSON.stringify(text)} is not ${kind === 'blocked' ? 'an "ip:port" or "gateway:port"' : 'a "host:port"'}.`);
  }
  return { host, port };
}

/** What the agent is asked to verify, from the settings and the policy. */
export function verifyTargets(fw: FirewallSettings, policy: FirewallPolicy): AgentRequest['verify'] {
  const blocked = parseTarget(fw.verifyBlockedTarget, 'hardenedDevcontainers.firewall.verifyBlockedTarget', 'blocked');
  const allowedText = fw.verifyAllowedTarget || (policy.domains[0] ? `${policy.domains[0]}:443` : '');
  const allowed = allowedText ? parseTarget(allowedText, 'hardenedDevcontainers.firewall.verifyAllowedTarget', 'allowed') : undefined;
  return { allowed, blocked };
}

/** The agent, run as root of the rootless user namespace inside the workspace's netns. */
export function agentCall(engine: EngineClient, pid: number, request: AgentRequest): CliCall<AgentResult> {
  return {
    command: engine.path,
    args: ['unshare', 'nsenter', '-t', String(pid), '-n', '--', process.execPath, firewallAgentPath()],
    env: { PATH: HOOK_PATH_ENV, ELECTRON_RUN_AS_NODE: '1' },
    input: JSON.stringify(request),
    parse: (r) => JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as AgentResult,
  };
}

/** Turns an agent result into the verification verdict; throws when the firewall is not right. */
export function checkVerification(result: AgentResult, request: AgentRequest): string[] {
  const notes: string[] = [];
  for (const u of result.unresolved) notes.push(`warning: ${u.name} did not resolve (${u.error}); it is not reachable until it does`);
  const { allowed, blocked } = result.verify;
  const problems: string[] = [];
  const allowlisted = (address: string | undefined): boolean => !!address
    && (result.resolved.v4.includes(address) || result.resolved.v6.includes(address) || request.policy.cidrs4.includes(`${address}/32`));
  if (blocked && !blocked.ok && allowlisted(blocked.address)) {
    notes.push(`warning: the verification target ${blocked.target} is allowlisted now, so it cannot show that blocking works; choose another hardenedDevcontainers.firewall.verifyBlockedTarget`);
  } else if (blocked && !blocked.ok) problems.push(`blocked target ${blocked.target} was not refused: ${blocked.detail}`);
  if (allowed && !allowed.ok) {
    // An allowlisted name that resolves nowhere is a warning above, not a broken firewall.
    const unresolvedTarget = result.unresolved.some((u) => u.name === request.verify?.allowed?.host) && !request.verify?.allowed?.host.match(/^\d/);
    if (unresolvedTarget) notes.push(`warning: could not check an allowed target: ${allowed.target} ${allowed.detail}`);
    else problems.push(`allowed target ${allowed.target} ${allowed.detail}`);
  }
  if (problems.length > 0) {
    throw new HdcError(`Firewall verification failed: ${problems.join('; ')}.`, {
      fix: 'the container was stopped; check hardenedDevcontainers.firewall.* and run with HDC_VERBOSE=1 for the rules applied' });
  }
  return notes;
}
