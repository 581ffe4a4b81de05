/**
 * A blocked stdout (a stalled log driver, a full pipe) costs bounded memory and never keeps the
 * process alive (issue 20): lines beyond GATEWAY_LOG_BUFFER_BYTES are dropped and counted in
 * `log_lines_dropped_total`, requests keep being served, and SIGTERM still ends the process.
 * The real `serve` process with a pipe for stdout that the test stops reading.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, metricValue } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let upstream: Server;
let upstreamPort: number;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  await pki?.cleanup();
});

const DROPPED = 'mtls_gateway_log_lines_dropped_total';

describe('blocked stdout', { timeout: 60_000 }, () => {
  it('drops and counts lines past the buffer, keeps serving, and still exits on SIGTERM', async () => {
    const gw = await startServe(pki, upstreamPort, {
      GATEWAY_LOG_BUFFER_BYTES: '65536',
      GATEWAY_DRAIN_SECONDS: '2',
    });
    const agent = clientAgent(pki, 'partner-a');
    const admin = `http://127.0.0.1:${gw.adminPort}/metrics`;
    try {
      gw.child.stdout!.pause(); // nobody reads the pipe any more: it fills, then stdout blocks
      const dropped = async (): Promise<number> =>
        metricValue(await (await fetch(admin)).text(), DROPPED, {}) ?? 0;
      expect(await dropped()).toBe(0);
      // One request line each; well past pipe + buffer within a few thousand requests.
      let rounds = 0;
      while ((await dropped()) === 0) {
        if (++rounds > 40) throw new Error('no log line was dropped after 40 rounds of requests');
        const answers = await Promise.all(
          Array.from({ length: 100 }, () => get(`https://localhost:${gw.tlsPort}/`, agent)),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
      }
      expect(await dropped()).toBeGreaterThan(0);
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(0);
    } finally {
      gw.child.stdout!.resume();
      await agent.close();
      gw.kill();
    }
  });
});
