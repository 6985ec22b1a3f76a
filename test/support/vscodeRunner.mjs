#!/usr/bin/env node
/* global process, console, setTimeout, URLSearchParams -- Node */
/* global document, MutationObserver -- the init scripts run in the page */
// Stands in for the VS Code executable of @vscode/test-electron's runTests():
//
//   runTests({ vscodeExecutablePath: 'test/support/vscodeRunner.mjs', extensionDevelopmentPath, extensionTestsPath,
//              launchArgs: [workspaceFolder, '--disable-extensions'], extensionTestsEnv })
//
// No VS Code desktop can be downloaded on the test hosts, so this starts code-server (the real VS Code
// server and workbench, scripts/code-server.sh installs it) and opens it in Debian's chromium through
// playwright-core. Before the page's scripts run (an init script), the workbench configuration in the page
// (<meta id="vscode-workbench-web-configuration" data-settings>) gets `developmentOptions.extensions`
// (the extension folders as vscode-remote://127.0.0.1:PORT/... URIs) and
// `developmentOptions.extensionTestsPath`: the workbench then loads the extensions under development
// into the remote (Node) extension host and runs the tests there. (code-server's own command line
// refuses --extensionDevelopmentPath, and its server passes no such option to the page.) When they
// finish, the workbench calls `window.codeAutomationExit(code)`, which is a function exposed by this
// script: its argument is our exit code. The extension host's console (mocha's reporter) is printed to stdout.
//
// Understood arguments (what runTests passes, plus the usual launch args):
//   --extensionDevelopmentPath=DIR (repeatable)   --extensionTestsPath=PATH
//   --extensions-dir=DIR (honoured unless it is test-electron's default under .vscode-test/)
//   --disable-extensions   (installed extensions stay off; the ones under development load)
//   FOLDER                 (a positional argument: the workspace folder to open; none: an empty window)
// Ignored: --user-data-dir (always a fresh temp dir) and the Electron-only switches.
//
// Environment: the bridge's environment (runTests adds extensionTestsEnv) is code-server's, and so the
// extension host's. HDC_VSCODE_RUNNER_TIMEOUT_MS (default 300000) bounds the whole run; on timeout the
// exit code is 124. HDC_VSCODE_RUNNER_VERBOSE=1 also prints the workbench's own console and code-server's
// output. The helpers come from codeServer.ts, loaded through tsx: one implementation for both uses.
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const { startCodeServer, launchChromium } = await tsImport('./codeServer.ts', import.meta.url);

const TIMEOUT_MS = Number(process.env.HDC_VSCODE_RUNNER_TIMEOUT_MS ?? 300_000);
const VERBOSE = process.env.HDC_VSCODE_RUNNER_VERBOSE === '1';
const VALUE_FLAGS = new Set(['extensionDevelopmentPath', 'extensionTestsPath', 'extensions-dir', 'user-data-dir',
  'locale', 'log', 'folder-uri', 'file-uri', 'extensionDevelopmentKind', 'extensionEnvironment']);
// Electron/desktop switches that runTests adds or that launch args commonly carry; nothing to do here.
const IGNORED_SWITCHES = new Set(['no-sandbox', 'disable-gpu-sandbox', 'disable-gpu', 'disable-updates', 'skip-welcome',
  'skip-release-notes', 'disable-workspace-trust', 'new-window', 'wait', 'verbose', 'disable-telemetry',
  'disable-chromium-sandbox', 'disable-crash-reporter', 'sync']);

function log(msg) {
  process.stderr.write(`[vscodeRunner] ${msg}\n`);
}

export function parseArgs(argv) {
  const out = { developmentPaths: [], testsPath: undefined, extensionsDir: undefined, disableExtensions: false, folder: undefined, ignored: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (out.folder === undefined) out.folder = path.resolve(arg);
      else out.ignored.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined && VALUE_FLAGS.has(name) && i + 1 < argv.length) value = argv[++i];
    switch (name) {
      case 'extensionDevelopmentPath': out.developmentPaths.push(path.resolve(value)); break;
      case 'extensionTestsPath': out.testsPath = path.resolve(value); break;
      case 'extensions-dir':
        // test-electron's default (<cwd>/.vscode-test/extensions) would leave a folder in the project.
        if (!value.split(path.sep).includes('.vscode-test')) out.extensionsDir = path.resolve(value);
        break;
      case 'folder-uri': out.folder = fileURLToPath(value); break;
      case 'disable-extensions': out.disableExtensions = true; break;
      case 'user-data-dir': break;
      default:
        if (!IGNORED_SWITCHES.has(name)) out.ignored.push(arg);
    }
  }
  return out;
}

