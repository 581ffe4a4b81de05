/**
 * HTTP request smuggling against the gateway, in raw bytes over a client-certificate TLS socket:
 * obfuscated Transfer-Encoding, bare CR or LF line endings, duplicate Host, conflicting
 * Content-Length, request-line oddities and non-origin-form targets. Each is refused with 400 (or
 * the connection is closed) and nothing reaches the upstream; the few the gateway may safely
 * normalise reach it as exactly one request whose body holds the would-be smuggled request.
 * Every case carries a second request whose path is unique to it; the upstream must never see it.
 */
import { describe, expect, it } from 'vitest';
import { clientAgent, get, rawExchange, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

// Short keep-alive and drain: a case the gateway wrongly keeps open fails in about a second.
useTestGateway(
  {
    GATEWAY_LOG_LEVEL: 'warn',
    GATEWAY_REQUEST_TIMEOUT_SECONDS: '2',
    GATEWAY_KEEPALIVE_TIMEOUT_SECONDS: '1',
    GATEWAY_DRAIN_SECONDS: '2',
  },
  (started) => ({ pki, gw } = started),
);

const smuggled = (tag: string): string => `GET /smuggled-${tag} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

/** A second request hidden after a zero chunk: reached only if the framing was misread. */
const afterZeroChunk = (tag: string): string => `0\r\n\r\n${smuggled(tag)}`;

/** Requests the gateway must refuse: 400 (or a closed connection), nothing forwarded. */
const REFUSED: readonly (readonly [string, (tag: string) => string])[] = [
  [
    'TE chunked, identity (chunked not last)',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE chunked, identity without Content-Length',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE xchunked',
    (t) => `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE chunkedx',
    (t) => `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunkedx\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE identity',
    (t) => `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE space before colon',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE obs-fold continuation',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE vertical tab',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\x0bchunked\r\nContent-Length: 3\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE duplicated: chunked then identity',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE duplicated: chunked twice',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE and Content-Length',
    (t) =>
      `POST /te HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'TE chunked on HTTP/1.0',
    (t) =>
      `POST /te HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${afterZeroChunk(t)}`,
  ],
  [
    'CL + CL conflicting',
    (t) =>
      `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${smuggled(t)}`,
  ],
  [
    'CL + CL identical',
    (t) =>
      `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n${smuggled(t)}`,
  ],
  ['CL list', (t) => `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, 44\r\n\r\n${smuggled(t)}`],
  ['CL signed', (t) => `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: +0\r\n\r\n${smuggled(t)}`],
  ['CL hex', (t) => `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0x0\r\n\r\n${smuggled(t)}`],
  [
    'CL overflow',
    (t) =>
      `POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551617\r\n\r\n${smuggled(t)}`,
  ],
  [
    'chunk size overflow',
    (t) =>
      `POST /chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nA\r\n${afterZeroChunk(t)}`,
  ],
  [
    'chunk size with bare LF',
    (t) =>
      `POST /chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\nA\r\n${afterZeroChunk(t)}`,
  ],
  [
    'chunk data longer than its size',
    (t) =>
      `POST /chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAB\r\n${afterZeroChunk(t)}`,
  ],
  ['bare LF line endings', (t) => `GET /lf HTTP/1.1\nHost: localhost\n\n${smuggled(t)}`],
  ['bare LF after a header', (t) => `GET /lf HTTP/1.1\r\nHost: localhost\nX-A: 1\r\n\r\n${smuggled(t)}`],
  ['bare CR line endings', (t) => `GET /cr HTTP/1.1\rHost: localhost\r\r${smuggled(t)}`],
  [
    'bare CR inside a header value',
    (t) => `GET /cr HTTP/1.1\r\nHost: localhost\r\nX-A: 1\rX-B: 2\r\n\r\n${smuggled(t)}`,
  ],
  [
    'NUL in a header value',
    (t) => `GET /nul HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n${smuggled(t)}`,
  ],
  [
    'duplicate Host',
    (t) => `GET /host HTTP/1.1\r\nHost: localhost\r\nHost: internal.example\r\n\r\n${smuggled(t)}`,
  ],
  [
    'duplicate Host, same value',
    (t) => `GET /host HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n${smuggled(t)}`,
  ],
  ['missing Host on HTTP/1.1', (t) => `GET /nohost HTTP/1.1\r\nX-A: 1\r\n\r\n${smuggled(t)}`],
  [
    'absolute-form target',
    (t) => `GET http://internal.example/admin HTTP/1.1\r\nHost: x\r\n\r\n${smuggled(t)}`,
  ],
  [
    'authority-form CONNECT',
    (t) => `CONNECT internal.example:80 HTTP/1.1\r\nHost: internal.example:80\r\n\r\n${smuggled(t)}`,
  ],
  ['asterisk-form OPTIONS', (t) => `OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['unknown method', (t) => `SMUGGLE / HTTP/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['lower-case method', (t) => `get / HTTP/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['tab in the request line', (t) => `GET\t/tab HTTP/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['space in the target', (t) => `GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['trailing token after the version', (t) => `GET /v HTTP/1.1 x\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['HTTP/0.9 request line', (t) => `GET /nine\r\n\r\n${smuggled(t)}`],
  ['HTTP/2.0 on the HTTP/1 parser', (t) => `GET /two HTTP/2.0\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['HTTP/1.2', (t) => `GET /v HTTP/1.2\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['lower-case protocol', (t) => `GET /v http/1.1\r\nHost: localhost\r\n\r\n${smuggled(t)}`],
  ['header name with space', (t) => `GET / HTTP/1.1\r\nHost: localhost\r\nX A: 1\r\n\r\n${smuggled(t)}`],
  ['header without colon', (t) => `GET / HTTP/1.1\r\nHost: localhost\r\nX-A\r\n\r\n${smuggled(t)}`],
];

/**
 * Requests the gateway may normalise: exactly one reaches the upstream, as the gateway framed it,
 * and the second request hidden in its body never does.
 */
const NORMALISED: readonly (readonly [string, string])[] = [
  ['TE with leading spaces', 'POST /norm HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:  chunked\r\n'],
  ['TE upper-case', 'POST /norm HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: CHUNKED\r\n'],
  ['TE lower-case name', 'POST /norm HTTP/1.1\r\nHost: localhost\r\ntransfer-encoding: chunked\r\n'],
];

/**
 * Oddities the gateway may refuse or normalise: either one 400 and nothing forwarded, or one 200
 * and exactly one upstream request at `path`. Each asks for Connection: close, so the request
 * pipelined behind it must never be processed.
 */
const TOLERATED: readonly (readonly [string, string, (tag: string) => string])[] = [
  [
    'two spaces in the request line',
    '/two',
    (t) => `GET  /two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n${smuggled(t)}`,
  ],
  [
    'TE with tabs',
    '/norm',
    (t) =>
      `POST /norm HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\tchunked\t\r\nConnection: close\r\n\r\n${afterZeroChunk(t)}`,
  ],
  ['HTTP/1.0 without Host', '/ten', (t) => `GET /ten HTTP/1.0\r\n\r\n${smuggled(t)}`],
  [
    'a client Connection: close with a request pipelined behind it',
    '/first',
    (t) => `GET /first HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n${smuggled(t)}`,
  ],
];

/** Resolves once a request with `path` reached the upstream (a later marker for ordering). */
async function sentinel(tag: string): Promise<void> {
  const res = await get(`${gw.url}/sentinel-${tag}`, clientAgent(pki, 'partner-a'));
  expect(res.status).toBe(200);
}

describe('request smuggling', () => {
  it.each(REFUSED.map(([name, make], i) => [name, make, i] as const))(
    'refuses %s with 400 and forwards nothing',
    async (_name, make, i) => {
      const tag = `r${i}`;
      const before = gw.upstream.seen.length;
      const answer = await rawExchange(pki, 'partner-a', gw.port, make(tag));
      // Either a single 400 answer, or the connection closed without one (CONNECT without a handler).
      if (answer !== '') {
        expect(answer).toMatch(/^HTTP\/1\.1 400 /);
        expect(answer.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
        expect(answer).toContain('"error":"bad_request"');
      }
      await sentinel(tag);
      const reached = gw.upstream.seen.slice(before).map((r) => r.path);
      expect(reached).toEqual([`/sentinel-${tag}`]);
    },
  );

  it.each(NORMALISED.map(([name, head], i) => [name, head, i] as const))(
    'normalises %s into exactly one upstream request',
    async (_name, head, i) => {
      const tag = `n${i}`;
      const hidden = smuggled(tag);
      const chunk = `${Buffer.byteLength(hidden).toString(16)}\r\n${hidden}\r\n0\r\n\r\n`;
      const before = gw.upstream.seen.length;
      const answer = await rawExchange(pki, 'partner-a', gw.port, `${head}Connection: close\r\n\r\n${chunk}`);
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
      await sentinel(tag);
      const reached = gw.upstream.seen.slice(before);
      expect(reached.map((r) => r.path)).toEqual(['/norm', `/sentinel-${tag}`]);
      // The body arrived whole, framed by the gateway: no Transfer-Encoding obfuscation upstream.
      expect(reached[0]!.bodyBytes).toBe(Buffer.byteLength(hidden));
      const te = reached[0]!.rawHeaders.filter(
        (_, k) => k % 2 === 0 && /^transfer-encoding$/i.test(reached[0]!.rawHeaders[k]!),
      );
      expect(te.length).toBeLessThanOrEqual(1);
    },
  );

  it.each(TOLERATED.map(([name, path, make], i) => [name, path, make, i] as const))(
    'refuses or normalises %s, and never processes what follows',
    async (_name, path, make, i) => {
      const tag = `t${i}`;
      const before = gw.upstream.seen.length;
      const answer = await rawExchange(pki, 'partner-a', gw.port, make(tag));
      expect(answer.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
      await sentinel(tag);
      const reached = gw.upstream.seen.slice(before).map((r) => r.path);
      if (answer.startsWith('HTTP/1.1 400 ')) expect(reached).toEqual([`/sentinel-${tag}`]);
      else {
        expect(answer).toMatch(/^HTTP\/1\.1 200 /);
        expect(reached).toEqual([path, `/sentinel-${tag}`]);
      }
    },
  );

  it('sends the upstream exactly one Host header, the client’s', async () => {
    const before = gw.upstream.seen.length;
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /one-host HTTP/1.1\r\nHost: partner.example\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const seen = gw.upstream.seen.slice(before);
    expect(seen).toHaveLength(1);
    const hosts = seen[0]!.rawHeaders.filter((v, k) => k % 2 === 0 && v.toLowerCase() === 'host');
    expect(hosts).toHaveLength(1);
  });

  it('never forwards a request that pipelines after a refused one', async () => {
    const before = gw.upstream.seen.length;
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      `GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n${smuggled('pipe')}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    await sentinel('pipe');
    expect(gw.upstream.seen.slice(before).map((r) => r.path)).toEqual(['/sentinel-pipe']);
  });

  it('accounts for every request it refused to process: drain finds nothing in flight', async () => {
    // A request pipelined behind a closing answer never gets a response of its own; if it were
    // still counted in flight, drain would wait GATEWAY_DRAIN_SECONDS and report a cut request.
    expect(await gw.gateway.drain()).toBe(true);
  });
});
