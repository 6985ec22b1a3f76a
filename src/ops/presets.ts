import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineClient } from '../base/engine';
import { CancelledError, HdcError, InputError } from '../base/errors';
import { writeIfChanged } from '../base/files';
import { run, type ProcessOutput, type RunOptions } from '../base/runner';
import type { RegistryPresetName } from '../config/defaults';
import type { DevcontainerConfigRecord } from '../config/devcontainerConfig';
import { presetsSetting, type FirewallSettings } from '../config/settings';
import type { PresetHosts } from '../firewall/policy';
import {
  configEnv, fixedPreset, goSumdbHost, hostsOfUrls, isFixedPreset, parseAptSources, parseCargoConfig, parseGoProxy, parseNpmrc,
  parsePipConfig, parsePipConfigList, pipDefaultIndex, type CargoRegistries, type PipIndexes, type SourceFile,
} from '../firewall/presets';

/**
 * The presets' hosts, read where each tool reads its own configuration: the workspace's
 * files, devcontainer.json's environment, the host's tool (an argv through the runner, with a
 * short time limit), and for apt the image itself (through the engine, cached per image id).
 * The parsing is pure, in firewall/presets.ts.
 */

/** A host tool that does not answer within this is taken as absent. */
export const PRESET_COMMAND_TIMEOUT_MS = 15_000;

export interface PresetContext {
  workspaceFolder: string;
  /** devcontainer.json: its path (for messages) and its content (containerEnv, remoteEnv, image). */
  configFile: string;
  config: DevcontainerConfigRecord;
  /** The runner and the log (OpsDeps' runner travels in here). */
  options: RunOptions;
  /**
   * apt: 'later' leaves it empty for up's prepare step, which reads the image once it is
   * there; 'read' reads devcontainer.json's image now (through `engine` and `stateDir`).
   */
  apt?: 'later' | 'read';
  engine?: () => Promise<EngineClient>;
  stateDir?: string;
  /** The host's environment and home (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** What the presets that are on contributed, in the settings' order, and what the user should know. */
export interface PresetResolution {
  presets: PresetHosts[];
  notes: string[];
}

interface Resolved {
  preset: PresetHosts;
  notes: string[];
}

/**
 * Every preset that is on, expanded. A preset that cannot name a host is refused with where
 * to configure it; several refusals come as one error.
 */
export async function resolvePresets(fw: Pick<FirewallSettings, 'presets'>, ctx: PresetContext): Promise<PresetResolution> {
  const names = presetsSetting(fw.presets);
  const settled = await Promise.allSettled(names.map((name): Promise<Resolved> => (isFixedPreset(name)
    ? Promise.resolve({ preset: fixedPreset(name), notes: [] })
    : REGISTRY_PRESETS[name](ctx))));
  const failed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  const cancelled = failed.find((e) => e instanceof CancelledError);
  if (cancelled) throw cancelled;
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) {
    const lines = failed.map((e) => (e instanceof HdcError ? e.describe() : String(e)).replace(/\n/g, '\n  '));
    throw new InputError(`${failed.length} firewall presets cannot be used:\n- ${lines.join('\n- ')}`);
  }
  const done = settled.map((s) => (s as PromiseFulfilledResult<Resolved>).value);
  return { presets: done.map((d) => d.preset), notes: done.flatMap((d) => d.notes) };
}

const REGISTRY_PRESETS: Record<RegistryPresetName, (ctx: PresetContext) => Promise<Resolved>> = {
  npm: npmPreset,
  pypi: pypiPreset,
  go: goPreset,
  crates: cratesPreset,
  apt: async (ctx) => {
    if (ctx.config.image === undefined) throw aptNeedsImage(ctx.configFile);
    if (ctx.apt !== 'read') return { preset: { name: 'apt', hosts: [], from: `the apt sources of ${ctx.config.image}, read once the image is there` }, notes: [] };
    if (!ctx.engine || !ctx.stateDir) throw new HdcError('The apt preset needs the engine to read the image (internal: no engine given).');
    const engine = await ctx.engine();
    const image = await run(engine.imageInspect(ctx.config.image), ctx.options);
    if (!image) {
      throw new HdcError(`The apt preset reads the apt sources of ${ctx.config.image}, which is not on this machine.`, { exitCode: 3, fix: 'run hdc up first (it pulls the image)' });
    }
    return { preset: await aptPreset(engine, ctx.config.image, image.id, ctx.stateDir, ctx.options), notes: [] };
  },
};

