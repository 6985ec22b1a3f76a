import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { InputError } from '../base/errors';
import { eventsNote, probesDir, shimEnvironment, type EventsNote } from '../base/protocol';
import type { RunOptions } from '../base/runner';
import { workspaceStateDir } from '../base/state';
import type { Settings } from '../config/settings';
import { verifyTargets } from '../firewall/firewall';
import { policyFromSettings, type FirewallPolicy, type PresetHosts } from '../firewall/policy';
import type { AgentRequest } from '../firewall/agent';
import type { PrivilegeRequest } from '../base/devcontainerCli';
import { checkPrivilegeSources, checkRunArgs, type HostPathContext, type PrivilegeSource, type Withheld } from '../hardening/privilege';
import { checkSidecarPlan, sidecarWarnings } from '../sidecar/sidecar';
import { engineFor, openWorkspace } from '../workspace/workspace';
import { hostPathContext } from './upHost';
import { aptNeedsImage, resolvePresets } from './presets';

/** What devcontainer.json and the settings decide, checked before the engine is asked anything. */
export interface UpPlanned {
  ws: Awaited<ReturnType<typeof openWorkspace>>;
  settings: Settings;
  paths: HostPathContext;
  /** runArgs as written, checked; `runArgs` is what stays of them. */
  userArgs: ReturnType<typeof checkRunArgs>;
  /** devcontainer.json itself, as a privilege source. */
  fileSource: PrivilegeSource;
  /** NET_ADMIN/NET_RAW asked for and withheld (grows once the merged configuration is read). */
  withheld: Withheld[];
  /** The presets that are on, expanded (apt's hosts come in prepare, once the image is there). */
  presets: PresetHosts[];
  policy?: FirewallPolicy;
  verify?: AgentRequest['verify'];
  /** Notes and warnings for the user, in order; every step may add to them. */
  notes: string[];
}

/**
 * Step "plan": devcontainer.json read and its own privilege fields checked, the firewall's
 * presets expanded (which may ask the host's package tools, through `options`' runner);
 * nothing is created.
 */
export async function planUp(workspaceFolder: string, settings: Settings, stateRoot: string, options: RunOptions = {}): Promise<UpPlanned> {
  const notes: string[] = [];
  const ws = await openWorkspace(workspaceFolder);
  // runArgs and devcontainer.json's own privilege fields are checked here, before anything
  // starts; the merged configuration (features, the image label) once the CLI has read it.
  const paths = hostPathContext(stateRoot);
  const userArgs = checkRunArgs(ws.config.runArgs, ws.file, settings.runtime, settings.noNewPrivileges, paths);
  const fileSource: PrivilegeSource = { kind: 'devcontainer.json', request: ws.config as PrivilegeRequest };
  const withheld = checkPrivilegeSources([fileSource], ws.file, settings.noNewPrivileges, userArgs, paths);
  withheld.unshift(...userArgs.withheld);
  const firewall = settings.firewall.enabled;
  if (!firewall) notes.push('warning: the egress firewall is turned off (hardenedDevcontainers.firewall.enabled = false)');
  checkSidecarPlan(settings.podmanSidecar, settings.runtime, ws.file);
  if (settings.podmanSidecar.enabled) notes.push(...sidecarWarnings(settings.podmanSidecar));
  if (firewall && settings.runtime === 'docker' && ws.config.appPort !== undefined) {
    throw new InputError(`${ws.file}: "appPort" publishes ports, which docker cannot do for a workspace that joins its firewall guard's network.`,
      'use "forwardPorts" (forwarded through the editor), or put -p in runArgs: it is moved to the guard');
  }
  // The presets last: a registry preset may ask a package tool of the host (a short call).
  let presets: PresetHosts[] = [];
  if (firewall) {
    // apt reads the image's sources, so it needs devcontainer.json's image (read in prepare).
    if (settings.firewall.presets.includes('apt') && ws.config.image === undefined) throw aptNeedsImage(ws.file);
    const expanded = await resolvePresets(settings.firewall, { workspaceFolder: ws.workspaceFolder, configFile: ws.file, config: ws.config, options, apt: 'later' });
    presets = expanded.presets;
    notes.push(...expanded.notes);
    for (const p of presets) options.log?.(`preset ${p.name}: ${p.hosts.length ? p.hosts.join(' ') : '(none yet)'} (from ${p.from})`);
  }
  const policy = firewall ? policyFromSettings(settings.firewall, presets) : undefined;
  const verify = policy && verifyTargets(settings.firewall, policy);
  return { ws, settings, paths, userArgs, fileSource, withheld, presets, policy, verify, notes };
}

/** Where this up keeps its files, and how it drives the CLI: fixed once the engine is known. */
export interface UpSetup {
  engine: EngineClient;
  podman: boolean;
  stateDir: string;
  firewallDir: string;
  overrideFile: string;
  /** The CLI builds an image (a Dockerfile, or features): the remote user comes from that image. */
  builds: boolean;
  imageName?: string;
  /** podman with the firewall or the sidecar: the lifecycle commands wait at the gate. */
  gated: boolean;
  /** podman: the shim's note on the CLI's events follower (see events-wait.sh). */
  events?: EventsNote;
  /** The shim's environment (podman), without the per-run gate files. */
  shimEnv: Record<string, string>;
  /** HDC_SHIM_LOG (tests and troubleshooting). */
  shimLog?: string;
  /** HDC_PROBES: the engine's kept answers (podman). */
  probes?: string;
  /** Options for the CLI's own calls: the up timeout and its log rendered. */
  cliRunOptions: RunOptions;
}

/** Step "preflight" (first half): the engine, and the files and environment of this up. */
export async function setUp(planned: UpPlanned, stateRoot: string, options: RunOptions, cliRunOptions: RunOptions, engine?: EngineClient, shimLog?: string): Promise<UpSetup> {
  const { ws, settings, policy } = planned;
  const resolved = engine ?? await engineFor(settings);
  const stateDir = await workspaceStateDir(stateRoot, ws.workspaceFolder);
  const hasFeatures = typeof ws.config.features === 'object' && ws.config.features !== null && Object.keys(ws.config.features).length > 0;
  const podman = settings.runtime === 'podman';
  const firewallDir = path.join(stateDir, 'firewall');
  // The shim's note, per `up`. With the firewall, the OCI hook waits for the follower (there
  // it costs nothing: the start is under way); otherwise the shim's `run` does.
  const events = podman ? eventsNote(stateDir, policy ? firewallDir : undefined) : undefined;
  const probes = podman ? await probesDir(stateRoot, resolved.path) : undefined;
  const shimEnv = podman ? shimEnvironment({ engine: resolved.path, events, shimLog, probes }) : {};
  return {
    engine: resolved, podman, stateDir, firewallDir, events, shimEnv, shimLog, probes,
    overrideFile: path.join(stateDir, 'devcontainer.override.json'),
    builds: ws.config.image === undefined || hasFeatures,
    imageName: ws.config.image,
    gated: podman && (policy !== undefined || settings.podmanSidecar.enabled),
    cliRunOptions: { ...cliRunOptions, ...options, timeoutMs: settings.upTimeoutSeconds * 1000 },
  };
}
