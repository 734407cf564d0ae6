'use strict';
/**
 * `npm run lint`: the layering first (docs/design.md): the firmware sees the hardware only through
 * hal/types.ts; the device HAL sees no firmware, simulator or tool; nothing outside test/ imports
 * test/; sim/ (the world around the unit) imports no tool. Then a small set of correctness rules.
 */
const tseslint = require('typescript-eslint');

const only = (allowed, why) => ({
  'no-restricted-imports': ['error', { patterns: [{ regex: `^(?!(${allowed.join('|')})$)`, message: why }] }]
});

module.exports = tseslint.config(
  {
    ignores: [
      'dist/**',
      'out/**',
      'node_modules/**',
      'reports/**',
      '.stryker-tmp/**',
      'tools/espruino-board/prelude.js'
    ]
  },
  {
    files: ['**/*.ts', '**/*.js', '**/*.cjs'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-require-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      'prefer-rest-params': 'error',
      'no-var': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-duplicate-case': 'error',
      'no-unreachable': 'error',
      'no-sparse-arrays': 'error'
    }
  },
  { files: ['**/*.js', '**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off', 'no-var': 'off' } },
  // Tests reach into results and mocks where a type would only restate the assertion.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  {
    files: ['firmware/**/*.ts'],
    ignores: ['firmware/main.ts'],
    rules: only(
      ['\\./[\\w./-]+', '\\.\\./hal/types'],
      'firmware/ imports only hal/types and itself: the hardware is reached through the HAL'
    )
  },
  {
    // The device entry composes the board's HAL with the app: the one firmware file that may.
    files: ['firmware/main.ts'],
    rules: only(
      ['\\./[\\w./-]+', '\\.\\./hal/types', '\\.\\./hal/espruino/index', '\\.\\./hal/espruino/board'],
      'the device entry imports the firmware and the board HAL only'
    )
  },
  {
    files: ['hal/**/*.ts'],
    rules: only(
      ['\\./[\\w./-]+', '\\.\\./types', '\\.\\./code-image'],
      'hal/ imports only itself: no firmware, simulator, tool or test'
    )
  },
  {
    // A board's composition file picks the shared drivers of hal/espruino.
    files: ['hal/espruino/boards/*.ts'],
    rules: only(
      ['\\.\\./[\\w-]+', '\\.\\./\\.\\./types'],
      'a board file composes the drivers of hal/espruino and the HAL types, nothing else'
    )
  },
  {
    files: ['sim/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(tools|test)/',
              message: 'sim/ is the world around the unit: it imports no tool and no test'
            }
          ]
        }
      ]
    }
  },
  {
    files: ['tools/**/*.ts', 'tools/**/*.js', 'build.js'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)test/', message: 'nothing outside test/ imports test/' }] }
      ]
    }
  }
);
