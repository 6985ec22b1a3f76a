import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, SECTION } from '../../src/config/settings';
import { commandId, COMMANDS, DISPLAY_NAME, EDITOR_SETTINGS, ITEM_ACTIONS, PALETTE_WHEN, VIEW, VIEW_CONTAINER, VIEW_TITLE } from '../../src/vscode/ids';

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
    ...EDITOR_SETTINGS,
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

  describe('commands: package.json contributes exactly COMMANDS of src/vscode/ids.ts', () => {
    type Contributed = { command: string; title?: string; category?: string; icon?: string; when?: string };
    const contributed: Contributed[] = manifest.contributes.commands ?? [];
    const palette: Contributed[] = manifest.contributes.menus?.commandPalette ?? [];
    const expected = COMMANDS.map((c) => ({ command: commandId(c.name), title: c.title, category: DISPLAY_NAME, icon: c.icon }));
    const ids = new Set<string>(expected.map((c) => c.command));
    /** What one list has and the other lacks, by id, for the failure message. */
    const difference = (have: string[], want: string[]): string =>
      `missing from package.json: ${want.filter((id) => !have.includes(id)).join(', ') || 'none'}; `
      + `in package.json but not in COMMANDS: ${have.filter((id) => !want.includes(id)).join(', ') || 'none'}`;

    it('the commands\' category is the display name', () => {
      assert.equal(manifest.displayName, DISPLAY_NAME);
    });

    it('contributes.commands: every id once, with its title, category and icon', () => {
      const have = contributed.map((c) => c.command);
      assert.deepEqual(have, expected.map((c) => c.command), difference(have, [...ids]));
      for (const want of expected) assert.deepEqual(contributed.find((c) => c.command === want.command), want, want.command);
    });

    it('menus: each command in the palette once (item actions hidden there), the view\'s title and item actions as ids.ts lists them; no other menu', () => {
      const have = palette.map((c) => c.command);
      assert.deepEqual([...have].sort(), [...ids].sort(), difference(have, [...ids]));
      for (const entry of palette) {
        const spec = COMMANDS.find((c) => commandId(c.name) === entry.command);
        assert.deepEqual(entry, { command: entry.command, when: spec?.palette === false ? 'false' : PALETTE_WHEN }, entry.command);
      }
      assert.deepEqual(Object.keys(manifest.contributes.menus ?? {}), ['commandPalette', 'view/title', 'view/item/context']);
      assert.deepEqual(manifest.contributes.menus['view/title'], VIEW_TITLE.map((name, i) => ({ command: commandId(name), when: `view == ${VIEW}`, group: `navigation@${i}` })));
      assert.deepEqual(manifest.contributes.menus['view/item/context'], ITEM_ACTIONS.flatMap(({ item, commands }) =>
        commands.map((name, i) => ({ command: commandId(name), when: `view == ${VIEW} && viewItem == ${item}`, group: `inline@${i}` }))));
    });

    it('the view: one view in its own activity-bar container, shown with a devcontainer.json', () => {
      assert.deepEqual(manifest.contributes.viewsContainers.activitybar.map((c: { id: string }) => c.id), [VIEW_CONTAINER]);
      assert.deepEqual(manifest.contributes.views[VIEW_CONTAINER].map((v: { id: string; when: string }) => [v.id, v.when]), [[VIEW, PALETTE_WHEN]]);
    });

    it('activation: no onCommand event for a command that is not contributed (VS Code adds the contributed ones)', () => {
      const onCommand = (manifest.activationEvents as string[]).filter((e) => e.startsWith('onCommand:')).map((e) => e.slice('onCommand:'.length));
      assert.deepEqual(onCommand.filter((id) => !ids.has(id)), []);
    });
  });

  it('packs every shell script of src/ into the VSIX (.vscodeignore lists each)', () => {
    const root = path.join(import.meta.dirname, '..', '..');
    const kept = readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).trim());
    const scripts = (readdirSync(path.join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.sh')).map((f) => `src/${f}`);
    assert.ok(scripts.length >= 6, scripts.join(' '));
    for (const script of scripts) assert.ok(kept.includes(script), `${script} is not in .vscodeignore's allow-list: the installed extension would lack it`);
  });

  it('packs every bundle that esbuild.mjs writes into the VSIX (the sidecar\'s gateway, the resolver, …)', () => {
    const root = path.join(import.meta.dirname, '..', '..');
    const kept = readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).trim());
    const bundles = [...readFileSync(path.join(root, 'esbuild.mjs'), 'utf8').matchAll(/outfile: '(dist\/[^']+)'/g)].map((m) => m[1]);
    assert.ok(bundles.includes('dist/sidecar-gateway.cjs'), bundles.join(' '));
    for (const b of bundles) assert.ok(kept.includes(b), `${b} is not in .vscodeignore's allow-list: the installed extension would lack it`);
  });
});
