/**
 * Promise 4 (issue 20): `trust_last_success_timestamp_seconds{kind="crl"}` moves only when every
 * CRL source answered with nothing refused (README). A source that starts serving a CRL the
 * gateway refuses (garbage, a bad signature) is rejected once; that version is then held as
 * invalid and skipped on later polls without a new rejection. Those polls must not count as
 * successful: otherwise the metric moves on each unchanged poll while the source still serves
 * refused material and the CRL in force ages, and a "CRL source stale" alert never fires. (The CA
 * bundle, in the same situation, keeps its last_success still.)
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setHttpsSourceDispatcher } from '../../src/trust/sources/index.js';
import { clientAgent, get, metricValue, startTestGateway } from '../helpers/gateway.js';
import { etagHandler, type ObjectCounts } from '../helpers/object-server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
  setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
});
afterAll(async () => {
  await pki?.cleanup();
});

const LAST_SUCCESS = 'mtls_gateway_trust_last_success_timestamp_seconds';

describe('CRL freshness while the source serves a refused CRL', { timeout: 20_000 }, () => {
  it('last_success{kind="crl"} stays put on polls that find the refused CRL unchanged', async () => {
    let body = Buffer.from(pki.pki.files['crl.pem']!);
    const counts: ObjectCounts = { full: 0, notModified: 0 };
    let onAnswer: () => void = () => undefined;
    const server: Server = createHttpsServer(
      { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
      etagHandler(
        () => body,
        counts,
        () => onAnswer(),
      ),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const gw = await startTestGateway(pki, {
      GATEWAY_CRLS: `https://localhost:${port}/crl.pem`,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
    });
    try {
      const metric = async (): Promise<number> =>
        metricValue((await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text, LAST_SUCCESS, {
          kind: 'crl',
        }) ?? 0;
      // The source now serves something that is not a CRL the gateway can accept.
      body = Buffer.from('-----BEGIN X509 CRL-----\nTUlJQg==\n-----END X509 CRL-----\n');
      await gw.logs.waitFor((l) => l.event === 'trust' && l.kind === 'crl' && l.result === 'rejected');
      const atRejection = await metric();
      // Three more polls, each answered 304 for the refused version.
      const seen = counts.notModified;
      await new Promise<void>((r) => {
        onAnswer = () => counts.notModified >= seen + 3 && r();
      });
      await get(`${gw.url}/`, clientAgent(pki, 'partner-a')); // let the poll's result land
      expect(await metric(), 'freshness moved while the CRL source serves refused material').toBe(
        atRejection,
      );
    } finally {
      await gw.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
