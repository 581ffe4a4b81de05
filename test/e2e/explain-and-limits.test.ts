/**
 * What a partner engineer sees: in explain mode every refusal is a JSON 401/403 naming the reason
 * and the certificate presented, never forwarded; request limits answer 431/400; a silent client
 * is cut at the handshake timeout.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  clientAgent,
  get,
  metricValue,
  openssl,
  rawExchange,
  type TestGateway,
  useTestGateway,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

useTestGateway(
  {
    GATEWAY_VERIFY_MODE: 'explain',
    GATEWAY_MAX_HEADERS: '20',
    GATEWAY_MAX_HEADER_BYTES: '4096',
    GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '1',
  },
  (started) => ({ pki, gw } = started),
);

describe('explain mode', () => {
  it.each([
    ['untrusted', 401, 'unknown_ca'],
    ['revoked', 403, 'revoked'],
    ['expired', 403, 'expired'],
    ['server-only', 403, 'bad_certificate'],
  ])('answers %s with a JSON %i %s and never forwards', async (client, status, reason) => {
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/receipts`, clientAgent(pki, client), {
      headers: { 'x-request-id': `explain-${client}` },
    });
    expect(res.status).toBe(status);
    const subject = (
      await openssl(['x509', '-in', pki.path(`${client}.pem`), '-noout', '-subject', '-nameopt', 'RFC2253'])
    ).trim();
    const body = res.json<Record<string, string>>();
    expect(body.error).toBe(reason);
    expect(body.request_id).toBe(`explain-${client}`);
    expect(body.subject).toBe(subject.replace(/^subject=/, ''));
    // Serial and issuer exactly as openssl prints them for the presented certificate.
    const facts = await openssl([
      'x509',
      '-in',
      pki.path(`${client}.pem`),
      '-noout',
      '-serial',
      '-issuer',
      '-nameopt',
      'RFC2253',
    ]);
    expect(body.serial).toBe(/^serial=(.+)$/m.exec(facts)![1]);
    expect(body.issuer).toBe(/^issuer=(.+)$/m.exec(facts)![1]);
    expect(body.issuer).not.toBe(body.subject);
    // The sentence names the reason's facts: the serial for a revocation, the date for an expiry.
    if (reason === 'revoked') expect(body.message).toContain(body.serial);
    if (reason === 'expired') expect(body.message).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    // Every request on the connection is refused, not only the first.
    const again = await get(`${gw.url}/receipts`, clientAgent(pki, client));
    expect(again.status).toBe(status);
    expect(gw.upstream.seen.length).toBe(before);
  });

  it('answers a client without a certificate with 401 no_certificate', async () => {
    const res = await get(`${gw.url}/`, clientAgent(pki, undefined));
    expect(res.status).toBe(401);
    expect(res.json<{ error: string }>().error).toBe('no_certificate');
  });

  it('still forwards a verified client', async () => {
    const res = await get(`${gw.url}/ok`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
  });
});

describe('request limits', () => {
  it('answers 431 to too many header fields, without forwarding', async () => {
    const before = gw.upstream.seen.length;
    const headers: Record<string, string> = {};
    for (let i = 0; i < 25; i++) headers[`x-h${i}`] = 'v';
    const res = await get(`${gw.url}/many`, clientAgent(pki, 'partner-a'), { headers });
    expect(res.status).toBe(431);
    // Node 20 lets the handler count the fields (too_many_headers); Node 24's parser already stops
    // at maxHeadersCount and reports an overflow (headers_too_large). Both are the 431 we promise.
    expect(['too_many_headers', 'headers_too_large']).toContain(res.json<{ error: string }>().error);
    expect(gw.upstream.seen.length).toBe(before);
  });

  it('answers 431 to an oversized header section', async () => {
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8000)}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('"error":"headers_too_large"');
  });

  it('refuses a smuggling attempt (Content-Length with Transfer-Encoding) with 400', async () => {
    const before = gw.upstream.seen.length;
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(gw.upstream.seen.length).toBe(before);
  });

  it('refuses an absolute-form request target with 400', async () => {
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET http://internal.example/admin HTTP/1.1\r\nHost: internal.example\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(gw.upstream.seen.some((r) => r.path.includes('admin'))).toBe(false);
  });

  it('cuts a client that never completes the handshake (timeout)', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('close', resolve));
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'timeout');
    const m = await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined));
    expect(
      metricValue(m.text, 'mtls_gateway_handshakes_total', { result: 'failure', reason: 'timeout' }),
    ).toBe(1);
  });
});
