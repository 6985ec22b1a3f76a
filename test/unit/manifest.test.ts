import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, SECTION } from '../../src/config/settings';

const manifest = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
const props: Record<string, { default: unknown; markdownDescription?: string; scope?: string }> = manifest.contributes.configuration.properties;

/** package.json is what VS Code shows; the core's defaults are what hdc uses. They must agree. */
describe('extension manifest', () => {
  const flat: Record<string, unknown> = {
    runtime: DEFAULT_SETTINGS.runtime, podmanPath: DEFAULT_SETTINGS.podmanPath, dockerPath: DEFAULT_SETTINGS.dockerPath,
    upTimeoutSeconds: DEFAULT_SETTINGS.upTimeoutSeconds,
    ...Object.fromEntries(Object.entries(DEFAULT_SETTINGS.firewall).map(([k, v]) => [`firewall.${k}`, v])),
    revokeSudo: DEFAULT_SETTINGS.revokeSudo, noNewPrivileges: DEFAULT_SETTINGS.noNewPrivileges,
    ...Object.fromEntries(Object.entries(DEFAULT_SETTINGS.limits).map(([k, v]) => [`limits.${k}`, v])),
    ...Object.fromEntries(Object.entries(DEFAULT_SETTINGS.podmanSidecar).filter(([k]) => k !== 'resources').map(([k, v]) => [`podmanSidecar.${k}`, v])),
    ...Object.fromEntries(Object.entries(DEFAULT_SETTINGS.podmanSidecar.resources).map(([k, v]) => [`podmanSidecar.resources.${k}`, v])),
  };

  it('contributes every setting with the core default, a description and a scope', () => {
    assert.deepEqual(Object.keys(props).sort(), Object.keys(flat).map((k) => `${SECTION}.${k}`).sort());
    for (const [key, value] of Object.entries(flat)) {
      const prop = props[`${SECTION}.${key}`];
      assert.deepEqual(prop.default, value, key);
      assert.ok(prop.markdownDescription && prop.scope, `${key} has a description and a scope`);
    }
  });

  it('targets VS Code 1.100 and ships the hdc binary', () => {
    assert.equal(manifest.engines.vscode, '^1.100.0');
    assert.equal(manifest.bin.hdc, './dist/hdc.cjs');
  });

  it('packs every shell script of src/ into the VSIX (.vscodeignore lists each)', () => {
    const root = path.join(import.meta.dirname, '..', '..');
    const kept = readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).trim());
    const scripts = (readdirSync(path.join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.sh')).map((f) => `src/${f}`);
    assert.ok(scripts.length >= 6, scripts.join(' '));
    for (const script of scripts) assert.ok(kept.includes(script), `${script} is not in .vscodeignore's allow-list: the installed extension would lack it`);
  });
});
