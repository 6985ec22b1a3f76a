// A real VS Code for the e2e tests: code-server (the VS Code server and web workbench, installed by
// scripts/code-server.sh) driven by playwright-core through Debian's /usr/bin/chromium.
// One code-server and one browser per suite: start them in `before`, stop them in `after`.
// Everything listens on and talks to 127.0.0.1 only.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { chownTree } from './testbed';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const RESULTS_DIR = path.join(REPO, 'test-results');
export const TOOLS_DIR = path.join(process.env.HDC_CACHE ?? '/var/cache/hardened-devcontainers', 'tools');
export const CHROMIUM = process.env.HDC_CHROMIUM ?? '/usr/bin/chromium';
const SETUP_HINT = 'run `sudo bash scripts/code-server.sh` first';

/** Chromium flags verified on the test hosts, plus a resolver rule that keeps it off the network. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Nothing leaves the machine: host names other than 127.0.0.1/localhost do not resolve, and every
  // request that is not for loopback goes to a proxy on the discard port, which refuses it.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
  '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=127.0.0.1;localhost',
];

/** Settings every test window starts with: no welcome page, no tips, no update or gallery traffic. */
export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
};

/** The code-server binary: $HDC_CODE_SERVER, else what scripts/code-server.sh recorded. */
export function codeServerBinary(): string {
  const fromEnv = process.env.HDC_CODE_SERVER;
  if (fromEnv) return fromEnv;
  const recorded = path.join(TOOLS_DIR, 'code-server.path');
  const bin = existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : '';
  if (!bin || !existsSync(bin)) throw new Error(`code-server is not installed: ${SETUP_HINT}`);
  return bin;
}

/**
 * The environment code-server (and so its extension host) runs with: ours, without what an enclosing
 * VS Code or Electron set (VSCODE_*, ELECTRON_*), with the extension gallery switched off, plus `extra`.
 */
function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(VSCODE_|ELECTRON_)/.test(k)) env[k] = v;
  }
  return { ...env, EXTENSIONS_GALLERY: '{}', ...extra };
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** Polls `fn` until it returns a truthy value (bounded). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** All descendants of `pid` (from /proc), deepest last. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process is gone already
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/**
 * The `vscode-ipc-*.sock` files that the processes under `pid` listen on: every remote extension host
 * makes one in the temp dir (its CLI server) and leaves it behind when it is killed, so the CodeServer
 * collects them while it runs and stop() removes them.
 */
function ipcSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const p of [pid, ...descendants(pid)]) {
    try {
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
          if (m) inodes.add(m[1]);
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone already
    }
  }
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && inodes.has(f[6]) && /\/vscode-ipc-[\w-]+\.sock$/.test(f[7])) out.push(f[7]);
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process started detached (its own session and process group): the group and every
 * descendant that left it (terminal shells get their own session from node-pty). TERM first, KILL
 * after `graceMs`.
 */
export async function killProcessTree(pid: number, graceMs = 5_000): Promise<void> {
  const signal = (sig: NodeJS.Signals, pids: number[]) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is empty already
    }
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        // gone already
      }
    }
  };
  const tree = [pid, ...descendants(pid)];
  signal('SIGTERM', tree);
  const deadline = Date.now() + graceMs;
  while (tree.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (tree.some(alive)) signal('SIGKILL', [...tree, ...tree.flatMap((p) => (alive(p) ? descendants(p) : []))]);
}

export interface CodeServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  userDataDir: string;
  extensionsDir: string;
  pid: number;
  /** What code-server printed so far (stdout and stderr). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** A folder that must exist; the window opened by openWorkbench usually shows it. */
  workspace: string;
  /** Added to code-server's environment (and so to the extension host's). */
  env?: Record<string, string>;
  /** Use (and keep) this extensions directory, e.g. one filled by installExtension(). Default: a fresh temp dir. */
  extensionsDir?: string;
  /** User settings, merged over DEFAULT_SETTINGS. */
  settings?: Record<string, unknown>;
  /** How long code-server may take to answer HTTP. Default 60 s. */
  timeoutMs?: number;
  /**
   * Run code-server (and so the extension host) as this unprivileged user, with its login
   * environment (HOME, XDG_RUNTIME_DIR, …): the product's main case, rootless Podman. Its
   * user data (and the extensions directory) are handed to the user first.
   */
  runAs?: { uid: number; gid: number; env: Record<string, string> };
}

