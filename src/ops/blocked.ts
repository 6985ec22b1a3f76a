import { isIP } from 'node:net';
import * as path from 'node:path';
import { liveFirewall } from './liveFirewall';
import type { BlockedEntry } from '../firewall/resolver';
import { isLeakProbe } from '../firewall/probes';
import { policyFromSettings } from '../firewall/policy';
import { HdcError } from '../base/errors';
import type { LogFn, RunOptions } from '../base/runner';
import type { Settings } from '../config/settings';
import { workspaceStateDir } from '../base/state';
import { getWorkspaceContainer, openWorkspace } from '../workspace/workspace';
import { engineOf, type OpsDeps } from './deps';
import { classifyEntry } from './allowlist';

/** What `hdc blocked --json` prints. */
export interface BlockedReport {
  workspaceFolder: string;
  container: string;
  /** Most recently seen first: names the resolver refused, addresses the packet filter refused. */
  entries: BlockedEntry[];
}

/**
 * The blocked log of a running workspace, read from its filtering resolver (outside the
 * workspace: the names it refused, and the addresses that the packet filter's xt_recent
 * lists recorded). `follow` reads it again every second and calls `onChange` with the
 * entries that are new or were seen again, until `signal` aborts.
 */
export async function blockedLog(workspaceFolder: string, settings: Settings, stateRoot: string, log: LogFn, deps: OpsDeps = {},
  follow?: { signal: AbortSignal; onChange: (entries: BlockedEntry[]) => void }): Promise<BlockedReport> {
  if (!settings.firewall.enabled) {
    throw new HdcError('The firewall is turned off for this workspace, so nothing is blocked or logged.', { fix: 'set hardenedDevcontainers.firewall.enabled to true and run hdc up' });
  }
  const options: RunOptions = { log, runner: deps.runner };
  const ws = await openWorkspace(workspaceFolder);
  const engine = await engineOf(settings, deps);
  const found = await getWorkspaceContainer(engine, ws.workspaceFolder, ws.file, options);
  if (!found?.container.running) {
    throw new HdcError(`No running hardened container for ${ws.workspaceFolder}: the blocked log lives in its filtering resolver.`, { fix: 'run hdc up first' });
  }
  const backend = liveFirewall(engine, ws, path.join(await workspaceStateDir(stateRoot, ws.workspaceFolder), 'firewall'), settings.firewall.guardImage, found.container.name);
  // Only the blocked log is read (blockedOnly): the agent neither loads nor checks a policy,
  // so the presets are not expanded (that may ask the host's package tools).
  const policy = policyFromSettings(settings.firewall, []);
  const read = async (): Promise<BlockedEntry[]> => ((await backend.agent(found.container.id, { policy, blockedOnly: true }, options)).blocked ?? []).filter(worthShowing);
  const entries = await read();
  if (follow) {
    const seen = new Map(entries.map((e) => [`${e.kind} ${e.value}`, e.count]));
    follow.onChange(entries);
    while (!follow.signal.aborted) {
      await new Promise((r) => setTimeout(r, 1000));
      if (follow.signal.aborted) break;
      const now = await read();
      const changed = now.filter((e) => seen.get(`${e.kind} ${e.value}`) !== e.count);
      for (const e of changed) seen.set(`${e.kind} ${e.value}`, e.count);
      if (changed.length) follow.onChange(changed);
    }
  }
  return { workspaceFolder: ws.workspaceFolder, container: found.container.name, entries };
}

/**
 * What the log shows: not hdc's own leak probes (a fresh name per check, refused by design),
 * nor multicast (the kernel's own neighbour and group traffic: nothing to allow).
 */
export function worthShowing(e: BlockedEntry): boolean {
  if (e.kind === 'name') return !isLeakProbe(e.value);
  const v = e.value.toLowerCase();
  if (v.startsWith('ff')) return false;
  const first = Number(v.split('.')[0]);
  return !(v.includes('.') && first >= 224 && first <= 239);
}

/**
 * A blocked value as a terminal or the editor may show it. The resolver logs a refused name
 * as the workspace sent it, and a query name may carry any byte (brackets, newlines, escape
 * sequences): anything outside printable ASCII is shown quoted and escaped.
 */
export function printable(value: string): string {
  if (/^[\x21-\x7e]+$/.test(value)) return value;
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Whether Allow can take the entry as it is. A refused query name is the workspace's own
 * words: only a plain host name is offered (never `*.example.com`, `0.0.0.0/1` or `::/1`,
 * which the rule validator would take as a wildcard or a network); a refused address is one
 * address, never a network.
 */
export function canAllow(e: BlockedEntry): boolean {
  if (!/^[\x21-\x7e]+$/.test(e.value)) return false;
  try {
    const c = classifyEntry(e.value);
    return e.kind === 'name' ? c.kind === 'domain' && !c.value.startsWith('*.') : c.kind === 'cidr' && isIP(e.value) !== 0;
  } catch {
    return false;
  }
}

/** One line per entry, for people: what, how often, when, and the command that allows it. */
export function renderBlocked(entries: BlockedEntry[]): string {
  if (entries.length === 0) return 'nothing blocked yet\n';
  const time = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return entries.map((e) => {
    const value = printable(e.value);
    const what = e.kind === 'name' ? `name    ${value}${e.types?.length ? ` (${e.types.map(printable).join(', ')})` : ''}` : `address ${value}`;
    const allow = canAllow(e) ? `to allow: hdc allow ${e.value}` : 'not a name or address that a rule can take';
    return `${what}\n        ${e.count}× · first ${time(e.first)} · last ${time(e.last)} · ${allow}\n`;
  }).join('');
}
