/**
 * Promise 2 (issue 20): "drain must report cut requests honestly" and the count must not hold
 * requests nobody will answer. During a drain the request handler marks every connection
 * "closing" and never answers a request that follows on it (`after_connection_close`). That is
 * right only if the answer before it said `Connection: close`. A refusal in explain mode (and a
 * local answer such as whoami) was once sent WITHOUT it while draining: the partner reused the
 * connection, its next request was parked (never answered, counted in flight) and the drain waited
 * out its deadline and reported it cut (`clean: false`, exit 1). Every answer on a closing
 * connection now carries `Connection: close`.
 */
import { createServer, type Socket } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { clientAgent, startTestGateway } from '../helpers/gateway.js';
import { makeTestPki } from '../helpers/pki.js';
import { nextResponse, rawTlsConnect } from '../helpers/raw-client.js';

describe('drain and a refused keep-alive connection', { timeout: 20_000 }, () => {
  it('a refusal sent while draining closes the connection; the drain ends clean', async () => {
    const pki = await makeTestPki();
    // An upstream that answers after 1.5 s: one partner-a request keeps the drain open.
    let arrivedUpstream: () => void = () => undefined;
    const atUpstream = new Promise<void>((r) => {
      arrivedUpstream = r;
    });
    const upstreamSockets: Socket[] = [];
    const upstream = createServer((socket) => {
      upstreamSockets.push(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => {
        arrivedUpstream();
        setTimeout(() => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow'), 1_500);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const gw = await startTestGateway(pki, {
      GATEWAY_VERIFY_MODE: 'explain',
      GATEWAY_DRAIN_SECONDS: '4',
      GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
    });
    // The first application bytes reaching the gateway's side of the connection.
    const server = (gw.gateway as unknown as { listener: { server: import('node:tls').Server } }).listener
      .server;
    const arrived = new Promise<void>((r) =>
      server.once('secureConnection', (socket) => socket.once('data', () => r())),
    );
    const s = rawTlsConnect(pki, gw.port, 'not-yet-valid');
    s.on('error', () => undefined);
    try {
      await new Promise<void>((r) => s.once('secureConnect', () => r()));
      // R1's head is still arriving when the drain starts: the connection is busy, not idle.
      s.write('GET /r1 HTTP/1.1\r\nhost: local');
      await arrived;
      const agent = clientAgent(pki, 'partner-a');
      const slow = request(`${gw.url}/slow`, { dispatcher: agent }).then((r) => r.body.text());
      await atUpstream;
      const drained = gw.gateway.drain();
      // The rest of R1, answered while draining.
      const second = nextResponse(s);
      s.write('host\r\n\r\n');
      const refusal = await second;
      expect(refusal).toMatch(/^HTTP\/1\.1 403/);
      if (!/\r\nconnection: close\r\n/i.test(refusal)) {
        // Kept alive, so a partner reuses it (as undici, curl and every pool do): this one is parked.
        s.write('GET /r2 HTTP/1.1\r\nhost: localhost\r\n\r\n');
      }
      expect(await slow).toBe('slow');
      const clean = await drained;
      const stopped = await gw.logs.waitFor((l) => l.event === 'lifecycle' && l.msg === 'stopped');
      expect({
        clean,
        cut: stopped.cut_requests,
        refusalKeptAlive: !/connection: close/i.test(refusal),
      }).toEqual({
        clean: true,
        cut: 0,
        refusalKeptAlive: false,
      });
    } finally {
      s.destroy();
      await gw.close().catch(() => undefined);
      for (const u of upstreamSockets) u.destroy();
      upstream.close();
      await pki.cleanup();
    }
  });
});
