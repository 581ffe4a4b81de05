/**
 * The real `mtls-gateway serve` process: SIGTERM turns /readyz to 503 at once, stops accepting,
 * lets an in-flight request finish (exit 0) or cuts it after GATEWAY_DRAIN_SECONDS (exit 1).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let upstream: Server;
let upstreamPort: number;
const held: { req: IncomingMessage; res: ServerResponse }[] = [];
let onHeld: (() => void) | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = createServer((req, res) => {
    if (req.url === '/slow') {
      held.push({ req, res });
      onHeld?.();
      return;
    }
    res.end('fast');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  await pki.cleanup();
});

function holdNext(): Promise<void> {
  return new Promise((resolve) => {
    onHeld = () => {
      onHeld = undefined;
      resolve();
    };
  });
}

// Each test spawns a real gateway process (AWS SDK import included): generous timeouts for a loaded CI box.
describe('graceful shutdown', { timeout: 90_000 }, () => {
  it('finishes an in-flight request after SIGTERM, reports not ready, and exits 0', async () => {
    const gw = await startServe(pki, upstreamPort, { GATEWAY_DRAIN_SECONDS: '20' });
    const agent = clientAgent(pki, 'partner-a');
    const url = `https://localhost:${gw.tlsPort}`;
    expect((await get(`http://127.0.0.1:${gw.adminPort}/readyz`, agent)).status).toBe(200);
    const arrived = holdNext();
    const slow = request(`${url}/slow`, { dispatcher: agent });
    await arrived;
    gw.child.kill('SIGTERM');
    await gw.waitLog((l) => l.msg === 'draining');
    const ready = await get(`http://127.0.0.1:${gw.adminPort}/readyz`, agent);
    expect(ready.status).toBe(503);
    expect(ready.json()).toEqual({ status: 'not_ready', reason: 'draining' });
    held.shift()!.res.end('slow done');
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    expect(await res.body.text()).toBe('slow done');
    expect(await gw.exited).toBe(0);
    await agent.close();
  });

  it('cuts a request that outlives GATEWAY_DRAIN_SECONDS and exits 1', async () => {
    const gw = await startServe(pki, upstreamPort, { GATEWAY_DRAIN_SECONDS: '1' });
    const agent = clientAgent(pki, 'partner-a');
    const arrived = holdNext();
    const slow = request(`https://localhost:${gw.tlsPort}/slow`, { dispatcher: agent });
    await arrived;
    gw.child.kill('SIGTERM');
    await expect(slow).rejects.toThrow();
    expect(await gw.exited).toBe(1);
    const line = await gw.waitLog((l) => l.msg === 'stopped');
    expect(line.cut_requests).toBe(1);
    held.shift()?.res.destroy();
    await agent.destroy();
  });
});
