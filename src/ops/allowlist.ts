import * as path from 'node:path';
import { liveFirewall } from './liveFirewall';
import { checkVerification, verifyTargets, writeFirewallFiles } from '../firewall/firewall';
import { policyFromSettings, validateCidr, validateDomain } from '../firewall/policy';
import { compileRules, nameAllowed } from '../firewall/names';
import type { AgentResult, LookupResult } from '../firewall/agent';
import { sidecarNames } from '../sidecar/sidecar';
import { HdcError } from '../base/errors';
import { run, type LogFn, type RunOptions } from '../base/runner';
import type { FirewallSettings, SettingKey, Settings } from '../config/settings';
import { writeWorkspaceSetting } from '../config/settingsFile';
import { workspaceStateDir } from '../base/state';
import { getWorkspaceContainer, openWorkspace } from '../workspace/workspace';
import { engineOf, type OpsDeps } from './deps';
import { resolvePresets } from './presets';
import type { EngineClient } from '../base/engine';

export interface AllowlistChange {
  entry: string;
  kind: 'domain' | 'cidr';
  settingsFile: string;
  /** The live result, when a container was running; undefined otherwise. */
  live?: AgentResult;
}

/**
 * What an allow or deny did, in one sentence for a person (the CLI's warning, the editor's
 * notification), and whether it deserves a warning: an allowed name that resolves to nothing
 * is most likely mistyped, and is not reported as a success.
 */
export function describeChange(change: AllowlistChange, action: 'allow' | 'deny'): { message: string; warning: boolean } {
  const rule = change.kind === 'cidr' ? `${change.entry} (allowedCidrs)` : `${change.entry} (${action === 'allow' ? 'allowedDomains' : 'deniedDomains or removed from allowedDomains'})`;
  const where = change.live ? `live in the running container, and saved to ${change.settingsFile}` : `saved to ${change.settingsFile}; it applies when the container comes up`;
  const lookup = change.live?.lookup;
  if (lookup?.error) return { warning: true, message: `Allowed ${rule}, ${where}. But ${lookupWarning(lookup)}` };
  const answers = lookup ? ` It resolves to ${lookup.addresses.slice(0, 4).join(', ')}${lookup.addresses.length > 4 ? ` and ${lookup.addresses.length - 4} more` : ''}.` : '';
  return { warning: false, message: `${action === 'allow' ? 'Allowed' : 'Denied'} ${rule}: ${where}.${answers}` };
}

