/**
 * Out of file descriptors is never silent (issue 20): at start a GATEWAY_MAX_CONNECTIONS the fd
 * limit cannot carry is warned about (as HAProxy checks maxconn), and when the descriptors run out
 * under load a `warn` line says so and `accept_errors_total{code="EMFILE"}` counts it. The real
 * `serve` process under `ulimit -n`, real TCP connections.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve-process.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki?.cleanup();
});

const NOFILE = 100;

describe('file descriptor exhaustion', { timeout: 30_000 }, () => {
  it('warns at start, then logs and counts EMFILE when connections exhaust the descriptors', async () => {
    const gw = await startServe(pki, 9, { GATEWAY_MAX_CONNECTIONS: '10000' }, { nofile: NOFILE });
    const sockets: Socket[] = [];
    try {
      const budget = await gw.waitLog((l) => String(l.msg).startsWith('GATEWAY_MAX_CONNECTIONS exceeds'));
      expect(budget).toMatchObject({ level: 'warn', max_connections: 10000, nofile_soft: NOFILE });
      expect(Number(budget.fds_needed)).toBeGreaterThan(NOFILE);

      // More idle TCP connections than the process has descriptors (each waits in the handshake).
      const exhausted = gw.waitLog((l) => String(l.msg).startsWith('out of file descriptors'));
      for (let i = 0; i < NOFILE; i++) {
        const s = connect({ port: gw.tlsPort, host: '127.0.0.1' });
        s.on('error', () => undefined);
        sockets.push(s);
      }
      const line = await exhausted;
      expect(line).toMatchObject({ level: 'warn', code: 'EMFILE', limit: NOFILE });
      for (const s of sockets) s.destroy();
      // Once they are gone the admin port answers again, and the metric counted the exhaustion.
      // (Its own sides of those connections close as it notices; until then an accept may still fail.)
      let text = '';
      for (const deadline = performance.now() + 5_000; !text; ) {
        text = await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`).then(
          (r) => r.text(),
          async (err: Error) => {
            if (performance.now() > deadline) throw err;
            await new Promise((r) => setTimeout(r, 50));
            return '';
          },
        );
      }
      expect(
        metricValue(text, 'mtls_gateway_accept_errors_total', { code: 'EMFILE' }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      for (const s of sockets) s.destroy();
      gw.kill();
      await gw.exited;
    }
  });
});
