import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<void> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === content) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, content, { mode });
  await chmod(`${file}.tmp`, mode);
  await rename(`${file}.tmp`, file);
}
