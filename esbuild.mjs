// Bundles the extension and the `hdc` CLI into CommonJS files under dist/.
// The devcontainers CLI stays in node_modules: it is spawned as its own Node process.
import { copyFile } from 'node:fs/promises';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
  // jsonc-parser's UMD build uses a dynamic require that bundlers cannot follow; its ESM build is fine.
  mainFields: ['module', 'main'],
  // import.meta.url has no CJS meaning; give it this file's URL so packageRoot() works.
  define: { 'import.meta.url': '__hdcImportMetaUrl' },
  banner: { js: 'const __hdcImportMetaUrl = require("url").pathToFileURL(__filename).href;' },
};

await Promise.all([
  // The extension is split: what activate() needs, and the commands with the core, loaded
  // on the first command (see src/vscode/register.ts).
  build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.cjs', external: ['vscode'] }),
  build({ ...common, entryPoints: ['src/vscode/commandsEntry.ts'], outfile: 'dist/extension-commands.cjs', external: ['vscode'] }),
  build({ ...common, entryPoints: ['src/firewall/agent.ts'], outfile: 'dist/firewall-agent.cjs' }),
  build({ ...common, entryPoints: ['src/firewall/resolver.ts'], outfile: 'dist/firewall-resolver.cjs' }),
  build({ ...common, entryPoints: ['src/sidecar/gatewayMain.ts'], outfile: 'dist/sidecar-gateway.cjs' }),
  // `hdc kube` in a bundle of its own: the Kubernetes schemas load only for that command.
  build({ ...common, entryPoints: ['src/cli/kubeEntry.ts'], outfile: 'dist/hdc-kube.cjs' }),
  build({ ...common, entryPoints: ['src/cli/hdc.ts'], outfile: 'dist/hdc.cjs', banner: { js: `#!/usr/bin/env node\n${common.banner.js}` } }),
]);
// The schema validation of `hdc kube` (kubernetes-models) checks patterns with re2-wasm,
// which loads its WebAssembly from the folder of the bundle.
await copyFile('node_modules/re2-wasm/build/wasm/re2.wasm', 'dist/re2.wasm');
