/**
 * `npm run bench [-- --quick]`: every figure is a ratio (or a difference) against a
 * baseline measured in the same run, because these machines are noisy. Prints a table and
 * writes .bench/results.json. Needs the host prepared by scripts/setup-host.sh (root).
 */
import { execa } from 'execa';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { devcontainerCliPath, shimPath } from '../src/core/paths';
import { asUser, destroyWorkspace, HDC, makeWorkspace, REPO } from '../test/support/testbed';

const quick = process.argv.includes('--quick');

interface Figure {
  name: string;
  unit: 'ms' | 'x';
  median: number;
  min: number;
  max: number;
  baseline?: { name: string; median: number };
  value: number;
  target: string;
  met: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timed(cmd: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await execa(cmd, args, { reject: false, env, cwd: '/tmp', stdin: 'ignore', timeout: 300_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${String(r.stderr).slice(-2000)}`);
  return ms;
}

/** Shim overhead: the same `podman -v` through the shim and bare, interleaved. */
async function shimOverhead(): Promise<Figure> {
  const runs = 20;
  const bare: number[] = [];
  const shim: number[] = [];
  const env = { PATH: process.env.PATH ?? '', HDC_ENGINE: '/usr/bin/podman', HDC_UID: '1000', HDC_GID: '1000' };
  await timed('/usr/bin/podman', ['-v']);
  for (let i = 0; i < runs; i++) {
    bare.push(await timed('/usr/bin/podman', ['-v'], env));
    shim.push(await timed(shimPath(), ['-v'], env));
  }
  const overhead = shim.map((s, i) => s - bare[i]);
  // Median of the paired differences: each shim call is compared with the bare call next to it.
  const value = median(overhead);
  return { name: `shim overhead per call (podman -v, median of ${runs})`, unit: 'ms', median: median(shim), min: Math.min(...overhead), max: Math.max(...overhead),
    baseline: { name: 'bare podman -v', median: median(bare) }, value, target: '≤ 5 ms', met: value <= 5 };
}

/** `hdc up` against a plain `devcontainer up --docker-path podman` on the same example, warm. */
async function upVsPlain(): Promise<Figure> {
  const runs = quick ? 1 : 5;
  const wsHdc = makeWorkspace('podman');
  const wsPlain = makeWorkspace('podman');
  const user = (argv: string[]): Promise<number> => {
    const [cmd, args] = asUser(argv);
    return timed(cmd, args);
  };
  const hdcUp = (): Promise<number> => user([process.execPath, HDC, 'up', wsHdc, '--runtime', 'podman']);
  const hdcDown = (): Promise<number> => user([process.execPath, HDC, 'down', wsHdc, '--runtime', 'podman']);
  const plainUp = (): Promise<number> => user([process.execPath, devcontainerCliPath(), 'up', '--workspace-folder', wsPlain, '--docker-path', 'podman', '--log-format', 'json']);
  const plainDown = async (): Promise<void> => {
    const [cmd, args] = asUser(['podman', 'ps', '-aq', '--filter', `label=devcontainer.local_folder=${wsPlain}`]);
    const ids = String((await execa(cmd, args, { cwd: '/tmp' })).stdout).split('\n').filter(Boolean);
    if (ids.length) await user(['podman', 'rm', '-f', ...ids]);
  };
  try {
    // Warm-up: image-user cache for hdc, the "-uid" image for the plain CLI.
    await hdcUp(); await hdcDown();
    await plainUp(); await plainDown();
    const h: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < runs; i++) {
      h.push(await hdcUp()); await hdcDown();
      p.push(await plainUp()); await plainDown();
    }
    const value = median(h) / median(p);
    return { name: `hdc up vs plain devcontainer up (podman, warm, N=${runs})`, unit: 'x', median: median(h), min: Math.min(...h), max: Math.max(...h),
      baseline: { name: 'devcontainer up --docker-path podman', median: median(p) }, value, target: '≤ 1.05×', met: value <= 1.05 };
  } finally {
    await plainDown().catch(() => undefined);
    await destroyWorkspace('podman', wsHdc);
    await destroyWorkspace('podman', wsPlain);
  }
}

function print(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.name, `${f.median.toFixed(1)} ms`, `${f.min.toFixed(1)}–${f.max.toFixed(1)}${f.unit === 'ms' && f.name.includes('overhead') ? ' ms (per-run diff)' : ' ms'}`,
    f.baseline ? `${f.baseline.name}: ${f.baseline.median.toFixed(1)} ms` : '', f.unit === 'x' ? `${f.value.toFixed(3)}×` : `${f.value.toFixed(2)} ms`, f.target, f.met ? 'met' : 'MISSED',
  ]);
  const head = ['figure', 'median', 'min–max', 'baseline (same run)', 'result', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('npm run bench needs root (it drives the rootless test user): sudo npm run bench');
  const figures = [await shimOverhead(), await upVsPlain()];
  print(figures);
  const out = path.join(REPO, '.bench');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, quick ? 'results-quick.json' : 'results.json');
  rmSync(file, { force: true });
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), quick, figures }, null, 2));
  console.log(`\nwritten ${path.relative(REPO, file)}${quick ? ' (quick: fewer runs; targets are judged on the full run)' : ''}`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
