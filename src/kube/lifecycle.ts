import { InputError } from '../base/errors';

/**
 * devcontainer.json's lifecycle commands as argv lists for a pod (lifecycle.sh runs them).
 * Pure. The merged configuration (devcontainers CLI) holds each hook as a list, one entry per
 * source (the image's label, features, devcontainer.json), each a string, an array, or an
 * object of named commands.
 */

export const KUBE_STAGES = ['onCreate', 'updateContent', 'postCreate', 'postStart'] as const;
export type KubeStage = (typeof KUBE_STAGES)[number];

export interface LifecycleStep {
  stage: KubeStage;
  /** A name for the log: the object entry's key, when there is one. */
  name?: string;
  argv: string[];
}

/** One command as devcontainer.json has it: a string runs in `/bin/sh -c`, an array as it is. */
function commandArgv(value: unknown, where: string): string[] | undefined {
  if (typeof value === 'string') return value.trim() ? ['/bin/sh', '-c', value] : undefined;
  if (Array.isArray(value) && value.every((w) => typeof w === 'string')) return value.length ? (value as string[]) : undefined;
  throw new InputError(`${where} is neither a string nor an array of strings.`, 'write the command as a string (run by /bin/sh -c) or as an array of words');
}

/**
 * The steps in the order the devcontainers CLI runs them: onCreate, updateContent,
 * postCreate, postStart; within one, each source in turn. An object's commands, which the
 * CLI runs in parallel, run one after another here (in the object's order).
 */
export function lifecycleSteps(merged: Record<string, unknown>, file: string): LifecycleStep[] {
  const steps: LifecycleStep[] = [];
  for (const stage of KUBE_STAGES) {
    const plural = merged[`${stage}Commands`];
    const entries = Array.isArray(plural) ? plural : merged[`${stage}Command`] === undefined ? [] : [merged[`${stage}Command`]];
    for (const entry of entries) {
      const where = `${file}: ${stage}Command`;
      if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
        for (const [name, value] of Object.entries(entry as Record<string, unknown>)) {
          const argv = commandArgv(value, `${where}.${name}`);
          if (argv) steps.push({ stage, name, argv });
        }
      } else if (entry !== undefined && entry !== null) {
        const argv = commandArgv(entry, where);
        if (argv) steps.push({ stage, argv });
      }
    }
  }
  return steps;
}

/** What a pod cannot run, for the user: postAttachCommand and initializeCommand (host side). */
export function unmappedLifecycle(merged: Record<string, unknown>, config: Record<string, unknown>): string[] {
  const notes: string[] = [];
  const some = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== '');
  if (some(merged.postAttachCommands) || some(merged.postAttachCommand)) notes.push('note: postAttachCommand is not run in a pod (there is no attach); run it after `kubectl exec`');
  if (some(config.initializeCommand)) notes.push('note: initializeCommand runs on the host before `up`; `hdc kube` does not run it');
  return notes;
}
