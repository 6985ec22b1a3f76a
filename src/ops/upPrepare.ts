import { writeFile } from 'node:fs/promises';
import type { MergedConfigRecord } from '../base/devcontainerCli';
import { cliLookupAnswers, devcontainerCli } from '../base/devcontainerCli';
import type { WorkspaceLayout } from '../base/mounts';
import { shimPath } from '../base/paths';
import { clearStarted, newProtocolFile, shimEnvironment, SHIM_ENV, writeHookMode, type LookupAnswer } from '../base/protocol';
import { run, type RunOptions } from '../base/runner';
import type { EngineClient, FolderContainerItem, ImageItem } from '../base/engine';
import { readWorkspaceConfiguration } from '../config/configuration';
import { firewallBackend, type FirewallBackend } from '../firewall/backend';
import { egressImageDir } from '../firewall/egressImage';
import { verifyTargets, writeFirewallFiles } from '../firewall/firewall';
import { policyFromSettings } from '../firewall/policy';
import { firewallRunArgs } from '../firewall/podmanHook';
import { hardeningRunArgs, limitsEnforceable, LIMITS_NOT_ENFORCED, protectedPaths, readOnlyMounts } from '../hardening/hardening';
import { checkImageAnnotations, mountFields, readOnlyOutside, writePrivilegePolicy } from '../hardening/privilege';
import { sidecarNames, workspaceSidecarConfig, type SidecarNames } from '../sidecar/sidecar';
import { ensureImage } from '../workspace/imageUser';
import { containerNameOf, type HardenedPlan } from '../workspace/plan';
import { preflight, type PreflightReport } from '../workspace/preflight';
import { pickRemoteUser } from '../workspace/remoteUser';
import { workspaceLabels } from '../base/labels';
import { buildOverrideConfig } from './override';
import { checkMergedPrivilege, type UpHost } from './upHost';
import type { UpPlanned, UpSetup } from './upPlan';
import { checkedRemoteUser, userCheckCache, type UserCheck } from './upUser';
import { aptNeedsImage, aptPreset } from './presets';

/** Everything decided and written before any container: the override the CLI reads, and the firewall's files. */
export interface Prepared {
  report: PreflightReport;
  /** The workspace's containers before this up (a failed up removes only new ones). */
  existing: string[];
  /** Those of them that were not running: a failed up stops them again if it started them. */
  stoppedBefore: string[];
  plan: HardenedPlan;
  merged: MergedConfigRecord;
  layout: WorkspaceLayout;
  /** Host paths that go in read-only (.devcontainer/, .vscode/, .git/hooks/). */
  readOnly: string[];
  sidecar?: SidecarNames;
  backend?: FirewallBackend;
  /** The arguments of the CLI's `up` and `run-user-commands` (docker, and podman's plain up). */
  cliArgs: { workspaceFolder: string; dockerPath: string; overrideConfig: string; env: Record<string, string> };
  userCheck: UserCheck;
  /** podman: the CLI's look-ups before its container starts, answered by the shim from hdc's own. */
  lookups: LookupAnswer[];
  /** podman: every container of the workspace folder before this up (any config file). */
  folderContainers: FolderContainerItem[];
}

/**
 * Step "prepare": probes, image, the CLI's merged configuration, privilege from every
 * source, the remote user, the layout, the hook's policy, the firewall files, the override.
 */
