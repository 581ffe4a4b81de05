/**
 * (Found by the attack on the strict-refusal change.) A client with NO certificate (refused, strict mode) pipelines requests behind its
 * first one. None is forwarded, but each is still parsed, decided, counted and logged
 * (`event: "request"`, reason `after_connection_close`): one anonymous TLS handshake buys thousands
 * of log lines (measured ~5,200 from a single connection before the gateway closed it). Requests
 * pipelined behind a closing answer are now neither decided nor logged, except the first.
 */
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;
beforeAll(async () => {
  pki = await makeTestPki();
  gw = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

const PIPELINED = 50;

describe('attack: refused connection pipelining', () => {
  it('an anonymous refused connection cannot make the gateway log once per pipelined request', async () => {
    const before = gw.logs.lines.length;
    const seen = gw.upstream.seen.length;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({
        port: gw.port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: readFileSync(pki.path('root-ca.pem')),
      });
      let out = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        out += d;
      });
      socket.on('error', reject);
      socket.once('secureConnect', () =>
        socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(PIPELINED + 1)),
      );
      socket.on('close', () => resolve(out));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 401 /);
    expect(gw.upstream.seen.length).toBe(seen);
    const requestLines = gw.logs.lines.slice(before).filter((l) => l.event === 'request');
    // The refusal itself, plus at most one summary of what was pipelined behind it.
    expect(requestLines.length).toBeLessThanOrEqual(2);
  });
});
