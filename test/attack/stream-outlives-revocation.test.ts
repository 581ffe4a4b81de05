/**
 * Attack (issue 13 review): trust withdrawn while a response is streaming. The gate re-judges a
 * connection only at its next request, so a response that is still streaming (server-sent events,
 * long poll, a large download) keeps flowing to a client revoked (or whose CA was removed)
 * mid-stream, for as long as the upstream keeps writing: no maximum connection age applies to a
 * request in progress, and bodyTimeout only bounds the gap between chunks.
 */
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EchoRecord, EchoUpstream } from '../../src/dev/echo-upstream.js';
import { makeCrl } from '../../src/dev/pki.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;
let upstream: EchoUpstream;
let streaming: Promise<ServerResponse>;

beforeAll(async () => {
  pki = await makeTestPki();
  const seen: EchoRecord[] = [];
  let started: (res: ServerResponse) => void = () => undefined;
  streaming = new Promise((r) => {
    started = r;
  });
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
    });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    started(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstream = {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  gw = await startTestGateway(pki, {}, { upstream });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await pki?.cleanup();
});

it('a response stream stops reaching a client once its certificate is revoked', async () => {
  const socket = connect({
    port: gw.port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: readFileSync(pki.path('root-ca.pem')),
    cert: readFileSync(pki.path('partner-b.pem')),
    key: readFileSync(pki.path('partner-b-key.pem')),
  });
  let received = '';
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  const gotFirst = new Promise<void>((r) =>
    socket.on('data', (d: Buffer) => {
      received += d.toString('utf8');
      if (received.includes('data: first')) r();
    }),
  );
  socket.once('secureConnect', () => socket.write('GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n'));
  await gotFirst;
  const res = await streaming;

  // partner-b is revoked; the gateway reloads its trust (a new snapshot is in force).
  const root = await makeCrl(pki.pki.root, { crlNumber: 2 });
  const intermediate = await makeCrl(pki.pki.intermediate, {
    crlNumber: 2,
    revoked: [{ serialHex: pki.pki.clients['partner-b'].serialHex }],
  });
  await pki.write('crl.pem', root + intermediate);
  await gw.gateway.reloadTrust();
  const trust = (await (await fetch(`${gw.adminUrl}/trust`)).json()) as { crls: { entries: number }[] };
  expect(trust.crls.some((c) => c.entries === 1)).toBe(true); // the revocation is in force

  // The upstream keeps streaming: none of it may reach the revoked client.
  const after = new Promise<'delivered'>((r) =>
    socket.on('data', () => {
      if (received.includes('after-revoke')) r('delivered');
    }),
  );
  res.write('data: after-revoke\n\n');
  const outcome = await Promise.race([after, closed.then(() => 'closed' as const)]);
  socket.destroy();
  res.end();
  expect(outcome).toBe('closed');
  expect(received).not.toContain('after-revoke');
});
