import * as path from 'node:path';
import { firewallBackend } from '../firewall/backend';
import { checkVerification, verifyTargets, writeFirewallFiles } from '../firewall/firewall';
import { buildPolicy, validateCidr, validateDomain } from '../firewall/policy';
import type { AgentResult } from '../firewall/agent';
import { sidecarNames } from '../sidecar/sidecar';
import { HdcError } from '../base/errors';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { SettingKey, Settings } from '../config/settings';
import { writeWorkspaceSetting } from '../config/settingsFile';
import { workspaceStateDir } from '../base/state';
import { getWorkspaceContainer, openWorkspace } from '../workspace/workspace';
import { engineOf, type OpsDeps } from './deps';

export interface AllowlistChange {
  entry: string;
  kind: 'domain' | 'cidr';
  settingsFile: string;
  /** The live result, when a container was running; undefined otherwise. */
  live?: AgentResult;
}

/** "10.0.0.0/8", "2001:db8::1" → cidr; anything else must be a valid host name. */
export function classifyEntry(raw: string): { kind: 'domain' | 'cidr'; value: string } {
  if (/^[\d.]+(\/\d+)?$/.test(raw.trim()) || raw.includes(':')) return { kind: 'cidr', value: validateCidr(raw).cidr };
  return { kind: 'domain', value: validateDomain(raw) };
}

/**
 * `hdc allow` / `hdc deny`: validates the entry, persists it to the workspace settings, and
 * when the workspace runs, swaps the new allowlist into its netns at once (no restart).
 */
/** Saves a setting and says where: the CLI edits settings.json, VS Code uses its configuration API. */
export type PersistSetting = (workspaceFolder: string, key: SettingKey, value: unknown) => Promise<string>;

export async function changeAllowlist(workspaceFolder: string, settings: Settings, stateRoot: string, raw: string, action: 'allow' | 'deny', log: LogFn,
  persist: PersistSetting = writeWorkspaceSetting, deps: OpsDeps = {}): Promise<AllowlistChange> {
  const options: RunOptions = { log, runner: deps.runner };
  const { kind, value } = classifyEntry(raw);
  const ws = await openWorkspace(workspaceFolder);
  const key = kind === 'domain' ? 'firewall.allowedDomains' : 'firewall.allowedCidrs';
  const list = kind === 'domain' ? settings.firewall.allowedDomains : settings.firewall.allowedCidrs;
  const normalised = (s: string): string => (kind === 'domain' ? validateDomain(s) : validateCidr(s).cidr);
  const next = action === 'allow'
    ? (list.some((e) => normalised(e) === value) ? list : [...list, value])
    : list.filter((e) => normalised(e) !== value);
  const updated: Settings = { ...settings, firewall: { ...settings.firewall, [kind === 'domain' ? 'allowedDomains' : 'allowedCidrs']: next } };
  const policy = buildPolicy(updated.firewall.allowedDomains, updated.firewall.allowedCidrs);
  const settingsFile = await persist(ws.workspaceFolder, key, next);
  log(`${action === 'allow' ? 'added' : 'removed'} ${value} ${action === 'allow' ? 'to' : 'from'} ${key} in ${settingsFile}`);

  if (!settings.firewall.enabled) return { entry: value, kind, settingsFile };
  const engine = await engineOf(settings, deps);
  const found = await getWorkspaceContainer(engine, ws.workspaceFolder, ws.file, options);
  if (!found?.container.running) return { entry: value, kind, settingsFile };
  const verify = { blocked: verifyTargets(updated.firewall, policy)?.blocked };
  const firewallDir = path.join(await workspaceStateDir(stateRoot, ws.workspaceFolder), 'firewall');
  const backend = firewallBackend(engine, {
    firewallDir, workspaceFolder: ws.workspaceFolder, configFile: ws.file, userRunArgs: ws.config.runArgs,
    workspaceImage: ws.config.image, guardImageSetting: settings.firewall.guardImage, containerName: found.container.name,
  });
  const live = await backend.agent(found.container.id, { policy, verify }, options);
  checkVerification(live, { policy, verify });
  await writeFirewallFiles(firewallDir, policy, live.resolved);
  // The sidecar has the same allowlist, in its own netns: it changes too, or it stops
  // (fail-closed: it must not keep a wider list than the workspace's).
  const sidecar = engine.runtime === 'podman' ? await run(engine.containerInspect(sidecarNames(found.container.name, settings.podmanSidecar).container), options) : undefined;
  if (sidecar?.running) {
    try {
      checkVerification(await backend.agent(sidecar.id, { policy, verify }, options), { policy, verify });
      log(`sidecar ${sidecar.name}: allowlist updated`);
    } catch (e) {
      await run(engine.stopContainer(sidecar.id), options).catch(() => undefined);
      throw new HdcError(`The sidecar ${sidecar.name} could not take the new allowlist, so it was stopped: ${(e as Error).message}`, { fix: 'run hdc up to start it again' });
    }
  }
  return { entry: value, kind, settingsFile, live };
}
