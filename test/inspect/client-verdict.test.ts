import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientCertificateInput,
  clientInputFromPem,
  decideClient,
  type TrustUnderTest,
} from '../../src/inspect/client-verdict.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let trust: TrustUnderTest;

beforeAll(async () => {
  pki = await makeTestPki();
  const bundle = parseCaBundle(readFileSync(pki.path('ca-bundle.pem')), {
    now: Date.now(),
    production: false,
  });
  const crls = verifiedCrlsFrom(
    readFileSync(pki.path('crl.pem')),
    bundle.cas.map((c) => c.x509),
  );
  trust = {
    bundle,
    revocation: RevocationIndex.build(crls.accepted).index,
    policy: { graceSeconds: 0, crlRequired: false },
  };
});
afterAll(() => pki.cleanup());

function input(name: string): ClientCertificateInput {
  return clientInputFromPem(name, readFileSync(pki.path(`${name}-combined.pem`), 'utf8'));
}

describe('decideClient', () => {
  const cases: [string, string][] = [
    ['partner-a', 'ok'],
    ['revoked', 'revoked'],
    ['expired', 'expired'],
    ['untrusted', 'unknown_ca'],
    ['not-yet-valid', 'not_yet_valid'],
    ['server-only', 'bad_certificate'],
  ];
  for (const [name, expected] of cases) {
    it(`${name}: the handshake and the certificate checks agree on ${expected}`, async () => {
      const byHandshake = await decideClient(input(name), trust);
      expect(byHandshake.method).toBe('tls-handshake');
      const byChecks = await decideClient(input(name), trust, { withoutHandshake: true });
      expect(byChecks.method).toBe('certificate-checks');
      const reasonOf = (d: typeof byHandshake): string => (d.verdict.ok ? 'ok' : d.verdict.reason);
      expect(reasonOf(byHandshake)).toBe(expected);
      expect(reasonOf(byChecks)).toBe(expected);
    });
  }
});
