/**
 * Slowloris: 1,000 connections trickling bytes (raw TCP sending a real ClientHello one byte at a
 * time, and verified TLS connections sending HTTP headers one byte at a time) against a gateway
 * with one-second handshake and request timeouts. Every one is cut by the gateway (handshake
 * timeout, or 408) while a legitimate client keeps getting 200s, and afterwards no connection is
 * left open on either side.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  captureClientHello,
  clientAgent,
  get,
  metricValue,
  type TestGateway,
  useTestGateway,
  waitForMetric,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

/** Two sockets (ours and the gateway's) per connection, in this one process: stay well under ulimit -n. */
const TOTAL = 1_000;
const TLS_SLOW = 250;
const RAW_SLOW = TOTAL - TLS_SLOW;
const TRICKLE_MS = 50;

let pki: TestPki;
let gw: TestGateway;

useTestGateway(
  {
    GATEWAY_LOG_LEVEL: 'error',
    GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '1',
    GATEWAY_REQUEST_TIMEOUT_SECONDS: '1',
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: String(TOTAL + 100),
    GATEWAY_MAX_HANDSHAKING_CONNECTIONS: String(TOTAL + 100),
  },
  (started) => ({ pki, gw } = started),
);

/** Resolves when `s` closes (already closed included). */
const closed = (s: Socket): Promise<void> =>
  new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));

/** A verified TLS connection (partner-a), nothing sent yet. */
function verifiedSocket(port: number, ca: Buffer, cert: Buffer, key: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca, cert, key });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('slowloris', () => {
  it(`cuts ${TOTAL} trickling connections while a legitimate client is served`, {
    timeout: 20_000,
  }, async () => {
    const hello = await captureClientHello();
    const ca = readFileSync(pki.path('root-ca.pem'));
    const cert = readFileSync(pki.path('partner-a.pem'));
    const key = readFileSync(pki.path('partner-a-key.pem'));

    // The TLS tricklers first (their handshakes must complete), then the raw ones.
    const tls = await Promise.all(
      Array.from({ length: TLS_SLOW }, () => verifiedSocket(gw.port, ca, cert, key)),
    );
    const answers = tls.map((s) => {
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        text += d;
      });
      s.on('error', () => undefined);
      return closed(s).then(() => text);
    });
    const raw = Array.from({ length: RAW_SLOW }, () => {
      const s = netConnect(gw.port, '127.0.0.1');
      s.on('error', () => undefined);
      return s;
    });

    // One timer trickles the next byte on every open connection.
    const request = Buffer.from(`GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'p'.repeat(400)}\r\n\r\n`);
    const slow: { socket: Socket; bytes: Buffer; sent: number }[] = [
      ...tls.map((socket) => ({ socket: socket as Socket, bytes: request, sent: 0 })),
      ...raw.map((socket) => ({ socket, bytes: hello, sent: 0 })),
    ];
    const trickle = setInterval(() => {
      for (const c of slow) {
        if (c.socket.destroyed || c.sent >= c.bytes.length) continue;
        c.socket.write(c.bytes.subarray(c.sent, c.sent + 1));
        c.sent++;
      }
    }, TRICKLE_MS);
    const allClosed = Promise.all(slow.map((c) => closed(c.socket)));

    // The legitimate client: keep-alive and fresh connections, every answer a 200, until the
    // attack is over.
    const statuses: number[] = [];
    let attackOver = false;
    const legit = (async () => {
      const keepAlive = clientAgent(pki, 'partner-a');
      while (!attackOver) {
        statuses.push((await get(`${gw.url}/legit`, keepAlive)).status);
        const fresh = clientAgent(pki, 'partner-a');
        statuses.push((await get(`${gw.url}/legit-fresh`, fresh)).status);
        await fresh.close();
      }
      await keepAlive.close();
    })();

    try {
      await allClosed;
    } finally {
      clearInterval(trickle);
      attackOver = true;
    }
    await legit;

    // No trickler got its request through; each TLS one was answered 408 (or cut), none with a 200.
    const texts = await Promise.all(answers);
    for (const t of texts) expect(t === '' || /^HTTP\/1\.1 408 /.test(t)).toBe(true);
    expect(texts.filter((t) => t.startsWith('HTTP/1.1 408 ')).length).toBeGreaterThan(TLS_SLOW * 0.9);
    expect(gw.upstream.seen.some((r) => r.path === '/slow')).toBe(false);
    // No trickler finished its bytes before being cut (else the test proved nothing).
    expect(slow.every((c) => c.sent < c.bytes.length)).toBe(true);

    expect(statuses.length).toBeGreaterThan(4);
    expect(statuses.every((s) => s === 200)).toBe(true);

    const m = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const timeouts =
      metricValue(m, 'mtls_gateway_handshakes_total', { result: 'failure', reason: 'timeout' }) ?? 0;
    expect(timeouts).toBeGreaterThanOrEqual(RAW_SLOW);
    // Server side: every socket closed, the gauge back to zero.
    await waitForMetric(gw, 'mtls_gateway_active_connections', {}, (v) => v === 0);
  });
});
