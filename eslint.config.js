// Lint rules that encode lessons: no dropped promises, no stdout in the server, node: imports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/', 'schema/', 'src/**/*.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': ['error', { allow: ['error'] }] },
  },
  // Module boundaries (docs/architecture.md §2): layers import downwards only. core/ imports no
  // other layer; the plugin families and policy/ never reach up into the server, the transports,
  // the console or the CLI, so each can be tested and replaced on its own.
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*', '!../core/*'], message: 'core/ imports no other layer' }] },
      ],
    },
  },
  {
    files: [
      'src/secrets/**/*.ts',
      'src/cache/**/*.ts',
      'src/audit/**/*.ts',
      'src/upstream/**/*.ts',
      'src/identity/**/*.ts',
      'src/policy/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/server/*', '**/transports/*', '**/console/*', '**/cli/*'],
              message: 'plugins and policy/ do not import the layers that compose them',
            },
          ],
        },
      ],
    },
  },
  // Config schema fragments: each plugin family's `*-config.ts` (secrets/vault/vault-config.ts, …)
  // imports zod, the shared rules of core/ and its own family's fragments only. config/ composes
  // the schema from them, so loading the schema never loads an implementation or its client
  // library (Vault, AWS, Redis and PostgreSQL stay behind their registry's import()).
  {
    files: ['src/{secrets,cache,audit,upstream,identity,policy,connections,transports}/**/*-config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!zod$|(\\.\\./)+core/[a-z-]+\\.js$|(\\.\\.?/)+[a-z-]+-config\\.js$)',
              message:
                "a config schema fragment imports only zod, core/ and its family's other *-config.ts (never an implementation)",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  prettier,
);
