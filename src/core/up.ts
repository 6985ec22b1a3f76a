import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { devcontainerCli, renderCliLogLine, type UpResultItem } from './devcontainerCli';
import type { EngineClient } from './engine';
import { ensureImage, resolveRemoteUser } from './imageUser';
import { shimPath } from './paths';
import { buildOverrideConfig, containerNameOf, type HardenedPlan } from './plan';
import { preflight, type Finding } from './preflight';
import { run, type LogFn, type RunOptions } from './runner';
import type { Settings } from './settings';
import { workspaceStateDir } from './state';
import { engineFor, findWorkspaceContainers, openWorkspace } from './workspace';

export type UpStep = 'plan' | 'preflight' | 'container';

export interface UpRequest {
  workspaceFolder: string;
  settings: Settings;
  /** Root of generated state: extension storage, or XDG state for hdc. */
  stateRoot: string;
  signal?: AbortSignal;
  log: LogFn;
  onStep?: (step: UpStep, detail: string) => void;
  /** Where the shim logs argv (tests and troubleshooting). */
  shimLog?: string;
}

export interface UpResult extends UpResultItem {
  runtime: Settings['runtime'];
  containerName: string;
  plan: HardenedPlan;
  warnings: Finding[];
  overrideFile: string;
}

/** The whole `up`: plan, preflight, container. On failure nothing new is left running. */
export async function up(req: UpRequest): Promise<UpResult> {
  const { settings, log } = req;
  const step = (s: UpStep, detail: string): void => {
    log(`[${s}] ${detail}`);
    req.onStep?.(s, detail);
  };
  const options: RunOptions = { signal: req.signal, log };

  step('plan', `reading devcontainer.json in ${req.workspaceFolder}`);
  const ws = await openWorkspace(req.workspaceFolder);

  step('preflight', `checking ${settings.runtime}`);
  const engine = await engineFor(settings);
  const stateDir = await workspaceStateDir(req.stateRoot, ws.workspaceFolder);
  const imageName = ws.config.image;
  // Independent read-only probes, in parallel: they are most of what we add to a plain up.
  const [report, inspected, existing] = await Promise.all([
    preflight(engine, options),
    imageName ? run(engine.imageInspect(imageName), options) : Promise.resolve(undefined),
    findWorkspaceContainers(engine, ws.workspaceFolder, ws.file, options),
  ]);
  for (const w of report.findings) log(`warning: ${w.message} (${w.fix})`);
  // Pulling only starts once preflight has passed.
  const image = imageName ? await ensureImage(engine, imageName, ws.file, options, inspected ?? null) : undefined;
  const remoteUser = await resolveRemoteUser({
    engine, config: ws.config, image, imageName, cacheDir: path.join(req.stateRoot, 'image-users'), log, options,
  });
  log(`remote user ${remoteUser.user}: uid ${remoteUser.uid}, gid ${remoteUser.gid} (${remoteUser.source})`);

  const plan: HardenedPlan = {
    workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config,
    runtime: settings.runtime, enginePath: report.enginePath, settings, remoteUser,
  };
  const overrideFile = path.join(stateDir, 'devcontainer.override.json');
  await writeFile(overrideFile, JSON.stringify(buildOverrideConfig(plan), null, 2), { mode: 0o600 });

  step('container', `devcontainer up (${settings.runtime})`);
  const podman = settings.runtime === 'podman';
  const call = devcontainerCli.up({
    workspaceFolder: ws.workspaceFolder,
    dockerPath: podman ? shimPath() : report.enginePath,
    overrideConfig: overrideFile,
    noUidUpdate: podman,
    env: podman
      ? { HDC_ENGINE: report.enginePath, HDC_UID: String(remoteUser.uid), HDC_GID: String(remoteUser.gid), ...(req.shimLog ? { HDC_SHIM_LOG: req.shimLog } : {}) }
      : {},
  });
  let result: UpResultItem;
  try {
    result = await run(call, {
      ...options,
      timeoutMs: settings.upTimeoutSeconds * 1000,
      onStderrLine: (line) => {
        const rendered = renderCliLogLine(line);
        if (!rendered) return;
        log(rendered.text);
        if (rendered.step) req.onStep?.('container', rendered.step);
      },
    });
  } catch (e) {
    await removeNewContainers(engine, ws.workspaceFolder, ws.file, existing, log);
    throw e;
  }
  const containerName = containerNameOf(plan) ?? (await run(engine.containerInspect(result.containerId), options))?.name ?? result.containerId.slice(0, 12);
  return {
    ...result, runtime: settings.runtime, containerName,
    plan, warnings: report.findings, overrideFile,
  };
}

/** Fail-closed clean-up: whatever this run created goes; what was there before stays. */
async function removeNewContainers(engine: EngineClient, folder: string, configFile: string, before: string[], log: LogFn): Promise<void> {
  try {
    const now = await findWorkspaceContainers(engine, folder, configFile, { log });
    for (const id of now.filter((c) => !before.includes(c))) {
      log(`removing container ${id.slice(0, 12)} left by the failed up`);
      await run(engine.removeContainer(id), { log });
    }
  } catch (e) {
    log(`clean-up after the failed up did not finish: ${(e as Error).message}`);
  }
}
