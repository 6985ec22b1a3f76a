import { strict as assert } from 'node:assert';
import { ESLint } from 'eslint';

/** The architecture rule is enforced by lint; this proves the rule fires. */
describe('lint rules', () => {
  const eslint = new ESLint();
  const ruleIds = async (code: string, filePath: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath }))[0].messages.map((m) => m.ruleId ?? m.message);

  it('forbids importing vscode outside src/vscode', async () => {
    assert.deepEqual(await ruleIds("import * as vscode from 'vscode';\nexport const x = vscode;\n", 'src/base/bad.ts'), ['no-restricted-imports']);
  });

  it('allows vscode in src/vscode', async () => {
    assert.deepEqual(await ruleIds("import * as vscode from 'vscode';\nexport const x = vscode;\n", 'src/vscode/ok.ts'), []);
  });

  it('forbids child_process everywhere in src (processes go through the runner)', async () => {
    assert.deepEqual(await ruleIds("import { exec } from 'node:child_process';\nexport const x = exec;\n", 'src/vscode/bad.ts'), ['no-restricted-imports']);
  });

  describe('the layers of src/ (eslint/layers.js)', () => {
    const imports = (spec: string): string => `import * as m from '${spec}';\nexport const x = m;\n`;

    it('forbids an upward import: the base importing an operation', async () => {
      assert.deepEqual(await ruleIds(imports('../ops/up'), 'src/base/bad.ts'), ['hdc/layers']);
    });

    it('forbids an upward import: a feature importing a front end', async () => {
      assert.deepEqual(await ruleIds(imports('../cli/hdc'), 'src/firewall/bad.ts'), ['hdc/layers']);
    });

    it('forbids a sideways import between features', async () => {
      assert.deepEqual(await ruleIds(imports('../firewall/policy'), 'src/sidecar/bad.ts'), ['hdc/layers']);
    });

    it('forbids a re-export that goes up', async () => {
      assert.deepEqual(await ruleIds("export { up } from '../ops/up';\n", 'src/config/bad.ts'), ['hdc/layers']);
    });

    it('forbids a folder that is in no layer', async () => {
      assert.deepEqual(await ruleIds(imports('../base/errors'), 'src/misc/bad.ts'), ['hdc/layers']);
    });

    it('allows imports that go down, and within a folder', async () => {
      assert.deepEqual(await ruleIds(imports('../base/errors'), 'src/ops/ok.ts'), []);
      assert.deepEqual(await ruleIds(imports('../firewall/policy'), 'src/ops/ok.ts'), []);
      assert.deepEqual(await ruleIds(imports('./policy'), 'src/firewall/ok.ts'), []);
      assert.deepEqual(await ruleIds(imports('./vscode/register'), 'src/extension2.ts'), []);
    });
  });
});
