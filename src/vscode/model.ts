import * as vscode from 'vscode';
import { blockedLog, canAllow } from '../ops/blocked';
import { containerState, status, type StatusReport } from '../ops/status';
import type { Settings } from '../config/settings';
import { currentFolder, readConfig } from './config';
import { EDITOR_SETTINGS, PREFIX } from './ids';
import { BlockNotices, statusView, type BlockedEntry, type ModelState } from './modelState';
import type { Model, Services } from './services';
import { viewChildren } from './view';

/** How often the container's state is read (two engine calls), and the blocked log with it. */
const PROBE_MS = 5_000;
/** The full status (every check, a few execs) runs on each new start of the container, after our own changes, and this often. */
const FULL_MS = 5 * 60_000;

/**
 * The current folder's hardened container as the editor shows it (status bar, view,
 * blocked notifications), read from the engine: a modest poll of the container's state, the
 * full check only when the container changed, and the blocked log while it runs. An
 * operation in progress (up, down) holds the model until it ends.
 */
export class ContainerModel implements Model {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  state: ModelState | undefined;
  private key = '';
  private startKey = '';
  private fullAt = 0;
  private wantFull = true;
  private busyLabel: string | undefined;
  private failure: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private disposed = false;
  private readonly notices = new BlockNotices();
  /** The running container the window watches, and since when (blocked notifications count from then). */
  private watchedId = '';
  private watchingSince = 0;
  private readonly quiet = (): void => undefined;

  constructor(private readonly s: Services, private readonly onBlocked: (folder: vscode.WorkspaceFolder, entries: BlockedEntry[]) => void) {}

  start(): void {
    void this.loop();
  }

  busy(label: string | undefined, failure?: string): void {
    this.busyLabel = label;
    if (label) this.failure = undefined;
    else this.failure = failure;
    this.render();
    // Read the container again; the checks run again only if it is not the start just accepted.
    if (!label) void this.loop();
  }

  accept(report: StatusReport, leanedOnUp: boolean): void {
    if (!this.state) return;
    this.state = { ...this.state, report, checked: true };
    this.startKey = report.container?.running ? `${report.container.id}@${report.container.startedAt}` : '';
    this.fullAt = Date.now();
    // A check that took the up's own verifications (bringUp) is followed by a full one at the next poll.
    this.wantFull = leanedOnUp;
    this.render();
  }

  refreshSoon(): void {
    this.wantFull = true;
    if (this.timer) clearTimeout(this.timer);
    void this.loop();
  }

  children(element?: vscode.TreeItem): vscode.TreeItem[] {
    return viewChildren(this.state, element);
  }

  private loop(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.refresh()
      .catch((e: unknown) => this.s.log.line(`view: could not read the container: ${(e as Error).message}`, 'debug'))
      .finally(() => {
        this.inFlight = undefined;
        if (this.disposed) return;
        if (this.again) {
          this.again = false;
          void this.loop();
        } else {
          this.timer = setTimeout(() => void this.loop(), PROBE_MS);
        }
      });
    return this.inFlight;
  }

  private async refresh(): Promise<void> {
    const folder = currentFolder();
    if (!folder) {
      this.state = undefined;
      return this.render();
    }
    let settings: Settings;
    try {
      settings = readConfig(folder.uri);
    } catch (e) {
      this.state = { folderName: folder.name, runtime: 'podman', checked: false, blocked: [], rules: { presets: [], domains: [], denied: [], cidrs: [], firewall: false }, error: (e as Error).message };
      return this.render();
    }
    const key = `${folder.uri.fsPath}\n${settings.runtime}`;
    if (key !== this.key) {
      this.key = key;
      this.startKey = '';
      this.wantFull = true;
      this.state = undefined;
    }
    const rules = { presets: [...settings.firewall.presets], domains: [...settings.firewall.allowedDomains], denied: [...settings.firewall.deniedDomains], cidrs: [...settings.firewall.allowedCidrs], firewall: settings.firewall.enabled };
    // An up or a down owns the container meanwhile: what it would read is half-made.
    if (this.busyLabel) return;
    let report: StatusReport;
    try {
      report = await containerState(folder.uri.fsPath, settings, this.quiet);
    } catch (e) {
      this.state = { folderName: folder.name, runtime: settings.runtime, checked: false, blocked: [], rules, error: (e as Error).message.split('\n')[0] };
      return this.render();
    }
    const c = report.container;
    const startKey = c?.running ? `${c.id}@${c.startedAt}` : '';
    if (c?.running && c.id !== this.watchedId) {
      this.watchedId = c.id;
      this.watchingSince = Date.now();
    }
    let checked = false;
    if (c?.running) {
      if (this.wantFull || startKey !== this.startKey || Date.now() - this.fullAt > FULL_MS) {
        // A new start shows "checking" until its checks are in; a re-check of the same start
        // keeps showing the last result meanwhile (no ✓ → checking → ✓ flicker).
        if (startKey !== this.startKey || !this.state?.checked) {
          this.state = { folderName: folder.name, runtime: settings.runtime, report, checked: false, blocked: this.state?.blocked ?? [], rules };
          this.render();
        }
        report = await status(folder.uri.fsPath, settings, this.s.stateRoot, this.quiet);
        this.fullAt = Date.now();
        this.wantFull = false;
      } else if (this.state?.report) {
        report = { ...report, checks: this.state.report.checks, ok: this.state.report.ok };
      }
      checked = true;
    }
    this.startKey = startKey;
    let blocked: BlockedEntry[] = [];
    if (c?.running && settings.firewall.enabled) {
      blocked = await blockedLog(folder.uri.fsPath, settings, this.s.stateRoot, this.quiet).then((r) => r.entries, () => this.state?.blocked ?? []);
      // The status check's own blocked probe is hdc's doing, not the workspace's: no notification.
      const probed = new Set(report.checks.flatMap((k) => k.probed ?? []));
      // Only what a rule could take is news (the notification offers Allow): never a query
      // name with odd bytes, which the view lists escaped.
      const fresh = this.notices.see(c.id, blocked, Date.now(), this.watchingSince).filter((e) => canAllow(e) && !(e.kind === 'address' && probed.has(e.value)));
      if (fresh.length && vscode.workspace.getConfiguration(PREFIX).get<boolean>('notifyBlocked', EDITOR_SETTINGS.notifyBlocked)) this.onBlocked(folder, fresh);
    }
    this.state = { folderName: folder.name, runtime: settings.runtime, report, checked, blocked, rules };
    this.render();
  }

  private render(): void {
    const runtime = this.state?.runtime ?? this.s.statusBar.current.runtime;
    this.s.statusBar.show(statusView(this.state, runtime, this.busyLabel, this.failure));
    this.changed.fire();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}