/** A vscode-remote URI (as UriComponents, which the workbench revives) for a path on the code-server host. */
function remoteUri(authority, fsPath) {
  return { scheme: 'vscode-remote', authority, path: fsPath };
}

/**
 * Runs in the page before its own scripts (page.addInitScript): as soon as the parser has inserted
 * code-server's configuration element, its JSON gets the development options. The workbench reads it
 * from a module script, and module scripts run only after parsing, so the patch is always first.
 */
function injectDevelopmentOptions(developmentOptions) {
  const patch = () => {
    const el = document.getElementById('vscode-workbench-web-configuration');
    const settings = el?.getAttribute('data-settings');
    if (!el || !settings) return false;
    const config = JSON.parse(settings);
    config.developmentOptions = { ...config.developmentOptions, ...developmentOptions };
    el.setAttribute('data-settings', JSON.stringify(config));
    return true;
  };
  const observer = new MutationObserver(() => { if (patch()) observer.disconnect(); });
  observer.observe(document, { childList: true, subtree: true });
  document.addEventListener('DOMContentLoaded', () => observer.disconnect(), { once: true });
}

const EXTHOST_TAG = '[vscodeRunner:exthost] ';

/**
 * Runs in the page before its own scripts (page.addInitScript). When tests run from the command line,
 * the workbench hands every console call of the extension host (RPC `$logExtensionHostMessage`) to its
 * log service, which prints it like its own INFO lines: `console.log('%c INFO', 'color: #33f', ...args)`.
 * This wrapper recognises those calls by the RPC method on the stack (RPC method names survive
 * minification), formats them like Node's console would, and tags them, so the runner can print exactly
 * the extension host's output (mocha's reporter) and leave out the workbench's chatter.
 */
function tagExtensionHostConsole(tag) {
  const format = (args) => {
    if (typeof args[0] !== 'string') return args.map(show).join(' ');
    let i = 1;
    const first = args[0].replace(/%([sdifjoOc%])/g, (m, c) => {
      if (c === '%') return '%';
      if (i >= args.length) return m;
      const v = args[i++];
      switch (c) {
        case 'c': return '';
        case 'd': case 'i': return String(c === 'i' ? parseInt(v, 10) : Number(v));
        case 'f': return String(parseFloat(v));
        case 's': return typeof v === 'string' ? v : show(v);
        default: return show(v);
      }
    });
    return [first, ...args.slice(i).map(show)].join(' ');
  };
  const show = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack ?? String(v);
    try {
      return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    } catch {
      return String(v);
    }
  };
  for (const method of ['log', 'info', 'warn', 'error', 'debug']) {
    const original = console[method];
    console[method] = function (...args) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (stack.includes('$logExtensionHostMessage')) {
        // The log service's own level prefix: '%c INFO', 'color: #33f' (or '%c WARN'/'%c  ERR', ...).
        const rest = typeof args[0] === 'string' && /^%c\s*[A-Z]+$/.test(args[0].trim()) ? args.slice(2) : args;
        return original.call(this, tag + format(rest));
      }
      return original.apply(this, args);
    };
  }
}

