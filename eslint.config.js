// Lint rules: type-aware typescript-eslint, plus the layering rule that keeps models/ pure.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // examples/ is a package of its own (a user's repository), linted and type-checked by the package flow.
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js', 'examples/**', 'docs/api/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['test/package/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      eqeqeq: 'error',
    },
  },
  {
    // models/ are pure step functions over plain data: no generators, no test framework.
    files: ['models/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['fast-check', 'vitest', 'vitest/*'], message: 'models/ must stay pure: no fast-check or vitest' },
            { group: ['**/properties/**', '**/src/**', '**/test/**'], message: 'models/ depend on nothing above them' },
          ],
        },
      ],
    },
  },
  {
    // Plain Node scripts.
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', performance: 'readonly', console: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
