import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MergedConfigRecord } from '../base/devcontainerCli';
import { IMAGE_REFERENCE, type EngineClient, type ImageItem } from '../base/engine';
import { CancelledError, HdcError, InputError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import type { Pregate } from '../shim/gate';
import { checkImageAnnotations } from '../hardening/privilege';
import { resolveRemoteUser, userSource } from '../workspace/imageUser';
import type { UserIds } from '../workspace/remoteUser';

/** What checking a remote user needs. */
export interface UserCheck {
  engine: EngineClient;
  configFile: string;
  /** Cache of users read from images (by image id). */
  cacheDir: string;
  revokeSudo: boolean;
  merged: MergedConfigRecord;
  options: RunOptions;
}

export const userCheckCache = (stateRoot: string): string => path.join(stateRoot, 'image-users');

/** The user from an image, checked: it exists, and is not root while sudo is revoked. */
export async function checkedRemoteUser(c: UserCheck, image: ImageItem, imageRef: string): Promise<UserIds> {
  const ids = await resolveRemoteUser({ engine: c.engine, merged: c.merged, image, imageRef, configFile: c.configFile, cacheDir: c.cacheDir, options: c.options });
  c.options.log?.(`remote user ${ids.user}: uid ${ids.uid}, gid ${ids.gid} (${userSource(c.merged, image.user)}; ids from ${imageRef})`);
  if (c.revokeSudo && ids.uid === 0) {
    throw new InputError(`${c.configFile}: the remote user (${ids.user}, ${userSource(c.merged, image.user)}) is root, so every process in the workspace would be root.`,
      'set "remoteUser" to a non-root user of the image (e.g. "vscode"); or set hardenedDevcontainers.revokeSudo to false, which gives up the no-root guarantee');
  }
  return ids;
}

/**
 * podman, a build: the shim hands over the argv of the CLI's `run` before passing it on;
 * the image is the argument before the CLI's own `-c "echo Container started…"`. hdc reads
 * the remote user from that image and answers with its ids, or "closed" (then nothing runs).
 */
export class ImageIdsAnswer {
  private readonly done = new AbortController();
  readonly answer: Promise<UserIds & { imageId: string }>;

  constructor(private readonly pregate: Pregate, c: UserCheck) {
    this.answer = this.serve(c);
    this.answer.catch(() => undefined);
  }

  private async serve(c: UserCheck): Promise<UserIds & { imageId: string }> {
    try {
      let argv: string[] | undefined;
      while (!argv) {
        // No `run` this time (the container exists): the up ends without an answer.
        if (c.options.signal?.aborted || this.done.signal.aborted) throw new CancelledError('hdc up');
        argv = await this.pregate.readRunRequest();
        if (!argv) await sleep(25);
      }
      // The first such `-c`: what follows the CLI's script (an image's own Entrypoint and Cmd,
      // with overrideCommand false) is the image's to choose; runArgs cannot hold it (a
      // non-flag argument there is refused).
      let at = -1;
      for (let i = 1; i < argv.length - 1 && at < 0; i++) if (argv[i] === '-c' && argv[i + 1].startsWith('echo Container started\n')) at = i;
      const imageRef = at > 0 ? argv[at - 1] : '';
      if (!IMAGE_REFERENCE.test(imageRef)) throw new HdcError('Cannot tell which image the devcontainers CLI runs, so its remote user cannot be read.', { fix: 'report this with the log (HDC_VERBOSE=1): the CLI\'s run command changed' });
      const image = await run(c.engine.imageInspect(imageRef), c.options);
      if (!image) throw new HdcError(`The image ${imageRef} that the devcontainers CLI built cannot be inspected.`);
      checkImageAnnotations(image.annotations, imageRef, c.configFile);
      const ids = await checkedRemoteUser(c, image, imageRef);
      await this.pregate.answerIds({ kind: 'open', uid: ids.uid, gid: ids.gid });
      return { ...ids, imageId: image.id };
    } catch (e) {
      await this.pregate.answerIds({ kind: 'closed' }).catch(() => undefined);
      throw e;
    }
  }

  /** What it settled to by now, never waiting: undefined while still open. */
  async now(): Promise<{ ok: UserIds & { imageId: string } } | { failed: unknown } | undefined> {
    return Promise.race([this.answer.then((ok) => ({ ok }), (failed: unknown) => ({ failed })), sleep(0).then(() => undefined)]);
  }

  /** Why hdc refused the built image's user, if it did: that is the cause when the CLI then failed. */
  async failure(): Promise<unknown> {
    const settled = await this.now();
    return settled && 'failed' in settled ? settled.failed : undefined;
  }

  stop(): void {
    this.done.abort();
  }
}

/** The remote user of the running container: known, answered for the built image, or read from the container's image. */
export async function remoteUserOf(c: UserCheck, containerId: string, known: UserIds | undefined, imageIds: ImageIdsAnswer | undefined): Promise<UserIds> {
  if (known) return known;
  const item = await run(c.engine.containerInspect(containerId), c.options);
  const settled = await imageIds?.now();
  if (settled && 'failed' in settled) throw settled.failed;
  if (settled) {
    // The ids were read from the image the CLI's run named: it must be the one that runs.
    const { imageId, ...ids } = settled.ok;
    if (item?.image === imageId) return ids;
    throw new HdcError(`The container runs image ${item?.image.slice(0, 19)}, not ${imageId.slice(0, 19)}, whose remote user hdc checked.`, { fix: 'report this with the log (HDC_VERBOSE=1)' });
  }
  const image = item ? await run(c.engine.imageInspect(item.image), c.options) : undefined;
  if (!item || !image) throw new HdcError(`Cannot read the image of container ${containerId.slice(0, 12)}, so its remote user cannot be checked.`);
  return checkedRemoteUser(c, image, image.id);
}
