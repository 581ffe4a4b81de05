/**
 * Forwarding and method-override headers (issue 14 follow-up): besides `Forwarded`, `X-Forwarded-*`,
 * `X-Real-IP` and the like, upstream frameworks take the client address, the path or the method from
 * more names, so none of a client's copies may pass:
 * - client address: `Client-IP` (PHP's `HTTP_CLIENT_IP` idiom, Rails' RemoteIp),
 *   `X-Cluster-Client-IP`, `CF-Connecting-IP`, `Fastly-Client-IP`, `X-Forwarded` and
 *   `Forwarded-For` (the `request-ip` npm package), every `X-Envoy-*` (`-External-Address`,
 *   `-Internal: true`, `-Original-Path`, which a service moving from Envoy trusts);
 * - the method acted on: `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override` (Rack
 *   MethodOverride, ASP.NET Core, Express method-override), so a route that only admits POST can
 *   never be used to DELETE.
 * The upstream is Python's `wsgiref` (every header becomes `HTTP_<NAME>`, `-` read as `_`).
 */
import { describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';
import { useWsgiGateway, wsgiEnviron } from '../helpers/wsgi-upstream.js';

let pki: TestPki;
let gw: TestGateway;

useWsgiGateway(
  {
    policy: {
      routes: [
        // Partners may create orders; nobody may delete them.
        { name: 'orders-write', prefix: '/orders', methods: ['GET', 'POST'], allow: ['*'] },
        { name: 'orders-delete', prefix: '/orders', methods: ['DELETE'], allow: [] },
        { name: 'public', prefix: '/', allow: ['*'] },
      ],
    },
  },
  (started) => ({ pki, gw } = started),
);

const environFor = (method: string, target: string, headers: readonly string[]) =>
  wsgiEnviron(pki, gw, { method, target, headers });

const SPOOFED: readonly (readonly [string, string])[] = [
  ['Client-IP: 203.0.113.66', 'HTTP_CLIENT_IP'],
  ['X-Cluster-Client-IP: 203.0.113.66', 'HTTP_X_CLUSTER_CLIENT_IP'],
  ['CF-Connecting-IP: 203.0.113.66', 'HTTP_CF_CONNECTING_IP'],
  ['Fastly-Client-IP: 203.0.113.66', 'HTTP_FASTLY_CLIENT_IP'],
  ['X-Forwarded: for=203.0.113.66', 'HTTP_X_FORWARDED'],
  ['Forwarded-For: 203.0.113.66', 'HTTP_FORWARDED_FOR'],
  ['X-Envoy-External-Address: 203.0.113.66', 'HTTP_X_ENVOY_EXTERNAL_ADDRESS'],
  ['X-Envoy-Internal: true', 'HTTP_X_ENVOY_INTERNAL'],
  ['X-Envoy-Original-Path: /admin/users', 'HTTP_X_ENVOY_ORIGINAL_PATH'],
];

describe('no client-written forwarding header reaches a WSGI upstream', () => {
  for (const [header, key] of SPOOFED) {
    it(`${header} is not seen as ${key}`, async () => {
      const { status, environ } = await environFor('GET', '/receipts', [header]);
      expect(status).toBe(200);
      expect(environ.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1'); // ours
      expect(environ[key]).toBeUndefined();
    });
  }
});

describe('the method the route authorised is the method the upstream acts on', () => {
  it('DELETE is refused by the policy (control)', async () => {
    expect((await environFor('DELETE', '/orders/42', [])).status).toBe(403);
  });

  for (const header of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']) {
    it(`POST with ${header}: DELETE does not reach the upstream as a DELETE`, async () => {
      const { status, environ } = await environFor('POST', '/orders/42', [`${header}: DELETE`]);
      const key = `HTTP_${header.toUpperCase().replaceAll('-', '_')}`;
      // Refused, or forwarded without the override: never a POST the upstream turns into a DELETE.
      if (status === 200) expect(environ[key]).toBeUndefined();
      else expect(status).toBe(403);
    });
  }
});
