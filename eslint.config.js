// The lint gate of `npm test`. Deliberately small: tsc (strict, noUnused*) already checks types,
// so the rules here are the ones tsc cannot enforce. `import-x/no-cycle` keeps the import graph
// acyclic (test/architecture.test.ts checks the folder arrows; this checks every file, including
// type-only imports and files outside src/), and `consistent-type-imports` keeps type-only
// imports erasable under `verbatimModuleSyntax`.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'bench/results/'] },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended, tseslint.configs.base],
    plugins: { 'import-x': importX },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
    },
    settings: {
      // no-cycle parses each imported file: it needs to know that .ts files take the TS parser.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Sources import siblings as './x.js' (NodeNext ESM); the files on disk are './x.ts'.
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      // tsc resolves identifiers and types; ESLint's scope analysis does not know TS globals.
      'no-undef': 'off',
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
);
