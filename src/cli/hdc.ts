import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { changeAllowlist, lookupWarning } from '../ops/allowlist';
import { blockedLog, renderBlocked } from '../ops/blocked';
import type { BlockedEntry } from '../firewall/resolver';
import { down } from '../ops/down';
import { egressImage } from '../ops/egressImage';
import { HdcError } from '../base/errors';
import { packageRoot } from '../base/paths';
import { runAttached, type LogLevel } from '../base/runner';
import { stripAnsi } from '../base/text';
import { fileSource, parseRuntime, readSettings, type Settings } from '../config/settings';
import { readWorkspaceSettingsFile } from '../config/settingsFile';
import { defaultStateRoot } from '../base/state';
import { renderReport } from '../ops/render';
import { status } from '../ops/status';
import { up } from '../ops/up';
import { summarizeUp } from '../ops/upSummary';
import { engineFor, openWorkspace, requireWorkspaceContainer } from '../workspace/workspace';

const USAGE = `hdc: Hardened Dev Containers, headless.

Usage:
  hdc --version | --help
  hdc up     [FOLDER] [--runtime podman|docker] [--json]   create and start the hardened container
  hdc down   [FOLDER] [--runtime podman|docker] [--volumes] stop and remove it (and its sidecar;
                                                           --volumes: the sidecar's images too)
  hdc status [FOLDER] [--runtime podman|docker] [--json]   check every guarantee live (exit 1 if one fails)
  hdc exec   [FOLDER] [--runtime podman|docker] -- CMD...  run CMD in it as the remote user
  hdc allow  DOMAIN|CIDR [FOLDER] [--runtime …]             allow a destination, live and in settings
  hdc deny   DOMAIN|CIDR [FOLDER] [--runtime …]             remove it again (or deny it where a wildcard or a preset allows it)
  hdc blocked [FOLDER] [--json] [--follow]                  what the firewall refused: names and addresses,
                                                           with counts (--follow: keep printing new ones)
  hdc egress-image [--runtime podman|docker] [--kube]       build hdc's egress image (the docker firewall
                                                           guard's) from this machine's Debian packages,
                                                           if the engine does not have it (up does it too);
                                                           --kube: the self-contained one for a cluster
  hdc kube   [FOLDER] [--out FILE] [--namespace NS] [--image IMAGE] [--name NAME]
             [--target cluster|podman] [--egress-image IMAGE] [--cilium] [--storage 10Gi]
                                                           the same hardened workspace as Kubernetes manifests
                                                           (YAML on stdout, or in FILE); --target podman: for
                                                           \`podman kube play\` on this machine

FOLDER defaults to the current directory. Settings come from FOLDER/.vscode/settings.json
(hardenedDevcontainers.*); --runtime overrides hardenedDevcontainers.runtime.
Environment: HDC_STATE_DIR (generated files), HDC_SHIM_LOG (log the podman shim's argv), HDC_VERBOSE=1.`;

interface Invocation {
  command: string;
  folder: string;
  json: boolean;
  volumes: boolean;
  follow: boolean;
  runtime?: string;
  rest: string[];
  entry?: string;
  kube: { out?: string; namespace?: string; image?: string; name?: string; target: string; egressImage?: string; cilium: boolean; storage: string; kube: boolean };
}

function parse(argv: string[]): Invocation {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const rest = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({
      args: own, allowPositionals: true, strict: true,
      options: {
        runtime: { type: 'string' }, json: { type: 'boolean', default: false }, volumes: { type: 'boolean', default: false },
        follow: { type: 'boolean', short: 'f', default: false },
        out: { type: 'string' }, namespace: { type: 'string' }, image: { type: 'string' }, name: { type: 'string' },
        target: { type: 'string', default: 'cluster' }, 'egress-image': { type: 'string' }, cilium: { type: 'boolean', default: false },
        storage: { type: 'string', default: '10Gi' }, kube: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }, version: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    // Node's own words ("Unknown option '--x'…"), without its advice about positionals.
    const message = (e as Error).message.split('. ')[0];
    throw new HdcError(message.replace(/^Unknown option/, 'unknown option'), { exitCode: 2, fix: 'see hdc --help' });
  }
  const { values, positionals } = parsed;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`hdc ${pkg.version}\n`);
    process.exit(0);
  }
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const [command, ...operands] = positionals;
  // allow/deny take the entry first: `hdc allow example.com [FOLDER]`.
  const entry = command === 'allow' || command === 'deny' ? operands.shift() : undefined;
  if ((command === 'allow' || command === 'deny') && !entry) throw new HdcError(`hdc ${command} needs a domain or CIDR`, { exitCode: 2, fix: `hdc ${command} api.example.com` });
  const [folder, ...extra] = operands;
  if (extra.length > 0) throw new HdcError(`unexpected argument ${JSON.stringify(extra[0])}`, { exitCode: 2, fix: 'see hdc --help' });
  return { command, folder: path.resolve(folder ?? '.'), json: values.json ?? false, volumes: values.volumes ?? false, follow: values.follow ?? false, runtime: values.runtime, rest, entry,
    kube: { out: values.out, namespace: values.namespace, image: values.image, name: values.name, target: values.target ?? 'cluster',
      egressImage: values['egress-image'], cilium: values.cilium ?? false, storage: values.storage ?? '10Gi', kube: values.kube ?? false } };
}

