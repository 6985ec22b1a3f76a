import { isIP } from 'node:net';
import { InputError } from '../base/errors';
import { DEFAULT_BLOCKED_TARGET, DEFAULT_PRESETS, PRESET_NAMES, type PresetName } from './defaults';
import { IMAGE_REFERENCE, RUNTIMES, type Runtime } from '../base/engine';


/** Every setting under `hardenedDevcontainers.*`, typed. Defaults match package.json. */
export interface Settings {
  runtime: Runtime;
  podmanPath: string;
  dockerPath: string;
  upTimeoutSeconds: number;
  firewall: FirewallSettings;
  /** Revoke the remote user's sudo after the lifecycle commands, and verify it. */
  revokeSudo: boolean;
  /** Adds --security-opt no-new-privileges: sudo and setuid never work, lifecycle included. */
  noNewPrivileges: boolean;
  limits: LimitSettings;
  podmanSidecar: SidecarSettings;
}

/** The optional Podman sidecar: a nested engine the workspace reaches through a socket. */
export interface SidecarSettings {
  enabled: boolean;
  image: string;
  /** true: --privileged (nested containers fully isolated, but the sidecar can change its own firewall). */
  privileged: boolean;
  /** Absolute path inside the sidecar → file content. */
  extFiles: Record<string, string>;
  resources: { cpu: string; memory: string };
  /** The workspace's mounts and volumes appear in the sidecar at the same paths. */
  parentStorages: boolean;
  /** /var/run/docker.sock in the workspace points at the sidecar's socket. */
  createDockerSockSymlink: boolean;
  /** Named volume for the sidecar's graph root; "" = `<container>-podman-graph`. */
  graphStorage: string;
}

export interface LimitSettings {
  /** "" = engine default; otherwise a number of CPUs, e.g. "2" or "1.5". */
  cpus: string;
  /** "" = engine default; otherwise an amount, e.g. "4g" or "512m". */
  memory: string;
  /** 0 = no limit. */
  pids: number;
}

export interface FirewallSettings {
  enabled: boolean;
  /** Presets switched on (config/defaults.ts); their hosts join allowedDomains in the policy. */
  presets: PresetName[];
  /** The user's own names and "*." wildcards, on top of the presets. */
  allowedDomains: string[];
  /** Names and "*." wildcards refused even when an allowed entry matches them. */
  deniedDomains: string[];
  /** The upstream DNS servers (addresses) the filtering resolver asks; [] = the engine's own. */
  dnsServers: string[];
  allowedCidrs: string[];
  /** "host:port" that must answer after the firewall is up; "" = first allowlisted name, port 443. */
  verifyAllowedTarget: string;
  /** "ip:port" (or "gateway:port") that must be refused. */
  verifyBlockedTarget: string;
  /** docker only: image of the guard container that owns the netns; "" = the workspace image. */
  guardImage: string;
}

/** The keys, as they appear after `hardenedDevcontainers.` in settings.json. */
export type SettingKey = 'runtime' | 'podmanPath' | 'dockerPath' | 'upTimeoutSeconds'
  | 'firewall.enabled' | 'firewall.presets' | 'firewall.allowedDomains' | 'firewall.deniedDomains' | 'firewall.dnsServers' | 'firewall.allowedCidrs'
  | 'firewall.verifyAllowedTarget' | 'firewall.verifyBlockedTarget' | 'firewall.guardImage'
  | 'revokeSudo' | 'noNewPrivileges' | 'limits.cpus' | 'limits.memory' | 'limits.pids'
  | 'podmanSidecar.enabled' | 'podmanSidecar.image' | 'podmanSidecar.privileged' | 'podmanSidecar.extFiles'
  | 'podmanSidecar.resources.cpu' | 'podmanSidecar.resources.memory' | 'podmanSidecar.parentStorages'
  | 'podmanSidecar.createDockerSockSymlink' | 'podmanSidecar.graphStorage';

/** The sidecar image built from Debian packages by scripts/base-image.sh (podman 4.3, crun). */
export const DEFAULT_SIDECAR_IMAGE = 'localhost/hardened-devcontainers/podman:bookworm';

export const SECTION = 'hardenedDevcontainers';

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  runtime: 'podman',
  podmanPath: 'podman',
  dockerPath: 'docker',
  upTimeoutSeconds: 600,
  firewall: Object.freeze({
    enabled: true,
    presets: [...DEFAULT_PRESETS],
    allowedDomains: [],
    deniedDomains: [],
    dnsServers: [],
    allowedCidrs: [],
    verifyAllowedTarget: '',
    verifyBlockedTarget: DEFAULT_BLOCKED_TARGET,
    guardImage: '' }),
  revokeSudo: true,
  noNewPrivileges: false,
  limits: Object.freeze({ cpus: '', memory: '', pids: 4096 }),
  podmanSidecar: Object.freeze({
    enabled: false,
    image: DEFAULT_SIDECAR_IMAGE,
    privileged: false,
    extFiles: Object.freeze({}) as Record<string, string>,
    resources: Object.freeze({ cpu: '', memory: '' }),
    parentStorages: false,
    createDockerSockSymlink: true,
    graphStorage: '' }) }) as Readonly<Settings>;

