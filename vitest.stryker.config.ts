import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant (stryker.config.mjs): the unit tests of the mutated
// rooms, each fast enough to run again for every mutant it covers. Left out, because their
// beforeAll starts a whole gateway, compiles the CRL worker or spawns openssl s_client (making
// most mutants "static", rerun with every test): test/tls/gate-hardening.test.ts,
// test/trust/crl-size.test.ts; and test/trust/sources.test.ts, test/tls/proxy-protocol.test.ts,
// which reach no mutated file. Threads without isolation: Stryker reruns a few tests per mutant,
// and starting a fresh fork for each of those reruns is most of the cost on two cores.
export default defineConfig({
  test: {
    include: [
      'test/identity/**/*.test.ts',
      'test/policy/policy.test.ts',
      'test/policy/request-path.test.ts',
      'test/policy/route-table.test.ts',
      'test/policy/whoami.test.ts',
      'test/policy/matchers.test.ts',
      'test/policy/policy-decisions.test.ts',
      'test/policy/request-authorizer.test.ts',
      'test/trust/crl-synthetic.test.ts',
      'test/trust/crl-openssl.test.ts',
      'test/trust/crl-fuzz.test.ts',
      'test/trust/parse-crl.test.ts',
      'test/trust/revocation-index.test.ts',
      'test/trust/crl-worker.test.ts',
      'test/trust/verify-crl.test.ts',
      'test/tls/client-chain.test.ts',
      'test/tls/connection-gate.test.ts',
      'test/proxy/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'threads',
    isolate: false,
    maxWorkers: 2,
  },
});
