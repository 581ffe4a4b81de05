/**
 * Route prefixes cannot be bypassed by letter case (issue 14 follow-up). Many upstreams route
 * case-insensitively: Express (`caseSensitive: false` is its default), ASP.NET Core, IIS, Spring
 * with `setCaseSensitive(false)`. With `/admin` allowing nobody and `/` allowing everyone on one
 * upstream, `GET /ADMIN/users` (or `/%41dmin/users`, decoded to `/Admin/users`) must be routed to
 * `/admin` (403): prefixes match ignoring ASCII case. Folding is not only ASCII: Java's
 * `String.equalsIgnoreCase` holds `admın` (dotless ı, `/adm%C4%B1n`) equal to `admin`, `ſ` to `s`,
 * `K` (Kelvin) to `k`, so a path holding a non-ASCII character that folds to ASCII is refused (400).
 *
 * The upstream is a real HTTP server matching its routes as Express does by default
 * (case-insensitively, on the decoded path) or, for non-ASCII, as Java's equalsIgnoreCase does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

/** java.lang.String#equalsIgnoreCase: per char, equal after toUpperCase or after toUpperCase+toLowerCase. */
function javaEqualsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const ux = x.toUpperCase();
    const uy = y.toUpperCase();
    if (ux.length === 1 && (ux === uy || ux.toLowerCase() === uy.toLowerCase())) continue;
    return false;
  }
  return true;
}

let pki: TestPki;
let gw: TestGateway;
let upstream: Server;
const adminHits: string[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  // Express-like routing: `app.get('/admin/users', …)` with the default `caseSensitive: false`.
  upstream = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (/^\/admin\/users\/?$/i.test(path) || javaEqualsIgnoreCase(path, '/admin/users')) {
      adminHits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"admin":"all users"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"public":true}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  const policy = {
    routes: [
      { name: 'admin', prefix: '/admin', allow: [] },
      { name: 'public', prefix: '/', allow: ['*'] },
    ],
  };
  gw = await startTestGateway(pki, {
    GATEWAY_CONFIG: await pki.write('case.json', JSON.stringify(policy)),
    GATEWAY_UPSTREAM: `http://127.0.0.1:${port}`,
    GATEWAY_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await pki?.cleanup();
});

const status = (raw: string): number => Number(raw.split(' ')[1]);

describe('a route prefix cannot be bypassed by letter case', () => {
  it('the lower-case path is refused (control)', async () => {
    const raw = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /admin/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    expect(status(raw)).toBe(403);
  });

  for (const target of [
    '/ADMIN/users',
    '/Admin/Users',
    '/%41dmin/users',
    '/aDmIn/users/',
    '/adm%C4%B1n/users',
    '/%EF%BD%81dmin/users', // fullwidth ａ: NFKC reads admin
  ]) {
    it(`${target} never reaches the upstream's admin handler`, async () => {
      const before = adminHits.length;
      const raw = await rawExchange(
        pki,
        'partner-a',
        gw.port,
        `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      expect(raw).not.toContain('all users');
      expect(adminHits.length).toBe(before);
      // ASCII case: routed to `admin` (403). Non-ASCII that folds to ASCII: refused (400).
      expect(status(raw)).toBe(target.includes('%C4') || target.includes('%EF') ? 400 : 403);
    });
  }
});
