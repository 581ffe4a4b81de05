/**
 * A refused client's requests are logged (with the bytes of the JSON answer it got) and counted
 * under the route their path selects: an
 * operator reading `requests_total{route="receipts",code="403"}` sees partners failing on receipts,
 * not an anonymous `default`. Nothing is forwarded.
 */
import { describe, expect, it } from 'vitest';
import { DEMO_POLICY } from '../../src/cli/serve-command.js';
import { clientAgent, get, metricValue, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

describe('refused requests keep their route', () => {
  let pki: TestPki;
  let gw: TestGateway;
  useTestGateway(
    // The demo policy npm start ships: a `receipts` route open to any verified client.
    { GATEWAY_VERIFY_MODE: 'explain', GATEWAY_CONFIG: DEMO_POLICY },
    (started) => {
      ({ pki, gw } = started);
    },
  );

  it('logs and counts a revoked client on /receipts under route receipts', async () => {
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/receipts/42`, clientAgent(pki, 'revoked'));
    expect(res.status).toBe(403);
    expect(res.json<{ error: string }>().error).toBe('revoked');
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/receipts/42');
    // bytes_out is the JSON body the client got, not 0.
    expect(line).toMatchObject({ status: 403, route: 'receipts', bytes_out: Buffer.byteLength(res.text) });
    const metrics = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    expect(metricValue(metrics, 'mtls_gateway_requests_total', { route: 'receipts', code: '403' })).toBe(1);
    expect(gw.upstream.seen.length).toBe(before);
  });
});
