import { parse as parseToml } from 'smol-toml';
import { InputError } from '../base/errors';
import type { DevcontainerConfigRecord } from '../config/devcontainerConfig';
import { FIXED_PRESET_NAMES, type FixedPresetName, type PresetName } from '../config/defaults';
import type { PresetHosts } from './policy';

/**
 * hardenedDevcontainers.firewall.presets, the pure part: the fixed presets' lists, and the
 * parsers that turn a package tool's own configuration into hosts. Nothing here reads a
 * file or starts a process (src/ops/presets.ts does, and hands the text here), so every
 * rule is unit-tested.
 *
 * No package registry's host name is written anywhere in this project: a registry preset
 * allows what the tool is configured to use (the workspace's files, devcontainer.json's
 * environment, or what the host's own tool answers), and refuses when nothing names one.
 */

/** One host of a fixed preset, and why it is there. */
export interface PresetEntry {
  host: string;
  why: string;
}

/**
 * The fixed presets. Wildcards only where the vendor hands out names under one domain of
 * its own that change over time; the rest are single names.
 */
export const FIXED_PRESETS: Readonly<Record<FixedPresetName, readonly PresetEntry[]>> = Object.freeze({
  github: [
    { host: 'github.com', why: 'git over HTTPS and SSH, and the pages agents link to' },
    { host: 'api.github.com', why: 'the REST and GraphQL API (gh, release and tag lookups)' },
    { host: 'codeload.github.com', why: 'source archives (tarballs and zips of a ref)' },
    // Release assets, raw files and LFS objects come from several names under this domain,
    // and GitHub adds new ones over time. Only GitHub serves names under it, and github.com,
    // allowed above, already carries whatever a workspace could upload.
    { host: '*.githubusercontent.com', why: 'release assets, raw files, LFS objects, avatars' },
  ],
  vscode: [
    { host: 'update.code.visualstudio.com', why: 'where the Dev Containers extension looks up the VS Code Server build' },
    { host: 'vscode.download.prss.microsoft.com', why: 'the VS Code Server download itself' },
    { host: 'marketplace.visualstudio.com', why: 'the Marketplace API: extensions installed into the container' },
    // The Marketplace serves each extension from <publisher>.gallerycdn.vsassets.io (and
    // gallery./gallerycdn.): one name per publisher, under Microsoft's own domain.
    { host: '*.vsassets.io', why: 'extension packages and their assets, per publisher' },
  ],
  anthropic: [{ host: 'api.anthropic.com', why: "Anthropic's model API (Claude Code and other agents)" }],
  openai: [{ host: 'api.openai.com', why: "OpenAI's model API (Codex and other agents)" }],
  gemini: [{ host: 'generativelanguage.googleapis.com', why: "Google's Gemini model API (Gemini CLI and other agents)" }],
});

export const isFixedPreset = (name: PresetName): name is FixedPresetName => (FIXED_PRESET_NAMES as readonly string[]).includes(name);

/** A fixed preset's hosts. */
export function fixedPreset(name: FixedPresetName): PresetHosts {
  return { name, hosts: FIXED_PRESETS[name].map((e) => e.host), from: 'built in' };
}

/** "github 4, npm 2": which presets are on and how many hosts each contributed. */
export function presetCounts(presets: readonly PresetHosts[]): string {
  return presets.map((p) => `${p.name} ${p.hosts.length}`).join(', ');
}

/**
 * The host of a URL as package tools write them: with a transport prefix (`sparse+https:`,
 * `registry+`, `git+https:`, `mirror+http:`, `tor+https:`) or none. Lower case, IPv6 without
 * brackets. undefined when the URL has no host (`file:`, `cdrom:`, a path).
 */
export function hostOfUrl(raw: string): string | undefined {
  const text = raw.trim().replace(/^(?:sparse|registry|git|mirror|tor)\+/i, '');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!['http:', 'https:', 'ssh:', 'git:'].includes(url.protocol) && !url.protocol.startsWith('mirror')) return undefined;
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return host || undefined;
}

