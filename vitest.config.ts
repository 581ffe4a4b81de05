import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real TLS servers on ephemeral ports; two workers match the 2-core target machine.
    pool: 'forks',
    // Memory tests force a full GC before they measure (test/e2e/streaming.test.ts).
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
  },
});