/** The apt preset needs an image that exists before the container: devcontainer.json's `image`. */
export function aptNeedsImage(configFile: string): InputError {
  return new InputError(`The apt preset reads the apt sources of devcontainer.json's "image", and ${configFile} builds its image from a Dockerfile, which hdc cannot read before the container starts.`,
    'take "apt" off hardenedDevcontainers.firewall.presets and list your apt mirror\'s hosts (the URIs of /etc/apt/sources.list and /etc/apt/sources.list.d/* in your image) in hardenedDevcontainers.firewall.allowedDomains');
}

/**
 * The apt preset: the hosts of the image's apt sources (sources.list, sources.list.d/*.list
 * and *.sources), read by running the image once without a network, and kept in the
 * workspace's state per image id, so an up of the same image does not run it again.
 */
export async function aptPreset(engine: EngineClient, imageRef: string, imageId: string, stateDir: string, options: RunOptions): Promise<PresetHosts> {
  const cacheFile = path.join(stateDir, 'apt-sources.json');
  const cached = await readFile(cacheFile, 'utf8').then((t) => JSON.parse(t) as { imageId?: string; files?: SourceFile[] }, () => undefined);
  let files = cached?.imageId === imageId && Array.isArray(cached.files) ? cached.files : undefined;
  if (!files) {
    try {
      files = await run(engine.aptSourceFiles(imageId), options);
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      throw new HdcError(`The apt preset could not read the apt sources of ${imageRef}: ${(e as Error).message.split('\n')[0]}`,
        { fix: 'the image needs /bin/sh and cat for this; otherwise take "apt" off hardenedDevcontainers.firewall.presets and list the hosts in allowedDomains', cause: e });
    }
    await writeIfChanged(cacheFile, `${JSON.stringify({ imageId, files })}\n`, 0o600);
  }
  const hosts = parseAptSources(files);
  if (hosts.length === 0) {
    throw new InputError(`The apt preset found no apt source with a host in ${imageRef} (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources${files.length ? `: ${files.map((f) => f.name).join(', ')}` : ': none there'}).`,
      'take "apt" off hardenedDevcontainers.firewall.presets (the image does not install from an apt mirror), or list the hosts in allowedDomains');
  }
  return { name: 'apt', hosts, from: `the apt sources of ${imageRef}` };
}

// --- host files and commands -------------------------------------------------------------

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
    throw new InputError(`Cannot read ${file}: ${(e as Error).message}`);
  }
}

type Answer = { ok: true; stdout: string } | { ok: false; why: string };

/**
 * A question to a package tool of the host: an argv, from `/` (no project's own config
 * joins in), with a short limit. A missing tool, a failure or a timeout is "no answer" with
 * its reason; a cancel is a cancel.
 */
async function askHost(command: string, args: string[], ctx: PresetContext): Promise<Answer> {
  try {
    const out = await run({ command, args, cwd: '/', parse: (r: ProcessOutput) => r.stdout }, { ...ctx.options, timeoutMs: PRESET_COMMAND_TIMEOUT_MS });
    return { ok: true, stdout: out };
  } catch (e) {
    if (e instanceof CancelledError) throw e;
    return { ok: false, why: `${command} ${args.join(' ')}: ${(e as Error).message.split('\n')[0]}` };
  }
}

const lastLine = (text: string): string => text.trim().split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
const envOf = (ctx: PresetContext): NodeJS.ProcessEnv => ctx.env ?? process.env;

// --- npm ---------------------------------------------------------------------------------

/**
 * npm: `registry=` and `@scope:registry=` of the workspace's .npmrc; without a `registry=`
 * there, the host's `npm config get registry` (npm's own default when it is unconfigured).
 */
async function npmPreset(ctx: PresetContext): Promise<Resolved> {
  const file = path.join(ctx.workspaceFolder, '.npmrc');
  const text = await readOptional(file);
  const { registry, scoped } = text === undefined ? { registry: undefined, scoped: [] } : parseNpmrc(text, envOf(ctx));
  const urls = [...(registry ? [registry] : []), ...scoped.map((s) => s.url)];
  const from: string[] = urls.length ? [file] : [];
  const notes: string[] = [];
  if (!registry) {
    const answer = await askHost('npm', ['config', 'get', 'registry'], ctx);
    if (answer.ok && lastLine(answer.stdout) !== '' && lastLine(answer.stdout) !== 'undefined') {
      urls.unshift(lastLine(answer.stdout));
      from.push('npm config get registry');
    } else if (urls.length === 0) {
      throw new InputError(`The npm preset found no registry: ${file} has no registry= line, and the host's npm gave none (${answer.ok ? 'empty answer' : answer.why}).`,
        `add "registry=<URL of your registry>" to ${file}, or install npm on the host; or take "npm" off hardenedDevcontainers.firewall.presets and list the registry's hosts in allowedDomains`);
    } else {
      notes.push(`note: the npm preset allows the scoped registries of ${file} only: it has no registry= line and the host's npm gave none (${answer.ok ? 'empty answer' : answer.why}), so unscoped packages have no registry`);
    }
  }
  return { preset: { name: 'npm', hosts: hostsOfUrls(urls, `the npm preset (${from.join(', ')})`), from: from.join(', ') }, notes };
}

