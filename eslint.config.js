// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import hdc from './eslint/layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.bench/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Every process goes through src/base/runner.ts with an argv array.
      'no-restricted-imports': ['error', { paths: [
        { name: 'child_process', message: 'spawn through src/base/runner.ts (execa, argv arrays)' },
        { name: 'node:child_process', message: 'spawn through src/base/runner.ts (execa, argv arrays)' },
      ] }],
    },
  },
  {
    // The layers of src/ (eslint/layers.js): imports go down, never up or sideways.
    files: ['src/**/*.ts'],
    plugins: { hdc },
    rules: { 'hdc/layers': 'error' },
  },
  {
    // The core never touches the editor: it is shared with the headless `hdc` CLI.
    files: ['src/**/*.ts'],
    ignores: ['src/vscode/**', 'src/extension.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [
        { name: 'vscode', message: 'only src/vscode and src/extension.ts import vscode: the rest is shared with the headless hdc CLI' },
        { name: 'child_process', message: 'spawn through src/base/runner.ts (execa, argv arrays)' },
        { name: 'node:child_process', message: 'spawn through src/base/runner.ts (execa, argv arrays)' },
      ] }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Code that VS Code's extension host or code-server loads with require().
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly', process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', describe: 'readonly', it: 'readonly', before: 'readonly', after: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-restricted-imports': 'off' },
  },
);