/** Starts code-server on a free port of 127.0.0.1 with fresh user data and waits until it answers. */
export async function startCodeServer(opts: StartOptions): Promise<CodeServer> {
  const bin = codeServerBinary();
  if (!existsSync(opts.workspace)) throw new Error(`workspace ${opts.workspace} does not exist`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hdc-code-server-'));
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = opts.extensionsDir ?? path.join(tmp, 'extensions');
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...DEFAULT_SETTINGS, ...opts.settings }, null, 2));
  // Without --config, code-server writes ~/.config/code-server/config.yaml (with a generated password).
  const config = path.join(tmp, 'config.yaml');
  writeFileSync(config, 'auth: none\ncert: false\n');
  if (opts.runAs) {
    for (const dir of [tmp, extensionsDir]) chownTree(dir, opts.runAs.uid, opts.runAs.gid);
  }

  let lastError: Error | undefined;
  // The free port can be taken between the probe and code-server's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let output = '';
    const child: ResultPromise = execa(bin, [
      '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--disable-getting-started-override', '--ignore-last-opened',
      '--config', config, '--bind-addr', `127.0.0.1:${port}`, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
    ], {
      env: opts.runAs ? { ...serverEnv(opts.env), ...opts.runAs.env } : serverEnv(opts.env), extendEnv: false, cwd: opts.workspace, detached: true, reject: false,
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
      stdin: 'ignore', buffer: false, all: true,
    });
    child.all?.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
    });
    const pid = child.pid;
    if (!pid) throw new Error(`cannot start ${bin}`);
    let exited = false;
    void child.then(() => { exited = true; });
    const url = `http://127.0.0.1:${port}`;
    const sockets = new Set<string>();
    const collect = () => { for (const sock of ipcSockets(pid)) sockets.add(sock); };
    const collector = setInterval(collect, 1_000);
    collector.unref();
    // Idempotent: every caller awaits the same, complete shutdown.
    let stopping: Promise<void> | undefined;
    const stop = () => stopping ??= (async () => {
      clearInterval(collector);
      collect();
      await killProcessTree(pid);
      await child;
      for (const sock of sockets) rmSync(sock, { force: true });
      rmSync(tmp, { recursive: true, force: true }); // user data, config and (unless given) the extensions
    })();
    try {
      const timeoutMs = opts.timeoutMs ?? 60_000;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exited) throw new Error(`code-server exited:\n${output}`);
        const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (e) {
      clearInterval(collector);
      await killProcessTree(pid);
      await child;
      lastError = e as Error;
      if (exited && /EADDRINUSE/.test(output)) continue;
      rmSync(tmp, { recursive: true, force: true });
      throw lastError;
    }
    return { url, port, userDataDir, extensionsDir, pid, log: () => output, stop };
  }
  rmSync(tmp, { recursive: true, force: true });
  throw lastError ?? new Error('code-server did not start');
}

/** `code-server --install-extension VSIX` into `extensionsDir`. Install before startCodeServer(). */
export async function installExtension(vsix: string, extensionsDir: string): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hdc-code-server-install-'));
  try {
    mkdirSync(extensionsDir, { recursive: true });
    const config = path.join(tmp, 'config.yaml');
    writeFileSync(config, 'auth: none\n');
    const r = await execa(codeServerBinary(), [
      '--config', config, '--user-data-dir', path.join(tmp, 'user-data'), '--extensions-dir', extensionsDir, '--force', '--install-extension', path.resolve(vsix),
    ], {
      // No extension host runs here, so its logs and state may go to the temp dir too.
      env: serverEnv({ XDG_CONFIG_HOME: path.join(tmp, 'config'), XDG_DATA_HOME: path.join(tmp, 'data') }),
      extendEnv: false, reject: false, stdin: 'ignore', all: true, timeout: 120_000,
    });
    if (r.exitCode !== 0 || !/successfully installed/i.test(String(r.all ?? ''))) {
      throw new Error(`installing ${vsix} failed (exit ${r.exitCode}):\n${String(r.all ?? '')}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Launches Debian's chromium headless, with a fresh temporary profile (playwright creates and removes it). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: ${SETUP_HINT}`);
  // No signal handlers of playwright's own: they exit the process before the caller has stopped code-server.
  return chromium.launch({
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000,
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
  });
}

export interface Workbench {
  page: Page;
  browser: Browser;
  context: BrowserContext;
  /** Runs a command from the palette by its full title, e.g. `View: Toggle Terminal`. */
  runCommand(title: string): Promise<void>;
  /** A status-bar entry, found by its accessible name (the extension's `accessibilityInformation.label`). */
  statusBarItem(name: RegExp | string): Locator;
  /** Shows an output channel in the panel (`Output: Show Output Channels...`). */
  showOutputChannel(name: string): Promise<void>;
  /** The text of the output view in the panel (only what monaco has rendered: the visible lines). */
  outputText(): Promise<string>;
  /** Saves a full-page PNG to test-results/NAME.png and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Quick-pick rows in the open quick input. */
function quickPickRows(page: Page): Locator {
  return page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
}

/** Picks the row of the open quick input whose label is exactly `label` (after the filter was typed). */
async function pickExact(page: Page, label: string, timeoutMs = 15_000): Promise<void> {
  const row = quickPickRows(page).filter({
    has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) }),
  }).first();
  try {
    await row.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    const shown = await quickPickRows(page).locator('.label-name').allInnerTexts().catch(() => []);
    throw new Error(`no quick-pick entry "${label}"; shown: ${JSON.stringify(shown)}`);
  }
  await row.click();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Opens `${cs.url}/?folder=FOLDER` in a new chromium and waits for the workbench. */
