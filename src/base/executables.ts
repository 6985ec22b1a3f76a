import { access, constants } from 'node:fs/promises';
import * as path from 'node:path';
import { EnvironmentError } from './errors';

/** Finds an executable the way a shell would, and says which PATH it searched. */
export async function resolveExecutable(name: string, envPath = process.env.PATH ?? ''): Promise<string> {
  if (name.includes('/')) {
    const abs = path.resolve(name);
    if (await isExecutable(abs)) return abs;
    throw new EnvironmentError(`The engine ${abs} does not exist or is not executable.`,
      'fix the path in hardenedDevcontainers.podmanPath / dockerPath, or install the engine');
  }
  const dirs = envPath.split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  throw new EnvironmentError(`${name} was not found on PATH (searched: ${dirs.join(path.delimiter) || '(empty PATH)'}).`,
    `install it (Debian: apt-get install ${name === 'docker' ? 'docker.io' : name}), or set hardenedDevcontainers.${name === 'docker' ? 'dockerPath' : 'podmanPath'} to its full path`);
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
