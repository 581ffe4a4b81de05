/**
 * The header lists the proxy sends each way, as pure functions: what a client's request headers
 * become upstream (strip lists, underscores, our own headers, trace context) and which upstream
 * response headers reach the client. The end-to-end tests (test/e2e/request-headers.test.ts and
 * the *-stripped tests) show the same through a real gateway; these pin every rule exactly.
 */
import { describe, expect, it } from 'vitest';
import { hopByHopNames } from '../../src/identity/strip.js';
import {
  downstreamHeaders,
  mayForwardRequestHeader,
  requestIdFrom,
  upstreamHeaders,
} from '../../src/proxy/upstream-headers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const IDENTITY: readonly (readonly [string, string])[] = [
  ['x-client-id', 'acme'],
  ['x-client-verify', 'SUCCESS'],
];

/** The flat [name, value, …] list as pairs, for readable comparisons. */
function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

describe('requestIdFrom', () => {
  it('keeps a sane token the client sent', () => {
    for (const id of ['abc', 'A-b_c.d:e', 'x'.repeat(128), '0']) expect(requestIdFrom(id)).toBe(id);
  });

  it('replaces anything else with a fresh UUID', () => {
    for (const bad of [undefined, '', 'x'.repeat(129), 'a b', 'a;b', 'id\n', '\nid', 'é', ['a', 'b']]) {
      const id = requestIdFrom(bad);
      expect({ bad, id: UUID.test(id) }).toEqual({ bad, id: true });
    }
    expect(requestIdFrom(undefined)).not.toBe(requestIdFrom(undefined));
  });
});

describe('mayForwardRequestHeader', () => {
  const hop = hopByHopNames('X-Hop');

  it('forwards ordinary headers', () => {
    for (const name of ['Content-Type', 'accept', 'Authorization', 'Cookie', 'x-custom', 'Host'])
      expect({ name, forward: mayForwardRequestHeader(name, hop, 'drop') }).toEqual({ name, forward: true });
  });

  it('never forwards hop-by-hop, listed, our own, identity or forwarding headers, in any spelling', () => {
    for (const underscores of ['drop', 'allow'] as const) {
      for (const name of [
        'Connection',
        'Keep-Alive',
        'Proxy-Anything',
        'X-Hop',
        'x_hop',
        'X-Request-Id',
        'X_Request_Id',
        'Expect',
        'X-Client-Id',
        'x.client.id',
        'X-Forwarded-Host',
        'X_Forwarded_For',
        'X-Real-IP',
      ]) {
        expect({ name, underscores, forward: mayForwardRequestHeader(name, hop, underscores) }).toEqual({
          name,
          underscores,
          forward: false,
        });
      }
    }
  });

  it('drops names with `_` or `.` by default, and with `allow` keeps them unless HTTP framing reads them', () => {
    for (const name of ['X_Custom', 'x.custom', 'Content_Length'])
      expect({ name, forward: mayForwardRequestHeader(name, hop, 'drop') }).toEqual({ name, forward: false });
    for (const name of ['X_Custom', 'x.custom', 'My_Header'])
      expect({ name, forward: mayForwardRequestHeader(name, hop, 'allow') }).toEqual({ name, forward: true });
    for (const name of ['Content_Length', 'content.type', 'Content_Encoding', 'Transfer_Encoding'])
      expect({ name, forward: mayForwardRequestHeader(name, hop, 'allow') }).toEqual({
        name,
        forward: false,
      });
  });
});

describe('upstreamHeaders', () => {
  const raw = [
    'Host',
    'api.example',
    'X-Client-Id',
    'forged',
    'Connection',
    'X-Hop',
    'X-Hop',
    'secret',
    'Content-Type',
    'Text/Plain',
    'traceparent',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'tracestate',
    'vendor=1',
    'X_Under',
    'u',
    'X-Forwarded-For',
    '203.0.113.9',
    'X-Request-Id',
    'client-chosen',
    'Accept',
    '*/*',
  ];

  it('keeps the client headers that may pass, lower-cased and in order, then adds ours after them', () => {
    expect(pairs(upstreamHeaders(raw, 'X-Hop', IDENTITY, '192.0.2.7', 'rid-1'))).toEqual([
      ['host', 'api.example'],
      ['content-type', 'Text/Plain'],
      ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
      ['tracestate', 'vendor=1'],
      ['accept', '*/*'],
      ['x-client-id', 'acme'],
      ['x-client-verify', 'SUCCESS'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'https'],
      ['x-request-id', 'rid-1'],
    ]);
  });

  it('replaces a missing or malformed trace context, keeps underscores when allowed, adds Forwarded', () => {
    const options = { underscores: 'allow', forwarded: true, traceparent: '00-new-trace-01' } as const;
    expect(pairs(upstreamHeaders(raw, undefined, IDENTITY, '2001:db8::1', 'rid-2', options))).toEqual([
      ['host', 'api.example'],
      ['x-hop', 'secret'],
      ['content-type', 'Text/Plain'],
      ['x_under', 'u'],
      ['accept', '*/*'],
      ['traceparent', '00-new-trace-01'],
      ['x-client-id', 'acme'],
      ['x-client-verify', 'SUCCESS'],
      ['x-forwarded-for', '2001:db8::1'],
      ['x-forwarded-proto', 'https'],
      ['x-request-id', 'rid-2'],
      ['forwarded', 'for="[2001:db8::1]";proto=https'],
    ]);
  });

  it('ignores a name without a value at the end of the raw list', () => {
    expect(pairs(upstreamHeaders(['Accept', 'a', 'Dangling'], undefined, [], '192.0.2.7', 'r'))).toEqual([
      ['accept', 'a'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'https'],
      ['x-request-id', 'r'],
    ]);
  });
});

describe('downstreamHeaders', () => {
  it('drops hop-by-hop response headers and what the upstream Connection lists', () => {
    const out = downstreamHeaders({
      connection: 'X-Extra, x.dotted',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'proxy-connection': 'keep-alive',
      'proxy-status': 'gw; error=timeout',
      te: 'trailers',
      trailer: 'x-sum',
      upgrade: 'h2c',
      'x-extra': '1',
      'x-dotted': '2',
      x_extra: '3',
      'content-type': 'text/html',
      'set-cookie': ['a=1', 'b=2'],
      'x-missing': undefined,
    });
    expect('x-missing' in out).toBe(false);
    expect(out).toEqual({
      'proxy-status': 'gw; error=timeout',
      'content-type': 'text/html',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('reads every Connection line an upstream sent (undici gives repeated lines as an array)', () => {
    expect(
      downstreamHeaders({ connection: ['keep-alive', 'x-extra'], 'x-extra': '1', etag: '"v1"' }),
    ).toEqual({ etag: '"v1"' });
  });
});
