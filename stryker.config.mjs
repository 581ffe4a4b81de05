// Mutation testing of the code an attacker reaches (issue #19): `npm run test:mutation`.
// How to run, the scores and the equivalent survivors: test/MUTATION.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.stryker.config.ts', pool: 'threads', related: true },
  mutate: [
    'src/identity/*.ts',
    '!src/identity/index.ts',
    'src/trust/revocation-index.ts',
    'src/trust/crl/*.ts',
    'src/tls/connection-gate.ts',
    'src/tls/client-chain.ts',
    'src/policy/*.ts',
    '!src/policy/index.ts',
    'src/proxy/upstream-headers.ts',
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants, code run while test files load) rerun every related
  // test with a fresh module graph: about a quarter of the mutants but 85% of the run time. They
  // are left out of the score; test/MUTATION.md says how to include them.
  ignoreStatic: true,
  // Two cores on the target machine (and in CI); each runner is one vitest fork.
  concurrency: 2,
  reporters: ['clear-text', 'html', 'json', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', 'coverage', 'reports', 'bench/results', 'certs-dev'],
  thresholds: { high: 90, low: 85, break: null },
  // Tests start real TLS servers and run openssl: give a slow, shared machine room before a
  // mutant is called a timeout.
  timeoutMS: 5_000,
};
