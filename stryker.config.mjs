// Mutation testing of the code that decides whether a receiver's reply acknowledges a frame
// (issue #15; docs/reporting.md, "Mutation testing"). `npm run mutate`; never part of `npm test`.
// Stryker 9 (10 needs Node 22); mocha 12 needs tools/stryker-cjs.cjs, which the npm script loads.
// Reports go to reports/mutation/, the sandboxes to .stryker-tmp/ (both git-ignored).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'mocha',
  // Mutants that do not compile are dropped before any test runs.
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ['firmware/channel.ts', 'firmware/centre-clock.ts', 'firmware/dc09.ts', 'firmware/route.ts'],
  mochaOptions: {
    // Not .mocharc.json: that runs the whole suite (minutes) with its own reporter.
    'no-config': true,
    'no-package': true,
    require: ['tsx/cjs'],
    extension: ['ts'],
    spec: [
      'test/reply-mutants.test.ts',
      'test/reply-checks.test.ts',
      'test/route.test.ts',
      'test/dc09.test.ts',
      'test/security.test.ts',
      'test/input-fuzz.test.ts',
      'test/reporting.test.ts',
      'test/interop.test.ts'
    ]
  },
  // Each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 10000,
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' }
};
