/**
 * Silent sockets cannot keep a partner out (issue 14 follow-up). GATEWAY_MAX_HANDSHAKING_CONNECTIONS
 * is one global cap; it used to refuse the NEW socket at accept, so anyone who can reach the port,
 * with no certificate at all, could open that many sockets that send nothing, hold them, and reopen
 * them at each timeout: every partner was closed at accept meanwhile, and behind an NLB no
 * per-address rule separates them. Now a full cap closes the OLDEST handshaking socket instead
 * (`connections_refused_total{reason="handshaking_evicted"}`, and a log line), so the partner's
 * fresh handshake completes. Cap 20 here to keep the test cheap; the attack is the same at 512.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientAgent,
  get,
  metricValue,
  startTestGateway,
  type TestGateway,
  waitForMetric,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { idleSocket } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;
const sockets: Socket[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  gw = await startTestGateway(pki, {
    GATEWAY_MAX_HANDSHAKING_CONNECTIONS: '20',
    GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '10',
    GATEWAY_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await gw?.close();
  await pki?.cleanup();
});

describe('unauthenticated sockets cannot keep a verified partner out', () => {
  it('a partner is served while 20 silent sockets (no certificate, no byte) are open', async () => {
    await Promise.all(Array.from({ length: 20 }, () => idleSocket(gw.port, sockets)));
    await waitForMetric(gw, 'mtls_gateway_handshaking_connections', {}, (v) => v === 20);
    const agent = clientAgent(pki, 'partner-a');
    try {
      const res = await get(`${gw.url}/receipts`, agent).catch((err: Error) => ({ status: 0, err }));
      expect(res.status).toBe(200);
      // Room was made by closing the oldest silent socket, not by refusing the partner.
      expect(
        metricValue(
          await (await fetch(`${gw.adminUrl}/metrics`)).text(),
          'mtls_gateway_connections_refused_total',
          { reason: 'handshaking_evicted' },
        ),
      ).toBeGreaterThanOrEqual(1);
      const line = await gw.logs.waitFor(
        (l) => l.event === 'connection' && l.reason === 'handshaking_evicted',
      );
      expect(line).toMatchObject({ result: 'evicted', client: '127.0.0.1' });
    } finally {
      await agent.close();
    }
  });
});
