import { readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, type EngineInfoItem } from '../base/engine';
import { CommandFailedError, EnvironmentError } from '../base/errors';
import { run, type RunOptions } from '../base/runner';
import type { Runtime } from '../base/engine';

export interface Finding {
  level: 'error' | 'warning';
  message: string;
  fix: string;
}

export interface PreflightReport {
  enginePath: string;
  info?: EngineInfoItem;
  findings: Finding[];
}

export const MIN_PODMAN = [4, 3] as const;


/** "4.3.1", "4.9.4-rhel", "5.0.0-dev" → is it at least 4.3? */
export function podmanVersionOk(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > MIN_PODMAN[0] || (major === MIN_PODMAN[0] && minor >= MIN_PODMAN[1]);
}

/** True when a subuid/subgid file grants the user a range, by name or by uid. */
export function hasSubIdRange(content: string, user: string, uid: number): boolean {
  return content.split('\n').some((line) => {
    const [who, , count] = line.trim().split(':');
    return (who === user || who === String(uid)) && Number(count) > 0;
  });
}

/** Rootless podman needs a subordinate id range for the user in both files. */
export function evaluateSubIds(probe: { user: string; uid: number; subuid: string; subgid: string }): Finding[] {
  const findings: Finding[] = [];
  for (const [file, content] of [['/etc/subuid', probe.subuid], ['/etc/subgid', probe.subgid]] as const) {
    if (!hasSubIdRange(content, probe.user, probe.uid)) {
      findings.push({ level: 'error', message: `No ${path.basename(file)} range for user ${probe.user} (uid ${probe.uid}) in ${file}; rootless podman cannot map the container's users.`,
        fix: `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${probe.user}, then podman system migrate` });
    }
  }
  return findings;
}

/** What the engine said about itself, turned into findings. Pure, so every message is unit-tested. */
export function evaluateEngine(runtime: Runtime, info: EngineInfoItem): Finding[] {
  if (runtime === 'podman') {
    const findings: Finding[] = [];
    if (!podmanVersionOk(info.version)) {
      findings.push({ level: 'error', message: `podman ${info.version || '(unknown version)'} is too old: ${MIN_PODMAN.join('.')} or newer is needed for --userns=keep-id:uid=,gid=.`,
        fix: 'upgrade podman (Debian 12 ships 4.3.1)' });
    }
    if (!info.rootless) {
      findings.push({ level: 'warning', message: 'podman is running as root (rootful). The hardened container is designed for rootless podman; a container escape would land as root on the host.',
        fix: 'run hdc / VS Code as an unprivileged user with its own subuid range' });
    }
    return findings;
  }
  return info.rootless ? [] : [{ level: 'warning', message: 'Docker is running rootful: the daemon runs as root, so anyone who can reach its socket is root on the host.',
    fix: 'prefer rootless Docker or podman (hardenedDevcontainers.runtime = "podman")' }];
}

/**
 * Gathers the probes and evaluates them. Throws an EnvironmentError on the first error.
 * `probesDir` (a folder per engine binary): the engine's answer is kept there and reused.
 */
export async function preflight(engine: EngineClient, options: RunOptions = {}, probesDir?: string): Promise<PreflightReport> {
  const { runtime, path: enginePath } = engine;
  // Checked before asking podman anything: rootless podman fails without a range.
  const { username, uid } = os.userInfo();
  const subIdFindings = runtime === 'podman' && uid !== 0
    ? evaluateSubIds({ user: username, uid, subuid: await readOr('/etc/subuid'), subgid: await readOr('/etc/subgid') })
    : [];
  throwFirstError(subIdFindings);
  let info: EngineInfoItem;
  try {
    const kept = probesDir ? path.join(probesDir, `info-${uid}.json`) : undefined;
    const known = kept ? await readFile(kept, 'utf8').then((t) => JSON.parse(t) as EngineInfoItem, () => undefined) : undefined;
    info = known ?? await run(engine.info(uid), options);
    if (kept && !known) await writeFile(kept, JSON.stringify(info), { mode: 0o600 }).catch(() => undefined);
  } catch (e) {
    if (e instanceof CommandFailedError) {
      throw new EnvironmentError(`${runtime} is installed (${enginePath}) but not usable: ${e.message}`,
        runtime === 'docker' ? 'start the Docker daemon (e.g. systemctl start docker) and check that you may use its socket' : 'run `podman info` to see what is wrong; `podman system migrate` often helps after an upgrade');
    }
    throw e;
  }
  const findings = [...subIdFindings, ...evaluateEngine(runtime, info)];
  throwFirstError(findings);
  return { enginePath, info, findings };
}

function throwFirstError(findings: Finding[]): void {
  const error = findings.find((f) => f.level === 'error');
  if (error) throw new EnvironmentError(error.message, error.fix);
}

const readOr = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
