/**
 * Security review of the restructuring (trust-store split, composition root, ECS logs): each
 * test attacks one property the README promises, through a real gateway with real TLS clients.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { issue, makeCrl } from '../../src/dev/pki.js';
import {
  clientAgent,
  get,
  presentingAgent,
  rawExchange,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';

/** One keep-alive connection (undici reuses it while it stays open). */
const oneConnection = (pki: TestPki, name: string): Agent =>
  presentingAgent(pki, {
    cert: readFileSync(pki.path(`${name}.pem`)),
    key: readFileSync(pki.path(`${name}-key.pem`)),
  });

describe('CA bundle change removing a CA while the CRL source of a staying CA fails', () => {
  let pki: TestPki;
  let gw: TestGateway;
  const agents: Agent[] = [];
  beforeAll(async () => {
    pki = await makeTestPki();
    // A third CA (the rogue one) trusted at first, with its own CRL source.
    await pki.write('wide-bundle.pem', pki.pki.files['ca-bundle.pem']! + pki.pki.rogue.certPem);
    await pki.write('rogue-crl.pem', await makeCrl(pki.pki.rogue));
    gw = await startTestGateway(pki, {
      GATEWAY_CA_BUNDLE: pki.path('wide-bundle.pem'),
      GATEWAY_CRLS: `${pki.path('crl.pem')},${pki.path('rogue-crl.pem')}`,
      GATEWAY_CRL_REQUIRED: 'true',
      GATEWAY_ROTATION_MAX_REFUSED_PERCENT: '100',
      GATEWAY_TRUST_REFRESH_SECONDS: '3600',
    });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await gw?.close();
    await pki?.cleanup();
  });

  it('keeps the staying CA CRL in force: revoked stays refused, partner-a stays in, the removed CA is cut', async () => {
    const partner = oneConnection(pki, 'partner-a');
    const rogueClient = oneConnection(pki, 'untrusted');
    agents.push(partner, rogueClient);
    expect((await get(`${gw.url}/a`, partner)).status).toBe(200);
    expect((await get(`${gw.url}/b`, rogueClient)).status).toBe(200);
    expect((await get(`${gw.url}/c`, clientAgent(pki, 'revoked'))).json<{ error: string }>().error).toBe(
      'revoked',
    );

    // The rogue CA leaves the bundle; at the same moment the CRL source of the staying CAs fails.
    writeFileSync(pki.path('wide-bundle.pem'), pki.pki.files['ca-bundle.pem']!);
    rmSync(pki.path('crl.pem'));
    await gw.gateway.reloadTrust();
    expect(gw.gateway.trust.current?.caBundle.cas).toHaveLength(2);

    // Same keep-alive connections, next request.
    const seenBefore = gw.upstream.seen.length;
    const cut = await get(`${gw.url}/b2`, rogueClient);
    expect(cut.status).not.toBe(200);
    const stays = await get(`${gw.url}/a2`, partner);
    expect(stays.status).toBe(200);
    expect(gw.upstream.seen.length).toBe(seenBefore + 1);
    // New connections: the staying CA's CRL is still in force (no crl_missing), revoked still refused.
    const revoked = await get(`${gw.url}/c2`, clientAgent(pki, 'revoked'));
    expect(revoked.json<{ error: string }>().error).toBe('revoked');
    expect((await get(`${gw.url}/a3`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });
});

describe('policy reload narrowing a route on an open keep-alive connection', () => {
  let pki: TestPki;
  let gw: TestGateway;
  let other: EchoUpstream;
  let configPath: string;
  const policy = (allow: string[], upstream: string, betaId = 'beta') =>
    JSON.stringify({
      partners: [
        { id: 'acme', match: { commonName: 'partner-a' } },
        { id: betaId, match: { commonName: 'partner-b' } },
      ],
      routes: [
        { name: 'orders', prefix: '/orders', upstream, allow },
        { name: 'rest', prefix: '/', allow: ['*'] },
      ],
    });
  beforeAll(async () => {
    pki = await makeTestPki();
    other = await startEchoUpstream('127.0.0.1', 0);
    configPath = await pki.write('gw.json', policy(['acme'], `http://127.0.0.1:${other.port}`));
    gw = await startTestGateway(pki, { GATEWAY_CONFIG: configPath });
  });
  afterAll(async () => {
    await gw?.close();
    await other?.close();
    await pki?.cleanup();
  });

  /** Puts `allow` on /orders (upstream `other`) in force, whatever an earlier test left. */
  const ordersFor = async (allow: string[]): Promise<void> => {
    writeFileSync(configPath, policy(allow, `http://127.0.0.1:${other.port}`));
    await gw.gateway.reloadTrust();
  };

  it('decides the next request on the same connection under the new policy', async () => {
    await ordersFor(['acme']);
    const agent = oneConnection(pki, 'partner-a');
    try {
      expect((await get(`${gw.url}/orders/1`, agent)).status).toBe(200);
      expect(other.seen).toHaveLength(1);
      await ordersFor(['beta']);
      const res = await get(`${gw.url}/orders/2`, agent);
      expect(res.status).toBe(403);
      expect(other.seen).toHaveLength(1);
      expect(gw.upstream.seen.filter((s) => s.path.startsWith('/orders'))).toHaveLength(0);
    } finally {
      await agent.close();
    }
  });

  it('moves the route to its new upstream on the same connection (no stale pool)', async () => {
    await ordersFor(['beta']);
    const agent = oneConnection(pki, 'partner-b');
    try {
      expect((await get(`${gw.url}/orders/3`, agent)).status).toBe(200);
      const third = await startEchoUpstream('127.0.0.1', 0);
      try {
        expect(other.seen.at(-1)?.headers['x-client-id']).toBe('beta');
        // New upstream, and the partner renamed: the same connection's next request gets both.
        writeFileSync(configPath, policy(['beta2'], `http://127.0.0.1:${third.port}`, 'beta2'));
        await gw.gateway.reloadTrust();
        const before = other.seen.length;
        expect(
          (
            await get(`${gw.url}/orders/4`, agent, {
              headers: { 'x-client-id': 'forged', x_client_id: 'forged' },
            })
          ).status,
        ).toBe(200);
        expect(third.seen.map((s) => s.path)).toEqual(['/orders/4']);
        expect(third.seen[0]?.headers['x-client-id']).toBe('beta2');
        expect(JSON.stringify(third.seen[0]?.rawHeaders)).not.toContain('forged');
        expect(other.seen.length).toBe(before);
      } finally {
        await third.close();
      }
    } finally {
      await agent.close();
    }
  });

  it('Host header and absolute-form cannot switch the upstream of a route', async () => {
    const before = { other: other.seen.length, def: gw.upstream.seen.length };
    const abs = await rawExchange(
      pki,
      'partner-b',
      gw.port,
      `GET http://127.0.0.1:${gw.upstream.port}/orders/5 HTTP/1.1\r\nHost: 127.0.0.1:${gw.upstream.port}\r\n\r\n`,
    );
    expect(abs).toMatch(/^HTTP\/1\.1 400/);
    const authority = await rawExchange(
      pki,
      'partner-b',
      gw.port,
      `CONNECT 127.0.0.1:${gw.upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${gw.upstream.port}\r\n\r\n`,
    );
    // CONNECT has no 'connect' listener: Node closes the socket unanswered, nothing forwarded.
    expect(authority).not.toMatch(/^HTTP\/1\.1 2/);
    const star = await rawExchange(pki, 'partner-b', gw.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(star).toMatch(/^HTTP\/1\.1 400/);
    expect(gw.upstream.seen.length).toBe(before.def);
    // /rest route's Host names the default upstream: still routed by path only.
    const host = await rawExchange(
      pki,
      'partner-b',
      gw.port,
      `GET //127.0.0.1:${gw.upstream.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${other.port}\r\nConnection: close\r\n\r\n`,
    );
    expect(host).toMatch(/^HTTP\/1\.1 (200|400)/);
    expect(other.seen.length).toBe(before.other);
  });
});

describe('drain: a request pipelined behind an in-flight request after SIGTERM', () => {
  let pki: TestPki;
  let gw: TestGateway;
  let upstream: EchoUpstream;
  const held: ServerResponse[] = [];
  let arrived: (req: IncomingMessage) => void = () => undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
    upstream = await startRecordingUpstream((req, res) => {
      held.push(res);
      arrived(req);
    });
    gw = await startTestGateway(pki, { GATEWAY_DRAIN_SECONDS: '5' }, { upstream });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await pki?.cleanup();
  });

  it('never forwards the request that arrives after the drain began', async () => {
    const socket: TLSSocket = rawTlsConnect(pki, gw.port, 'partner-a');
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      out += d;
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    const first = new Promise<void>((r) => {
      arrived = () => r();
    });
    socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await first;
    const drained = gw.gateway.drain();
    // Sent after SIGTERM, pipelined behind /first, whose answer will say Connection: close.
    // The gateway either drops it (logged `after_connection_close`) or forwards it (upstream sees it).
    const second = new Promise<void>((r) => {
      arrived = () => r();
    });
    socket.write('GET /after-sigterm HTTP/1.1\r\nHost: x\r\n\r\n');
    await Promise.race([
      second,
      gw.logs.waitFor((l) => l.event === 'request' && l.reason === 'after_connection_close'),
    ]);
    held[0]!.end('one');
    await closed;
    for (const res of held.slice(1)) res.end('two');
    await drained;
    expect(out).toMatch(/connection: close/i);
    expect(upstream.seen.map((s) => s.path)).toEqual(['/first']);
  });
});

describe('malformed request on a refused connection', () => {
  let pki: TestPki;
  let gw: TestGateway;
  beforeAll(async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, {});
  });
  afterAll(async () => {
    await gw?.close();
    await pki?.cleanup();
  });
  it('answers the refusal, never the upstream', async () => {
    const out = await rawExchange(
      pki,
      'revoked',
      gw.port,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 403/);
    expect(out).toContain('"revoked"');
    const smuggle = await rawExchange(
      pki,
      'untrusted',
      gw.port,
      'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(smuggle).not.toContain('"path"');
    expect(gw.upstream.seen).toHaveLength(0);
  });
});

describe.each(['ecs', 'native'])('%s logs of a refused handshake with a hostile subject', (format) => {
  let pki: TestPki;
  let gw: TestGateway;
  const raw: string[] = [];
  beforeAll(async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, { GATEWAY_LOG_FORMAT: format });
    const origWrite = gw.logs._write.bind(gw.logs);
    gw.logs._write = (chunk: Buffer, enc: BufferEncoding, done: () => void) => {
      raw.push(chunk.toString('utf8'));
      origWrite(chunk, enc, done);
    };
  });
  afterAll(async () => {
    await gw?.close();
    await pki?.cleanup();
  });

  it('writes one JSON line per event, with no PEM and no raw newline from the subject', async () => {
    const fakeKey = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----`;
    const hostile = await issue(pki.pki.rogue, {
      // JsonName form: the string parser would drop a value with newlines.
      subject: [{ CN: ['A'.repeat(4000)] }, { O: [`${fakeKey}\r\nlevel=fatal`] }] as unknown as string,
    });
    await pki.addClient('hostile', hostile);
    const res = await get(`${gw.url}/x`, clientAgent(pki, 'hostile')).catch((e: Error) => e);
    expect(res).not.toBeInstanceOf(Error);
    await gw.logs.waitFor((l) => JSON.stringify(l).includes('AAAA'));
    const text = raw.join('');
    const lines = text.split('\n').filter((l) => l.trim());
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // Every string value of every line is one line: no CR/LF from the subject reaches the output.
    const strings = (v: unknown): string[] =>
      typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(strings) : [];
    for (const s of parsed.flatMap(strings)) expect(s).not.toMatch(/[\r\n]/);
    // The hostile subject did reach the log (escaped, RFC 2253), so the checks above saw it.
    expect(text).toContain('BEGIN PRIVATE KEY-----\\\\0A');
    // No key material: not the gateway's server key, not the client's key.
    const body = (pemText: string) => pemText.split('\n')[1]!;
    expect(text).not.toContain(body(readFileSync(pki.path('server-key.pem'), 'utf8')));
    expect(text).not.toContain(body(hostile.keyPem));
    expect(parsed.some((l) => l.level === 'fatal' || l['log.level'] === 'fatal')).toBe(false);
  });
});

describe('CA bundle change renewing a CA (same key and name) while its CRL source fails', () => {
  let pki: TestPki;
  let gw: TestGateway;
  beforeAll(async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, { GATEWAY_TRUST_REFRESH_SECONDS: '3600' });
  });
  afterAll(async () => {
    await gw?.close();
    await pki?.cleanup();
  });

  it('keeps the CRL of the renewed CA in force: a revoked client stays refused', async () => {
    expect((await get(`${gw.url}/r1`, clientAgent(pki, 'revoked'))).json<{ error: string }>().error).toBe(
      'revoked',
    );
    const { root, intermediate } = pki.pki;
    // The intermediate's certificate re-issued (longer validity): same key, same subject. The CRL
    // it signed still verifies against the new certificate; its source is unreadable this poll.
    const renewed = await issue(root, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
      keys: intermediate.keys,
      notAfterDays: 5000,
    });
    writeFileSync(pki.path('ca-bundle.pem'), renewed.certPem + root.certPem);
    rmSync(pki.path('crl.pem'));
    await gw.gateway.reloadTrust();
    const renewedDer = Buffer.from(renewed.cert.rawData);
    expect(gw.gateway.trust.current?.caBundle.cas.some((c) => c.x509.raw.equals(renewedDer))).toBe(true);
    const seen = gw.upstream.seen.length;
    const res = await get(`${gw.url}/r2`, clientAgent(pki, 'revoked'));
    expect([res.status, res.json<{ error?: string }>().error]).toEqual([403, 'revoked']);
    expect(gw.upstream.seen.length).toBe(seen);
  });
});

describe('revocation while connected: keep-alive and a request waiting for its upstream', () => {
  let pki: TestPki;
  let gw: TestGateway;
  let upstream: EchoUpstream;
  const held: ServerResponse[] = [];
  let arrived: () => void = () => undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
    upstream = await startRecordingUpstream((req, res) => {
      if (req.url?.startsWith('/slow')) {
        held.push(res);
        arrived();
      } else res.end('ok');
    });
    gw = await startTestGateway(
      pki,
      // The guard would hold a CRL revoking every active partner: this test is about what follows.
      { GATEWAY_TRUST_REFRESH_SECONDS: '3600', GATEWAY_ROTATION_MAX_REFUSED_PERCENT: '100' },
      { upstream },
    );
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await pki?.cleanup();
  });

  it('cuts the response still waiting for its upstream, and refuses the next request on the open connection', async () => {
    const keepAlive = oneConnection(pki, 'partner-b');
    const waiting = oneConnection(pki, 'partner-a');
    try {
      expect((await get(`${gw.url}/fast`, keepAlive)).status).toBe(200);
      const started = new Promise<void>((r) => {
        arrived = r;
      });
      const slow = get(`${gw.url}/slow`, waiting).then(
        (r) => r.status,
        (e: Error) => e.name,
      );
      await started;
      const { intermediate, clients } = pki.pki;
      writeFileSync(
        pki.path('crl.pem'),
        (await makeCrl(pki.pki.root)) +
          (await makeCrl(intermediate, {
            crlNumber: 2,
            revoked: [clients.revoked, clients['partner-a'], clients['partner-b']].map((c) => ({
              serialHex: c.serialHex,
            })),
          })),
      );
      await gw.gateway.reloadTrust();
      held[0]!.end('late');
      expect(await slow).not.toBe(200);
      const next = await get(`${gw.url}/fast2`, keepAlive);
      expect([next.status, next.json<{ error?: string }>().error]).toEqual([403, 'revoked']);
      expect(upstream.seen.map((s) => s.path)).toEqual(['/fast', '/slow']);
    } finally {
      await keepAlive.close();
      await waiting.close();
    }
  });
});

describe.each(['ecs', 'native'])(
  '%s logs when an operator puts a private key where trust material goes',
  (format) => {
    let pki: TestPki;
    let gw: TestGateway;
    const raw: string[] = [];
    beforeAll(async () => {
      pki = await makeTestPki();
      gw = await startTestGateway(pki, { GATEWAY_LOG_FORMAT: format, GATEWAY_TRUST_REFRESH_SECONDS: '3600' });
      const origWrite = gw.logs._write.bind(gw.logs);
      gw.logs._write = (chunk: Buffer, enc: BufferEncoding, done: () => void) => {
        raw.push(chunk.toString('utf8'));
        origWrite(chunk, enc, done);
      };
    });
    afterAll(async () => {
      await gw?.close();
      await pki?.cleanup();
    });

    it('rejects the material and never logs the key', async () => {
      const key = readFileSync(pki.path('server-key.pem'), 'utf8');
      const other = await issue(pki.pki.intermediate, { subject: 'O=X, CN=other' });
      // The key pasted into the CA bundle and the CRL file; the server key swapped for a mismatched one.
      writeFileSync(pki.path('ca-bundle.pem'), `${pki.pki.files['ca-bundle.pem']!}${key}`);
      writeFileSync(pki.path('crl.pem'), `${key}${pki.pki.files['crl.pem']!}`);
      writeFileSync(pki.path('server-key.pem'), other.keyPem);
      await gw.gateway.reloadTrust();
      writeFileSync(pki.path('ca-bundle.pem'), key);
      writeFileSync(pki.path('crl.pem'), key);
      await gw.gateway.reloadTrust();
      const text = raw.join('');
      expect(text).toContain('rejected');
      for (const secret of [key, other.keyPem])
        for (const line of secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')))
          expect(text).not.toContain(line);
      // The block's label may be named ("PRIVATE KEY is not a CERTIFICATE"), never its armor or body.
      expect(text).not.toContain('-----BEGIN');
      // Still serving with the good material.
      expect((await get(`${gw.url}/ok`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    });
  },
);
