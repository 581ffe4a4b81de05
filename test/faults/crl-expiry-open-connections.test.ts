/**
 * A CRL that expires while a keep-alive connection is open catches that connection too (issue
 * 20): with no trust change at all, the connection's next request after the CRL's nextUpdate +
 * grace is refused (`crl_expired`), as a new connection would be, instead of being served until
 * the maximum connection age.
 */
import { describe, expect, it } from 'vitest';
import { makeCrl } from '../../src/dev/pki.js';
import { clientAgent, get, startTestGateway } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';

const SHORT_SECONDS = 3;

describe('CRL expiry on open connections', { timeout: 20_000 }, () => {
  it('refuses the next request on an open keep-alive connection once its CRL expired', async () => {
    const pki = await makeTestPki();
    const crls = await pki.write(
      'crl-short.pem',
      (await makeCrl(pki.pki.root)) +
        (await makeCrl(pki.pki.intermediate, {
          revoked: [{ serialHex: pki.pki.clients.revoked.serialHex }],
          nextUpdateDays: SHORT_SECONDS / 86_400,
        })),
    );
    const gw = await startTestGateway(pki, {
      GATEWAY_CRLS: crls,
      GATEWAY_CRL_GRACE_SECONDS: '0',
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
      GATEWAY_VERIFY_MODE: 'explain',
    });
    const agent = clientAgent(pki, 'partner-a');
    try {
      expect((await get(`${gw.url}/`, agent)).status).toBe(200);
      const snapshot = gw.gateway.trust.current;
      // The gateway notices the CRL passed its nextUpdate (its poll says so); nothing was reloaded.
      await gw.logs.waitFor((l) => l.event === 'trust' && l.msg === 'CRL is past its nextUpdate');
      const res = await get(`${gw.url}/`, agent);
      expect(res.status).toBe(403);
      expect(res.json<{ error: string }>().error).toBe('crl_expired');
      expect(gw.gateway.trust.current).toBe(snapshot);
      // On the same connection: one handshake for partner-a in all.
      const handshakes = gw.logs
        .events('handshake')
        .filter((l) => String(l.subject ?? '').includes('CN=partner-a'));
      expect(handshakes).toHaveLength(1);
    } finally {
      await agent.close();
      await gw.close();
      await pki.cleanup();
    }
  });
});
