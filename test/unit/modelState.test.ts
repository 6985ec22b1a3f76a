import { strict as assert } from 'node:assert';
import { BlockNotices, parentWildcard, statusView, type BlockedEntry, type ModelState } from '../../src/vscode/modelState';
import type { StatusReport } from '../../src/ops/status';

const container = { id: 'c1', name: 'hdc-app-1', status: 'running', running: true, remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app', startedAt: 't1' };
const report = (over: Partial<StatusReport> = {}): StatusReport => ({
  workspaceFolder: '/w/app', configFile: '/w/app/.devcontainer/devcontainer.json', runtime: 'podman', container,
  checks: [{ name: 'firewall', ok: true, evidence: 'loaded' }], ok: true, ...over,
});
const state = (over: Partial<ModelState> = {}): ModelState => ({
  folderName: 'app', runtime: 'podman', report: report(), checked: true, blocked: [],
  rules: { presets: [], domains: [], denied: [], cidrs: [], firewall: true }, ...over,
});

/** The status bar says `hardened ✓` for a running, checked, passing container and nothing else. */
describe('editor model: the status bar\'s truth', () => {
  it('ready only when running, checked on this start, and every check passed', () => {
    assert.equal(statusView(state(), 'podman').kind, 'ready');
    assert.equal(statusView(state({ checked: false }), 'podman').kind, 'checking');
    assert.equal(statusView(state({ report: report({ ok: false, checks: [{ name: 'sudo', ok: false, evidence: 'x' }] }) }), 'podman').detail, 'hdc-app-1: sudo failing');
    assert.equal(statusView(state({ report: report({ container: { ...container, running: false, status: 'exited' } }) }), 'podman').kind, 'stopped');
    assert.equal(statusView(state({ report: report({ container: null }) }), 'podman').kind, 'idle');
    assert.equal(statusView(undefined, 'docker').kind, 'idle');
  });

  it('a passed report with warnings is still ready, and says how many', () => {
    const v = statusView(state({ report: report({ checks: [{ name: 'rootless engine', ok: true, warning: true, evidence: 'root' }] }) }), 'docker');
    assert.deepEqual([v.kind, v.detail], ['ready', 'hdc-app-1, 1 warning']);
  });

  it('an operation in progress wins; a failed one shows until a passing container is seen', () => {
    assert.equal(statusView(state(), 'podman', 'starting').kind, 'working');
    assert.equal(statusView(state({ report: report({ container: null }) }), 'podman', undefined, 'up failed').kind, 'error');
    assert.equal(statusView(state(), 'podman', undefined, 'up failed').kind, 'ready');
    assert.equal(statusView(state({ error: 'bad setting' }), 'podman').kind, 'error');
  });

  it('*.parent of a name, never of a two-label name', () => {
    assert.equal(parentWildcard('api.example.com'), '*.example.com');
    assert.equal(parentWildcard('a.b.example.co.uk'), '*.b.example.co.uk');
    assert.equal(parentWildcard('example.com'), undefined);
    // Never a wildcard over a suffix where anyone can register names (the PSL's private section too).
    assert.equal(parentWildcard('x.workers.dev'), undefined);
    assert.equal(parentWildcard('bucket.s3.amazonaws.com'), undefined);
    assert.equal(parentWildcard('example.co.uk'), undefined);
  });
});

describe('editor model: blocked notifications', () => {
  const entry = (value: string, count = 1): BlockedEntry => ({ kind: 'name', value, count, first: 't', last: 't' });

  it('the first read is the baseline; a new block is told once; a busy stream waits for the interval', () => {
    const n = new BlockNotices(10_000);
    assert.deepEqual(n.see('c1', [entry('old.example')], 0), []);
    assert.deepEqual(n.see('c1', [entry('old.example'), entry('new.example')], 1_000).map((e) => e.value), ['new.example']);
    // Seen again: not told again.
    assert.deepEqual(n.see('c1', [entry('old.example'), entry('new.example', 5)], 2_000), []);
    // Within the interval: held, then told together.
    assert.deepEqual(n.see('c1', [entry('a.example'), entry('new.example', 5)], 3_000), []);
    assert.deepEqual(n.see('c1', [entry('a.example'), entry('b.example')], 11_500).map((e) => e.value), ['a.example', 'b.example']);
    // A block of a baseline entry that happens again while watched is new news.
    assert.deepEqual(n.see('c1', [entry('old.example', 2)], 30_000).map((e) => e.value), ['old.example']);
  });

  it('a stream of made-up names does not grow what the window keeps', () => {
    const n = new BlockNotices(0, 2_000);
    n.see('c1', [], 0);
    for (let poll = 1; poll <= 50; poll++) n.see('c1', Array.from({ length: 1000 }, (_, i) => entry(`n${poll}-${i}.example`)), poll);
    const kept = n as unknown as { baseline: Map<string, number>; told: Set<string> };
    assert.ok(kept.baseline.size <= 1000 && kept.told.size <= 2_000, `${kept.baseline.size} ${kept.told.size}`);
  });

  it('a block from after the window began watching is news even on the first read of the log', () => {
    const n = new BlockNotices(0);
    const at = (value: string, last: string): BlockedEntry => ({ kind: 'name', value, count: 1, first: last, last });
    const since = Date.parse('2026-11-30T10:00:00.000Z');
    assert.deepEqual(n.see('c1', [at('before.example', '2026-11-30T09:59:00.000Z'), at('after.example', '2026-11-30T10:00:05.000Z')], since + 10_000, since).map((e) => e.value), ['after.example']);
  });

  it('a new container starts a new baseline', () => {
    const n = new BlockNotices(0);
    n.see('c1', [], 0);
    assert.deepEqual(n.see('c2', [entry('x.example')], 1), []);
  });
});