// --- pypi --------------------------------------------------------------------------------

/** Where pip's configuration is looked for in the workspace, in this order. */
const PIP_FILES = ['pip.conf', path.join('.pip', 'pip.conf'), 'pip.ini'];

/**
 * pypi: the first place that names an index wins, and the extra indexes found on the way
 * are added: PIP_INDEX_URL / PIP_EXTRA_INDEX_URL of devcontainer.json's remoteEnv or
 * containerEnv; index-url / extra-index-url of the workspace's pip.conf, .pip/pip.conf or
 * pip.ini; the host's pip configuration (`python3 -m pip config list`); the default that the
 * host's pip prints in `python3 -m pip download --help`.
 */
async function pypiPreset(ctx: PresetContext): Promise<Resolved> {
  const env = envOf(ctx);
  const extras: { urls: string[]; from: string }[] = [];
  const notes: string[] = [];
  const reasons: string[] = [];
  let index: { url: string; from: string; isDefault?: boolean } | undefined;
  const take = (found: PipIndexes, from: string): boolean => {
    if (found.extras.length) extras.push({ urls: found.extras, from });
    if (found.index) index = { url: found.index, from };
    return index !== undefined;
  };
  const inEnv = { index: configEnv(ctx.config, 'PIP_INDEX_URL', env, ctx.configFile) || undefined, extras: (configEnv(ctx.config, 'PIP_EXTRA_INDEX_URL', env, ctx.configFile) ?? '').split(/\s+/).filter(Boolean) };
  let found = take(inEnv, `${ctx.configFile} (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL)`);
  for (const rel of PIP_FILES) {
    if (found) break;
    const file = path.join(ctx.workspaceFolder, rel);
    const text = await readOptional(file);
    if (text !== undefined) found = take(parsePipConfig(text), file);
  }
  if (!found) {
    const list = await askHost('python3', ['-m', 'pip', 'config', 'list'], ctx);
    if (list.ok) found = take(parsePipConfigList(list.stdout), 'python3 -m pip config list');
    else reasons.push(list.why);
  }
  if (!found) {
    const help = await askHost('python3', ['-m', 'pip', 'download', '--help'], ctx);
    const url = help.ok ? pipDefaultIndex(help.stdout) : undefined;
    if (url) index = { url, from: "pip's default (python3 -m pip download --help)", isDefault: true };
    else reasons.push(help.ok ? 'python3 -m pip download --help names no default index' : help.why);
  }
  const urls = [...(index ? [index.url] : []), ...extras.flatMap((e) => e.urls)];
  const from = [...(index ? [index.from] : []), ...extras.map((e) => e.from).filter((f) => f !== index?.from)];
  const hosts = hostsOfUrls(urls, `the pypi preset (${from.join(', ')})`);
  if (hosts.length === 0) {
    throw new InputError(`The pypi preset found no package index with a host: none in devcontainer.json's containerEnv/remoteEnv, in the workspace's ${PIP_FILES.join(', ')}, or from the host's pip${reasons.length ? ` (${reasons.join('; ')})` : ''}.`,
      `set PIP_INDEX_URL in "containerEnv" of ${ctx.configFile}, or index-url under [global] in ${path.join(ctx.workspaceFolder, 'pip.conf')}; or take "pypi" off hardenedDevcontainers.firewall.presets and list the index's hosts in allowedDomains`);
  }
  if (!index) notes.push(`note: the pypi preset allows the extra indexes only: no index-url was found (${reasons.join('; ')}), so pip's own index is not allowed`);
  if (index?.isDefault) {
    // pip names the index, not where that index serves its files from; neither its help nor
    // its config names that host, and hdc does not name registries itself.
    notes.push('note: the pypi preset allows pip\'s default index, whose package files may come from another host that pip does not name: `hdc blocked` shows it, `hdc allow NAME` adds it');
  }
  return { preset: { name: 'pypi', hosts, from: from.join(', ') }, notes };
}

