/**
 * Promise 3 (issue 20): a cut response is an UPSTREAM error only when the upstream cut it. An
 * upstream that streams its answer while it still reads the request (an echo, a transcoder) has
 * sent its status when a chunked request body passes GATEWAY_MAX_BODY_BYTES; the gateway's own
 * limiter then aborts the exchange. That is the partner's fault (a 413 they cannot see any more):
 * it is logged `request_body_too_large`, never `upstream_reset_mid_body`, and not counted in
 * `upstream_errors_total`, so it pages nobody who owns the upstream.
 */
import { createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, metricValue, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;
const sockets: Socket[] = [];
const upstream = createServer((socket) => {
  sockets.push(socket);
  socket.on('error', () => undefined);
  let answered = false;
  socket.on('data', () => {
    if (answered) return;
    answered = true;
    // Streams its answer at once and keeps reading the (chunked) request body.
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nstart\r\n');
  });
});

beforeAll(async () => {
  pki = await makeTestPki();
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gw = await startTestGateway(pki, {
    GATEWAY_UPSTREAM: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
    GATEWAY_MAX_BODY_BYTES: '1024',
    GATEWAY_UPSTREAM_TIMEOUT_SECONDS: '5',
  });
});
afterAll(async () => {
  await gw?.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => upstream.close(r));
  await pki?.cleanup();
});

describe('the partner’s oversized body after the response started', { timeout: 20_000 }, () => {
  it('is not logged or counted as an upstream reset', async () => {
    const agent = clientAgent(pki, 'partner-a');
    let started: () => void = () => undefined;
    const responseStarted = new Promise<void>((r) => {
      started = r;
    });
    const body = Readable.from(
      (async function* () {
        yield Buffer.alloc(512, 'a');
        await responseStarted; // the gateway has relayed the upstream's 200
        for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 'b');
      })(),
    );
    const res = await request(`${gw.url}/stream`, {
      dispatcher: agent,
      method: 'POST',
      body,
      headers: { 'x-request-id': 'too-big-1' },
    });
    started();
    expect(res.statusCode).toBe(200);
    await res.body.text().catch(() => undefined);
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.request_id === 'too-big-1');
    const m = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const upstreamResets =
      metricValue(m, 'mtls_gateway_upstream_errors_total', { route: 'default', kind: 'reset_mid_body' }) ?? 0;
    expect({ reason: line.reason, upstream_error: line.upstream_error, upstreamResets }).toEqual({
      reason: 'request_body_too_large',
      upstream_error: expect.anything(),
      upstreamResets: 0,
    });
    await agent.destroy();
  });
});
