/**
 * Bodies are streamed, never buffered: 50 MB up and 50 MB down through the gateway with bounded
 * memory; an unreachable upstream gives a JSON 502 with the request id; a client abort aborts the
 * upstream request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const MB = 1024 * 1024;
const SIZE = Number(process.env.STREAM_TEST_MB ?? 50) * MB;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

let pki: TestPki;
let upstream: Server;
let gw: TestGateway;
let received = 0;
let abortedUpstream: Promise<void>;
let signalAborted: () => void;
let hangReceived: Promise<void>;
let signalHang: () => void;

/** Bytes the most recent bigStream had produced so far. */
let produced = 0;
/** What the producer had produced when the consumer saw its first byte. */
let producedAtFirstByte = -1;
/** The most the producer was ever ahead of the consumer, in bytes: what sat in buffers between. */
let maxLag = 0;

function bigStream(size: number): Readable {
  let sent = 0;
  produced = 0;
  producedAtFirstByte = -1;
  maxLag = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(CHUNK.length, size - sent);
      sent += n;
      produced = sent;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

beforeAll(async () => {
  pki = await makeTestPki();
  abortedUpstream = new Promise((resolve) => {
    signalAborted = resolve;
  });
  hangReceived = new Promise((resolve) => {
    signalHang = resolve;
  });
  upstream = createServer((req, res) => {
    if (req.url === '/download') {
      res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
      bigStream(SIZE).pipe(res);
      return;
    }
    if (req.url === '/hang') {
      req.socket.once('close', () => signalAborted());
      signalHang();
      return; // never answers: the test aborts the client
    }
    let n = 0;
    req.on('data', (c: Buffer) => {
      if (n === 0) producedAtFirstByte = produced;
      n += c.length;
      maxLag = Math.max(maxLag, produced - n);
    });
    req.on('end', () => {
      received = n;
      res.end(JSON.stringify({ bytes: n }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startTestGateway(pki, {
    GATEWAY_UPSTREAM: `http://127.0.0.1:${port}`,
    GATEWAY_LOG_LEVEL: 'warn',
  });
});

afterAll(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
  await pki?.cleanup();
});

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Live memory kept by a transfer: measured after a forced full GC at both ends (vitest runs the
 * forks with --expose-gc), so garbage that Node has not collected yet (on Node 24 tens of MB after
 * a 50 MB transfer) does not count, and a copy that is kept does.
 */
async function retainedMemory(): Promise<{ stop(): Promise<{ retainedMb: number }> }> {
  if (!gc) throw new Error('global.gc is missing: run with --expose-gc (vitest.config.ts execArgv)');
  // V8 releases ArrayBuffer backing stores after a GC, not during it: collect, let a turn of the
  // event loop pass, collect again, then read.
  const live = async (): Promise<number> => {
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const m = process.memoryUsage();
    return m.arrayBuffers + m.heapUsed;
  };
  const base = await live();
  return { stop: async () => ({ retainedMb: ((await live()) - base) / MB }) };
}

describe('streaming', () => {
  const upload = (size: number) =>
    request(`${gw.url}/upload`, {
      dispatcher: clientAgent(pki, 'partner-a'),
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bigStream(size),
    });

  it('uploads 50 MB without buffering it', async () => {
    // Warm up (TLS, pools, heap growth) so that the measurement sees only the transfer itself.
    await (await upload(8 * MB)).body.text();
    const mem = await retainedMemory();
    const res = await upload(SIZE);
    const body = (await res.body.json()) as { bytes: number };
    const grew = await mem.stop();
    expect(res.statusCode).toBe(200);
    expect(body.bytes).toBe(SIZE);
    expect(received).toBe(SIZE);
    // Streamed: the upstream saw the first bytes while the client had sent only a small part.
    expect(producedAtFirstByte).toBeGreaterThan(0);
    expect(producedAtFirstByte).toBeLessThan(SIZE / 4);
    // Never buffered: the upstream was never more than a quarter of the body behind the client
    // (a gateway holding the body would put it SIZE behind), and nothing of it is kept after.
    expect(maxLag).toBeLessThan(SIZE / 4);
    expect(grew.retainedMb).toBeLessThan(SIZE / MB / 5); // one kept copy would be SIZE
  });

  it('downloads 50 MB without buffering it', async () => {
    const mem = await retainedMemory();
    const res = await request(`${gw.url}/download`, { dispatcher: clientAgent(pki, 'partner-a') });
    let n = 0;
    for await (const chunk of res.body) {
      if (n === 0) producedAtFirstByte = produced;
      n += (chunk as Buffer).length;
      maxLag = Math.max(maxLag, produced - n);
    }
    const grew = await mem.stop();
    expect(res.statusCode).toBe(200);
    expect(n).toBe(SIZE);
    expect(producedAtFirstByte).toBeGreaterThan(0);
    expect(producedAtFirstByte).toBeLessThan(SIZE / 4);
    expect(maxLag).toBeLessThan(SIZE / 4);
    expect(grew.retainedMb).toBeLessThan(SIZE / MB / 5); // one kept copy would be SIZE
  });

  it('aborts the upstream request when the client goes away', async () => {
    const ac = new AbortController();
    const pending = request(`${gw.url}/hang`, {
      dispatcher: clientAgent(pki, 'partner-a'),
      signal: ac.signal,
    });
    await hangReceived;
    ac.abort();
    await expect(pending).rejects.toThrow();
    await abortedUpstream;
  });
});

describe('upstream failures', () => {
  it('answers a JSON 502 with the request id when the upstream is down', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const down = await startTestGateway(pki, { GATEWAY_UPSTREAM: `http://127.0.0.1:${port}` });
    try {
      const res = await get(`${down.url}/x`, clientAgent(pki, 'partner-a'), {
        headers: { 'x-request-id': 'req-502' },
      });
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.json()).toEqual({
        error: 'upstream_unavailable',
        message: 'The service behind the gateway could not be reached.',
        request_id: 'req-502',
      });
      const log = await down.logs.waitFor((l) => l.event === 'request' && l.request_id === 'req-502');
      expect(log.status).toBe(502);
      expect(String(log.reason)).toContain('ECONNREFUSED');
    } finally {
      await down.close();
    }
  });
});
