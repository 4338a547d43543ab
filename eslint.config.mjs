// Typed lint rules, and the layers of src/ (eslint.layers.mjs): imports point down the layers, and
// workflow files, which run in Temporal's deterministic sandbox, load no Node built-in and nothing
// that does I/O; they see activities as types only.
import tseslint from 'typescript-eslint';
import { layerConfigs } from './eslint.layers.mjs';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.data/**',
      '.tools/**',
      'bin/**',
      'infra/*.mjs',
      'eslint.config.mjs',
      'eslint.layers.mjs',
      'eslint.layers.d.mts',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      'no-console': 'error',
    },
  },
  ...layerConfigs(),
  {
    // The CLI and scripts talk to a terminal on purpose.
    files: ['src/cli/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', 'infra/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