/** Page console text without the workbench's `%c` CSS styling. */
function plain(text) {
  return text.replace(/%c/g, '').replace(/(color|background|font-weight|font-style):\s*[^\s;]+;?/g, '').trim();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.developmentPaths.length === 0 || !args.testsPath) {
    log('usage: vscodeRunner.mjs --extensionDevelopmentPath=DIR --extensionTestsPath=PATH [FOLDER] [--disable-extensions]');
    return 2;
  }
  for (const p of args.developmentPaths) if (!existsSync(path.join(p, 'package.json'))) throw new Error(`${p} has no package.json`);
  if (args.folder && !(existsSync(args.folder) && statSync(args.folder).isDirectory())) throw new Error(`workspace folder ${args.folder} does not exist`);
  if (args.ignored.length) log(`ignoring: ${args.ignored.join(' ')}`);

  let cs;
  let browser;
  let finished = false;
  // Idempotent: a signal and the normal end may both ask; both wait for the same complete shutdown.
  // code-server may still be starting when a signal comes: wait for it, then stop it.
  let cleaning;
  let csStarting;
  const cleanup = () => cleaning ??= (async () => {
    await browser?.close().catch(() => undefined);
    const server = cs ?? await csStarting?.catch(() => undefined);
    await server?.stop().catch((e) => log(`stopping code-server: ${e}`));
  })();
  // Whatever goes wrong, code-server and chromium must not outlive this process.
  process.on('unhandledRejection', (e) => {
    log(`unexpected error: ${e?.stack ?? e}`);
    void cleanup().finally(() => process.exit(1));
  });
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(sig, () => {
      log(`${sig}: stopping`);
      void cleanup().finally(() => process.exit(code));
    });
  }

  const started = Date.now();
  // The whole run is bounded, whatever it waits for.
  setTimeout(() => {
    log(`no result after ${TIMEOUT_MS} ms (HDC_VSCODE_RUNNER_TIMEOUT_MS): stopping`);
    if (cs) process.stderr.write(`--- code-server output ---\n${cs.log().slice(-20_000)}\n`);
    void cleanup().finally(() => process.exit(124));
  }, TIMEOUT_MS).unref();
  try {
    csStarting = startCodeServer({ workspace: args.folder ?? args.developmentPaths[0], extensionsDir: args.extensionsDir });
    cs = await csStarting;
    if (cleaning) return 1;
    log(`code-server ${cs.url} (pid ${cs.pid}) up in ${Date.now() - started} ms`);
    const authority = `127.0.0.1:${cs.port}`;
    const developmentOptions = {
      extensions: args.developmentPaths.map((p) => remoteUri(authority, p)),
      extensionTestsPath: remoteUri(authority, args.testsPath),
    };

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();

    let reportExit;
    await page.exposeFunction('codeAutomationExit', (code) => {
      finished = true;
      reportExit(typeof code === 'number' ? code : 1);
    });
    const exitCode = new Promise((resolve, reject) => {
      reportExit = resolve;
      page.on('crash', () => reject(new Error('the page crashed')));
      page.on('close', () => { if (!finished) reject(new Error('the page closed before the tests finished')); });
    });
    exitCode.catch(() => undefined);

    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith(EXTHOST_TAG)) {
        const out = text.slice(EXTHOST_TAG.length);
        if (msg.type() === 'error' || msg.type() === 'warning') process.stderr.write(`${out}\n`);
        else process.stdout.write(`${out}\n`);
      } else if (VERBOSE || (msg.type() === 'error' && !/^Failed to load resource: .* 404/.test(text))) {
        // (404s: code-server ships no vsda signing module; the workbench looks for it anyway.)
        process.stderr.write(`[workbench ${msg.type()}] ${plain(text)}\n`);
      }
    });
    page.on('pageerror', (e) => process.stderr.write(`[workbench pageerror] ${e.message}\n`));

    await page.addInitScript(injectDevelopmentOptions, developmentOptions);
    await page.addInitScript(tagExtensionHostConsole, EXTHOST_TAG);

    const query = new URLSearchParams();
    if (args.folder) query.set('folder', args.folder);
    else query.set('ew', 'true');
    if (args.disableExtensions) query.set('payload', JSON.stringify([['disableExtensions', 'true']]));
    await page.goto(`${cs.url}/?${query}`, { waitUntil: 'domcontentloaded' });
    const injected = await page.evaluate(() => JSON.parse(
      document.getElementById('vscode-workbench-web-configuration')?.getAttribute('data-settings') ?? '{}').developmentOptions);
    if (!injected?.extensionTestsPath) throw new Error('the development options did not reach the workbench configuration');

    const code = await exitCode;
    log(`tests finished with exit code ${code} after ${Date.now() - started} ms`);
    return code;
  } catch (e) {
    log(`failed: ${e instanceof Error ? e.message : String(e)}`);
    if (cs) process.stderr.write(`--- code-server output ---\n${cs.log().slice(-20_000)}\n`);
    return e?.exitCode ?? 1;
  } finally {
    if (VERBOSE && cs) process.stderr.write(`--- code-server output ---\n${cs.log().slice(-50_000)}\n`);
    await cleanup();
  }
}

if (path.resolve(process.argv[1] ?? '') === path.resolve(import.meta.filename)) {
  main().then((code) => process.exit(code), (e) => {
    log(`failed: ${e?.stack ?? e}`);
    process.exit(1);
  });
}
