/**
 * SIGTERM to the real `mtls-gateway serve` process under load: zero requests lost. Every request a
 * client sent either completed with a status, or was never accepted (the connection was refused,
 * or closed before the gateway read the request: then neither the gateway's request log nor the
 * upstream ever saw its id). The process exits 0 (every in-flight request finished).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve-process.js';

const KEEP_ALIVE_CLIENTS = 6;
const FRESH_CLIENTS = 2;
const REQUESTS_BEFORE_SIGTERM = 150;

let pki: TestPki;
let upstream: Server;
let upstreamPort: number;
const upstreamSaw = new Set<string>();

beforeAll(async () => {
  pki = await makeTestPki();
  // Answers after 0–39 ms (seeded by the request id), so requests are in flight at SIGTERM.
  upstream = createServer((req, res) => {
    const id = String(req.headers['x-request-id']);
    upstreamSaw.add(id);
    const delay = Number(id.split('-').pop()) % 40;
    req.resume();
    setTimeout(() => res.end(`done ${id}`), delay);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  await pki.cleanup();
});

type Outcome = { id: string; status: number } | { id: string; error: string };

describe('SIGTERM under load', { timeout: 60_000 }, () => {
  it('loses no request: each completed with a status or was never accepted', async () => {
    const gw = await startServe(pki, upstreamPort, {
      GATEWAY_DRAIN_SECONDS: '10',
      GATEWAY_LOG_LEVEL: 'info',
    });
    const url = `https://localhost:${gw.tlsPort}`;
    const outcomes: Outcome[] = [];
    let sent = 0;
    let sigterm: (() => void) | undefined;
    const enoughSent = new Promise<void>((r) => {
      sigterm = r;
    });

    /** Sends until the gateway refuses connections; `fresh`: a new TLS connection per request. */
    const client = async (name: string, fresh: boolean): Promise<void> => {
      let agent = clientAgent(pki, 'partner-a');
      for (let i = 0; ; i++) {
        const id = `${name}-${i}`;
        if (++sent === REQUESTS_BEFORE_SIGTERM) sigterm?.();
        try {
          const res = await request(`${url}/load`, { dispatcher: agent, headers: { 'x-request-id': id } });
          const text = await res.body.text();
          outcomes.push({ id, status: res.statusCode });
          if (res.statusCode === 200) expect(text).toBe(`done ${id}`);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          outcomes.push({ id, error: e.code ?? e.message });
          if (e.code === 'ECONNREFUSED') break;
        }
        if (fresh) {
          await agent.close();
          agent = clientAgent(pki, 'partner-a');
        }
      }
      await agent.destroy();
    };

    const clients = [
      ...Array.from({ length: KEEP_ALIVE_CLIENTS }, (_, i) => client(`ka${i}`, false)),
      ...Array.from({ length: FRESH_CLIENTS }, (_, i) => client(`fresh${i}`, true)),
    ];
    await enoughSent;
    gw.child.kill('SIGTERM');
    await Promise.all(clients);
    expect(await gw.exited).toBe(0);

    const logged = new Map<string, number>();
    for (const l of gw.lines) {
      if (l.event === 'request' && typeof l.request_id === 'string')
        logged.set(l.request_id, Number(l.status));
    }
    const completed = outcomes.filter((o): o is { id: string; status: number } => 'status' in o);
    const failed = outcomes.filter((o): o is { id: string; error: string } => 'error' in o);
    expect(completed.length).toBeGreaterThan(REQUESTS_BEFORE_SIGTERM * 0.8);
    // Every answer a client got was a real one: 200 from the upstream (503 only if it arrived
    // during drain on a connection already open), never a gateway 5xx for an accepted request.
    for (const o of completed) {
      expect([200, 503]).toContain(o.status);
      expect(logged.get(o.id)).toBe(o.status);
    }
    // A request that failed was never accepted: neither the gateway nor the upstream saw it.
    for (const o of failed) {
      expect({ id: o.id, logged: logged.has(o.id), upstream: upstreamSaw.has(o.id) }).toEqual({
        id: o.id,
        logged: false,
        upstream: false,
      });
    }
    // And the gateway answered everything it accepted.
    for (const [id, status] of logged) expect(completed.find((o) => o.id === id)?.status).toBe(status);
    const stopped = gw.lines.find((l) => l.msg === 'stopped');
    expect(stopped?.cut_requests).toBe(0);
  });
});
