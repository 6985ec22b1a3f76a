import { mkdir, realpath } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { HdcError, InputError } from '../base/errors';
import type { FirewallSettings } from '../config/settings';
import type { AgentRequest, AgentResult, Target } from './agent';
import type { AgentCall } from './backend';
import { UNPRIVILEGED_PORT_START } from './sets';
import { allowSet, ipsetPayload, natPayload, rulesPayload, type FirewallPolicy } from './policy';
import { installedResolverPath } from './podmanHook';
import { writeIfChanged } from '../base/files';
import { hookFile, writeHookMode } from '../base/protocol';

/**
 * What both engines share: the per-workspace files that the start-time mechanism loads (the
 * podman OCI hook, or the docker guard's entrypoint), and how verification is judged.
 */

/**
 * The files loaded at each start (names: HOOK_FILES in base/protocol.ts), and policy.json,
 * which the filtering resolver reads at its start and on every reload. The docker guard's
 * copy of the resolver runs with the host's Node mounted in it; the hook's, with `node`.
 */
export async function writeFirewallFiles(dir: string, policy: FirewallPolicy, node: string = process.execPath): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeIfChanged(path.join(dir, 'policy.json'), `${JSON.stringify({ policy }, null, 2)}\n`, 0o600);
  await writeIfChanged(hookFile(dir, 'ipset'), ipsetPayload(allowSet(policy), { resetDns: true }), 0o600);
  await writeIfChanged(hookFile(dir, 'rulesV4'), rulesPayload(4), 0o600);
  await writeIfChanged(hookFile(dir, 'rulesV6'), rulesPayload(6), 0o600);
  await writeIfChanged(hookFile(dir, 'natV4'), natPayload(4), 0o600);
  await writeIfChanged(hookFile(dir, 'natV6'), natPayload(6), 0o600);
  await writeIfChanged(hookFile(dir, 'resolver'), `${await realpath(node)}\n${installedResolverPath()}\n`, 0o600);
  await writeHookMode(dir, 'firewall');
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
  // The default is the first allowed name that is a name: a "*." wildcard is not a host.
  const first = policy.domains.find((d) => !d.startsWith('*.'));
  const allowedText = fw.verifyAllowedTarget || (first ? `${first}:443` : '');
  const allowed = allowedText ? parseTarget(allowedText, 'hardenedDevcontainers.firewall.verifyAllowedTarget', 'allowed') : undefined;
  return { allowed, blocked, allowedExplicit: fw.verifyAllowedTarget !== '' };
}

/** Turns an agent result into the verification verdict; throws when the firewall is not right. */
export function checkVerification(result: AgentResult, request: AgentCall): string[] {
  const notes: string[] = [];
  for (const u of result.unresolved) notes.push(`warning: ${u.name} did not resolve (${u.error}); it is not reachable until it does`);
  const { allowed, blocked, leak } = result.verify;
  const problems: string[] = [];
  const inCidrs = (address: string | undefined): boolean => !!address && (request.policy.cidrs4.includes(`${address}/32`) || request.policy.cidrs6.includes(`${address}/128`));
  if (blocked && !blocked.ok && inCidrs(blocked.address)) {
    notes.push(`warning: the verification target ${blocked.target} is allowlisted now, so it cannot show that blocking works; choose another hardenedDevcontainers.firewall.verifyBlockedTarget`);
  } else if (blocked && !blocked.ok) problems.push(`blocked target ${blocked.target} was not refused: ${blocked.detail}`);
  if (allowed && !allowed.ok) {
    // The default target (first allowlisted name) may not resolve on this network: a
    // warning. A target the user configured must answer.
    if (!request.verify?.allowedExplicit && allowed.unresolved) notes.push(`warning: could not check an allowed target: ${allowed.target} ${allowed.detail}`);
    else problems.push(`allowed target ${allowed.target} ${allowed.detail}`);
  }
  if (!result.resolver || result.resolverError) problems.push(`${result.resolverError ?? 'the filtering resolver does not answer'}, so nothing resolves`);
  if (leak && !leak.ok) problems.push(`a query for ${leak.target} was not stopped by the filtering resolver: ${leak.detail}`);
  if (result.portStart === undefined || result.portStart < UNPRIVILEGED_PORT_START) {
    problems.push(`ip_unprivileged_port_start is ${result.portStart ?? 'unreadable'} in the netns (must be ${UNPRIVILEGED_PORT_START}): a workspace process could send DNS past the filtering resolver`);
  }
  if (problems.length > 0) {
    throw new HdcError(`Firewall verification failed: ${problems.join('; ')}.`, {
      fix: 'the container was stopped; check hardenedDevcontainers.firewall.* and run with HDC_VERBOSE=1 for the rules applied' });
  }
  return notes;
}
