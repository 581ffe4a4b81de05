/**
 * Attack on the issue-14 follow-ups "strip more forwarding/override/cert headers" (be9d514,
 * 227f664). The lists cover x-forwarded-*, x-original-*, x-envoy-*, x-ssl-*, ssl-client-* and
 * more, but these pass as the client wrote them (GATEWAY_UNDERSCORE_HEADERS at its default, drop):
 * - `X-Script-Name`: the mount point a WSGI app strips from PATH_INFO (the Flask "ReverseProxied"
 *   fix-up every nginx + Flask guide copies: PATH_INFO = PATH_INFO[len(X-Script-Name):]). With
 *   `/admin` allowing nobody, `GET /x/admin/users` + `X-Script-Name: /x` is routed to `/` (200)
 *   and the app serves `/admin/users`: the same route bypass as X-Original-URL.
 * - Cloudflare's mTLS headers (`Cf-Cert-Verified`, `Cf-Cert-Presented`, `Cf-Cert-Subject-DN`,
 *   `Cf-Cert-Subject-DN-RFC2253`, `Cf-Cert-Fingerprint-SHA256`, ...: the "Add TLS client auth
 *   headers" managed transform): a service moving from Cloudflare trusts them as x-ssl-* users do.
 * - `X-AppEngine-User-IP` (in the `request-ip` package's list, which strip.ts cites).
 * Upstream: Python's wsgiref, which shows each as HTTP_<NAME>.
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
        { name: 'admin', prefix: '/admin', allow: [] },
        { name: 'public', prefix: '/', allow: ['*'] },
      ],
    },
  },
  (started) => ({ pki, gw } = started),
);

const environFor = (target: string, headers: readonly string[]) => wsgiEnviron(pki, gw, { target, headers });

describe('a mount-point header cannot move a request past the route that refused it', () => {
  it('control: /admin/users is refused', async () => {
    expect((await environFor('/admin/users', [])).status).toBe(403);
  });

  it('GET /x/admin/users with X-Script-Name: /x never reaches the app as a mount point', async () => {
    const { status, environ } = await environFor('/x/admin/users', ['X-Script-Name: /x']);
    expect(status).toBe(200); // the `/` route: fine, as long as the app acts on /x/admin/users
    expect(environ.PATH_INFO).toBe('/x/admin/users');
    // A Flask ReverseProxied app would now serve PATH_INFO[len('/x'):] = /admin/users.
    expect(environ.HTTP_X_SCRIPT_NAME).toBeUndefined();
  });
});

const SPOOFED: readonly (readonly [string, string])[] = [
  ['Cf-Cert-Verified: SUCCESS', 'HTTP_CF_CERT_VERIFIED'],
  ['Cf-Cert-Presented: 1', 'HTTP_CF_CERT_PRESENTED'],
  ['Cf-Cert-Subject-DN-RFC2253: CN=admin,O=Example', 'HTTP_CF_CERT_SUBJECT_DN_RFC2253'],
  ['Cf-Cert-Fingerprint-SHA256: 00', 'HTTP_CF_CERT_FINGERPRINT_SHA256'],
  ['X-AppEngine-User-IP: 203.0.113.66', 'HTTP_X_APPENGINE_USER_IP'],
];

describe("other edges' client-certificate and address headers do not pass", () => {
  for (const [header, key] of SPOOFED) {
    it(`${header} is not seen as ${key}`, async () => {
      const { status, environ } = await environFor('/receipts', [header]);
      expect(status).toBe(200);
      expect(environ[key]).toBeUndefined();
    });
  }
});
