import { defineConfig } from 'vitest/config';

// Benchmarks that need the test helpers (real gateway, PKI) but measure the machine: run by hand
// (`npm run bench:agreement`), never by `npm test`.
export default defineConfig({
  test: {
    root: `${import.meta.dirname}/..`,
    include: ['bench/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
