// Benchmark helper: times require() + activate() of an extension bundle in a fresh Node
// process, with a minimal stand-in for the `vscode` module (this measures our own code's
// start-up cost; VS Code's API calls here are trivial). Prints the milliseconds.
// Usage: node bench-activate.cjs BUNDLE
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');

const noop = () => undefined;
const disposable = { dispose: noop };
const item = new Proxy({ show: noop, hide: noop, dispose: noop }, { set: () => true, get: (t, k) => (k in t ? t[k] : undefined) });
class EventEmitter {
  event = () => disposable;
  fire() {}
  dispose() {}
}
const vscode = {
  window: {
    createStatusBarItem: () => item, createOutputChannel: () => ({ info: noop, warn: noop, debug: noop, error: noop, show: noop, dispose: noop }), activeTextEditor: undefined,
    createTreeView: () => disposable,
  },
  workspace: {
    getConfiguration: () => ({ get: () => undefined }), workspaceFolders: [], findFiles: async () => [], onDidChangeConfiguration: () => disposable, getWorkspaceFolder: noop,
    registerTextDocumentContentProvider: () => disposable,
  },
  EventEmitter,
  commands: { registerCommand: () => disposable, executeCommand: async () => undefined },
  StatusBarAlignment: { Left: 1 }, ThemeColor: class {}, MarkdownString: class { appendMarkdown() {} }, ConfigurationTarget: { WorkspaceFolder: 3, Global: 1 },
  Uri: { file: (p) => ({ fsPath: p }), joinPath: (base, ...parts) => ({ fsPath: path.join(base.fsPath, ...parts) }), parse: noop, from: noop },
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) { return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest); };
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };

const t0 = process.hrtime.bigint();
const ext = require(path.resolve(process.argv[2]));
ext.activate({ subscriptions: [], globalStorageUri: { fsPath: path.join(os.tmpdir(), 'hdc-bench-storage') } });
process.stdout.write(`${Number(process.hrtime.bigint() - t0) / 1e6}\n`);
// activate() leaves a timer that loads the commands' bundle a second later (the view's model): not this figure's.
process.exit(0);
