import { markdownText } from '../base/text';
import type { Check, StatusReport } from './status';

/**
 * The one rendering of checks: `hdc status` (terminal), the editor's hardening report
 * (Markdown) and its log after up (log). Checks keep the report's order (status.ts's).
 */
export type ReportStyle = 'terminal' | 'markdown' | 'log';

/** A check's outcome: passed, passed but worth knowing, failed. */
export type Mark = 'pass' | 'warn' | 'fail';

export const markOf = (c: Check): Mark => (c.ok ? (c.warning ? 'warn' : 'pass') : 'fail');

interface Format {
  marks: Record<Mark, string>;
  /** Lines before the first check (a table's head). */
  head: string[];
  line: (mark: string, c: Check) => string;
  /** The verdict when every check passed; `warnings` of them with something worth knowing. */
  passed: (warnings: number) => string;
  failed: (failed: Check[]) => string;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

const FORMATS: Record<ReportStyle, Format> = {
  terminal: {
    marks: { pass: '✓', warn: '!', fail: '✗' },
    head: [],
    line: (mark, c) => `  ${mark} ${c.name.padEnd(16)} ${c.evidence}`,
    passed: (w) => (w ? `hardened: passed, with ${plural(w, 'warning')} (the ! lines)` : 'hardened: every check passed'),
    failed: () => 'NOT hardened: see the ✗ lines',
  },
  markdown: {
    marks: { pass: '✅', warn: '⚠️', fail: '❌' },
    head: ['| | guarantee | evidence |', '| --- | --- | --- |'],
    // Evidence carries the container's words (su's and sudo's stderr, mount paths): shown, never rendered.
    line: (mark, c) => `| ${mark} | ${markdownText(c.name)} | ${markdownText(c.evidence)} |`,
    passed: (w) => (w ? `**Hardened: passed, with ${plural(w, 'warning')}** (the ⚠️ rows).` : '**Hardened: every check passed.**'),
    failed: () => '**Not hardened: see the ❌ rows.**',
  },
  // 'warning:' lines go to the log at warning level (vscode/log.ts).
  log: {
    marks: { pass: 'check ok:', warn: 'warning:', fail: 'CHECK FAILED:' },
    head: [],
    line: (mark, c) => `${mark} ${c.name}: ${c.evidence}`,
    passed: (w) => (w ? `hardened: passed, with ${plural(w, 'warning')}` : 'hardened: every check passed'),
    failed: (failed) => `Not hardened: ${failed.map((c) => `${c.name} (${c.evidence})`).join('; ')}`,
  },
};

/** One line per check, with its mark and evidence (after the style's head; none without checks). */
export function checkLines(report: Pick<StatusReport, 'checks'>, style: ReportStyle): string[] {
  const f = FORMATS[style];
  if (report.checks.length === 0) return [];
  return [...f.head, ...report.checks.map((c) => f.line(f.marks[markOf(c)], c))];
}

/** Every check passed, or (in the log) which did not. */
export function verdict(report: Pick<StatusReport, 'checks' | 'ok'>, style: ReportStyle): string {
  const f = FORMATS[style];
  return report.ok ? f.passed(report.checks.filter((c) => markOf(c) === 'warn').length) : f.failed(report.checks.filter((c) => !c.ok));
}

/** The verdict, when a container runs (otherwise nothing was checked). */
export function summaryLine(report: StatusReport, style: ReportStyle): string | undefined {
  return report.container?.running ? verdict(report, style) : undefined;
}

/** `hdc status`: the workspace and its container, one line per guarantee, the verdict. */
export function renderReport(report: StatusReport): string {
  const head = `${report.workspaceFolder} (${report.runtime}): ${report.container ? `${report.container.name} ${report.container.status}` : 'no container'}`;
  const summary = summaryLine(report, 'terminal');
  return `${[head, ...checkLines(report, 'terminal'), ...(summary ? [summary] : [])].join('\n')}\n`;
}

/** The editor's hardening report, as a Markdown document titled with the folder's name. */
export function renderMarkdownReport(report: StatusReport, folderName: string): string {
  const rows = checkLines(report, 'markdown');
  return [
    `# Hardening report: ${markdownText(folderName)}`, '',
    report.container ? `Container \`${report.container.name}\` (${report.runtime}) is ${markdownText(report.container.status)}.` : `No ${report.runtime} container for this folder.`, '',
    ...(rows.length ? [...rows, ''] : []),
    summaryLine(report, 'markdown') ?? '',
  ].join('\n');
}
