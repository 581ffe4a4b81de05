/**
 * `Expect: 100-continue`: the 100 invites the client to send its body, so it is sent only to a
 * request the gateway is about to forward. A refused connection, a route the client may not call
 * and a request over its limits get their final answer instead, with Connection: close (the client
 * may or may not send the body it announced, so the connection cannot stay in step).
 */
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  const policy = {
    partners: [{ id: 'acme', match: { commonName: 'partner-a' } }],
    routes: [
      { name: 'admin', prefix: '/admin', allow: [] },
      { name: 'receipts', prefix: '/receipts', allow: ['acme'] },
    ],
  };
  gw = await startTestGateway(pki, {
    GATEWAY_CONFIG: await pki.write('expect.json', JSON.stringify(policy)),
    GATEWAY_MAX_BODY_BYTES: '1000',
  });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

const BODY = 'x'.repeat(300);

/** Everything received on `s` until the first final (non-1xx) response head, and whether it closed after. */
function exchange(s: TLSSocket, head: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let sentBody = false;
    s.setEncoding('latin1');
    s.on('error', reject);
    s.once('secureConnect', () => s.write(head));
    s.on('data', (d: string) => {
      text += d;
      // A 100 is the invitation: only then does this client send the body it announced.
      if (!sentBody && /^HTTP\/1\.1 100 /.test(text) && text.includes('\r\n\r\n')) {
        sentBody = true;
        s.write(BODY);
      }
    });
    s.once('close', () => resolve({ text, closed: true }));
  });
}

const request = (path: string, length = BODY.length): string =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n`;

describe('Expect: 100-continue', () => {
  it('invites an authorized request to send its body, then forwards it', async () => {
    const s = rawTlsConnect(pki, gw.port, 'partner-a');
    const done = exchange(s, request('/receipts/upload'));
    // The answer comes after the upstream read the whole body; this client then ends the connection.
    await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/receipts/upload');
    s.end();
    const { text } = await done;
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const seen = gw.upstream.seen.find((r) => r.path === '/receipts/upload');
    expect(seen?.bodyBytes).toBe(BODY.length);
    expect(seen?.headers.expect).toBeUndefined();
  });

  it('answers a route the client may not call with 403 and no 100, and closes', async () => {
    const s = rawTlsConnect(pki, gw.port, 'partner-a');
    const { text, closed } = await exchange(s, request('/admin/users'));
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).not.toContain('HTTP/1.1 100');
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(closed).toBe(true);
    expect(gw.upstream.seen.some((r) => r.path === '/admin/users')).toBe(false);
  });

  it('answers a body over the limit with 413 and no 100, and closes', async () => {
    const s = rawTlsConnect(pki, gw.port, 'partner-a');
    const { text, closed } = await exchange(s, request('/receipts/big', 5000));
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).not.toContain('HTTP/1.1 100');
    expect(closed).toBe(true);
    expect(gw.upstream.seen.some((r) => r.path === '/receipts/big')).toBe(false);
  });

  it('answers a refused connection (unknown CA) with its refusal and no 100', async () => {
    const s = rawTlsConnect(pki, gw.port, 'untrusted');
    const { text, closed } = await exchange(s, request('/receipts/upload'));
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text).toContain('"error":"unknown_ca"');
    expect(text).not.toContain('HTTP/1.1 100');
    expect(closed).toBe(true);
  });
});
