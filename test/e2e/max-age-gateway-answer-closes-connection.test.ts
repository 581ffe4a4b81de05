/**
 * Promise 2 (issue 20), outside a drain: the in-flight count must not hold requests nobody will
 * answer. On a connection past GATEWAY_MAX_CONNECTION_AGE_SECONDS the handler marks the socket
 * "closing" and parks every later request on it (`after_connection_close`). Forwarded answers
 * carried `Connection: close` then, but the gateway's own answers (`answer()`: 502 upstream
 * unavailable, 404, 431, …) did not: the partner reused the connection and its next request was
 * never answered, counted in flight (so a later drain waited and reported it
 * cut). The clock is moved with vitest's fake Date only (timers and TLS stay real); the client is
 * one raw TLS connection, so nothing client-side reacts to the moved clock.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestGateway } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';
import { nextResponse, rawTlsConnect } from '../helpers/raw-client.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the gateway’s own answer on an aged connection', { timeout: 20_000 }, () => {
  it('a 502 on a connection past its maximum age says Connection: close, so nothing is parked', async () => {
    const pki = await makeTestPki();
    // A port with nothing listening: every forward is a 502 upstream_unavailable.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const gw = await startTestGateway(pki, {
      GATEWAY_UPSTREAM: `http://127.0.0.1:${deadPort}`,
      GATEWAY_MAX_CONNECTION_AGE_SECONDS: '1',
    });
    const s = rawTlsConnect(pki, gw.port, 'partner-a');
    s.on('error', () => undefined);
    try {
      await new Promise<void>((r) => s.once('secureConnect', () => r()));
      const first = nextResponse(s);
      s.write('GET /one HTTP/1.1\r\nhost: localhost\r\n\r\n');
      expect(await first).toMatch(/^HTTP\/1\.1 502/);
      // The connection is now past its maximum age.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 5_000);
      const second = nextResponse(s);
      s.write('GET /two HTTP/1.1\r\nhost: localhost\r\n\r\n');
      const aged = await second;
      expect(aged).toMatch(/^HTTP\/1\.1 502/);
      const keptAlive = !/\r\nconnection: close\r\n/i.test(aged);
      let parked: unknown;
      if (keptAlive) {
        // Kept alive, so the partner reuses it: the gateway logs the request and never answers it.
        s.write('GET /three HTTP/1.1\r\nhost: localhost\r\n\r\n');
        const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/three');
        parked = line.reason;
      }
      expect({ keptAlive, parked }).toEqual({ keptAlive: false, parked: undefined });
    } finally {
      vi.useRealTimers();
      s.destroy();
      await gw.close();
      await pki.cleanup();
    }
  });
});
