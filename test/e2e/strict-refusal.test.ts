/**
 * Strict mode (the default) answers a refused connection once, as nginx does: its first request
 * gets the JSON refusal with Connection: close, then the connection closes; nothing is forwarded,
 * pipelined requests are never answered, a client that sends nothing is cut at the deadline. Held
 * refused sockets count against GATEWAY_MAX_HANDSHAKING_CONNECTIONS (evicted first when it is
 * full), never against a verified client's GATEWAY_MAX_CONNECTIONS_PER_CLIENT. With `Accept: application/problem+json` the body is RFC 9457.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientAgent,
  get,
  metricValue,
  rawExchange,
  refusal,
  startTestGateway,
  type TestGateway,
  waitForMetric,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  // A 1 s handshake timeout bounds the refusal deadline too (min(5 s, handshake timeout)).
  gw = await startTestGateway(pki, {
    GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '1',
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '1',
  });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

const closed = (s: Socket): Promise<void> =>
  new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));

/** A TLS connection as `name` (undefined: no certificate) that sends nothing; collects what it gets. */
function idleTls(
  port: number,
  name: string | undefined,
): Promise<{ socket: TLSSocket; received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      ...(name
        ? { cert: readFileSync(pki.path(`${name}.pem`)), key: readFileSync(pki.path(`${name}-key.pem`)) }
        : {}),
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('error', () => undefined); // the gateway cuts it at the deadline: that is the point
    socket.once('secureConnect', () => resolve({ socket, received: () => text }));
    socket.once('error', reject);
  });
}

const failures = (g: TestGateway, reason: string): Promise<number> =>
  get(`${g.adminUrl}/metrics`, clientAgent(pki, undefined)).then(
    (m) => metricValue(m.text, 'mtls_gateway_handshakes_total', { result: 'failure', reason }) ?? 0,
  );

