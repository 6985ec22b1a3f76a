import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { APT_SOURCES_SCRIPT, EngineClient } from '../../src/base/engine';
import { CancelledError, HdcError, InputError } from '../../src/base/errors';
import type { CliCall, ProcessOutput, RunOptions, Runner } from '../../src/base/runner';
import { DEFAULT_PRESETS, FIXED_PRESET_NAMES, PRESET_NAMES } from '../../src/config/defaults';
import type { DevcontainerConfigRecord } from '../../src/config/devcontainerConfig';
import { DEFAULT_SETTINGS, fileSource, readSettings } from '../../src/config/settings';
import { compileRules, nameAllowed } from '../../src/firewall/names';
import { policyFromSettings, validateDomain } from '../../src/firewall/policy';
import {
  configEnv, FIXED_PRESETS, fixedPreset, goSumdbHost, hostOfUrl, parseAptSources, parseCargoConfig, parseGoProxy, parseNpmrc,
  parsePipConfig, parsePipConfigList, pipDefaultIndex, presetCounts,
} from '../../src/firewall/presets';
import { changeAllowlist } from '../../src/ops/allowlist';
import { aptPreset, resolvePresets, type PresetContext } from '../../src/ops/presets';
import { workspaceStateDir } from '../../src/base/state';
import { FakeEngine } from '../support/fakeRunner';

const manifest = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
const props = manifest.contributes.configuration.properties;

/**
 * A runner that answers argv by table, and records every call. An argv it has no answer for
 * fails as a missing program does (the real runner's ENOENT error).
 */
function tableRunner(answers: Record<string, Partial<ProcessOutput> | Error> = {}): { runner: Runner; calls: string[][]; options: RunOptions[]; cwds: (string | undefined)[] } {
  const calls: string[][] = [];
  const options: RunOptions[] = [];
  const cwds: (string | undefined)[] = [];
  const runner: Runner = async <T>(call: CliCall<T>, opts: RunOptions): Promise<T> => {
    const argv = [call.command, ...call.args];
    calls.push(argv);
    options.push(opts);
    cwds.push(call.cwd);
    const answer = answers[argv.join(' ')];
    if (answer instanceof Error) throw answer;
    if (!answer) throw new HdcError(`cannot run ${call.command}: not found`, { exitCode: 3 });
    return call.parse({ stdout: '', stderr: '', exitCode: 0, ...answer });
  };
  return { runner, calls, options, cwds };
}