type KubeEntry = typeof import('./kubeEntry');

/**
 * An error of the kube bundle, which has its own copy of HdcError (instanceof fails across
 * bundles): as this bundle's, so that its fix and exit code reach the user.
 */
function fromKubeBundle(e: unknown): unknown {
  if (e instanceof HdcError || !(e instanceof Error)) return e;
  const { fix, exitCode, detail } = e as Partial<HdcError>;
  // Only the shape of an HdcError, with an exit code that says failure.
  const ours = typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode >= 1 && exitCode <= 255 && (fix === undefined || typeof fix === 'string');
  return ours ? new HdcError(e.message, { fix, exitCode, detail, cause: e }) : e;
}

/**
 * `hdc kube`'s code, with its Kubernetes schemas (~1.4 MB), from its own bundle next to this
 * one: every other command starts without parsing it. From the sources (tsx), the module.
 */
async function kubeEntry(): Promise<KubeEntry> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const bundle = path.join(here, 'hdc-kube.cjs');
  if (existsSync(bundle)) return createRequire(import.meta.url)(bundle) as KubeEntry;
  const source = path.join(here, 'kubeEntry.ts');
  return (await import(source)) as KubeEntry;
}

async function loadSettings(inv: Invocation): Promise<Settings> {
  const { values } = await readWorkspaceSettingsFile(inv.folder);
  const overrides: Partial<Settings> = inv.runtime !== undefined ? { runtime: parseRuntime(inv.runtime, '--runtime') } : {};
  return readSettings(fileSource(values, overrides));
}

