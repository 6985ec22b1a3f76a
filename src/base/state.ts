import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Where generated files live: the extension's global storage, or for `hdc` the XDG state
 * directory. Never the workspace.
 */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HDC_STATE_DIR) return env.HDC_STATE_DIR;
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'hardened-devcontainers');
}

/** One directory per workspace folder, named by a hash of its absolute path. */
export async function workspaceStateDir(stateRoot: string, workspaceFolder: string): Promise<string> {
  const id = createHash('sha256').update(path.resolve(workspaceFolder)).digest('hex').slice(0, 16);
  const dir = path.join(stateRoot, 'workspaces', `${path.basename(workspaceFolder).replace(/[^\w.-]/g, '_')}-${id}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