/** The hosts of URLs, each once; a URL whose host hdc cannot tell is an InputError that names where it is. */
export function hostsOfUrls(urls: readonly string[], where: string): string[] {
  const hosts: string[] = [];
  for (const u of urls) {
    const host = hostOfUrl(u);
    if (host === undefined) {
      if (/^(?:file:|\/|\.)/i.test(u.trim())) continue;
      throw new InputError(`${where}: ${JSON.stringify(u)} is not a URL with a host name.`, 'write the full URL (https://host/path), or list the host in hardenedDevcontainers.firewall.allowedDomains');
    }
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

/**
 * A variable of devcontainer.json's environment: remoteEnv (what the tools the editor starts
 * see) before containerEnv. `${localEnv:NAME}` and `${localEnv:NAME:default}` are filled from
 * `env` as the devcontainers CLI would; any other `${...}` cannot be known before the
 * container exists, and is refused.
 */
export function configEnv(config: Pick<DevcontainerConfigRecord, 'containerEnv'> & { remoteEnv?: unknown }, name: string, env: NodeJS.ProcessEnv, file: string): string | undefined {
  for (const field of ['remoteEnv', 'containerEnv'] as const) {
    const vars = config[field];
    if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) continue;
    const raw = (vars as Record<string, unknown>)[name];
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'string') throw new InputError(`${file}: ${field}.${name} must be a string.`);
    const value = raw.replace(/\$\{localEnv:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (_, v: string, d?: string) => env[v] ?? d ?? '');
    if (value.includes('${')) {
      throw new InputError(`${file}: ${field}.${name} is ${JSON.stringify(raw)}, whose value hdc cannot know before the container exists.`,
        `write the URL itself there, or list its host in hardenedDevcontainers.firewall.allowedDomains and take the preset off`);
    }
    return value.trim();
  }
  return undefined;
}

// --- npm -------------------------------------------------------------------------------

/** The registries of an .npmrc: `registry=` and `@scope:registry=` lines (`${VAR}` filled from `env`). */
export function parseNpmrc(text: string, env: NodeJS.ProcessEnv = {}): { registry?: string; scoped: { scope: string; url: string }[] } {
  let registry: string | undefined;
  const scoped: { scope: string; url: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';') || t.startsWith('[')) continue;
    const eq = t.indexOf('=');
    if (eq < 0) continue;
    const key = t.slice(0, eq).trim();
    const value = unquote(t.slice(eq + 1).trim()).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => env[v] ?? '');
    if (value === '') continue;
    if (key === 'registry') registry = value;
    const m = /^(@[^:]+):registry$/.exec(key);
    if (m) {
      const at = scoped.findIndex((s) => s.scope === m[1]);
      if (at >= 0) scoped.splice(at, 1);
      scoped.push({ scope: m[1], url: value });
    }
  }
  return { registry, scoped };
}

