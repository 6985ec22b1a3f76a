import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { EngineClient, ImageItem } from '../base/engine';
import { CommandFailedError, InputError } from '../base/errors';
import { checkUserName, numericIds, pickRemoteUser, resolveUserIds, type UserIds } from './remoteUser';
import { run, type RunOptions } from '../base/runner';

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
 * The remote user's uid and gid, read from the image itself: the user exactly as the
 * devcontainers CLI picks it (the merged configuration's remoteUser, then containerUser, then
 * the image's USER, then root). No guess: a user the image does not have is an error, before
 * anything is created. The answer is cached per image id (images are immutable).
 */
export async function resolveRemoteUser(args: {
  engine: EngineClient;
  merged: { remoteUser?: string; containerUser?: string };
  image: ImageItem;
  /** How to name the image to the engine: its reference, or its id. */
  imageRef: string;
  configFile: string;
  cacheDir: string;
  options: RunOptions;
}): Promise<UserIds> {
  const spec = pickRemoteUser(args.merged, args.image.user);
  checkUserName(spec, args.configFile);
  const numeric = numericIds(spec);
  if (numeric) return numeric;
  const cacheFile = path.join(args.cacheDir, `${args.image.id.replace(/[^\w]/g, '_')}-${spec.replace(/[^\w.-]/g, '_')}.json`);
  try {
    return JSON.parse(await readFile(cacheFile, 'utf8')) as UserIds;
  } catch {
    // not cached yet
  }
  let files: string;
  let groups = '';
  try {
    files = await run(args.engine.catFromImage(args.imageRef, ['/etc/passwd']), args.options);
    if (spec.includes(':')) groups = await run(args.engine.catFromImage(args.imageRef, ['/etc/group']), args.options);
  } catch (e) {
    throw new InputError(`Cannot read /etc/passwd from image ${args.imageRef}, so the remote user ${JSON.stringify(spec)} cannot be checked: ${e instanceof CommandFailedError ? e.stderr.trim().split('\n').pop() : (e as Error).message}`,
      'the image needs cat and /etc/passwd; or set "remoteUser" to numeric ids ("1000:1000")');
  }
  const ids = resolveUserIds(spec, files, groups);
  if (!ids) {
    throw new InputError(`${args.configFile}: the remote user ${JSON.stringify(spec)} (${userSource(args.merged, args.image.user)}) does not exist in image ${args.imageRef}.`,
      'set "remoteUser" in devcontainer.json to a user the image has (e.g. "vscode"), or create the user in the Dockerfile');
  }
  await mkdir(args.cacheDir, { recursive: true });
  await writeFile(cacheFile, JSON.stringify(ids));
  return ids;
}

/** Where the CLI's choice of user came from, for messages and the log. */
export function userSource(merged: { remoteUser?: string; containerUser?: string }, imageUser: string | undefined): string {
  if (merged.remoteUser) return 'remoteUser of the merged configuration';
  if (merged.containerUser) return 'containerUser of the merged configuration';
  return imageUser ? 'the image\'s USER' : 'no user set anywhere: root';
}