/** An allowed name that answers nothing, said with the resolver's reason. */
export function lookupWarning(lookup: LookupResult): string {
  const why = lookup.error === 'ENOTFOUND' ? 'the name does not exist (NXDOMAIN)' : lookup.error === 'ENODATA' ? 'the name has no A or AAAA record' : `the lookup failed (${lookup.error})`;
  return `${lookup.name} resolves to nothing: ${why}. Check the spelling; the rule stays until you deny it.`;
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
  const fw = settings.firewall;
  // The presets' hosts are part of the policy that goes live, and a name they allow must go
  // to deniedDomains on `deny`: they are expanded first (apt from the image's cached sources).
  let engineFound: Promise<EngineClient> | undefined;
  const engineOnce = (): Promise<EngineClient> => (engineFound ??= engineOf(settings, deps));
  const { presets, notes } = fw.enabled || (kind === 'domain' && action === 'deny')
    ? await resolvePresets(fw, { workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config, options, apt: 'read', engine: engineOnce, stateDir: await workspaceStateDir(stateRoot, ws.workspaceFolder) })
    : { presets: [], notes: [] };
  for (const n of notes) log(n);
  const same = (normalise: (s: string) => string) => (e: string): boolean => {
    try {
      return normalise(e) === value;
    } catch {
      return false;
    }
  };
  // The settings to change: a CIDR goes in or out of allowedCidrs. A name goes in or out of
  // allowedDomains; `allow` also takes it off deniedDomains, and `deny` puts it there when
  // another entry (a wildcard) would still allow it.
  const changes: [SettingKey, string[]][] = [];
  let updated: FirewallSettings;
  if (kind === 'cidr') {
    const has = same((s) => validateCidr(s).cidr);
    const next = action === 'allow' ? (fw.allowedCidrs.some(has) ? fw.allowedCidrs : [...fw.allowedCidrs, value]) : fw.allowedCidrs.filter((e) => !has(e));
    changes.push(['firewall.allowedCidrs', next]);
    updated = { ...fw, allowedCidrs: next };
  } else {
    const has = same((s) => validateDomain(s));
    const allowed = action === 'allow' ? (fw.allowedDomains.some(has) ? fw.allowedDomains : [...fw.allowedDomains, value]) : fw.allowedDomains.filter((e) => !has(e));
    const stillAllowed = action === 'deny' && nameAllowed(compileRules(policyFromSettings({ ...fw, allowedDomains: allowed }, presets).domains), compileRules([]), value.replace(/^\*\./, 'x.'));
    const denied = action === 'allow' ? fw.deniedDomains.filter((e) => !has(e))
      : stillAllowed && !fw.deniedDomains.some(has) ? [...fw.deniedDomains, value] : fw.deniedDomains;
    if (allowed !== fw.allowedDomains) changes.push(['firewall.allowedDomains', allowed]);
    if (denied !== fw.deniedDomains && denied.length !== fw.deniedDomains.length) changes.push(['firewall.deniedDomains', denied]);
    updated = { ...fw, allowedDomains: allowed, deniedDomains: denied };
  }
  const policy = policyFromSettings(updated, presets);
  let settingsFile = '';
  for (const [key, next] of changes) {
    settingsFile = await persist(ws.workspaceFolder, key, next);
    log(`${key} in ${settingsFile}: ${next.length} entries`);
  }
  if (!settingsFile) settingsFile = await persist(ws.workspaceFolder, kind === 'cidr' ? 'firewall.allowedCidrs' : 'firewall.allowedDomains', kind === 'cidr' ? updated.allowedCidrs : updated.allowedDomains);

  if (!fw.enabled) return { entry: value, kind, settingsFile };
  const engine = await engineOnce();
  const found = await getWorkspaceContainer(engine, ws.workspaceFolder, ws.file, options);
  const firewallDir = path.join(await workspaceStateDir(stateRoot, ws.workspaceFolder), 'firewall');
  // The next start loads these; a running workspace's resolver re-reads policy.json now.
  await writeFirewallFiles(firewallDir, policy);
  if (!found?.container.running) return { entry: value, kind, settingsFile };
  const verify = { blocked: verifyTargets(updated, policy)?.blocked };
  const backend = liveFirewall(engine, ws, firewallDir, fw.guardImage, found.container.name);
  // An allowed name (not a wildcard) is looked up once through the filtering resolver, as
  // the workspace would: the change can then say what it answers, or that it answers nothing.
  const lookup = action === 'allow' && kind === 'domain' && !value.startsWith('*.') ? value : undefined;
  const live = await backend.agent(found.container.id, { policy, verify, lookup }, options);
  checkVerification(live, { policy, verify });
  // The sidecar has the same allowlist, in its own netns: it changes too, or it stops
  // (fail-closed: it must not keep a wider list than the workspace's).
  const sidecar = engine.runtime === 'podman' ? await run(engine.containerInspect(sidecarNames(found.container.name, settings.podmanSidecar).container), options) : undefined;
  if (sidecar?.running) {
    try {
      checkVerification(await backend.agent(sidecar.id, { policy, verify }, options, undefined, 'sidecar'), { policy, verify });
      log(`sidecar ${sidecar.name}: allowlist updated`);
    } catch (e) {
      await run(engine.stopContainer(sidecar.id), options).catch(() => undefined);
      throw new HdcError(`The sidecar ${sidecar.name} could not take the new allowlist, so it was stopped: ${(e as Error).message}`, { fix: 'run hdc up to start it again' });
    }
  }
  return { entry: value, kind, settingsFile, live };
}
