/**
 * Two kinds of connection limit (issue 14, finding 5), with every client on one source address
 * (127.0.0.1, as behind an NLB without PROXY protocol): unauthenticated sockets are counted from
 * accept, including those that send nothing, against GATEWAY_MAX_HANDSHAKING_CONNECTIONS and cut
 * at the handshake timeout; GATEWAY_MAX_CONNECTIONS_PER_CLIENT counts verified connections per
 * identity (declared partner, else certificate), never per address.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  captureClientHello,
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
let gw: TestGateway | undefined;
/** Every raw socket a test opened (the gateway is expected to cut them; this closes the rest). */
const open: Socket[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  for (const s of open) s.destroy();
  await gw?.close();
  await pki?.cleanup();
});

async function gateway(env: Record<string, string>): Promise<TestGateway> {
  await gw?.close();
  gw = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'info', ...env });
  return gw;
}

const closed = (s: Socket): Promise<void> =>
  new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));

/** A verified TLS connection as `name`; resolves once the handshake completed on our side. */
function verified(port: number, name: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      cert: readFileSync(pki.path(`${name}.pem`)),
      key: readFileSync(pki.path(`${name}-key.pem`)),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function metrics(g: TestGateway): Promise<string> {
  return (await get(`${g.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
}

describe('connection limits behind one source address', () => {
  it('idle and slow unauthenticated sockets do not keep a verified partner out, and are cut at the timeout', {
    timeout: 20_000,
  }, async () => {
    const g = await gateway({
      GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '50',
      GATEWAY_MAX_HANDSHAKING_CONNECTIONS: '200',
      GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '2',
    });
    const hello = await captureClientHello();
    // 30 that send nothing, 60 that send the first bytes of a ClientHello and stall: all 127.0.0.1.
    const silent = await Promise.all(Array.from({ length: 30 }, () => idleSocket(g.port, open)));
    const slow = await Promise.all(
      Array.from({ length: 60 }, () => idleSocket(g.port, open, hello.subarray(0, 20))),
    );
    await waitForMetric(g, 'mtls_gateway_handshaking_connections', {}, (v) => v === 90);
    // A verified partner from the same address is served: per-client limits are per identity.
    const res = await get(`${g.url}/receipts`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    expect(res.json<{ headers: Record<string, string> }>().headers['x-client-id']).toBe('cn:partner-a');
    // Every unauthenticated socket, silent ones included, is closed by the gateway at the timeout.
    await Promise.all([...silent, ...slow].map(closed));
    await waitForMetric(g, 'mtls_gateway_handshaking_connections', {}, (v) => v === 0);
    const text = await metrics(g);
    expect(metricValue(text, 'mtls_gateway_handshakes_total', { result: 'failure', reason: 'timeout' })).toBe(
      90,
    );
    expect(
      metricValue(text, 'mtls_gateway_connections_refused_total', { reason: 'max_connections_per_client' }),
    ).toBeUndefined();
  });

  it('counts sockets that send nothing against GATEWAY_MAX_HANDSHAKING_CONNECTIONS from accept; when full the oldest goes', {
    timeout: 20_000,
  }, async () => {
    const g = await gateway({
      GATEWAY_MAX_HANDSHAKING_CONNECTIONS: '20',
      GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '2',
    });
    // One after the other, so the gateway accepts them in this order.
    const silent: Socket[] = [];
    for (let i = 0; i < 20; i++) silent.push(await idleSocket(g.port, open));
    await waitForMetric(g, 'mtls_gateway_handshaking_connections', {}, (v) => v === 20);
    // The 21st is kept; the oldest silent socket is closed to make room.
    const extra = await idleSocket(g.port, open);
    await closed(silent[0]!);
    const log = await g.logs.waitFor((l) => l.event === 'connection' && l.reason === 'handshaking_evicted');
    expect(log).toMatchObject({ client: '127.0.0.1', result: 'evicted' });
    expect(String(log.detail)).toContain('GATEWAY_MAX_HANDSHAKING_CONNECTIONS full');
    expect(extra.destroyed).toBe(false);
    await waitForMetric(g, 'mtls_gateway_handshaking_connections', {}, (v) => v === 20);
    const text = await metrics(g);
    expect(
      metricValue(text, 'mtls_gateway_connections_refused_total', { reason: 'handshaking_evicted' }),
    ).toBe(1);
    expect(
      metricValue(text, 'mtls_gateway_connections_refused_total', { reason: 'max_handshaking_connections' }),
    ).toBeUndefined();
    // The rest are cut at the handshake timeout (the evicted one is not counted as a timeout too).
    await Promise.all([...silent.slice(1), extra].map(closed));
    await waitForMetric(g, 'mtls_gateway_handshaking_connections', {}, (v) => v === 0);
    expect(
      metricValue(await metrics(g), 'mtls_gateway_handshakes_total', {
        result: 'failure',
        reason: 'timeout',
      }),
    ).toBe(20);
    expect((await get(`${g.url}/after`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });

  it('applies GATEWAY_MAX_CONNECTIONS_PER_CLIENT to the verified identity, not the address', async () => {
    const g = await gateway({ GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '2' });
    const open = [await verified(g.port, 'partner-a'), await verified(g.port, 'partner-a')];
    await waitForMetric(g, 'mtls_gateway_active_connections', {}, (v) => v === 2);
    const third = await verified(g.port, 'partner-a');
    await closed(third);
    const log = await g.logs.waitFor(
      (l) => l.event === 'connection' && l.reason === 'max_connections_per_client',
    );
    expect(log).toMatchObject({ client: '127.0.0.1', partner_id: 'cn:partner-a', result: 'refused' });
    // Another partner on the same address is not affected.
    const other = clientAgent(pki, 'partner-b');
    expect((await get(`${g.url}/b`, other)).status).toBe(200);
    await other.close();
    for (const s of open) s.destroy();
    await Promise.all(open.map(closed));
    expect(
      metricValue(await metrics(g), 'mtls_gateway_connections_refused_total', {
        reason: 'max_connections_per_client',
      }),
    ).toBe(1);
  });
});
