import { defineConfig } from 'vitest/config';

/**
 * Two tiers (CONTRIBUTING.md). `unit`: pure code and its own small servers (openssl, a local
 * HTTPS source), no gateway process and no dist/: `npm run test:unit`. `e2e`: everything that
 * starts a gateway, the CLI or a container, and needs `npm run build`: `npm run test:e2e`.
 * `npm test` runs both. `npm run lint` checks that every test file is in exactly one
 * (scripts/check-test-tiers.mjs).
 */
const UNIT_FOLDERS = ['asn1', 'config', 'docs', 'identity', 'inspect', 'policy', 'proxy', 'tls', 'trust'];
const E2E_FOLDERS = [
  'cli',
  'deploy',
  'differential',
  'e2e',
  'faults',
  'hostile',
  'loadtest',
  'observability',
];
/** Files in a unit folder that start a real gateway. */
const E2E_FILES = ['test/config/parameter-store.test.ts', 'test/tls/gate-hardening.test.ts'];
const tests = (folder: string): string => `test/${folder}/**/*.test.ts`;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real TLS servers on ephemeral ports; two workers match the 2-core target machine.
    pool: 'forks',
    // Memory tests force a full GC before they measure (test/e2e/streaming.test.ts).
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT_FOLDERS.map(tests), exclude: E2E_FILES },
      },
      {
        extends: true,
        test: { name: 'e2e', include: [...E2E_FOLDERS.map(tests), ...E2E_FILES] },
      },
    ],
  },
});
