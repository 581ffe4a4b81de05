/**
 * Freshness means "last successful check" for every kind (issue 20, defect 4): an unchanged CRL
 * (a 304 from S3 or an https endpoint) moves `trust_last_success_timestamp_seconds{kind="crl"}`, so
 * a "CRL source stale" alert tells an outage from an unchanged CRL; the material's last change has
 * its own metric, which an unchanged poll leaves alone. Against the real S3 SDK and undici, talking
 * to local stand-ins.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setHttpsSourceDispatcher } from '../../src/trust/sources/index.js';
import {
  clientAgent,
  get,
  metricValue,
  refusal,
  startTestGateway,
  waitForMetric,
} from '../helpers/gateway.js';
import { etagHandler, type ObjectCounts } from '../helpers/object-server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
const savedEnv = { ...process.env };

beforeAll(async () => {
  pki = await makeTestPki();
  // Credentials and region for the SDK's default chain; nothing is signed against a real account.
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
  });
  setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
});
afterAll(async () => {
  process.env = savedEnv;
  await pki?.cleanup();
});

const LAST_SUCCESS = 'mtls_gateway_trust_last_success_timestamp_seconds';
const LAST_CHANGE = 'mtls_gateway_trust_last_change_timestamp_seconds';

describe('CRL freshness', { timeout: 20_000 }, () => {
  it.each(['s3', 'https'] as const)(
    'an unchanged CRL from %s moves last_success and leaves last_change',
    async (kind) => {
      const crl = Buffer.from(pki.pki.files['crl.pem']!);
      const counts: ObjectCounts = { full: 0, notModified: 0 };
      let twoUnchanged: () => void = () => undefined;
      const unchangedTwice = new Promise<void>((r) => {
        twoUnchanged = r;
      });
      const handler = etagHandler(
        () => crl,
        counts,
        () => counts.notModified >= 2 && twoUnchanged(),
      );
      const server: Server =
        kind === 's3'
          ? createHttpServer(handler)
          : createHttpsServer(
              { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
              handler,
            );
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      if (kind === 's3') process.env.AWS_ENDPOINT_URL_S3 = `http://127.0.0.1:${port}`;
      const gw = await startTestGateway(pki, {
        GATEWAY_CRLS: kind === 's3' ? 's3://crls/crl.pem' : `https://localhost:${port}/crl.pem`,
        GATEWAY_TRUST_REFRESH_SECONDS: '1',
      });
      try {
        const metrics = async (): Promise<string> =>
          (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
        const first = await metrics();
        const success0 = metricValue(first, LAST_SUCCESS, { kind: 'crl' }) ?? 0;
        const change0 = metricValue(first, LAST_CHANGE, { kind: 'crl' }) ?? 0;
        expect(success0).toBeGreaterThan(0);
        expect(change0).toBeGreaterThan(0);
        await unchangedTwice;
        await waitForMetric(gw, LAST_SUCCESS, { kind: 'crl' }, (v) => v > success0);
        expect(metricValue(await metrics(), LAST_CHANGE, { kind: 'crl' })).toBe(change0);
        expect(counts.full).toBe(1);
        // The CRL really is in force: the revoked partner is refused, the good one served.
        expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
        expect(await refusal(`${gw.url}/`, clientAgent(pki, 'revoked'))).toEqual({
          status: 403,
          error: 'revoked',
          connection: 'close',
        });
      } finally {
        await gw.close();
        delete process.env.AWS_ENDPOINT_URL_S3;
        server.closeAllConnections();
        server.close();
      }
    },
  );
});