describe('strict mode: a refusal with a name', () => {
  it('answers exactly one request (Connection: close), never forwards, then closes', async () => {
    const seen = gw.upstream.seen.length;
    const out = await rawExchange(
      pki,
      'revoked',
      gw.port,
      'GET /one HTTP/1.1\r\nHost: localhost\r\n\r\nGET /two HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    // rawExchange resolves once the gateway closed: one answer, and nothing for the pipelined one.
    expect(out.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(out).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(out).toMatch(/\r\nconnection: close\r\n/i);
    expect(out).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    expect(body).toMatchObject({
      error: 'revoked',
      serial: pki.pki.clients.revoked.serialHex,
      subject: 'CN=revoked,O=Partner R',
    });
    expect(Object.keys(body).sort()).toEqual([
      'error',
      'issuer',
      'message',
      'request_id',
      'serial',
      'subject',
    ]);
    expect(gw.upstream.seen.length).toBe(seen);
    const log = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/one');
    expect(log).toMatchObject({ status: 403, reason: 'revoked' });
    // The gate logged the refusal with what was presented, once.
    const gate = gw.logs
      .events('handshake')
      .filter((l) => l.reason === 'revoked' && l.serial === pki.pki.clients.revoked.serialHex);
    expect(gate).toHaveLength(1);
  });

  it('answers a malformed request on a refused connection with the refusal, not the parse error', async () => {
    const out = await rawExchange(
      pki,
      'expired',
      gw.port,
      'GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(out).toMatch(/\r\nconnection: close\r\n/i);
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    expect(body).toMatchObject({ error: 'expired', subject: 'CN=expired,O=Partner E' });
  });

  it('closes a refused connection that sends no request at the deadline, writing nothing', async () => {
    const { socket, received } = await idleTls(gw.port, 'expired');
    await closed(socket);
    expect(received()).toBe('');
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'expired');
  });

  it('does not count refused connections against a verified client’s per-client limit', async () => {
    const before = await failures(gw, 'no_certificate');
    // GATEWAY_MAX_CONNECTIONS_PER_CLIENT is 1: three held refused connections from the same address.
    const held = await Promise.all([1, 2, 3].map(() => idleTls(gw.port, undefined)));
    await waitForMetric(
      gw,
      'mtls_gateway_handshakes_total',
      { result: 'failure', reason: 'no_certificate' },
      (v) => v >= before + 3,
    );
    const partner = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/served`, partner)).status).toBe(200);
    await partner.close();
    // Another refused client still gets its answer (refused ones share no per-client count).
    expect(await refusal(`${gw.url}/x`, clientAgent(pki, undefined))).toEqual({
      status: 401,
      error: 'no_certificate',
      connection: 'close',
    });
    await Promise.all(held.map((h) => closed(h.socket)));
    const text = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    expect(
      metricValue(text, 'mtls_gateway_connections_refused_total', { reason: 'max_connections_per_client' }),
    ).toBeUndefined();
  });

  it('holds refused connections in GATEWAY_MAX_HANDSHAKING_CONNECTIONS, first to go when a partner needs the slot', {
    timeout: 20_000,
  }, async () => {
    const g = await startTestGateway(pki, {
      GATEWAY_MAX_HANDSHAKING_CONNECTIONS: '2',
      GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '2',
    });
    try {
      const held = await Promise.all([1, 2].map(() => idleTls(g.port, 'untrusted')));
      await waitForMetric(
        g,
        'mtls_gateway_handshakes_total',
        { result: 'failure', reason: 'unknown_ca' },
        (v) => v === 2,
      );
      // The slots are full of refused connections: a partner gets in, the oldest refused one goes.
      const partner = clientAgent(pki, 'partner-a');
      expect((await get(`${g.url}/in`, partner)).status).toBe(200);
      await partner.close();
      await closed(held[0]!.socket);
      expect(held[0]!.received()).toBe('');
      const log = await g.logs.waitFor((l) => l.event === 'connection' && l.reason === 'handshaking_evicted');
      expect(log).toMatchObject({ result: 'evicted', client: '127.0.0.1' });
      expect(String(log.detail)).toContain('refused connection awaiting its answer');
      // The other is still held, and cut at the deadline.
      await closed(held[1]!.socket);
      expect(
        metricValue(
          (await get(`${g.adminUrl}/metrics`, clientAgent(pki, undefined))).text,
          'mtls_gateway_connections_refused_total',
          { reason: 'handshaking_evicted' },
        ),
      ).toBe(1);
    } finally {
      await g.close();
    }
  });
});

describe('RFC 9457 problem+json', () => {
  it('answers application/problem+json when Accept prefers it, with every JSON field unchanged', async () => {
    const res = await get(`${gw.url}/receipts`, clientAgent(pki, 'expired'), {
      headers: { accept: 'application/problem+json', 'x-request-id': 'problem-1' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers.connection).toBe('close');
    const body = res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      type: 'https://mtls-gateway/errors/expired',
      title: 'Client certificate expired',
      status: 403,
      error: 'expired',
      request_id: 'problem-1',
      subject: 'CN=expired,O=Partner E',
      serial: pki.pki.clients.expired.serialHex,
    });
    expect(body.detail).toBe(body.message);
    expect(String(body.message)).toMatch(/expired at \d{4}-\d\d-\d\dT/);
    expect(typeof body.issuer).toBe('string');
  });

  it('keeps application/json with today’s body by default and on a tie', async () => {
    for (const accept of [undefined, '*/*', 'application/json, application/problem+json']) {
      const res = await get(`${gw.url}/receipts`, clientAgent(pki, undefined), {
        headers: accept ? { accept } : {},
      });
      expect(res.status, String(accept)).toBe(401);
      expect(res.headers['content-type'], String(accept)).toBe('application/json');
      const body = res.json<Record<string, unknown>>();
      expect(Object.keys(body).sort(), String(accept)).toEqual(['error', 'message', 'request_id']);
      expect(body.error).toBe('no_certificate');
    }
  });
});
