// ESLint: typescript-eslint's recommended rules, small functions, no stray console in the library.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'docs/api/', 'node_modules/', 'coverage/', 'test-results/', 'test/fixtures/', 'src/chunker/wasm-template.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: false }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Prettier wraps code at 140 columns; this catches the comments it leaves alone.
      'max-len': ['error', { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
      // Byte-level formats (Go strings, tar, YAML) match control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  // typescript-eslint turns no-undef off for .ts files (the compiler checks names there), and ES
  // built-ins such as BigInt or globalThis come with the ECMAScript version; the plain JS scripts,
  // benchmarks and examples need only these Node globals.
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: { globals: { Buffer: 'readonly', console: 'readonly', process: 'readonly', setTimeout: 'readonly' } },
  },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } } },
  { files: ['test/**/*.ts'], rules: { 'no-regex-spaces': 'off' } },
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
);
