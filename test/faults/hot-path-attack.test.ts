/**
 * Attacks on the dispatch-handler hot path (ProxyExchange, RequestState, in-flight listeners, the
 * interim fast path, pooled trace ids), each against a scripted raw upstream over real TLS.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;
let upstream: Server;
const sockets: Socket[] = [];
/** Every request head the upstream read, in order. */
const heads: string[] = [];
let stalled: (() => void) | undefined;
let heldA: Socket | undefined;

function answer(socket: Socket, path: string): void {
  switch (path) {
    case '/extra-late':
      // One response, then (in a later write) a second the gateway never asked for.
      socket.setNoDelay(true);
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi', () =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-stolen: yes\r\n\r\nevil'),
      );
      return;
    case '/short':
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf!');
      return;
    case '/short-chunked':
      socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhalf!\r\n');
      return;
    case '/101-bare':
      socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      return;
    case '/stall':
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nsome', () => {
        stalled?.();
      });
      return;
    case '/te-and-cl':
      socket.write(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      );
      return;
    case '/pipe-a':
      // Held until /pipe-b (pipelined behind it on the client's connection) was answered.
      heldA = socket;
      return;
    case '/pipe-b':
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nbbbbbb', () => {
        heldA?.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\naaaaaa');
      });
      return;
    case '/hop-response':
      socket.write(
        'HTTP/1.1 200 OK\r\nconnection: keep-alive, x-request-id, X-Secret-Hop\r\nx-secret-hop: 1\r\nx-request-id: upstream-chosen\r\nkeep-alive: timeout=5\r\ncontent-length: 2\r\n\r\nok',
      );
      return;
    case '/hop-response-two-lines':
      // Connection on two lines: the second names a header that must not reach the client.
      socket.write(
        'HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nconnection: x-secret-hop\r\nx-secret-hop: internal\r\ncontent-length: 2\r\n\r\nok',
      );
      return;
    case '/cl-twice':
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok');
      return;
    case '/early':
      // Answers before the request body arrived.
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly');
      return;
    default:
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = createServer((socket) => {
    sockets.push(socket);
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        const end = head.indexOf('\r\n\r\n');
        heads.push(head.slice(0, end));
        const path = head.slice(0, end).split(' ')[1] ?? '/';
        head = head.slice(end + 4);
        answer(socket, path);
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as { port: number }).port;
  gw = await startTestGateway(pki, {
    GATEWAY_LOG_LEVEL: 'info',
    GATEWAY_UPSTREAM: `http://127.0.0.1:${port}`,
    GATEWAY_UPSTREAM_TIMEOUT_SECONDS: '5',
  });
});
afterAll(async () => {
  await gw?.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => upstream?.close(r));
  await pki?.cleanup();
});

interface Internals {
  listener: { server: HttpsServer };
  lifecycle: { inFlight: { size: number; whenIdle(ms: number): Promise<boolean> } };
}
const internals = (): Internals => gw.gateway as unknown as Internals;

function oneConnection(name: string): Client {
  return new Client(gw.url, {
    connect: {
      ca: readFileSync(pki.path('root-ca.pem')),
      servername: 'localhost',
      cert: readFileSync(pki.path(`${name}.pem`)),
      key: readFileSync(pki.path(`${name}-key.pem`)),
    },
  });
}

/** The request headers (lower-cased name, value) the upstream read for `path`. */
function upstreamHeadersFor(path: string): [string, string][] {
  const head = heads.find((h) => h.split(' ')[1] === path);
  if (!head) throw new Error(`upstream never saw ${path}`);
  return head
    .split('\r\n')
    .slice(1)
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    });
}

