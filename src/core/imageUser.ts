import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { DevcontainerConfigRecord } from './devcontainerConfig';
import type { EngineClient, ImageItem } from './engine';
import { CommandFailedError, InputError } from './errors';
import { FALLBACK_IDS, numericIds, pickRemoteUser, resolveUserIds, type UserIds } from './remoteUser';
import { run, type LogFn, type RunOptions } from './runner';

/**
 * Makes sure the image is there (pulling it if not) and returns what we need of it.
 * `local` is an inspect already made in parallel with preflight, when there is one.
 */
export async function ensureImage(engine: EngineClient, image: string, configFile: string, options: RunOptions,
  local?: ImageItem | undefined | null): Promise<ImageItem> {
  if (local === null || local === undefined) local = local === null ? undefined : await run(engine.imageInspect(image), options);
  if (local) return local;
  options.log?.(`image ${image} is not present locally; pulling it`);
  try {
    await run(engine.pull(image), options);
  } catch (e) {
    if (e instanceof CommandFailedError) {
      throw new InputError(`Image ${JSON.stringify(image)} (from ${configFile}) is not available: it is not present locally and pulling it failed: ${e.stderr.trim().split('\n').pop() ?? e.message}`,
        `check the image name, or build or load it first (e.g. ${engine.runtime} images | grep ${image.split(':')[0].split('/').pop()})`);
    }
    throw e;
  }
  const pulled = await run(engine.imageInspect(image), options);
  if (!pulled) throw new InputError(`Image ${image} could not be inspected after pulling it.`);
  return pulled;
}

/**
 * The remote user's uid and gid, read from the image itself. The answer is cached per image
 * id (images are immutable), so only the first `up` of an image pays for a container start.
 */
export async function resolveRemoteUser(args: {
  engine: EngineClient;
  config: DevcontainerConfigRecord;
  image?: ImageItem;
  imageName?: string;
  cacheDir: string;
  log: LogFn;
  options: RunOptions;
}): Promise<UserIds> {
  const spec = pickRemoteUser(args.config, args.image?.user);
  const numeric = numericIds(spec);
  if (numeric) return numeric;
  if (!args.image || !args.imageName) {
    args.log(`remote user ${spec}: the image is built by the devcontainers CLI, so its ids cannot be read beforehand; assuming ${FALLBACK_IDS.uid}:${FALLBACK_IDS.gid}`);
    return { user: spec, ...FALLBACK_IDS, source: 'fallback' };
  }
  const cacheFile = path.join(args.cacheDir, `${args.image.id.replace(/[^\w]/g, '_')}-${spec.replace(/[^\w.-]/g, '_')}.json`);
  try {
    return JSON.parse(await readFile(cacheFile, 'utf8')) as UserIds;
  } catch {
    // not cached yet
  }
  let ids: UserIds | undefined;
  try {
    const files = await run(args.engine.catFromImage(args.imageName, ['/etc/passwd']), args.options);
    const groups = spec.includes(':') ? await run(args.engine.catFromImage(args.imageName, ['/etc/group']), args.options) : '';
    ids = resolveUserIds(spec, files, groups);
  } catch (e) {
    args.log(`could not read /etc/passwd from ${args.imageName}: ${(e as Error).message}`);
  }
  if (!ids) {
    args.log(`remote user ${spec} was not found in ${args.imageName}'s /etc/passwd; assuming ${FALLBACK_IDS.uid}:${FALLBACK_IDS.gid}`);
    return { user: spec, ...FALLBACK_IDS, source: 'fallback' };
  }
  await mkdir(args.cacheDir, { recursive: true });
  await writeFile(cacheFile, JSON.stringify(ids));
  return ids;
}
