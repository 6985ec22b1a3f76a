import { getPublicSuffix } from 'tldts';
import type { Runtime } from '../base/engine';
import type { BlockedReport } from '../ops/blocked';
import type { StatusReport } from '../ops/status';

/** One entry of the filtering resolver's blocked log. */
export type BlockedEntry = BlockedReport['entries'][number];

/** What the editor knows about the current folder's hardened container; model.ts keeps it fresh. */
export interface ModelState {
  folderName: string;
  runtime: Runtime;
  /** The container and, once the full status ran on this start, its checks. */
  report?: StatusReport;
  /** The checks in `report` belong to the container's current start. */
  checked: boolean;
  blocked: BlockedEntry[];
  rules: { presets: string[]; domains: string[]; denied: string[]; cidrs: string[]; firewall: boolean };
  /** The settings could not be read, or the engine could not be asked. */
  error?: string;
}

export type StatusKind = 'idle' | 'working' | 'ready' | 'stopped' | 'checking' | 'failing' | 'error';

export interface StatusView {
  kind: StatusKind;
  runtime: Runtime;
  detail: string;
}

/**
 * The status bar's one source of truth: `hardened ✓` only for a running container whose
 * checks of its current start all passed. An operation in progress (`busy`) and the last
 * failed operation (`failure`) are shown until the container says otherwise.
 */
export function statusView(state: ModelState | undefined, runtime: Runtime, busy?: string, failure?: string): StatusView {
  if (busy) return { kind: 'working', runtime, detail: busy };
  if (!state) return { kind: 'idle', runtime, detail: 'no folder' };
  if (state.error) return { kind: 'error', runtime: state.runtime, detail: state.error };
  const c = state.report?.container;
  const passing = c?.running && state.checked && state.report?.ok;
  if (failure && !passing) return { kind: 'error', runtime: state.runtime, detail: failure };
  if (!c) return { kind: 'idle', runtime: state.runtime, detail: `no ${state.runtime} container for this folder` };
  if (!c.running) return { kind: 'stopped', runtime: state.runtime, detail: `${c.name} is ${c.status}` };
  if (!state.checked) return { kind: 'checking', runtime: state.runtime, detail: `checking ${c.name}` };
  if (!state.report?.ok) {
    const failed = state.report?.checks.filter((k) => !k.ok).map((k) => k.name) ?? [];
    return { kind: 'failing', runtime: state.runtime, detail: `${c.name}: ${failed.join(', ') || 'a check'} failing` };
  }
  const warnings = state.report.checks.filter((k) => k.warning).length;
  return { kind: 'ready', runtime: state.runtime, detail: `${c.name}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}` };
}

/** `*.parent` for a blocked name (api.example.com → *.example.com), or undefined when there is no parent below a top-level label. */
export function parentWildcard(name: string): string | undefined {
  const labels = name.replace(/\.$/, '').split('.');
  if (labels.length <= 2) return undefined;
  const parent = labels.slice(1).join('.');
  // The workspace picks the name, so it may pick one under a suffix anyone can register a
  // name in (x.workers.dev, y.s3.amazonaws.com: the PSL's private section too): no offer then.
  return getPublicSuffix(parent, { allowPrivateDomains: true }) === parent ? undefined : `*.${parent}`;
}

/**
 * Which blocks to tell the user about: each name or address once per window, only blocks
 * that happened while the window watched (the first read of a container is the baseline),
 * and at most one notification per `intervalMs`; what arrives meanwhile waits for the next.
 */
export class BlockNotices {
  private container = '';
  private baseline = new Map<string, number>();
  private readonly told = new Set<string>();
  private pending: BlockedEntry[] = [];
  private lastAt = -Infinity;

  constructor(private readonly intervalMs = 10_000, private readonly maxTold = 10_000) {}

  /**
   * The blocked log as just read for `containerId`; returns what to show now (first one
   * leads), or nothing. `watchingSince`: when the window first saw this container run; a
   * block last seen from then on is news even if this is the first read of the log (the
   * first read may come seconds later, after the checks).
   */
  see(containerId: string, entries: BlockedEntry[], now = Date.now(), watchingSince = now): BlockedEntry[] {
    const key = (e: BlockedEntry): string => `${e.kind} ${e.value}`;
    if (containerId !== this.container) {
      this.container = containerId;
      const old = entries.filter((e) => !(Date.parse(e.last) >= watchingSince));
      this.baseline = new Map(old.map((e) => [key(e), e.count]));
      this.pending = [];
    }
    // The baseline is what the resolver holds now (≤ its BLOCKED_LOG_MAX), never every name
    // the workspace ever made up: a stream of fresh names must not grow the extension host.
    const next = new Map<string, number>();
    const waiting = new Set(this.pending.map(key));
    for (const e of entries) {
      const k = key(e);
      const before = this.baseline.get(k);
      next.set(k, e.count);
      if ((before === undefined || e.count > before) && !this.told.has(k) && !waiting.has(k) && waiting.size < 1000) {
        this.pending.push(e);
        waiting.add(k);
      }
    }
    this.baseline = next;
    if (this.pending.length === 0 || now - this.lastAt < this.intervalMs) return [];
    this.lastAt = now;
    const out = this.pending;
    this.pending = [];
    for (const e of out) this.told.add(key(e));
    for (const k of this.told) {
      if (this.told.size <= this.maxTold) break;
      this.told.delete(k);
    }
    return out;
  }
}