describe('hot path attacks', { timeout: 60_000 }, () => {
  it('no listener accumulates on a keep-alive client socket across 1,000 requests', async () => {
    const serverSockets = new Set<Socket>();
    const onRequest = (req: { socket: Socket }): void => {
      serverSockets.add(req.socket);
    };
    internals().listener.server.on('request', onRequest);
    const client = oneConnection('partner-a');
    const counts = (s: Socket): Record<string, number> =>
      Object.fromEntries(
        ['close', 'end', 'error', 'drain', 'timeout', 'data', 'finish'].map((e) => [e, s.listenerCount(e)]),
      );
    let early: Record<string, number> | undefined;
    try {
      for (let i = 0; i < 1000; i++) {
        const res = await client.request({ path: `/k/${i}`, method: 'GET' });
        expect(await res.body.text()).toBe('ok');
        if (i === 9) early = counts([...serverSockets][0]!);
      }
      expect(serverSockets.size).toBe(1);
      expect(counts([...serverSockets][0]!)).toEqual(early);
    } finally {
      internals().listener.server.off('request', onRequest);
      await client.close();
    }
  });

  it("an upstream's unsolicited second response never reaches the next client", async () => {
    const a = clientAgent(pki, 'partner-a');
    const b = clientAgent(pki, 'partner-b');
    const first = await get(`${gw.url}/extra-late`, a);
    expect(first.text).toBe('hi');
    for (let i = 0; i < 5; i++) {
      const next = await get(`${gw.url}/after-extra/${i}`, b);
      expect(next.headers['x-stolen']).toBeUndefined();
      expect(next.text).toBe('ok');
    }
    await a.close();
    await b.close();
  });

  it('a response shorter than its Content-Length is cut for the client and logged as truncated', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/short`, { dispatcher: agent });
    await expect(res.body.text()).rejects.toThrow();
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/short');
    expect(line.reason).toBe('upstream_reset_mid_body');
    await agent.close();
  });

  it('a 101 without Upgrade never passes: 502, not the bytes after it', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await get(`${gw.url}/101-bare`, agent);
    expect(res.status).toBe(502);
    await agent.close();
  });

  it('in flight returns to 0 when the client aborts mid-body and the upstream resets too', async () => {
    const client = oneConnection('partner-a');
    const upstreamHeld = new Promise<void>((r) => {
      stalled = r;
    });
    const res = await client.request({ path: '/stall', method: 'GET' });
    await upstreamHeld;
    expect(internals().lifecycle.inFlight.size).toBe(1);
    // Both ends go at once: the upstream socket resets and the client goes away.
    const up = sockets.at(-1)!;
    up.resetAndDestroy();
    res.body.destroy();
    await client.destroy();
    expect(await internals().lifecycle.inFlight.whenIdle(5_000)).toBe(true);
    expect(internals().lifecycle.inFlight.size).toBe(0);
  });

  it('trace ids of new traces are unique across pool refills and forwarded as logged', async () => {
    const client = oneConnection('partner-a');
    const n = 600; // past two refills of the 256-trace pool
    try {
      for (let i = 0; i < n; i++) {
        const res = await client.request({ path: `/t/${i}`, method: 'GET' });
        await res.body.text();
      }
    } finally {
      await client.close();
    }
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) {
      const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === `/t/${i}`);
      const tp = upstreamHeadersFor(`/t/${i}`).filter(([k]) => k === 'traceparent');
      expect(tp).toHaveLength(1);
      expect(tp[0]![1].split('-')[1]).toBe(line.trace_id);
      ids.add(String(line.trace_id));
    }
    expect(ids.size).toBe(n);
  });

  it('two traceparent headers are no valid trace: the upstream gets exactly the one logged', async () => {
    const client = oneConnection('partner-a');
    try {
      const res = await client.request({
        path: '/trace/two',
        method: 'GET',
        headers: [
          'traceparent',
          `cc-${'a'.repeat(32)}-${'b'.repeat(16)}-01-x`,
          'traceparent',
          `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`,
        ],
      });
      await res.body.text();
    } finally {
      await client.close();
    }
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/trace/two');
    const tp = upstreamHeadersFor('/trace/two').filter(([k]) => k === 'traceparent');
    expect(tp).toHaveLength(1);
    expect(tp[0]![1].split('-')[1]).toBe(line.trace_id);
  });

  it('Transfer-Encoding with Content-Length from the upstream never reaches the client with both', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/te-and-cl`, { dispatcher: agent });
    const text = await res.body.text().catch(() => 'cut');
    expect(res.statusCode === 502 || (res.headers['content-length'] === undefined && text === 'ok')).toBe(
      true,
    );
    await agent.close();
  });

  it("a client's valid traceparent named in its Connection header: the upstream still shares the logged trace", async () => {
    const tp = `00-${'e'.repeat(32)}-${'f'.repeat(16)}-01`;
    const out = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      `GET /trace/hop HTTP/1.1\r\nhost: x\r\nconnection: close, traceparent\r\ntraceparent: ${tp}\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/trace/hop');
    const sent = upstreamHeadersFor('/trace/hop').filter(([k]) => k === 'traceparent');
    expect(sent).toHaveLength(1);
    expect(sent[0]![1].split('-')[1]).toBe(line.trace_id);
  });

  it('an upstream answering before the body arrived: the rest of the body is never a request, the next one gets its own answer', async () => {
    const socket = rawTlsConnect(pki, gw.port, 'partner-a');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('secureConnect', r));
    const smuggled = 'GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n';
    socket.write(
      `POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: ${10 + smuggled.length}\r\n\r\n0123456789`,
    );
    await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/early');
    socket.write(smuggled);
    socket.write('GET /after-early HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await new Promise((r) => socket.once('close', r));
    expect(heads.some((h) => h.startsWith('GET /smuggled'))).toBe(false);
    expect(out).toContain('early');
    expect(out).not.toContain('evil');
    // The next request on the same connection got its own answer, after the early one.
    expect(out.indexOf('\r\n\r\nok')).toBeGreaterThan(out.indexOf('early'));
  });

  it('pipelined requests answered out of order upstream reach the client in request order', async () => {
    const out = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /pipe-a HTTP/1.1\r\nhost: x\r\n\r\nGET /pipe-b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    const bodies = out.match(/aaaaaa|bbbbbb/g);
    expect(bodies).toEqual(['aaaaaa', 'bbbbbb']);
  });

  it('identity headers named in Connection are still ours, once; response hop-by-hop names are stripped', async () => {
    const out = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /hop-request HTTP/1.1\r\nhost: x\r\nconnection: close, x-client-subject, x-client-id, x-forwarded-for, x-request-id\r\nx-client-subject: CN=admin\r\nx_client_id: admin\r\nx-client-verify: SUCCESS\r\nx-forwarded-for: 6.6.6.6\r\n\r\n' +
        '',
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    const sent = upstreamHeadersFor('/hop-request');
    const values = (name: string): string[] => sent.filter(([k]) => k === name).map(([, v]) => v);
    expect(values('x-client-subject')).toHaveLength(1);
    expect(values('x-client-subject')[0]).not.toContain('admin');
    expect(values('x-client-id')).toHaveLength(1);
    expect(values('x-client-id')[0]).not.toBe('admin');
    expect(sent.some(([k]) => k === 'x_client_id')).toBe(false);
    expect(values('x-client-verify')).toEqual(['SUCCESS']);
    expect(values('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(values('x-request-id')).toHaveLength(1);

    const res = await get(`${gw.url}/hop-response`, clientAgent(pki, 'partner-a'));
    expect(res.text).toBe('ok');
    expect(res.headers['x-secret-hop']).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=5');
    expect(res.headers['x-request-id']).not.toBe('upstream-chosen');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a chunked response cut before its last chunk is cut for the client and logged as truncated', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/short-chunked`, { dispatcher: agent });
    await expect(res.body.text()).rejects.toThrow();
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/short-chunked');
    expect(line.reason).toBe('upstream_reset_mid_body');
    await agent.close();
  });

  it('metric labels never take a value from the request: route from the policy, partner bounded', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const stranger = clientAgent(pki, undefined);
    for (let i = 0; i < 5; i++) {
      await get(`${gw.url}/label-probe-${i}?route=evil${i}`, agent, {
        headers: { 'x-client-id': `evil${i}` },
      });
      await get(`${gw.url}/label-probe-${i}`, stranger).catch(() => undefined);
    }
    const text = await (await request(`${gw.adminUrl}/metrics`)).body.text();
    const labels = new Set<string>();
    for (const line of text.split('\n')) {
      if (!line.startsWith('mtls_gateway_')) continue;
      for (const m of line.matchAll(/(route|partner)="([^"]*)"/g)) labels.add(`${m[1]}=${m[2]}`);
    }
    expect([...labels].filter((l) => l.includes('evil') || l.includes('probe'))).toEqual([]);
    expect([...labels].filter((l) => l.startsWith('route=')).sort()).toEqual(['route=default']);
    await agent.close();
    await stranger.close();
  });

  it('a name listed in a second Connection line of the upstream response is stripped too', async () => {
    const res = await get(`${gw.url}/hop-response-two-lines`, clientAgent(pki, 'partner-a'));
    expect(res.text).toBe('ok');
    expect(res.headers['x-secret-hop']).toBeUndefined();
  });

  it('a name in a second client Connection line is not forwarded upstream', async () => {
    const out = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /hop-request-two HTTP/1.1\r\nhost: x\r\nconnection: close\r\nconnection: x-internal-hop\r\nx-internal-hop: 1\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstreamHeadersFor('/hop-request-two').some(([k]) => k === 'x-internal-hop')).toBe(false);
  });

  it('two Content-Length lines from the upstream never reach the client as two', async () => {
    const out = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /cl-twice HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(out.match(/content-length:/gi)?.length ?? 0).toBeLessThanOrEqual(1);
  });
});
