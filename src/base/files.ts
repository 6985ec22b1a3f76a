import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<void> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === content) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, content, { mode });
  await chmod(`${file}.tmp`, mode);
  await rename(`${file}.tmp`, file);
}

/**
 * An exclusive lock file: it holds its owner's pid and that process's start time. A lock
 * whose process is gone (or whose pid now names another process) is stale and taken over.
 */
export async function takeLock(file: string): Promise<{ release: () => Promise<void> } | { heldBy: number }> {
  const self = `${process.pid} ${await startTime(process.pid)}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, self, { flag: 'wx', mode: 0o600 });
      return { release: async () => { if (await readFile(file, 'utf8').catch(() => '') === self) await rm(file, { force: true }); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const [pid, started] = (await readFile(file, 'utf8').catch(() => '')).trim().split(' ');
    if (Number(pid) > 0 && started && await startTime(Number(pid)) === started) return { heldBy: Number(pid) };
    await rm(file, { force: true });
  }
  const [pid] = (await readFile(file, 'utf8').catch(() => '0')).trim().split(' ');
  return { heldBy: Number(pid) };
}

/**
 * A process's start time (field 22 of /proc/PID/stat, in clock ticks since boot), or ''
 * when there is no such process: a pid is the same process only with the same start time.
 */
export async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The command (field 2) is in parentheses and may hold spaces: count after its last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}