async function main(argv: string[]): Promise<number> {
  const inv = parse(argv);
  const verbose = process.env.HDC_VERBOSE === '1';
  const t0 = performance.now();
  // A line with a level is the devcontainers CLI's (and so may carry the container's words):
  // only hdc's own warnings and notes reach the terminal without HDC_VERBOSE.
  const log = (line: string, level?: LogLevel): void => {
    if (verbose) process.stderr.write(`+${Math.round(performance.now() - t0)}ms ${stripAnsi(line)}\n`);
    else if (level === undefined && /^(warning|note):/.test(line)) process.stderr.write(`${line}\n`);
  };
  // Without HDC_VERBOSE: each of hdc's steps as it begins (the log has their durations).
  const onStep = verbose ? undefined : (step: string, detail: string, origin: 'hdc' | 'cli'): void => {
    if (origin === 'hdc') process.stderr.write(`[${step}] ${detail}\n`);
  };
  // A persistent listener: with `once`, execa's exit handler would see no listener left
  // and re-raise the signal, killing us before the clean-up. A second Ctrl-C quits at once.
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('hdc: cancelling, cleaning up (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  switch (inv.command) {
    case 'up': {
      const settings = await loadSettings(inv);
      const result = await up({
        workspaceFolder: inv.folder, settings, stateRoot: defaultStateRoot(), log, signal: controller.signal,
        shimLog: process.env.HDC_SHIM_LOG, onStep,
      });
      const summary = summarizeUp(result);
      process.stdout.write(inv.json ? `${JSON.stringify(summary)}\n` : `${JSON.stringify(summary, null, 2)}\n`);
      return 0;
    }
    case 'down': {
      const removed = await down(inv.folder, await loadSettings(inv), log, controller.signal, { volumes: inv.volumes });
      process.stderr.write(removed.length ? `removed ${removed.map((id) => id.slice(0, 12)).join(', ')}\n` : 'no container to remove\n');
      return 0;
    }
    case 'status': {
      const report = await status(inv.folder, await loadSettings(inv), defaultStateRoot(), log);
      if (inv.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(renderReport(report));
      return report.ok ? 0 : 1;
    }
    case 'exec': {
      if (inv.rest.length === 0) throw new HdcError('hdc exec needs a command after --', { exitCode: 2, fix: 'hdc exec -- id -un' });
      const settings = await loadSettings(inv);
      const ws = await openWorkspace(inv.folder);
      const target = await requireWorkspaceContainer(await engineFor(settings), ws.workspaceFolder, ws.file, { log });
      const tty = process.stdin.isTTY && process.stdout.isTTY;
      const call = target.engine.exec(target.container.id, inv.rest, { user: target.remoteUser, workdir: target.remoteWorkspaceFolder, interactive: true, tty });
      return runAttached(call, { log, signal: controller.signal });
    }
    case 'blocked': {
      const settings = await loadSettings(inv);
      const print = (entries: BlockedEntry[]): void => {
        // --json --follow: one JSON object per line (an entry that is new or seen again).
        if (inv.json && inv.follow) for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
        else if (!inv.json) process.stdout.write(renderBlocked(entries));
      };
      const report = await blockedLog(inv.folder, settings, defaultStateRoot(), log, {}, inv.follow ? { signal: controller.signal, onChange: print } : undefined);
      if (inv.json && !inv.follow) process.stdout.write(`${JSON.stringify(report)}\n`);
      else if (!inv.follow) print(report.entries);
      return 0;
    }
    case 'allow':
    case 'deny': {
      const change = await changeAllowlist(inv.folder, await loadSettings(inv), defaultStateRoot(), inv.entry ?? '', inv.command, log);
      const summary = {
        [inv.command === 'allow' ? 'allowed' : 'denied']: change.entry, kind: change.kind, settingsFile: change.settingsFile,
        live: change.live ? { resolver: change.live.resolver?.generation !== undefined ? 'reloaded' : 'not answering', ms: change.live.ms } : 'no running container: takes effect on the next up',
        ...(change.live?.lookup ? { resolves: change.live.lookup.error ? `nothing (${change.live.lookup.error})` : change.live.lookup.addresses } : {}),
      };
      if (change.live?.lookup?.error) log(`warning: ${lookupWarning(change.live.lookup)}`);
      process.stdout.write(`${JSON.stringify(summary, null, inv.json ? undefined : 2)}\n`);
      return 0;
    }
    case 'egress-image': {
      const result = await egressImage(await loadSettings(inv), defaultStateRoot(), log, (what) => process.stderr.write(`[egress-image] ${what}\n`), controller.signal, {}, inv.kube.kube);
      process.stdout.write(`${JSON.stringify(result, null, inv.json ? undefined : 2)}\n`);
      return 0;
    }
    case 'kube': {
      const k = inv.kube;
      if (k.target !== 'cluster' && k.target !== 'podman') throw new HdcError(`--target ${JSON.stringify(k.target)} is neither cluster nor podman`, { exitCode: 2, fix: 'see hdc --help' });
      const { kube } = await kubeEntry();
      const result = await kube(inv.folder, await loadSettings(inv), defaultStateRoot(), {
        target: k.target, namespace: k.namespace, image: k.image, name: k.name, egressImage: k.egressImage, cilium: k.cilium, claimSize: k.storage,
      }, log, controller.signal).catch((e: unknown) => { throw fromKubeBundle(e); });
      for (const n of result.notes) process.stderr.write(`${n}\n`);
      if (k.out) {
        writeFileSync(k.out, result.yaml, { mode: 0o644 });
        process.stderr.write(`hdc kube: wrote ${result.objects.map((o) => `${o.kind} ${o.name}`).join(', ')} to ${k.out} (${result.ms} ms)\n`);
        if (result.play) process.stderr.write(`run it here: ${[...result.play, k.out].join(' ')}\n`);
      } else {
        process.stdout.write(result.yaml);
      }
      return 0;
    }
    default:
      throw new HdcError(`unknown command ${JSON.stringify(inv.command)}`, { exitCode: 2, fix: 'use up, down, status, exec, allow, deny, blocked, egress-image or kube (see hdc --help)' });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof HdcError) {
      process.stderr.write(`hdc: ${e.describe()}\n`);
      if (process.env.HDC_VERBOSE === '1' && e.detail) process.stderr.write(`${e.detail}\n`);
      process.exit(e.exitCode);
    }
    const err = e as Error;
    process.stderr.write(`hdc: ${err.message}\n`);
    if (err.name === 'TypeError' || process.env.HDC_VERBOSE === '1') process.stderr.write(`${err.stack ?? ''}\n`);
    process.exit(err.name === 'TypeError' ? 70 : (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1);
  },
);