export async function openWorkbench(cs: CodeServer, folder: string, opts: { timeoutMs?: number } = {}): Promise<Workbench> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${cs.url}/?folder=${encodeURIComponent(folder)}`, { waitUntil: 'domcontentloaded' });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: opts.timeoutMs ?? 60_000 });
    // The status bar is the last part that the workbench lays out.
    await page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: opts.timeoutMs ?? 60_000 });
    return makeWorkbench(browser, context, page);
  } catch (e) {
    await browser.close().catch(() => undefined);
    throw e;
  }
}

function makeWorkbench(browser: Browser, context: BrowserContext, page: Page): Workbench {
  const quickInput = page.locator('.quick-input-widget input.input');
  const wb: Workbench = {
    page, browser, context,
    async runCommand(title) {
      // The palette lists the commands registered when it opens: one that a contribution
      // registers a little later (Output: Show Output Channels..., while the workbench still
      // restores) is missing from it for good. So a fresh palette, up to three times.
      for (let attempt = 1; ; attempt++) {
        // Escape closes whatever quick input was left open.
        if (await quickInput.isVisible()) {
          await page.keyboard.press('Escape');
          await quickInput.waitFor({ state: 'hidden' });
        }
        await page.keyboard.press('F1');
        // F1 can go nowhere: to a webview that just closed (a Markdown preview), or while
        // focus is in no part. Then (and only then: on a loaded machine the palette can take
        // seconds to open, and a click would close it) the editor area gets focus, and F1 again.
        const opened = (ms: number) => quickInput.waitFor({ state: 'visible', timeout: ms }).then(() => true, () => false);
        if (!await opened(15_000)) {
          await page.locator('.part.editor').click();
          await page.keyboard.press('F1');
          if (!await opened(15_000)) {
            if (attempt >= 3) throw new Error(`the command palette did not open for "${title}"`);
            continue;
          }
        }
        try {
          await quickInput.fill(`>${title}`);
          await pickExact(page, title, attempt < 3 ? 5_000 : 15_000);
          return;
        } catch (e) {
          if (attempt >= 3) throw e;
        }
      }
    },
    statusBarItem(name) {
      return page.locator('.part.statusbar').getByRole('button', { name, exact: typeof name === 'string' });
    },
    async showOutputChannel(name) {
      // The output view first: the channel picker's command can be missing from the
      // palette until the view exists (seen in CI: only "similar commands" were listed).
      await wb.runCommand('Output: Focus on Output View');
      await wb.runCommand('Output: Show Output Channels...');
      await quickInput.fill(name);
      await pickExact(page, name);
      await page.locator('.part.panel .view-lines').first().waitFor({ state: 'visible' });
    },
    async outputText() {
      const lines = page.locator('.part.panel .view-lines');
      if (await lines.count() === 0) return '';
      const texts = await lines.allInnerTexts();
      return texts.join('\n').replace(/\u00a0/g, ' ');
    },
    async screenshot(name) {
      mkdirSync(RESULTS_DIR, { recursive: true });
      const file = path.join(RESULTS_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await browser.close();
    },
  };
  return wb;
}
