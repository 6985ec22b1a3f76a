import * as vscode from 'vscode';
import { canAllow, printable } from '../ops/blocked';
import { markOf } from '../ops/render';
import { commandId, type ItemKind } from './ids';
import type { BlockedEntry, ModelState } from './modelState';

/** An item of the "Hardened Container" view; `entry` is what its Allow or Deny acts on. */
export class Node extends vscode.TreeItem {
  kids: Node[] = [];
  entry?: string;

  constructor(label: string, opts: { id: string; description?: string; tooltip?: string; icon?: vscode.ThemeIcon; kind?: ItemKind; entry?: string; kids?: Node[]; command?: vscode.Command; collapsed?: boolean } ) {
    super(label, opts.kids?.length ? (opts.collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded) : vscode.TreeItemCollapsibleState.None);
    this.id = opts.id;
    this.description = opts.description;
    this.tooltip = opts.tooltip;
    this.iconPath = opts.icon;
    this.contextValue = opts.kind;
    this.entry = opts.entry;
    this.kids = opts.kids ?? [];
    this.command = opts.command;
  }
}

const icon = (id: string, color?: string): vscode.ThemeIcon => new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
const MARK_ICON = { pass: icon('pass', 'testing.iconPassed'), warn: icon('warning', 'list.warningForeground'), fail: icon('error', 'testing.iconFailed') };

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return Number.isNaN(s) ? iso : s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function blockedNode(e: BlockedEntry): Node {
  const what = e.kind === 'name' ? `name${e.types?.length ? ` (${e.types.map(printable).join(', ')})` : ''}` : 'address';
  const value = printable(e.value);
  // A name no rule could take (odd bytes in a query) is listed, escaped, without Allow.
  const kind = canAllow(e) ? (e.kind === 'name' ? 'blockedName' : 'blockedAddress') : undefined;
  return new Node(value, {
    id: `blocked:${e.kind}:${value}`, kind, entry: kind ? e.value : undefined,
    description: `${e.count}× · last ${ago(e.last)}`, icon: icon(e.kind === 'name' ? 'globe' : 'circle-slash'),
    tooltip: `Blocked ${what} ${value}: ${e.count} time${e.count === 1 ? '' : 's'}, first ${e.first}, last ${e.last}.${kind ? '' : ' Not a name or address that a rule can take.'}`,
  });
}

/** The view's tree: the container, its checks, and egress (the rules, with Deny; the blocks, with Allow). */
export function viewTree(state: ModelState | undefined): Node[] {
  if (!state) return [new Node('Open a folder with a devcontainer.json', { id: 'none' })];
  if (state.error) return [new Node(state.error, { id: 'error', icon: MARK_ICON.fail, tooltip: state.error })];
  const c = state.report?.container;
  const nodes: Node[] = [];
  nodes.push(c
    ? new Node(c.name, { id: 'container', description: `${state.runtime} · ${c.status}`, icon: icon(c.running ? 'vm-running' : 'vm-outline'), tooltip: `${c.name} (${c.id.slice(0, 12)}), ${state.runtime}, ${c.status}; remote user ${c.remoteUser}, folder ${c.remoteWorkspaceFolder}` })
    : new Node(`No ${state.runtime} container`, { id: 'container', description: 'Reopen in Hardened Container', icon: icon('vm-outline'), command: { title: 'Reopen', command: commandId('reopenInHardenedContainer') } }));
  const checks = state.report?.checks ?? [];
  if (c?.running) {
    const kids = checks.filter((k) => k.name !== 'sidecar').map((k) => new Node(k.name, { id: `check:${k.name}`, description: k.evidence, tooltip: k.evidence, icon: MARK_ICON[markOf(k)] }));
    nodes.push(new Node('Checks', { id: 'checks', description: state.checked ? (state.report?.ok ? 'all passed' : 'failing') : 'checking…', kids: kids.length ? kids : [new Node('checking…', { id: 'check:pending', icon: icon('watch') })] }));
    const sidecar = checks.find((k) => k.name === 'sidecar');
    if (sidecar) nodes.push(new Node('Podman sidecar', { id: 'sidecar', description: sidecar.evidence, tooltip: sidecar.evidence, icon: MARK_ICON[markOf(sidecar)] }));
  }
  const r = state.rules;
  const allowed: Node[] = [
    ...r.presets.map((p) => new Node(p, { id: `preset:${p}`, description: 'preset', icon: icon('package') })),
    ...r.domains.map((d) => new Node(d, { id: `domain:${d}`, kind: 'allowedDomain', entry: d, icon: icon('globe') })),
    ...r.cidrs.map((d) => new Node(d, { id: `cidr:${d}`, kind: 'allowedCidr', entry: d, icon: icon('symbol-numeric') })),
    ...r.denied.map((d) => new Node(d, { id: `denied:${d}`, description: 'denied', icon: icon('circle-slash') })),
  ];
  const egress: Node[] = [
    new Node('Allowed', { id: 'allowed', description: r.firewall ? `${allowed.length} rules` : 'firewall off', kids: allowed }),
    new Node('Blocked', { id: 'blocked', description: c?.running ? `${state.blocked.length}` : 'when the container runs', kids: state.blocked.map(blockedNode) }),
  ];
  nodes.push(new Node('Egress', { id: 'egress', description: r.firewall ? 'default deny' : 'firewall OFF', icon: icon(r.firewall ? 'shield' : 'warning'), kids: egress }));
  return nodes;
}

/** The children of one element (the roots when none), for the TreeDataProvider. */
export function viewChildren(state: ModelState | undefined, element?: vscode.TreeItem): Node[] {
  return element instanceof Node ? element.kids : viewTree(state);
}
