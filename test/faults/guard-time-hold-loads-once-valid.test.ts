/**
 * Promise 1 (issue 20): material refused only for a time reason is decided again on
 * every poll and at the moment it becomes valid. The lock-out guard rightly holds back a bundle
 * whose only intermediate is a renewal not valid yet (every partner would be refused with
 * not_yet_valid). It was once remembered as `held: guard` and skipped by every scheduled poll, so
 * once the renewal WAS valid the bundle was still never loaded: only SIGHUP (or a label change)
 * brought it in. Now such a hold is decided again on every poll and at the earliest notBefore.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, type LogLine, startTestGateway } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';

const AHEAD_SECONDS = 3;
const DAY_S = 86_400;

describe('a guard hold for a time reason only', { timeout: 30_000 }, () => {
  it('a bundle held back only because its CA was not valid yet is loaded once that CA is valid', async () => {
    const pki = await makeTestPki();
    const bundle = await pki.write('bundle-guard.pem', readFileSync(pki.path('ca-bundle.pem'), 'utf8'));
    const gw = await startTestGateway(pki, { GATEWAY_CA_BUNDLE: bundle, GATEWAY_TRUST_REFRESH_SECONDS: '1' });
    try {
      for (const partner of ['partner-a', 'partner-b'])
        expect((await get(`${gw.url}/`, clientAgent(pki, partner))).status).toBe(200);
      const renewed = await issue(pki.pki.root, {
        subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
        ca: true,
        keys: pki.pki.intermediate.keys,
        notBeforeDays: AHEAD_SECONDS / DAY_S,
      });
      const notBefore = Date.now() + AHEAD_SECONDS * 1000;
      await pki.write('bundle-guard.pem', renewed.certPem + pki.pki.root.certPem);
      const blocked = await gw.logs.waitFor((l) => l.event === 'trust' && l.result === 'guard_blocked');
      const reasons = new Set((blocked.would_refuse as { reason: string }[]).map((w) => w.reason));
      expect([...reasons]).toEqual(['not_yet_valid']);
      // The renewal is valid from notBefore on: give the store notBefore + 6 polls (1 s each).
      const loaded = await Promise.race([
        gw.logs.waitFor(
          (l: LogLine) =>
            l.event === 'trust' &&
            l.kind === 'ca_bundle' &&
            l.result === 'loaded' &&
            l.version === blocked.version,
        ),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), notBefore - Date.now() + 6_000)),
      ]);
      expect(loaded, 'the time-held bundle was never loaded after its CA became valid').toBeDefined();
      expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });
});
