import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { ConfigurationItem } from '../base/devcontainerCli';
import { HdcError } from '../base/errors';
import { writeLookupAnswers, type LookupAnswer } from '../base/protocol';
import { run, type CliCall, type RunOptions } from '../base/runner';
import { WorkspaceLayout, parseMount } from '../base/mounts';

/** What the devcontainers CLI makes of a workspace: its mount, and the merged configuration. */
export interface WorkspaceConfiguration extends Omit<ConfigurationItem, 'workspaceFolder' | 'workspaceMount'> {
  layout: WorkspaceLayout;
}

/**
 * Asks the CLI's read-configuration (its own merge, never ours). The answer is cached when
 * nothing outside devcontainer.json and the image decides it: no features and no build (a
 * feature folder or a Dockerfile's base image can change under the same devcontainer.json).
 */
export async function readWorkspaceConfiguration(args: {
  workspaceFolder: string;
  configFile: string;
  stateDir: string;
  /** The image's id for an image config; undefined for a build. */
  imageId?: string;
  cacheable: boolean;
  call: CliCall<ConfigurationItem>;
  /** hdc's answers to the CLI's look-ups (the call's HDC_ANSWERS folder), written only when the CLI runs. */
  lookups?: { dir: string; answers: LookupAnswer[] };
  options: RunOptions;
}): Promise<WorkspaceConfiguration> {
  // The layout depends on the nearest .git above the folder (the CLI mounts the git root).
  let gitRoot = '';
  for (let dir = args.workspaceFolder; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) {
      gitRoot = dir;
      break;
    }
    if (dir === path.dirname(dir)) break;
  }
  const key = createHash('sha256').update(`${args.workspaceFolder}\0${gitRoot}\0${args.imageId ?? ''}\0${await readFile(args.configFile, 'utf8')}`).digest('hex');
  const cacheFile = path.join(args.stateDir, 'configuration.json');
  if (args.cacheable) {
    const cached = await readFile(cacheFile, 'utf8').then((t) => JSON.parse(t) as WorkspaceConfiguration & { key: string }, () => undefined);
    if (cached?.key === key) return { layout: cached.layout, merged: cached.merged, features: cached.features };
  }
  const { lookups } = args;
  if (lookups) await writeLookupAnswers(lookups.dir, lookups.answers);
  const raw = await run(args.call, args.options).finally(() => (lookups ? rm(lookups.dir, { recursive: true, force: true }) : undefined));
  const { source, target } = parseMount(raw.workspaceMount);
  if (!source || !target) throw new HdcError(`Cannot read the workspace mount "${raw.workspaceMount}" from the devcontainers CLI.`);
  const result: WorkspaceConfiguration = {
    layout: { workspaceFolder: raw.workspaceFolder, source: path.resolve(source), target },
    merged: raw.merged,
    features: raw.features };
  if (args.cacheable) await writeFile(cacheFile, JSON.stringify({ key, ...result }), { mode: 0o600 });
  return result;
}
