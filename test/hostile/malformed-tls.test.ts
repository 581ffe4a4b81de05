/**
 * Malformed TLS on the listener, from a seeded PRNG: random bytes, mutated and truncated real
 * ClientHellos, records with lying lengths, plaintext HTTP and PROXY-looking bytes. The gateway
 * never crashes, closes every connection, classifies every failure as `protocol`, `other` or
 * `timeout` (never a certificate reason, never a success), keeps serving, and its memory stays
 * bounded.
 */
import { connect as netConnect } from 'node:net';
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
import { mulberry32 } from '../helpers/prng.js';

const CASES = 3_000;
const CONCURRENCY = 100;
const SEED = 0x9e3779b9;

let pki: TestPki;
let gw: TestGateway;

useTestGateway(
  { GATEWAY_LOG_LEVEL: 'error', GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '1' },
  (started) => ({ pki, gw } = started),
);

/** One hostile input: bytes to send, then a half-close (the gateway must not wait for more). */
function makeCase(rand: () => number, hello: Buffer): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  switch (int(8)) {
    case 0: // random garbage
      return bytes(1 + int(600));
    case 1: {
      // a real ClientHello with a few bytes flipped
      const b = Buffer.from(hello);
      for (let i = 0, n = 1 + int(8); i < n; i++) b[int(b.length)] = int(256);
      return b;
    }
    case 2: // a real ClientHello cut short
      return hello.subarray(0, 1 + int(hello.length - 1));
    case 3: {
      // a handshake record whose length lies (too long, zero or maximal)
      const b = Buffer.from(hello);
      b.writeUInt16BE([0, 1, 0x4000, 0xffff, int(0x10000)][int(5)]!, 3);
      return b;
    }
    case 4: {
      // the inner handshake length lies
      const b = Buffer.from(hello);
      b.writeUIntBE(int(0x1000000), 6, 3);
      return b;
    }
    case 5: // a valid record header, random content type/version, garbage body
      return Buffer.concat([
        Buffer.from([[20, 21, 22, 23, 24, int(256)][int(6)]!, 3, int(5)]),
        bytes(2 + int(300)),
      ]);
    case 6: // plaintext on the TLS port
      return Buffer.from(
        ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'SSH-2.0-x\r\n'][int(3)]!,
      );
    default: {
      // a ClientHello followed by trailing garbage, or garbage prefixed
      return int(2) === 0
        ? Buffer.concat([hello, bytes(1 + int(200))])
        : Buffer.concat([bytes(1 + int(8)), hello]);
    }
  }
}

/** Sends one case; resolves when the gateway closed the connection. */
function send(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => s.end(payload));
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

describe('malformed TLS', () => {
  it(`survives ${CASES} seeded hostile inputs and closes every connection`, { timeout: 40_000 }, async () => {
    const hello = await captureClientHello();
    const rand = mulberry32(SEED);
    const cases = Array.from({ length: CASES }, () => makeCase(rand, hello));
    const metrics = async (): Promise<string> =>
      (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    /** `result:reason` → count, from mtls_gateway_handshakes_total samples. */
    const failures = (text: string): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        if (!line.startsWith('mtls_gateway_handshakes_total{')) continue;
        const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        out[`${labels.result}:${labels.reason}`] = Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return out;
    };

    const legit = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/before`, legit)).status).toBe(200);
    const rssBefore = process.memoryUsage().rss;

    let next = 0;
    let closedCount = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          await send(gw.port, cases[next++]!);
          closedCount++;
        }
      }),
    );
    expect(closedCount).toBe(CASES);

    // Still serving, on the connection it had and on a new one.
    expect((await get(`${gw.url}/after`, legit)).status).toBe(200);
    const fresh = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/after-fresh`, fresh)).status).toBe(200);
    await Promise.all([legit.close(), fresh.close()]);
    await waitForMetric(gw, 'mtls_gateway_active_connections', {}, (v) => v === 0);

    const counted = failures(await metrics());
    const refused = Object.entries(counted).filter(([k]) => k.startsWith('failure:'));
    // Only transport-level reasons: hostile bytes never get as far as a certificate decision.
    for (const [key] of refused)
      expect(['failure:protocol', 'failure:other', 'failure:timeout']).toContain(key);
    // Each hostile connection is decided and counted once (none uncounted, none twice).
    const total = refused.reduce((sum, [, n]) => sum + n, 0);
    expect(total).toBe(CASES);
    expect(metricValue(await metrics(), 'mtls_gateway_handshakes_total', { result: 'success' })).toBe(2);

    // Generous: 3,000 connections' worth of buffers must not stay behind.
    const grown = process.memoryUsage().rss - rssBefore;
    expect(grown).toBeLessThan(150 * 1024 * 1024);
  });
});
