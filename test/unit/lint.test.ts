import { strict as assert } from 'node:assert';
import { ESLint } from 'eslint';

/** The architecture rule is enforced by lint; this proves the rule fires. */
describe('lint rules', () => {
  const eslint = new ESLint();
  const ruleIds = async (code: string, filePath: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath }))[0].messages.map((m) => m.ruleId ?? m.message);

  it('forbids importing vscode from src/core', async () => {
    assert.deepEqual(await ruleIds("import * as vscode from 'vscode';\nexport const x = vscode;\n", 'src/core/bad.ts'), ['no-restricted-imports']);
  });

  it('allows vscode in src/vscode', async () => {
    assert.deepEqual(await ruleIds("import * as vscode from 'vscode';\nexport const x = vscode;\n", 'src/vscode/ok.ts'), []);
  });

  it('forbids child_process everywhere in src (processes go through the runner)', async () => {
    assert.deepEqual(await ruleIds("import { exec } from 'node:child_process';\nexport const x = exec;\n", 'src/vscode/bad.ts'), ['no-restricted-imports']);
  });
});