export async function prepare(planned: UpPlanned, setup: UpSetup, stateRoot: string, host: UpHost, options: RunOptions, onStep: (step: 'firewall', detail: string) => void): Promise<Prepared> {
  const { ws, settings, notes, withheld } = planned;
  const { engine, podman, imageName, builds, firewallDir, overrideFile, stateDir } = setup;
  const log = options.log ?? (() => undefined);
  // Independent read-only probes, in parallel: they are most of what we add to a plain up.
  // podman: the folder's containers, so that the CLI's own look-ups can be answered from it.
  const [report, inspected, inFolder] = await Promise.all([
    preflight(engine, options, setup.probes),
    imageName ? run(engine.imageInspect(imageName), options) : Promise.resolve(undefined),
    podman ? run(engine.folderContainers(ws.workspaceFolder), options)
      : run(engine.findContainerStates(workspaceLabels(ws.workspaceFolder, ws.file)), options).then((l) => l.map((c) => ({ ...c, configFile: ws.file }))),
  ]);
  const before = inFolder.filter((c) => c.configFile === ws.file);
  const existing = before.map((c) => c.id);
  const stoppedBefore = before.filter((c) => !c.running).map((c) => c.id);
  for (const w of report.findings) log(`warning: ${w.message} (${w.fix})`);
  if (!limitsEnforceable(settings.runtime, report.info?.rootless ?? false)) notes.push(`warning: resource limits are ${LIMITS_NOT_ENFORCED}`);
  // Pulling only starts once preflight has passed.
  const image = imageName ? await ensureImage(engine, imageName, ws.file, options, inspected ?? null) : undefined;
  if (image && podman) checkImageAnnotations(image.annotations, imageName ?? image.id, ws.file);
  if (planned.policy && planned.presets.some((p) => p.name === 'apt')) await expandApt(planned, engine, image, imageName, builds, stateDir, options);
  const { policy } = planned;
  // podman: the CLI's look-ups before its container, answered from hdc's own (the shim).
  const answers = podman ? cliLookupAnswers({ workspaceFolder: ws.workspaceFolder, configFile: ws.file, folderContainers: inFolder, imageName, image }) : [];
  const lookups = podman ? { dir: newProtocolFile(stateDir, 'answers'), answers } : undefined;
  // The CLI's own merge of devcontainer.json, the features' metadata and the image label
  // (cached for a plain image config), and where it mounts the workspace.
  const { layout, merged, features } = await readWorkspaceConfiguration({
    workspaceFolder: ws.workspaceFolder, configFile: ws.file, stateDir, imageId: image?.id, cacheable: !builds,
    call: devcontainerCli.readConfiguration({ workspaceFolder: ws.workspaceFolder, dockerPath: podman ? shimPath() : report.enginePath, env: { ...setup.shimEnv, ...(lookups ? { [SHIM_ENV.answers]: lookups.dir } : {}) } }),
    lookups, options,
  });
  const checked = checkMergedPrivilege({
    file: ws.file, fileSource: planned.fileSource, features, image, imageName, merged, mountSource: layout.source,
    runtime: settings.runtime, noNewPrivileges: settings.noNewPrivileges, paths: planned.paths,
  });
  withheld.push(...checked.filter((w) => !withheld.some((x) => x.cap === w.cap && x.where === w.where)));
  if (merged.init && podman) await host.requireCatatonit(ws.file);
  for (const w of withheld) notes.push(`note: ${w.cap} (${w.where}) was withheld: the workspace never holds it; hdc's egress firewall is in force instead`);

  // The remote user exactly as the CLI picks it, with its ids from the real image.
  const userCheck: UserCheck = { engine, configFile: ws.file, cacheDir: userCheckCache(stateRoot), revokeSudo: settings.revokeSudo, merged, options };
  const remoteUserName = image ? pickRemoteUser(merged, image.user) : merged.remoteUser || merged.containerUser || undefined;
  const remoteUser = image && !builds ? await checkedRemoteUser(userCheck, image, imageName ?? image.id) : undefined;

  const plan: HardenedPlan = {
    workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config,
    runtime: settings.runtime, enginePath: report.enginePath, settings, remoteUserName, remoteUser, workspaceMountSource: layout.source,
  };
  for (const src of readOnlyOutside(ws.config.mounts, layout.source).changed) {
    notes.push(`note: the mount of ${src} (outside the workspace) goes in read-only: the workspace must not change what runs on the host`);
  }
  const sidecar = settings.podmanSidecar.enabled ? sidecarNames(containerNameOf(plan), settings.podmanSidecar) : undefined;
  const sidecarShare = sidecar ? await workspaceSidecarConfig(sidecar, stateDir) : undefined;
  const cliArgs = {
    workspaceFolder: ws.workspaceFolder,
    dockerPath: podman ? shimPath() : report.enginePath,
    overrideConfig: overrideFile,
    env: podman ? shimEnvironment({ engine: engine.path, events: setup.events, shimLog: setup.shimLog, probes: setup.probes, ids: remoteUser }) : {},
  };
  // .devcontainer/, .vscode/ and .git/hooks/ go in read-only, at the paths where the CLI
  // mounts the workspace.
  const readOnly = protectedPaths(ws.workspaceFolder, ws.file, layout.source);
  let backend: FirewallBackend | undefined;
  let hardening: string[] = [];
  let userRunArgs = planned.userArgs.runArgs;
  if (podman) {
    // The hook reads every start's OCI spec back (and loads the firewall when it is on).
    await host.installOciHook();
    // hdc's own read-only mounts from its state (the sidecar's client config) are allowed by name.
    const ownFiles = (sidecarShare?.mounts ?? []).map((m) => mountFields(m)).filter((f) => f.type === 'bind' && f.source).map((f) => f.source as string);
    await writePrivilegePolicy(firewallDir, { noNewPrivileges: settings.noNewPrivileges, userNamespace: process.getuid?.() !== 0, protectedDirs: planned.paths.protectedDirs ?? [], allowedFiles: ownFiles, workspace: layout.source, storeRoots: await host.podmanStoreRoots() });
    if (!policy) {
      await writeHookMode(firewallDir, 'check');
      hardening = firewallRunArgs(firewallDir);
    }
  }
  if (policy) {
    onStep('firewall', 'preparing the rules that load before the container starts');
    await writeFirewallFiles(firewallDir, policy);
    // A start before this line (something outside hdc restarting a running container while
    // this up prepared) loaded the previous files: its `started` must not count as this
    // policy's load (the agent skips the load after a start seen through the hook). The CLI
    // is held at the pregate until prepare ends, so its own start comes after this.
    await clearStarted(firewallDir);
    backend = firewallBackend(engine, {
      firewallDir, workspaceFolder: ws.workspaceFolder, configFile: ws.file, userRunArgs: planned.userArgs.runArgs,
      guardImageSetting: settings.firewall.guardImage, progress: (what) => onStep('firewall', what), egressDir: egressImageDir(stateRoot),
      containerName: containerNameOf(plan), dnsServers: settings.firewall.dnsServers, verifyInResolver: host.verifyInResolver,
    });
  }
  try {
    if (backend) ({ hardening, userRunArgs } = await backend.prepare(options));
    await writeFile(overrideFile, JSON.stringify(buildOverrideConfig(plan, [...hardening, ...hardeningRunArgs(settings)], userRunArgs, readOnlyMounts(readOnly, layout), sidecarShare), null, 2), { mode: 0o600 });
  } catch (e) {
    // No container exists yet; what the backend made (docker's guard) goes, even after a cancel.
    await backend?.discard({ log: options.log, runner: options.runner });
    throw e;
  }
  return { report, existing, stoppedBefore, plan, merged, layout, readOnly, sidecar, backend, cliArgs, userCheck, lookups: answers, folderContainers: podman ? inFolder : [] };
}

/**
 * The apt preset, now that the image is there: the hosts of its apt sources (read once per
 * image id, then from the workspace's state) join the policy, and the verification targets
 * are taken again from it. With features the CLI builds on top of the image: the sources
 * read are the image's own, and a feature's additions are not in them.
 */
async function expandApt(planned: UpPlanned, engine: EngineClient, image: ImageItem | undefined, imageName: string | undefined, builds: boolean, stateDir: string, options: RunOptions): Promise<void> {
  if (!image || !imageName) throw aptNeedsImage(planned.ws.file);
  const apt = await aptPreset(engine, imageName, image.id, stateDir, options);
  options.log?.(`preset apt: ${apt.hosts.join(' ')} (from ${apt.from})`);
  if (builds) planned.notes.push(`note: the apt preset allows the hosts of ${imageName}'s apt sources; sources that the features add in the built image are not among them (list their hosts in allowedDomains)`);
  planned.presets = planned.presets.map((p) => (p.name === 'apt' ? apt : p));
  planned.policy = policyFromSettings(planned.settings.firewall, planned.presets);
  planned.verify = verifyTargets(planned.settings.firewall, planned.policy);
}
