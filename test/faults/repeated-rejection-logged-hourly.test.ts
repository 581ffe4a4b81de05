/**
 * An expired CA in a bundle is refused for the clock, so the bundle is decided again on every poll
 * (it may be corrected, or the clock may be): behaviour that stays. What must not follow is one
 * identical error line per poll (2,880 a day at 30 s) and a /trust list of recent rejections filled
 * with that one rejection. The same rejection of the same version is logged once per hour, and the
 * repeats are still counted in trust_reloads_total{result="failure"}.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, startTestGateway, trustOf, waitForMetric } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';

const FAILURES = 'mtls_gateway_trust_reloads_total';

describe('a bundle refused on every poll', { timeout: 30_000 }, () => {
  it('is retried on every poll but logged and listed once', async () => {
    const pki = await makeTestPki();
    const good = readFileSync(pki.path('ca-bundle.pem'), 'utf8');
    const bundle = await pki.write('bundle-repeat.pem', good);
    const gw = await startTestGateway(pki, { GATEWAY_CA_BUNDLE: bundle, GATEWAY_TRUST_REFRESH_SECONDS: '1' });
    try {
      const expired = await issue(pki.pki.root, {
        subject: 'O=mtls-gateway development, CN=expired intermediate',
        ca: true,
        notBeforeDays: -30,
        notAfterDays: -1,
      });
      await pki.write('bundle-repeat.pem', good + expired.certPem);
      const labels = { kind: 'ca_bundle', result: 'failure' };
      const first = await waitForMetric(gw, FAILURES, labels, (v) => v >= 1);
      // Three more polls refuse the same version again: still retried, still counted.
      await waitForMetric(gw, FAILURES, labels, (v) => v >= first + 3, 10_000);
      const rejected = gw.logs
        .events('trust')
        .filter(
          (l) => l.kind === 'ca_bundle' && l.result === 'rejected' && String(l.reason).includes('expired'),
        );
      expect(rejected).toHaveLength(1);
      const trust = await trustOf(gw.adminUrl);
      expect(trust.last_rejected.filter((r) => r.kind === 'ca_bundle')).toHaveLength(1);
      // The partners keep being served by the bundle in force.
      expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });
});
