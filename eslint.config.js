// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.bench/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Every process goes through src/core/runner.ts with an argv array.
      'no-restricted-imports': ['error', { paths: [
        { name: 'child_process', message: 'spawn through src/core/runner.ts (execa, argv arrays)' },
        { name: 'node:child_process', message: 'spawn through src/core/runner.ts (execa, argv arrays)' },
      ] }],
    },
  },
  {
    // The core never touches the editor: it is shared with the headless `hdc` CLI.
    files: ['src/core/**/*.ts', 'src/cli/**/*.ts', 'src/firewall/**/*.ts', 'src/hardening/**/*.ts', 'src/sidecar/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [
        { name: 'vscode', message: 'src/core must not import vscode; put editor code in src/vscode' },
        { name: 'child_process', message: 'spawn through src/core/runner.ts (execa, argv arrays)' },
        { name: 'node:child_process', message: 'spawn through src/core/runner.ts (execa, argv arrays)' },
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