/** Reads one setting by key; VS Code's configuration and a settings.json file both fit. */
export type SettingSource = (key: SettingKey) => unknown;

/** Builds typed settings from any source, rejecting values of the wrong type or range. */
export function readSettings(source: SettingSource): Settings {
  return {
    runtime: parseRuntime(source('runtime') ?? DEFAULT_SETTINGS.runtime, `${SECTION}.runtime`),
    podmanPath: stringSetting(source, 'podmanPath'),
    dockerPath: stringSetting(source, 'dockerPath'),
    upTimeoutSeconds: numberSetting(source, 'upTimeoutSeconds', 10),
    firewall: {
      enabled: booleanSetting(source, 'firewall.enabled', DEFAULT_SETTINGS.firewall.enabled),
      presets: presetsSetting(source('firewall.presets') ?? DEFAULT_SETTINGS.firewall.presets),
      allowedDomains: stringArraySetting(source, 'firewall.allowedDomains', DEFAULT_SETTINGS.firewall.allowedDomains),
      deniedDomains: stringArraySetting(source, 'firewall.deniedDomains', DEFAULT_SETTINGS.firewall.deniedDomains),
      dnsServers: addressesSetting(source, 'firewall.dnsServers'),
      allowedCidrs: stringArraySetting(source, 'firewall.allowedCidrs', DEFAULT_SETTINGS.firewall.allowedCidrs),
      verifyAllowedTarget: plainString(source, 'firewall.verifyAllowedTarget', DEFAULT_SETTINGS.firewall.verifyAllowedTarget),
      verifyBlockedTarget: plainString(source, 'firewall.verifyBlockedTarget', DEFAULT_SETTINGS.firewall.verifyBlockedTarget),
      guardImage: plainString(source, 'firewall.guardImage', DEFAULT_SETTINGS.firewall.guardImage) },
    revokeSudo: booleanSetting(source, 'revokeSudo', DEFAULT_SETTINGS.revokeSudo),
    noNewPrivileges: booleanSetting(source, 'noNewPrivileges', DEFAULT_SETTINGS.noNewPrivileges),
    limits: {
      cpus: patternSetting(source, 'limits.cpus', CPUS, 'a number of CPUs such as "2" or "1.5", or "" for no limit'),
      memory: patternSetting(source, 'limits.memory', MEMORY, 'an amount such as "4g" or "512m", or "" for no limit'),
      pids: integerSetting(source, 'limits.pids', DEFAULT_SETTINGS.limits.pids) },
    podmanSidecar: readSidecarSettings(source) };
}

function readSidecarSettings(source: SettingSource): SidecarSettings {
  const d = DEFAULT_SETTINGS.podmanSidecar;
  const image = plainString(source, 'podmanSidecar.image', d.image).trim();
  if (!IMAGE_REFERENCE.test(image)) {
    throw new InputError(`${SECTION}.podmanSidecar.image must be an image reference such as "${d.image}", got ${JSON.stringify(image)}.`);
  }
  const graphStorage = plainString(source, 'podmanSidecar.graphStorage', d.graphStorage).trim();
  if (graphStorage !== '' && !VOLUME_NAME.test(graphStorage)) {
    throw new InputError(`${SECTION}.podmanSidecar.graphStorage must be a volume name (letters, digits, _ . -), got ${JSON.stringify(graphStorage)}.`,
      'use a name such as "my-podman-graph", or "" for one named after the container');
  }
  return {
    enabled: booleanSetting(source, 'podmanSidecar.enabled', d.enabled),
    image,
    privileged: booleanSetting(source, 'podmanSidecar.privileged', d.privileged),
    extFiles: extFilesSetting(source('podmanSidecar.extFiles') ?? d.extFiles),
    resources: {
      cpu: patternSetting(source, 'podmanSidecar.resources.cpu', CPUS, 'a number of CPUs such as "2" or "1.5", or "" for no limit'),
      memory: patternSetting(source, 'podmanSidecar.resources.memory', MEMORY, 'an amount such as "4g" or "512m", or "" for no limit') },
    parentStorages: booleanSetting(source, 'podmanSidecar.parentStorages', d.parentStorages),
    createDockerSockSymlink: booleanSetting(source, 'podmanSidecar.createDockerSockSymlink', d.createDockerSockSymlink),
    graphStorage };
}

const CPUS = /^(\d+(\.\d+)?)?$/;
const MEMORY = /^(\d+[bkmg]?)?$/i;
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/**
 * Paths are mounted at exactly that place, so they must be absolute, normal and free of
 * the characters that mount syntax gives a meaning to (comma, colon).
 */
const EXT_FILE_PATH = /^(\/[A-Za-z0-9_.@+-]+)+$/;

