// @ts-check
// `npm run lint` runs `tsc --noEmit` and then this: typescript-eslint's type-checked rules on every
// TypeScript file of the project. A rule turned off or relaxed below says why.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/peer/node_modules/**', 'coverage/**', '.data/**', 'bench/results/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The ones that catch real bugs in this code base, named so that no preset change drops them.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Off: a method implementing a Promise-returning interface (a deployer's `status`, a handle's
      // `stop`) with nothing to wait for is written `async` so that a throw becomes a rejection; those
      // are all this rule reports here.
      '@typescript-eslint/require-await': 'off',
      // A `let` read by a closure before its one assignment (a runner the consumer it runs asks about)
      // cannot be a `const`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests read response bodies, which supertest types as `any`, and assert on their shape: the
    // assertion is the check, so the no-unsafe-* family would only ask for casts before each one.
    files: ['test/**/*.ts', 'bench/**/*.test.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Tests put whatever an error holds into their failure messages: at worst a poorer message.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // Plain JavaScript configuration files (jest.config.js, this file) are outside the TypeScript project.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'commonjs' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
);