describe('firewall presets', () => {
  let dir: string;
  let ws: string;
  let home: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-presets-'));
    ws = path.join(dir, 'ws');
    home = path.join(dir, 'home');
    mkdirSync(ws, { recursive: true });
    mkdirSync(home, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const context = (runner: Runner, config: DevcontainerConfigRecord = { image: 'localhost/app:1' }, extra: Partial<PresetContext> = {}): PresetContext => ({
    workspaceFolder: ws, configFile: path.join(ws, '.devcontainer', 'devcontainer.json'), config, options: { runner }, env: {}, home, ...extra,
  });
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
    writeFileSync(path.join(ws, rel), text);
  };

  describe('names and the fixed lists', () => {
    it('has a list for every fixed preset, and every host in it validates (with a reason)', () => {
      assert.deepEqual(Object.keys(FIXED_PRESETS).sort(), [...FIXED_PRESET_NAMES].sort());
      for (const name of FIXED_PRESET_NAMES) {
        assert.ok(FIXED_PRESETS[name].length > 0, name);
        for (const { host, why } of FIXED_PRESETS[name]) {
          assert.equal(validateDomain(host), host, `${name}: ${host}`);
          assert.ok(why.length > 10, `${name}: ${host} says why`);
        }
      }
      assert.deepEqual([...PRESET_NAMES].sort(), ['anthropic', 'apt', 'crates', 'gemini', 'github', 'go', 'npm', 'openai', 'pypi', 'vscode']);
    });

    it('refuses an unknown preset when the settings are read, naming the valid ones', () => {
      assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.firewall.presets': ['github', 'nope'] })), (e: InputError) =>
        e instanceof InputError && /firewall\.presets: "nope" is not a preset/.test(e.message) && PRESET_NAMES.every((n) => e.fix?.includes(n)));
      assert.throws(() => readSettings(fileSource({ 'hardenedDevcontainers.firewall.presets': 'github' })), /must be an array of preset names/);
      assert.deepEqual(readSettings(fileSource({ 'hardenedDevcontainers.firewall.presets': ['npm', 'github', 'npm'] })).firewall.presets, ['npm', 'github']);
    });

    it('refuses an unknown preset in resolvePresets too, before any process runs', async () => {
      const { runner, calls } = tableRunner();
      await assert.rejects(resolvePresets({ presets: ['bogus' as never] }, context(runner)), (e: InputError) => e instanceof InputError && /"bogus" is not a preset/.test(e.message));
      assert.deepEqual(calls, []);
    });

    it('package.json: the presets setting, its enum and default, and allowedDomains empty, as in the code', () => {
      const presets = props['hardenedDevcontainers.firewall.presets'];
      assert.deepEqual(presets.default, [...DEFAULT_PRESETS]);
      assert.deepEqual(presets.default, DEFAULT_SETTINGS.firewall.presets);
      assert.deepEqual(presets.items.enum, [...PRESET_NAMES]);
      assert.equal(presets.items.enumDescriptions.length, PRESET_NAMES.length);
      assert.equal(presets.scope, 'resource');
      for (const name of PRESET_NAMES) assert.ok(presets.markdownDescription.includes(`\`${name}\``), `the description covers ${name}`);
      assert.deepEqual(props['hardenedDevcontainers.firewall.allowedDomains'].default, []);
      assert.deepEqual(DEFAULT_SETTINGS.firewall.allowedDomains, []);
      assert.match(props['hardenedDevcontainers.firewall.allowedDomains'].markdownDescription, /presets/);
    });

    it('the default presets make up the old default allowlist (every name it held is still allowed)', () => {
      const policy = policyFromSettings(DEFAULT_SETTINGS.firewall, DEFAULT_PRESETS.map((n) => fixedPreset(n as typeof FIXED_PRESET_NAMES[number])));
      const allow = compileRules(policy.domains);
      for (const name of ['github.com', 'api.github.com', 'codeload.github.com', 'objects.githubusercontent.com', 'raw.githubusercontent.com',
        'update.code.visualstudio.com', 'vscode.download.prss.microsoft.com', 'marketplace.visualstudio.com', 'gallery.vsassets.io', 'gallerycdn.vsassets.io',
        'api.anthropic.com', 'api.openai.com', 'generativelanguage.googleapis.com']) {
        assert.ok(nameAllowed(allow, compileRules([]), name), name);
      }
    });
  });

  describe('expansion into the policy', () => {
    it('merges the presets with allowedDomains, each name once; deniedDomains still wins', () => {
      const policy = policyFromSettings({ allowedDomains: ['GitHub.com', 'extra.example.com'], allowedCidrs: [], deniedDomains: ['raw.githubusercontent.com'] },
        [fixedPreset('github'), { name: 'npm', hosts: ['registry.example.org', '192.0.2.10'], from: '/ws/.npmrc' }]);
      assert.deepEqual(policy.domains, ['*.githubusercontent.com', 'api.github.com', 'codeload.github.com', 'extra.example.com', 'github.com', 'registry.example.org']);
      assert.deepEqual(policy.cidrs4, ['192.0.2.10/32'], 'a registry at an address is allowed as that address');
      const allow = compileRules(policy.domains);
      const deny = compileRules(policy.denied);
      assert.equal(nameAllowed(allow, deny, 'raw.githubusercontent.com'), false);
      assert.equal(nameAllowed(allow, deny, 'objects.githubusercontent.com'), true);
      assert.equal(nameAllowed(allow, deny, 'registry.example.org'), true);
    });

    it('a host a preset read that cannot be allowed is refused, naming the preset and where it came from', () => {
      assert.throws(() => policyFromSettings({ allowedDomains: [], allowedCidrs: [], deniedDomains: [] }, [{ name: 'npm', hosts: ['bad_host'], from: '/ws/.npmrc' }]),
        (e: InputError) => e instanceof InputError && /presets: "npm" \(\/ws\/\.npmrc\)/.test(e.message));
    });

    it('says which presets are on and how many hosts each gave', () => {
      assert.equal(presetCounts([fixedPreset('github'), fixedPreset('openai')]), 'github 4, openai 1');
    });
  });

  describe('parsers', () => {
    it('hostOfUrl: transport prefixes, IPv6, no host', () => {
      assert.equal(hostOfUrl('sparse+https://Cargo.Example.net/index/'), 'cargo.example.net');
      assert.equal(hostOfUrl('registry+https://cargo.example.net/git/index'), 'cargo.example.net');
      assert.equal(hostOfUrl('mirror+http://mirror.example.org/list.txt'), 'mirror.example.org');
      assert.equal(hostOfUrl('http://[2001:db8::1]:8080/simple'), '2001:db8::1');
      assert.equal(hostOfUrl('https://user:secret@index.example.org/simple'), 'index.example.org');
      assert.equal(hostOfUrl('file:///opt/wheels'), undefined);
      assert.equal(hostOfUrl('cdrom:[Debian]/'), undefined);
      assert.equal(hostOfUrl('not a url'), undefined);
    });

    it('.npmrc: registry and @scope:registry, comments, quotes, ${VAR}; auth lines are not registries', () => {
      const npmrc = [
        '# team registry', 'registry = "https://npm.example.org/"', '; old', '@acme:registry=https://acme.example.com/npm/',
        '@tools:registry=${TOOLS_REGISTRY}', '//npm.example.org/:_authToken=${TOKEN}', 'save-exact=true', '@acme:registry=https://pkgs.example.com/acme/',
      ].join('\n');
      assert.deepEqual(parseNpmrc(npmrc, { TOOLS_REGISTRY: 'https://tools.example.net/' }), {
        registry: 'https://npm.example.org/',
        scoped: [{ scope: '@tools', url: 'https://tools.example.net/' }, { scope: '@acme', url: 'https://pkgs.example.com/acme/' }],
      });
      assert.deepEqual(parseNpmrc('save-exact=true\n'), { registry: undefined, scoped: [] });
    });

    it('pip.conf: index-url and extra-index-url, continued lines, [install] over [global]; `pip config list`; pip\'s help', () => {
      const conf = '[global]\nindex-url = https://global.example.org/simple\nextra-index-url =\n    https://extra1.example.org/simple\n    https://extra2.example.net/simple\n# comment\n[install]\nindex_url: https://install.example.com/simple\n';
      assert.deepEqual(parsePipConfig(conf), { index: 'https://install.example.com/simple', extras: ['https://extra1.example.org/simple', 'https://extra2.example.net/simple'] });
      assert.deepEqual(parsePipConfig('[freeze]\ntimeout = 10\n'), { index: undefined, extras: [] });
      assert.deepEqual(parsePipConfigList(":env:.default-timeout='180'\nglobal.index-url='https://index.example.org/simple'\nglobal.extra-index-url='file:///opt/a https://more.example.net/simple'\n"),
        { index: 'https://index.example.org/simple', extras: ['file:///opt/a', 'https://more.example.net/simple'] });
      const help = 'Package Index Options:\n  -i, --index-url <url>       Base URL of the Python Package Index (default\n                              https://index.example.org/simple). This should point to a\n';
      assert.equal(pipDefaultIndex(help), 'https://index.example.org/simple');
      assert.equal(pipDefaultIndex('Usage: pip download'), undefined);
    });

    it('cargo config (TOML): source replacement, registries, the old [registry] index', () => {
      const toml = [
        '[source.crates-io]', 'replace-with = "mirror"', '', '[source.mirror]', 'registry = "sparse+https://mirror.example.org/index/"', '',
        '[source.vendored]', 'directory = "vendor"', '', '[registries.private]', 'index = "https://cargo.example.net/git/index"', '',
        '[registry]', 'default = "private"', '', '[net]', 'git-fetch-with-cli = true',
      ].join('\n');
      assert.deepEqual(parseCargoConfig(toml, 'config.toml'), { urls: ['sparse+https://mirror.example.org/index/', 'https://cargo.example.net/git/index'], replacesDefault: true });
      assert.deepEqual(parseCargoConfig('[build]\njobs = 4\n', 'config.toml'), { urls: [], replacesDefault: false });
      assert.throws(() => parseCargoConfig('[source.mirror\nregistry = 1', '/ws/.cargo/config.toml'), (e: InputError) => e instanceof InputError && /\/ws\/\.cargo\/config\.toml is not valid TOML/.test(e.message));
    });

    it('GOPROXY and GOSUMDB: proxies without direct/off; the checksum database\'s host', () => {
      assert.deepEqual(parseGoProxy('https://proxy.example.org,https://fallback.example.net|direct'), ['https://proxy.example.org', 'https://fallback.example.net']);
      assert.deepEqual(parseGoProxy('off'), []);
      assert.equal(goSumdbHost('sum.example.org'), 'sum.example.org');
      assert.equal(goSumdbHost('sum.example.org+1a2b3c4d+AbCdEf0123456789'), 'sum.example.org');
      assert.equal(goSumdbHost('sum.example.org+key https://sumproxy.example.net/sumdb'), 'sumproxy.example.net');
      assert.equal(goSumdbHost('off'), undefined);
    });

    it('apt: one-line sources (options, deb-src, comments) and deb822 (URIs over lines, Enabled: no); other suffixes ignored', () => {
      const list = [
        '# deb http://commented.example.org/debian bookworm main',
        'deb http://deb.example.net/debian bookworm main contrib',
        'deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://mirror.example.org/debian bookworm main # inline',
        'deb-src [ trusted=yes ] http://src.example.com/debian bookworm main',
        'deb cdrom:[Debian GNU/Linux]/ bookworm main',
        'deb http://deb.example.net/debian-security bookworm-security main',
      ].join('\n');
      const sources = [
        '# a comment', 'Types: deb deb-src', 'URIs: https://one.example.org/ubuntu', '  https://two.example.org/ubuntu', 'Suites: noble', 'Components: main', '',
        'Types: deb', 'URIs: http://off.example.com/', 'Enabled: no', '',
        'Types: deb', 'URIs: mirror+http://list.example.net/mirrors.txt', 'Suites: noble',
      ].join('\n');
      assert.deepEqual(parseAptSources([
        { name: '/etc/apt/sources.list', text: list },
        { name: '/etc/apt/sources.list.d/vendor.sources', text: sources },
        { name: '/etc/apt/sources.list.d/old.list.save', text: 'deb http://saved.example.com/ x main\n' },
        { name: '/etc/apt/sources.list.d/README', text: 'deb http://readme.example.com/ x main\n' },
      ]), ['deb.example.net', 'mirror.example.org', 'src.example.com', 'one.example.org', 'two.example.org', 'list.example.net']);
      assert.deepEqual(parseAptSources([]), []);
    });

    it('devcontainer.json variables: remoteEnv before containerEnv, ${localEnv:...} filled, other ${...} refused', () => {
      const cfg = { containerEnv: { A: 'from-container', B: '${localEnv:HOST_B:fallback}' }, remoteEnv: { A: 'from-remote', C: '${containerEnv:X}' } };
      assert.equal(configEnv(cfg, 'A', {}, 'dc.json'), 'from-remote');
      assert.equal(configEnv(cfg, 'B', { HOST_B: 'https://b.example.org' }, 'dc.json'), 'https://b.example.org');
      assert.equal(configEnv(cfg, 'B', {}, 'dc.json'), 'fallback');
      assert.equal(configEnv(cfg, 'D', {}, 'dc.json'), undefined);
      assert.throws(() => configEnv(cfg, 'C', {}, 'dc.json'), /remoteEnv\.C is "\$\{containerEnv:X\}"/);
    });
  });

  describe('resolving the registry presets (host files and commands, through a fake runner)', () => {
    it('npm: the workspace .npmrc alone, with no process when it names the registry', async () => {
      write('.npmrc', 'registry=https://npm.example.org/\n@acme:registry=https://acme.example.com/\n');
      const { runner, calls } = tableRunner();
      const { presets } = await resolvePresets({ presets: ['npm'] }, context(runner));
      assert.deepEqual(presets, [{ name: 'npm', hosts: ['npm.example.org', 'acme.example.com'], from: path.join(ws, '.npmrc') }]);
      assert.deepEqual(calls, []);
    });

    it('npm: else the host\'s `npm config get registry` (argv, from /, a short limit); refused when npm is missing and nothing is configured', async () => {
      const { runner, calls, options, cwds } = tableRunner({ 'npm config get registry': { stdout: 'https://npm.example.net/\n' } });
      const { presets } = await resolvePresets({ presets: ['npm'] }, context(runner));
      assert.deepEqual(presets[0].hosts, ['npm.example.net']);
      assert.deepEqual([calls, cwds], [[['npm', 'config', 'get', 'registry']], ['/']]);
      assert.ok((options[0].timeoutMs ?? Infinity) <= 30_000);
      await assert.rejects(resolvePresets({ presets: ['npm'] }, context(tableRunner().runner)), (e: InputError) =>
        e instanceof InputError && /npm preset found no registry/.test(e.message) && /\.npmrc/.test(e.fix ?? '') && /allowedDomains/.test(e.fix ?? ''));
    });

    it('pypi: PIP_INDEX_URL / PIP_EXTRA_INDEX_URL of devcontainer.json win, with no process', async () => {
      write('pip.conf', '[global]\nindex-url = https://ignored.example.com/simple\n');
      const { runner, calls } = tableRunner();
      const config = { image: 'x', containerEnv: { PIP_INDEX_URL: 'https://index.example.org/simple', PIP_EXTRA_INDEX_URL: 'https://extra.example.net/simple' } };
      const { presets } = await resolvePresets({ presets: ['pypi'] }, context(runner, config));
      assert.deepEqual(presets[0].hosts, ['index.example.org', 'extra.example.net']);
      assert.deepEqual(calls, []);
    });

    it('pypi: the workspace pip.conf, then the host\'s pip config, then pip\'s default (with a note); refused when nothing names an index', async () => {
      write('.pip/pip.conf', '[global]\nindex-url = https://conf.example.org/simple\n');
      assert.deepEqual((await resolvePresets({ presets: ['pypi'] }, context(tableRunner().runner))).presets[0].hosts, ['conf.example.org']);
      rmSync(path.join(ws, '.pip'), { recursive: true });

      const fromHost = tableRunner({ 'python3 -m pip config list': { stdout: "global.index-url='https://host.example.org/simple'\n" } });
      assert.deepEqual((await resolvePresets({ presets: ['pypi'] }, context(fromHost.runner))).presets[0].hosts, ['host.example.org']);
      assert.deepEqual(fromHost.calls, [['python3', '-m', 'pip', 'config', 'list']]);

      const byDefault = tableRunner({
        'python3 -m pip config list': { stdout: "global.extra-index-url='file:///opt/wheels'\n" },
        'python3 -m pip download --help': { stdout: '  -i, --index-url <url>  Base URL of the Python Package Index (default\n      https://default.example.org/simple). This should\n' },
      });
      const r = await resolvePresets({ presets: ['pypi'] }, context(byDefault.runner));
      assert.deepEqual(r.presets[0].hosts, ['default.example.org']);
      assert.ok(r.notes.some((n) => /package files may come from another host/.test(n)), r.notes.join('\n'));

      await assert.rejects(resolvePresets({ presets: ['pypi'] }, context(tableRunner().runner)), (e: InputError) =>
        e instanceof InputError && /pypi preset found no package index/.test(e.message) && /PIP_INDEX_URL/.test(e.fix ?? '') && /pip\.conf/.test(e.fix ?? ''));
    });

    it('go: GOPROXY and GOSUMDB from devcontainer.json with no process; else `go env`; refused without go and configuration', async () => {
      const none = tableRunner();
      const config = { image: 'x', remoteEnv: { GOPROXY: 'https://goproxy.example.org,direct', GOSUMDB: 'sum.example.net' } };
      assert.deepEqual((await resolvePresets({ presets: ['go'] }, context(none.runner, config))).presets[0].hosts, ['goproxy.example.org', 'sum.example.net']);
      assert.deepEqual(none.calls, []);

      const host = tableRunner({ 'go env GOPROXY GOSUMDB': { stdout: 'https://proxy.example.com|direct\nsum.example.com\n' } });
      assert.deepEqual((await resolvePresets({ presets: ['go'] }, context(host.runner))).presets[0].hosts, ['proxy.example.com', 'sum.example.com']);
      const sumOff = tableRunner({ 'go env GOPROXY GOSUMDB': { stdout: 'https://proxy.example.com\noff\n' } });
      assert.deepEqual((await resolvePresets({ presets: ['go'] }, context(sumOff.runner))).presets[0].hosts, ['proxy.example.com']);

      const partial = await resolvePresets({ presets: ['go'] }, context(tableRunner().runner, { image: 'x', containerEnv: { GOPROXY: 'https://goproxy.example.org' } }));
      assert.deepEqual(partial.presets[0].hosts, ['goproxy.example.org']);
      assert.ok(partial.notes.some((n) => /GOSUMDB is not set/.test(n)));
      await assert.rejects(resolvePresets({ presets: ['go'] }, context(tableRunner().runner)), (e: InputError) =>
        e instanceof InputError && /go preset found no module proxy/.test(e.message) && /GOPROXY/.test(e.fix ?? ''));
    });

    it('crates: the workspace .cargo/config.toml, else $CARGO_HOME; refused when nothing is configured, pointing at allowedDomains', async () => {
      write('.cargo/config.toml', '[source.crates-io]\nreplace-with = "corp"\n[source.corp]\nregistry = "sparse+https://crates.example.org/index/"\n');
      const { runner, calls } = tableRunner();
      const r = await resolvePresets({ presets: ['crates'] }, context(runner));
      assert.deepEqual(r.presets, [{ name: 'crates', hosts: ['crates.example.org'], from: path.join(ws, '.cargo', 'config.toml') }]);
      assert.deepEqual([calls, r.notes], [[], []]);
      rmSync(path.join(ws, '.cargo'), { recursive: true });

      const cargoHome = path.join(dir, 'cargo-home');
      mkdirSync(cargoHome);
      writeFileSync(path.join(cargoHome, 'config.toml'), '[registries.team]\nindex = "sparse+https://team.example.net/index/"\n');
      const fromHome = await resolvePresets({ presets: ['crates'] }, context(runner, undefined, { env: { CARGO_HOME: cargoHome } }));
      assert.deepEqual(fromHome.presets[0].hosts, ['team.example.net']);
      assert.ok(fromHome.notes.some((n) => /crates-io is not replaced/.test(n)));

      mkdirSync(path.join(home, '.cargo'));
      writeFileSync(path.join(home, '.cargo', 'config.toml'), '[build]\njobs = 2\n');
      await assert.rejects(resolvePresets({ presets: ['crates'] }, context(runner)), (e: InputError) =>
        e instanceof InputError && /crates preset found no registry/.test(e.message) && /allowedDomains/.test(e.fix ?? ''));
    });

    it('several refusals come as one error; a cancel is a cancel', async () => {
      await assert.rejects(resolvePresets({ presets: ['npm', 'go', 'github'] }, context(tableRunner().runner)), (e: InputError) =>
        e instanceof InputError && /2 firewall presets cannot be used/.test(e.message) && /npm preset/.test(e.message) && /go preset/.test(e.message));
      const cancelled = tableRunner({ 'npm config get registry': new CancelledError('npm config') });
      await assert.rejects(resolvePresets({ presets: ['npm'] }, context(cancelled.runner)), CancelledError);
    });

    it('apt at planning: left for prepare with an image; refused for a Dockerfile build', async () => {
      const { runner, calls } = tableRunner();
      const r = await resolvePresets({ presets: ['apt'] }, context(runner, { image: 'localhost/app:1' }, { apt: 'later' }));
      assert.deepEqual(r.presets[0].hosts, []);
      await assert.rejects(resolvePresets({ presets: ['apt'] }, context(runner, { build: { dockerfile: 'Dockerfile' } }, { apt: 'later' })), (e: InputError) =>
        e instanceof InputError && /builds its image from a Dockerfile/.test(e.message) && /allowedDomains/.test(e.fix ?? ''));
      assert.deepEqual(calls, []);
    });

    it('apt: the image\'s sources read through the engine (no network, fixed script), cached per image id; none is a refusal', async () => {
      const engine = new EngineClient('podman', '/usr/bin/podman');
      const stateDir = path.join(dir, 'state');
      mkdirSync(stateDir);
      const read = ['/usr/bin/podman', 'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', 'sha256:1111', '-c', APT_SOURCES_SCRIPT].join(' ');
      const fake = tableRunner({ [read]: { stdout: '\x1e/etc/apt/sources.list.d/debian.sources\nTypes: deb\nURIs: http://deb.example.net/debian\n\n' } });
      const first = await aptPreset(engine, 'localhost/app:1', 'sha256:1111', stateDir, { runner: fake.runner });
      assert.deepEqual(first, { name: 'apt', hosts: ['deb.example.net'], from: 'the apt sources of localhost/app:1' });
      assert.equal(fake.calls.length, 1);
      assert.deepEqual(await aptPreset(engine, 'localhost/app:1', 'sha256:1111', stateDir, { runner: fake.runner }), first);
      assert.equal(fake.calls.length, 1, 'the second read comes from the cache');

      const other = ['/usr/bin/podman', 'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', 'sha256:2222', '-c', APT_SOURCES_SCRIPT].join(' ');
      await assert.rejects(aptPreset(engine, 'localhost/bare:1', 'sha256:2222', stateDir, { runner: tableRunner({ [other]: { stdout: '' } }).runner }), (e: InputError) =>
        e instanceof InputError && /found no apt source/.test(e.message) && /take "apt" off/.test(e.fix ?? ''));
    });

    it('hdc deny NAME that only a preset allows puts it in deniedDomains; the policy written keeps the presets', async () => {
      const configFile = path.join(ws, '.devcontainer', 'devcontainer.json');
      write('.devcontainer/devcontainer.json', JSON.stringify({ image: 'localhost/app:1' }));
      const fake = new FakeEngine('podman', '/usr/bin/podman', ws, configFile, 'localhost/app:1');
      const persisted: [string, unknown][] = [];
      const persist = async (_folder: string, key: string, value: unknown): Promise<string> => {
        persisted.push([key, value]);
        return path.join(ws, '.vscode', 'settings.json');
      };
      const settings = { ...DEFAULT_SETTINGS, firewall: { ...DEFAULT_SETTINGS.firewall, presets: ['github' as const], allowedDomains: [] } };
      const stateRoot = path.join(dir, 'state');
      await changeAllowlist(ws, settings, stateRoot, 'raw.githubusercontent.com', 'deny', () => undefined, persist, { runner: fake.runner, engine: new EngineClient('podman', '/usr/bin/podman') });
      assert.deepEqual(persisted.find(([key]) => key === 'firewall.deniedDomains'), ['firewall.deniedDomains', ['raw.githubusercontent.com']]);
      const written = JSON.parse(readFileSync(path.join(await workspaceStateDir(stateRoot, ws), 'firewall', 'policy.json'), 'utf8')) as { policy: { domains: string[]; denied: string[] } };
      assert.ok(written.policy.domains.includes('*.githubusercontent.com') && written.policy.domains.includes('github.com'), written.policy.domains.join(' '));
      assert.deepEqual(written.policy.denied, ['raw.githubusercontent.com']);
      assert.deepEqual(fake.unexpected, []);
    });

    it('apt outside up: devcontainer.json\'s image inspected, then its cached sources', async () => {
      const engine = new EngineClient('docker', '/usr/bin/docker');
      const stateDir = path.join(dir, 'state');
      mkdirSync(stateDir);
      writeFileSync(path.join(stateDir, 'apt-sources.json'), JSON.stringify({ imageId: 'sha256:3333', files: [{ name: '/etc/apt/sources.list', text: 'deb http://mirror.example.org/debian bookworm main\n' }] }));
      const { runner, calls } = tableRunner({ '/usr/bin/docker image inspect localhost/app:1': { stdout: JSON.stringify([{ Id: 'sha256:3333', Config: { User: '' } }]) } });
      const r = await resolvePresets({ presets: ['apt', 'openai'] }, context(runner, { image: 'localhost/app:1' }, { apt: 'read', engine: async () => engine, stateDir }));
      assert.deepEqual(r.presets.map((p) => [p.name, p.hosts]), [['apt', ['mirror.example.org']], ['openai', ['api.openai.com']]]);
      assert.deepEqual(calls, [['/usr/bin/docker', 'image', 'inspect', 'localhost/app:1']]);
    });
  });
});
