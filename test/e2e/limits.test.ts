import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clientAgent,
  get,
  metricValue,
  rawExchange,
  startTestGateway,
  type TestGateway,
  useTestGateway,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;

useTestGateway(
  {
    GATEWAY_MAX_URL_BYTES: '300',
    GATEWAY_MAX_BODY_BYTES: '1000',
    GATEWAY_REQUEST_TIMEOUT_SECONDS: '1',
    GATEWAY_MAX_REQUESTS_PER_CONNECTION: '2',
  },
  (started) => ({ pki, gw } = started),
);
// Tests below replace the file's gateway with one of their own settings: the last one is closed here.
afterAll(async () => {
  await gw?.close();
});

function tlsSocket(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = rawTlsConnect(pki, gw.port, 'partner-a');
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `text` and collects what comes back until the gateway closes the connection. */
function exchange(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      out += d;
    });
    s.once('close', () => resolve(out));
    s.write(text);
  });
}

describe('request limits', () => {
  it('answers 414 to a request target over GATEWAY_MAX_URL_BYTES', async () => {
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/${'a'.repeat(400)}`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(414);
    expect(res.json<{ error: string }>().error).toBe('uri_too_long');
    expect(gw.upstream.seen.length).toBe(before);
  });

  it('answers 413 to a declared body over GATEWAY_MAX_BODY_BYTES, before forwarding', async () => {
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/upload`, clientAgent(pki, 'partner-a'), {
      method: 'POST',
      body: 'x'.repeat(2000),
    });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(gw.upstream.seen.length).toBe(before);
    const small = await get(`${gw.url}/upload`, clientAgent(pki, 'partner-a'), {
      method: 'POST',
      body: 'x'.repeat(500),
    });
    expect(small.status).toBe(200);
  });

  it('answers 413 to a chunked body that grows over the limit, and the upstream never gets it whole', async () => {
    const before = gw.upstream.seen.length;
    const chunks = (): Readable =>
      Readable.from(
        (function* () {
          for (let i = 0; i < 10; i++) yield Buffer.alloc(300, 0x62);
        })(),
      );
    const res = await request(`${gw.url}/chunked`, {
      dispatcher: clientAgent(pki, 'partner-a'),
      method: 'POST',
      body: chunks(),
    });
    expect(res.statusCode).toBe(413);
    await res.body.text();
    expect(gw.upstream.seen.slice(before).some((r) => r.path === '/chunked')).toBe(false);
  });

  it('answers 408 when a request does not arrive within GATEWAY_REQUEST_TIMEOUT_SECONDS', async () => {
    const s = await tlsSocket();
    const answer = await exchange(s, 'GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Partial: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"error":"request_timeout"');
  });
});

describe('connection limits', () => {
  it('closes a connection after GATEWAY_MAX_REQUESTS_PER_CONNECTION requests', async () => {
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    const responses = answer.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(responses[1]).toMatch(/^HTTP\/1\.1 200 [\s\S]*[Cc]onnection: close/);
  });

  it('closes verified connections beyond GATEWAY_MAX_CONNECTIONS_PER_CLIENT of one client', async () => {
    // A gateway of its own: the other tests' keep-alive connections would count against the limit.
    await gw.close();
    gw = await startTestGateway(pki, { GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '3' });
    const open = [await tlsSocket(), await tlsSocket(), await tlsSocket()];
    // The fourth completes its handshake (the limit is on the verified identity) and is closed.
    const fourth = await tlsSocket();
    expect(await exchange(fourth, 'GET /4 HTTP/1.1\r\nHost: localhost\r\n\r\n')).toBe('');
    const log = await gw.logs.waitFor(
      (l) => l.event === 'connection' && l.reason === 'max_connections_per_client',
    );
    expect(log).toMatchObject({ client: '127.0.0.1', partner_id: 'cn:partner-a' });
    const m = await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined));
    expect(
      metricValue(m.text, 'mtls_gateway_connections_refused_total', { reason: 'max_connections_per_client' }),
    ).toBe(1);
    for (const s of open) s.destroy();
    await Promise.all(open.map((s) => new Promise((r) => (s.closed ? r(null) : s.once('close', r)))));
  });
});

describe('maximum connection age', () => {
  it('answers with Connection: close once a connection is older than GATEWAY_MAX_CONNECTION_AGE_SECONDS', async () => {
    await gw.close();
    gw = await startTestGateway(pki, { GATEWAY_MAX_CONNECTION_AGE_SECONDS: '1' });
    const s = await tlsSocket();
    s.setEncoding('utf8');
    const next = (): Promise<string> =>
      new Promise((resolve) => {
        s.once('data', (d: string) => resolve(d));
        s.write('GET /age HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
    expect(await next()).not.toMatch(/[Cc]onnection: close/);
    // The limit is a duration: this test has to let one second pass.
    await new Promise((r) => setTimeout(r, 1100));
    const closed = new Promise((r) => s.once('close', r));
    expect(await next()).toMatch(/^HTTP\/1\.1 200 [\s\S]*[Cc]onnection: close/);
    await closed;
  });
});