const unquote = (v: string): string => (/^(["']).*\1$/.test(v) ? v.slice(1, -1) : v);

// --- pip -------------------------------------------------------------------------------

/** What a pip configuration names: the index, and the extra indexes. */
export interface PipIndexes {
  index?: string;
  extras: string[];
}

/**
 * index-url and extra-index-url of a pip.conf / pip.ini (INI as configparser reads it:
 * `key = value` or `key: value`, indented lines continue a value). The [install] section
 * wins over [global], as for `pip install`.
 */
export function parsePipConfig(text: string): PipIndexes {
  const sections = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*[#;]/.test(line) || line.trim() === '') continue;
    if (/^\s/.test(line) && section && last !== undefined) {
      section.set(last, `${section.get(last) ?? ''}\n${line.trim()}`);
      continue;
    }
    const head = /^\[([^\]]+)\]\s*$/.exec(line.trim());
    if (head) {
      section = sections.get(head[1].trim().toLowerCase()) ?? new Map();
      sections.set(head[1].trim().toLowerCase(), section);
      last = undefined;
      continue;
    }
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line.trim());
    if (!m || !section) continue;
    last = m[1].toLowerCase().replace(/_/g, '-');
    section.set(last, m[2]);
  }
  const pick = (key: string): string | undefined => {
    for (const name of ['install', 'global', 'download']) {
      const v = sections.get(name)?.get(key);
      if (v !== undefined && v.trim() !== '') return v.trim();
    }
    return undefined;
  };
  return { index: pick('index-url'), extras: splitUrls(pick('extra-index-url') ?? '') };
}

/** The same from `pip config list` (lines `global.index-url='URL'`, `:env:.extra-index-url='A B'`). */
export function parsePipConfigList(stdout: string): PipIndexes {
  let index: string | undefined;
  const extras: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\S*?)\.(index-url|extra-index-url)=(['"])(.*)\3\s*$/.exec(line.trim());
    if (!m) continue;
    if (m[2] === 'index-url') index ??= m[4].trim();
    else extras.push(...splitUrls(m[4].replace(/\\n/g, ' ')));
  }
  return { index: index || undefined, extras };
}

const splitUrls = (text: string): string[] => text.split(/\s+/).map((u) => u.trim()).filter(Boolean);

/**
 * The default index that pip prints in `pip download --help`: "Base URL of the Python
 * Package Index (default URL)". The help text wraps, so spaces are folded first.
 */
export function pipDefaultIndex(help: string): string | undefined {
  const m = /Base URL of the Python Package Index \(default (\S+?)\)/.exec(help.replace(/\s+/g, ' '));
  return m?.[1];
}

// --- cargo -----------------------------------------------------------------------------

/** What a cargo config names: the URLs of its registries and sources, and whether crates-io is replaced. */
export interface CargoRegistries {
  urls: string[];
  /** [source.crates-io] replace-with is set: the default registry is not used. */
  replacesDefault: boolean;
}

/**
 * The registries of a cargo config (`.cargo/config.toml`), TOML read by smol-toml:
 * `[source.NAME] registry` (and `git`, for a git source), `[registries.NAME] index`, the
 * old `[registry] index`. `replace-with` names another source, whose URL is counted there.
 */
export function parseCargoConfig(text: string, file: string): CargoRegistries {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${file} is not valid TOML: ${(e as Error).message.split('\n')[0]}`, 'fix the file (cargo would refuse it too)');
  }
  const table = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});
  const urls: string[] = [];
  const add = (v: unknown): void => {
    if (typeof v === 'string' && v.trim() !== '' && !urls.includes(v.trim())) urls.push(v.trim());
  };
  const sources = table(doc.source);
  for (const src of Object.values(sources)) {
    add(table(src).registry);
    add(table(src).git);
  }
  for (const reg of Object.values(table(doc.registries))) add(table(reg).index);
  add(table(doc.registry).index);
  const replaceWith = table(sources['crates-io'])['replace-with'];
  return { urls, replacesDefault: typeof replaceWith === 'string' && replaceWith !== '' };
}

// --- go --------------------------------------------------------------------------------

/** The proxy URLs of a GOPROXY list (`,` or `|` between entries); `direct` and `off` are not hosts. */
export function parseGoProxy(value: string): string[] {
  return value.split(/[,|]/).map((e) => e.trim()).filter((e) => e !== '' && e !== 'direct' && e !== 'off');
}

/**
 * The checksum database's host from GOSUMDB: `off` → none; `NAME[+KEY] [URL]` → the URL's
 * host when given, else NAME (the go command then asks https://NAME).
 */
export function goSumdbHost(value: string): string | undefined {
  const v = value.trim();
  if (v === '' || v === 'off') return undefined;
  const [name, url] = v.split(/\s+/);
  if (url) return hostOfUrl(url);
  return name.split('+')[0].toLowerCase() || undefined;
}

// --- apt -------------------------------------------------------------------------------

/** One apt source file, as read from an image: its path, and its text. */
export interface SourceFile {
  name: string;
  text: string;
}

/**
 * The hosts of apt's sources, as apt reads them: `*.sources` files in deb822 (`URIs:` of
 * every stanza without `Enabled: no`), everything else (`sources.list`, `*.list`) one
 * `deb [options] URI suite ...` per line. Files in sources.list.d with another suffix are
 * ignored, as apt ignores them. Each host once, in the order found.
 */
export function parseAptSources(files: readonly SourceFile[]): string[] {
  const uris: string[] = [];
  for (const f of files) {
    const base = f.name.split('/').pop() ?? '';
    if (base.endsWith('.sources')) uris.push(...deb822Uris(f.text));
    else if (base.endsWith('.list')) uris.push(...oneLineUris(f.text));
  }
  const hosts: string[] = [];
  for (const u of uris) {
    const h = hostOfUrl(u);
    if (h && !hosts.includes(h)) hosts.push(h);
  }
  return hosts;
}

function oneLineUris(text: string): string[] {
  const uris: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/#.*$/, '').trim();
    const m = /^(deb|deb-src)\s+(.*)$/.exec(line);
    if (!m) continue;
    line = m[2].trim();
    if (line.startsWith('[')) {
      const close = line.indexOf(']');
      if (close < 0) continue;
      line = line.slice(close + 1).trim();
    }
    const uri = line.split(/\s+/)[0];
    if (uri) uris.push(uri);
  }
  return uris;
}

function deb822Uris(text: string): string[] {
  const uris: string[] = [];
  const lines = text.split(/\r?\n/).filter((l) => !l.startsWith('#'));
  let stanza: Map<string, string> = new Map();
  let last: string | undefined;
  const flush = (): void => {
    if (stanza.size > 0 && !/^(no|false|0)$/i.test(stanza.get('enabled')?.trim() ?? '')) uris.push(...splitUrls(stanza.get('uris') ?? ''));
    stanza = new Map();
    last = undefined;
  };
  for (const line of lines) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (/^\s/.test(line) && last) {
      stanza.set(last, `${stanza.get(last)} ${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    last = m[1].toLowerCase();
    stanza.set(last, m[2]);
  }
  flush();
  return uris;
}
