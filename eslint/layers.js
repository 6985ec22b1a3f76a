// @ts-check
/**
 * The dependency rule of src/ (README "Architecture"): a folder imports only folders of a
 * lower layer, and the features never import each other. Each folder's layer is listed
 * here, once; a folder that is not listed is an error, so a new one gets a place.
 */
import * as path from 'node:path';

/** Lower layers first. Folders on one line are siblings that must not import each other. */
export const LAYERS = [
  ['base'],
  ['config'],
  ['workspace'],
  ['firewall', 'hardening', 'sidecar', 'shim'],
  // The features composed for a cluster (`hdc kube`): pure manifests.
  ['kube'],
  ['ops'],
  ['cli', 'vscode'],
  // src/extension.ts: the editor's entry point.
  ['.'],
];

const layerOf = (folder) => LAYERS.findIndex((l) => l.includes(folder));

/** The top folder under src/ of a file ('.' for src/extension.ts), or undefined outside src/. */
function srcFolder(file) {
  const rel = path.relative(path.resolve('src'), path.resolve(file));
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  return parts.length === 1 ? '.' : parts[0];
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports in src/ go down the layers, never up or sideways' },
    messages: {
      unknown: 'src/{{from}} is in no layer: add it to LAYERS in eslint/layers.js',
      upward: 'src/{{from}} (layer {{fromLayer}}) must not import src/{{to}} (layer {{toLayer}}): imports go down the layers (README "Architecture")',
      sideways: 'src/{{from}} must not import src/{{to}}: features do not borrow from each other; move the shared part down (base/, config/ or workspace/) or join them in ops/',
    },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const from = srcFolder(file);
    if (from === undefined) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = srcFolder(path.resolve(path.dirname(file), spec));
      if (to === undefined || to === from) return;
      const fromLayer = layerOf(from);
      const toLayer = layerOf(to);
      if (fromLayer < 0) return context.report({ node, messageId: 'unknown', data: { from } });
      if (toLayer < 0) return context.report({ node, messageId: 'unknown', data: { from: to } });
      if (toLayer > fromLayer) context.report({ node, messageId: 'upward', data: { from, to, fromLayer: String(fromLayer), toLayer: String(toLayer) } });
      else if (toLayer === fromLayer) context.report({ node, messageId: 'sideways', data: { from, to } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { layers: layersRule } };