function extFilesSetting(value: unknown): Record<string, string> {
  const key = `${SECTION}.podmanSidecar.extFiles`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(`${key} must be an object of absolute path → file content, got ${JSON.stringify(value)}.`,
      'e.g. { "/etc/containers/registries.conf.d/50-mirror.conf": "…" }');
  }
  const out: Record<string, string> = {};
  for (const [p, content] of Object.entries(value)) {
    if (!EXT_FILE_PATH.test(p) || p.split('/').some((seg) => seg === '.' || seg === '..')) {
      throw new InputError(`${key}: ${JSON.stringify(p)} is not a usable path: it must be absolute, without "." or ".." segments, commas or colons.`);
    }
    if (typeof content !== 'string') throw new InputError(`${key}[${JSON.stringify(p)}] must be a string (the file's content), got ${JSON.stringify(content)}.`);
    out[p] = content;
  }
  return out;
}

function patternSetting(source: SettingSource, key: 'limits.cpus' | 'limits.memory' | 'podmanSidecar.resources.cpu' | 'podmanSidecar.resources.memory', pattern: RegExp, what: string): string {
  const value = source(key) ?? '';
  if (typeof value !== 'string' || !pattern.test(value.trim())) {
    throw new InputError(`${SECTION}.${key} must be ${what}, got ${JSON.stringify(value)}.`);
  }
  return value.trim();
}

function integerSetting(source: SettingSource, key: 'limits.pids', fallback: number): number {
  const value = source(key) ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InputError(`${SECTION}.${key} must be a whole number (0 for no limit), got ${JSON.stringify(value)}.`);
  }
  return value;
}

function booleanSetting(source: SettingSource, key: SettingKey, fallback: boolean): boolean {
  const value = source(key) ?? fallback;
  if (typeof value !== 'boolean') throw new InputError(`${SECTION}.${key} must be true or false, got ${JSON.stringify(value)}.`);
  return value;
}

function stringArraySetting(source: SettingSource, key: SettingKey, fallback: readonly string[]): string[] {
  const value = source(key) ?? fallback;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new InputError(`${SECTION}.${key} must be an array of strings, got ${JSON.stringify(value)}.`);
  }
  return [...value];
}

/**
 * Preset names, each once, in the order given. An unknown name is refused here, when the
 * settings are read: before anything is created, with the names that exist.
 */
export function presetsSetting(value: unknown): PresetName[] {
  const key = `${SECTION}.firewall.presets`;
  const valid = `the presets are: ${PRESET_NAMES.join(', ')}`;
  if (!Array.isArray(value)) throw new InputError(`${key} must be an array of preset names, got ${JSON.stringify(value)}.`, valid);
  const unknown = value.filter((v) => !(PRESET_NAMES as readonly unknown[]).includes(v));
  if (unknown.length > 0) {
    throw new InputError(`${key}: ${unknown.map((v) => JSON.stringify(v)).join(', ')} ${unknown.length === 1 ? 'is not a preset' : 'are not presets'}.`,
      `${valid} (or list the hosts themselves in ${SECTION}.firewall.allowedDomains)`);
  }
  return [...new Set(value as PresetName[])];
}

/** IPv4 or IPv6 addresses, each once. */
function addressesSetting(source: SettingSource, key: SettingKey): string[] {
  const value = stringArraySetting(source, key, []);
  const bad = value.filter((v) => isIP(v.trim()) === 0);
  if (bad.length) throw new InputError(`${SECTION}.${key}: ${bad.map((v) => JSON.stringify(v)).join(', ')} ${bad.length === 1 ? 'is not an IP address' : 'are not IP addresses'}.`, 'list the DNS servers\' addresses, e.g. "192.0.2.53"');
  return [...new Set(value.map((v) => v.trim()))];
}

function plainString(source: SettingSource, key: SettingKey, fallback: string): string {
  const value = source(key) ?? fallback;
  if (typeof value !== 'string') throw new InputError(`${SECTION}.${key} must be a string, got ${JSON.stringify(value)}.`);
  return value;
}

export function parseRuntime(value: unknown, where = 'runtime'): Runtime {
  if (typeof value === 'string' && (RUNTIMES as readonly string[]).includes(value)) return value as Runtime;
  throw new InputError(`Unknown container runtime ${JSON.stringify(value)} (from ${where}).`,
    `use one of: ${RUNTIMES.join(', ')}`);
}

export function enginePath(settings: Settings): string {
  return settings.runtime === 'podman' ? settings.podmanPath : settings.dockerPath;
}

function stringSetting(source: SettingSource, key: 'podmanPath' | 'dockerPath'): string {
  const value = source(key) ?? DEFAULT_SETTINGS[key];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InputError(`${SECTION}.${key} must be a non-empty string, got ${JSON.stringify(value)}.`, `set it to an executable name or path, e.g. "${DEFAULT_SETTINGS[key]}"`);
  }
  return value;
}

function numberSetting(source: SettingSource, key: 'upTimeoutSeconds', min: number): number {
  const value = source(key) ?? DEFAULT_SETTINGS[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InputError(`${SECTION}.${key} must be a number of at least ${min}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** A SettingSource over a flat settings.json object ("hardenedDevcontainers.runtime": ...). */
export function fileSource(values: Record<string, unknown>, overrides: Partial<Record<SettingKey, unknown>> = {}): SettingSource {
  return (key) => (key in overrides ? overrides[key] : values[`${SECTION}.${key}`]);
}
