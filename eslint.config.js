// ESLint: typescript-eslint's strict type-checked rules over all TypeScript, with type information
// from tsconfig.json. Formatting is Prettier's job (`npm run format:check`), not ESLint's.
import eslint from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/.peers/', 'reports/', '.stryker-tmp/', 'bench/**/*.mjs', 'stryker/**', '*.config.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Error messages name limits and counts ("the limit is 8 per request"): numbers in templates are the point.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(x) => log(x)` as a callback is clear; braces around every one-call arrow add nothing.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // An `async` method without `await` is how an implementation of a Promise-returning interface
      // (the in-memory store, test doubles) turns a throw into a rejection, as its callers expect.
      '@typescript-eslint/require-await': 'off',
      // `const { raw: _raw, ...rest } = x` is how an object is copied without one field.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      // Responses are built from the headers setHeader collects (src/reply/reply.ts); reply() never sees c.header()'s.
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='header'][arguments.length>=2]",
          message: 'Set response headers with setHeader() from src/reply/reply.ts: reply() does not see c.header().',
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      // In a test, `x!` on a value the test just built fails loudly if the assumption breaks.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Vitest's asymmetric matchers (expect.any, expect.objectContaining) are typed `any` by design.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
)
