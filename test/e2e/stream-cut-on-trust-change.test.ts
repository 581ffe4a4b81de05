/**
 * Both modes (strict, and explain, which cannot answer JSON mid-stream either): a response still streaming (server-sent events, a long poll, a large download)
 * stops reaching a client once trust refuses it. Every trust swap, and every CRL expiry
 * (nextUpdate + grace) of the snapshot in force, re-judges the connections with a response in
 * flight and destroys those now refused, counted in connections_refused_total{reason}. Before,
 * the gate re-judged only at the next request, so the stream kept flowing to a revoked client.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoUpstream } from '../../src/dev/echo-upstream.js';
import { makeCrl } from '../../src/dev/pki.js';
import { startTestGateway, type TestGateway, trustOf } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';

describe.each([
  ['strict', {}],
  ['explain', { GATEWAY_VERIFY_MODE: 'explain' }],
] as const)('%s mode', (_mode, env: Record<string, string>) => {
  let pki: TestPki;
  let gw: TestGateway;
  let upstream: EchoUpstream;
  /** Streams the upstream has started, in order. */
  const streams: ServerResponse[] = [];
  let streamStarted: () => void = () => undefined;

  beforeAll(async () => {
    pki = await makeTestPki();
    upstream = await startRecordingUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      streams.push(res);
      streamStarted();
    });
    gw = await startTestGateway(pki, env, { upstream });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await pki?.cleanup();
  });

  interface Stream {
    readonly socket: TLSSocket;
    readonly res: ServerResponse;
    readonly closed: Promise<void>;
    received: () => string;
  }

  /** Opens a streaming request as `client`; resolves once its first event arrived. */
  async function openStream(client: string): Promise<Stream> {
    const started = new Promise<void>((r) => {
      streamStarted = r;
    });
    const socket = connect({
      port: gw.port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      cert: readFileSync(pki.path(`${client}.pem`)),
      key: readFileSync(pki.path(`${client}-key.pem`)),
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
    await Promise.all([gotFirst, started]);
    return { socket, res: streams[streams.length - 1]!, closed, received: () => received };
  }

  async function refusedCount(reason: string): Promise<number> {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith('mtls_gateway_connections_refused_total{') && l.includes(`reason="${reason}"`),
      );
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('a response stream stops reaching a client once its certificate is revoked', async () => {
    const stream = await openStream('partner-b');
    const before = await refusedCount('revoked');

    // partner-b is revoked; the gateway reloads its trust (a new snapshot is in force).
    const root = await makeCrl(pki.pki.root, { crlNumber: 2 });
    const intermediate = await makeCrl(pki.pki.intermediate, {
      crlNumber: 2,
      revoked: [{ serialHex: pki.pki.clients['partner-b'].serialHex }],
    });
    await pki.write('crl.pem', root + intermediate);
    await gw.gateway.reloadTrust();
    const trust = await trustOf(gw.adminUrl);
    expect(trust.crls.some((c) => c.entries === 1)).toBe(true); // the revocation is in force

    // The upstream keeps streaming: none of it may reach the revoked client.
    const after = new Promise<'delivered'>((r) =>
      stream.socket.on('data', () => {
        if (stream.received().includes('after-revoke')) r('delivered');
      }),
    );
    stream.res.write('data: after-revoke\n\n');
    const outcome = await Promise.race([after, stream.closed.then(() => 'closed' as const)]);
    stream.socket.destroy();
    stream.res.end();
    expect(outcome).toBe('closed');
    expect(stream.received()).not.toContain('after-revoke');
    expect(await refusedCount('revoked')).toBe(before + 1);
  });

  it('a response stream stops when the CRL in force expires mid-stream (crl_expired)', async () => {
    const before = await refusedCount('crl_expired');
    // A CRL that expires three seconds from now: in force while the stream opens.
    const root = await makeCrl(pki.pki.root, { crlNumber: 3 });
    const intermediate = await makeCrl(pki.pki.intermediate, { crlNumber: 3, nextUpdateDays: 3 / 86_400 });
    await pki.write('crl.pem', root + intermediate);
    await gw.gateway.reloadTrust();
    const stream = await openStream('partner-a');
    // No further trust change: the expiry alone must close it.
    await stream.closed;
    stream.res.end();
    expect(await refusedCount('crl_expired')).toBe(before + 1);
  });
});
