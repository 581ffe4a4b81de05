/**
 * Upstream faults, against a raw TCP upstream that misbehaves on purpose: too slow (504), resetting
 * before or in the middle of a response, answering garbage that is not HTTP. Each is answered in
 * bounded time with the gateway's own JSON (502/504 with the request id) or, once the response has
 * started, by cutting it; no upstream text, error code, stack or address ever reaches the partner,
 * and the gateway keeps serving. (Upstream down: test/e2e; Secrets Manager outage: rotation.)
 */
import type { Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, metricValue, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';

/** What a careless upstream would leak: its banner, host, address, error text and stack. */
const SECRET =
  'SSH-2.0-OpenSSH_9.6 billing-7.corp.internal 10.0.3.7 Error: ECONNREFUSED at Db.connect (/srv/app.js:12:7)';

let pki: TestPki;
let gw: TestGateway;
let upstream: ScriptedUpstream;
let upstreamPort: number;

/** One behaviour per path, decided from the request line. */
function misbehave(socket: Socket, path: string): void {
  switch (path) {
    case '/slow':
      return; // never answers (closed with the upstream)
    case '/reset-before':
      socket.resetAndDestroy();
      return;
    case '/reset-mid':
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(5000)}`,
      );
      setImmediate(() => socket.resetAndDestroy());
      return;
    case '/stall-mid':
      // Chunked: a clean end by the gateway would look like a complete (short) body to the client.
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n',
      );
      return; // then nothing, past the body timeout
    case '/continue':
      // An unsolicited 100 (the request had no Expect), then the final answer (RFC 9110 §15.2).
      socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setImmediate(() =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfinal'),
      );
      return;
    case '/early-hints':
      socket.write('HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n');
      socket.write('HTTP/1.1 102 Processing\r\n\r\n');
      setImmediate(() =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfinal'),
      );
      return;
    case '/continue-split': {
      // 100, 103 and 100 again, the status lines cut mid-token across TCP writes.
      const parts = [
        'HTTP/1.1 1',
        '00 Continue\r\n',
        '\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.0 100',
        ' Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal',
      ];
      const next = (): void => {
        const part = parts.shift();
        if (part === undefined) return;
        socket.write(part);
        setTimeout(next, 5);
      };
      next();
      return;
    }
    case '/garbage':
      socket.end(`${SECRET}\r\n\r\n`);
      return;
    case '/half-headers':
      socket.write(`HTTP/1.1 200 OK\r\nX-Internal: ${SECRET}\r\n`);
      setImmediate(() => socket.destroy());
      return;
    case '/bad-status':
      socket.end(`HTTP/1.1 2000 ${SECRET}\r\ncontent-length: 0\r\n\r\n`);
      return;
    default:
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startScriptedUpstream(misbehave);
  upstreamPort = upstream.port;
  gw = await startTestGateway(pki, {
    GATEWAY_LOG_LEVEL: 'warn',
    GATEWAY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
    GATEWAY_UPSTREAM_TIMEOUT_SECONDS: '1',
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await pki?.cleanup();
});

/** The gateway's own error JSON, with nothing of the upstream in it. */
function expectOwnError(
  text: string,
  headers: Record<string, unknown>,
  code: string,
  requestId: string,
): void {
  const body = JSON.parse(text) as Record<string, string>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message', 'request_id']);
  expect(body.error).toBe(code);
  expect(body.request_id).toBe(requestId);
  expect(headers['x-request-id']).toBe(requestId);
  for (const leak of [
    'SSH',
    'billing',
    'corp',
    '10.0.3.7',
    'ECONN',
    'UND_ERR',
    'HPE_',
    'Error',
    ' at ',
    '/srv/',
  ]) {
    expect(text).not.toContain(leak);
  }
  expect(text).not.toContain(String(upstreamPort));
  expect(text).not.toContain('127.0.0.1');
  expect(JSON.stringify(headers)).not.toContain('billing');
}

async function stillServing(): Promise<void> {
  const res = await get(`${gw.url}/ok`, clientAgent(pki, 'partner-a'));
  expect(res.status).toBe(200);
  expect(res.text).toBe('ok');
}

describe('upstream faults', () => {
  it('answers a slow upstream with a JSON 504 after GATEWAY_UPSTREAM_TIMEOUT_SECONDS, no hang', async () => {
    const started = performance.now();
    const res = await get(`${gw.url}/slow`, clientAgent(pki, 'partner-a'), {
      headers: { 'x-request-id': 'slow-1' },
    });
    const took = performance.now() - started;
    expect(res.status).toBe(504);
    expectOwnError(res.text, res.headers, 'upstream_timeout', 'slow-1');
    expect(took).toBeGreaterThanOrEqual(900); // it waited for the timeout (the test timeout guards a hang)
    await stillServing();
  });

  it.each([
    ['/reset-before', 'upstream_reset'],
    ['/garbage', 'upstream'],
    ['/half-headers', 'upstream'],
    ['/bad-status', 'upstream'],
  ])('answers %s with a JSON 502 that leaks nothing of the upstream', async (path, code) => {
    const id = `fault${path.replace(/\//g, '-')}`;
    const res = await get(`${gw.url}${path}`, clientAgent(pki, 'partner-a'), {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(502);
    const body = res.json<{ error: string }>();
    expect(body.error.startsWith(code)).toBe(true);
    expectOwnError(res.text, res.headers, body.error, id);
    await stillServing();
  });

  it('cuts the client response when the upstream resets mid-body, without hanging', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const res = await request(`${gw.url}/reset-mid`, { dispatcher: agent });
    // The status and the first bytes went out before the reset: the body must end in an error.
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    await agent.close();
    await stillServing();
  });

  it.each([
    ['/reset-mid', 'upstream_reset_mid_body', 'reset_mid_body'],
    ['/stall-mid', 'upstream_body_timeout', 'body_timeout'],
  ])(
    'a response cut by %s is an upstream error: aborted for the client, logged %s, counted',
    async (path, reason, kind) => {
      const id = `cut${path.replace(/\//g, '-')}`;
      const errors = async (): Promise<number> =>
        metricValue(
          (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text,
          'mtls_gateway_upstream_errors_total',
          { route: 'default', kind },
        ) ?? 0;
      const before = await errors();
      const agent = clientAgent(pki, 'partner-a');
      const res = await request(`${gw.url}${path}`, { dispatcher: agent, headers: { 'x-request-id': id } });
      expect(res.statusCode).toBe(200);
      // Never a clean end: the client must notice that the body is incomplete.
      await expect(res.body.text()).rejects.toThrow();
      const line = await gw.logs.waitFor((l) => l.event === 'request' && l.request_id === id);
      expect({ level: line.level, status: line.status, reason: line.reason }).toEqual({
        level: 'warn',
        status: 200,
        reason,
      });
      expect(await errors()).toBe(before + 1);
      await agent.close();
      await stillServing();
    },
  );

  it.each(['/continue', '/early-hints', '/continue-split'])(
    'passes the final response through after interim 1xx answers (%s), never a 502',
    async (path) => {
      // Three in a row on one client connection: the upstream connection is reused in between.
      const agent = clientAgent(pki, 'partner-a');
      for (let i = 0; i < 3; i++) {
        const res = await get(`${gw.url}${path}`, agent);
        expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: 'final' });
      }
      await agent.close();
      await stillServing();
    },
  );

  it.each([
    ['/slow', 'timeout'],
    ['/reset-before', 'reset'],
    ['/garbage', 'other'],
    ['/half-headers', 'reset'],
    ['/bad-status', 'other'],
  ])(
    'counts the fault of %s once, as kind %s (self-contained: deltas of its own request)',
    async (path, kind) => {
      const read = async (): Promise<Record<string, number>> => {
        const m = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
        const out: Record<string, number> = {};
        for (const k of [
          'connect',
          'connect_timeout',
          'timeout',
          'reset',
          'other',
          'reset_mid_body',
          'body_timeout',
        ])
          out[k] = metricValue(m, 'mtls_gateway_upstream_errors_total', { route: 'default', kind: k }) ?? 0;
        return out;
      };
      const before = await read();
      const res = await get(`${gw.url}${path}`, clientAgent(pki, 'partner-a'));
      expect(res.status).toBeGreaterThanOrEqual(502);
      const after = await read();
      const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
      expect(delta).toEqual({ ...Object.fromEntries(Object.keys(after).map((k) => [k, 0])), [kind]: 1 });
    },
  );
});
