import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real TLS servers on ephemeral ports; two workers match the 2-core target machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