// --- go ----------------------------------------------------------------------------------

/**
 * go: GOPROXY (its proxies; `direct` and `off` are not hosts) and GOSUMDB (its host, unless
 * "off"), each from devcontainer.json's remoteEnv/containerEnv, else from the host's
 * `go env GOPROXY GOSUMDB` (Go's own defaults when unconfigured).
 */
async function goPreset(ctx: PresetContext): Promise<Resolved> {
  const env = envOf(ctx);
  const inConfig = `${ctx.configFile} (containerEnv/remoteEnv)`;
  let proxy = configEnv(ctx.config, 'GOPROXY', env, ctx.configFile);
  let sumdb = configEnv(ctx.config, 'GOSUMDB', env, ctx.configFile);
  const from: string[] = proxy !== undefined || sumdb !== undefined ? [inConfig] : [];
  const notes: string[] = [];
  if (proxy === undefined || sumdb === undefined) {
    const answer = await askHost('go', ['env', 'GOPROXY', 'GOSUMDB'], ctx);
    if (answer.ok) {
      const [p = '', s = ''] = answer.stdout.split('\n').map((l) => l.trim());
      proxy ??= p;
      sumdb ??= s;
      from.push('go env GOPROXY GOSUMDB');
    } else if (proxy === undefined) {
      throw new InputError(`The go preset found no module proxy: GOPROXY is not set in containerEnv/remoteEnv of ${ctx.configFile}, and go is not usable on the host (${answer.why}).`,
        `set GOPROXY (and GOSUMDB) in "containerEnv" of ${ctx.configFile}, or install go on the host; or take "go" off hardenedDevcontainers.firewall.presets and list the hosts in allowedDomains`);
    } else {
      notes.push(`note: the go preset allows GOPROXY only: GOSUMDB is not set in ${ctx.configFile} and go is not usable on the host, so the checksum database's host is not allowed (set GOSUMDB, or GOSUMDB=off)`);
    }
  }
  const where = `the go preset (${from.join(', ')})`;
  const hosts = hostsOfUrls(parseGoProxy(proxy), where);
  const sum = goSumdbHost(sumdb ?? 'off');
  if (sum && !hosts.includes(sum)) hosts.push(sum);
  if (hosts.length === 0) notes.push(`note: the go preset allows no host: GOPROXY is ${JSON.stringify(proxy)} and GOSUMDB ${JSON.stringify(sumdb ?? '')}; modules fetched direct come from their own hosts (allowedDomains)`);
  return { preset: { name: 'go', hosts, from: from.join(', ') }, notes };
}

// --- crates ------------------------------------------------------------------------------

/**
 * crates: the registries that cargo is configured with, in the workspace's .cargo/config
 * or .cargo/config.toml, else in the host's $CARGO_HOME (~/.cargo). Nothing configured is a
 * refusal: hdc does not name cargo's default registry.
 */
async function cratesPreset(ctx: PresetContext): Promise<Resolved> {
  const env = envOf(ctx);
  const cargoHome = env.CARGO_HOME || path.join(ctx.home ?? os.homedir(), '.cargo');
  const places = [path.join(ctx.workspaceFolder, '.cargo'), cargoHome];
  const looked: string[] = [];
  for (const dir of places) {
    // As cargo: "config" wins over "config.toml" when both exist.
    for (const name of ['config', 'config.toml']) {
      const file = path.join(dir, name);
      looked.push(file);
      const text = await readOptional(file);
      if (text === undefined) continue;
      const found: CargoRegistries = parseCargoConfig(text, file);
      if (found.urls.length === 0) break;
      const notes = found.replacesDefault ? [] : [`note: the crates preset allows the registries of ${file}; crates-io is not replaced there ([source.crates-io] replace-with), and its hosts are not in the preset: list them in allowedDomains if cargo needs them`];
      return { preset: { name: 'crates', hosts: hostsOfUrls(found.urls, `the crates preset (${file})`), from: file }, notes };
    }
  }
  throw new InputError(`The crates preset found no registry configured for cargo (looked in ${looked.join(', ')}).`,
    'configure your registry or mirror in .cargo/config.toml ([source.crates-io] replace-with, [registries.NAME] index), or take "crates" off hardenedDevcontainers.firewall.presets and list your registry\'s hosts in hardenedDevcontainers.firewall.allowedDomains');
}
