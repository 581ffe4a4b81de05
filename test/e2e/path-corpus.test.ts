/**
 * Route authorization cannot be bypassed by path encoding (issue 14, finding 3). With `/admin`
 * allowing nobody and `/` allowing everyone, every trick of the corpus is either routed to `/admin`
 * (403, never forwarded) or refused (400), and what is forwarded is the normalized path that was
 * routed: the upstream never acts on a spelling the policy did not see. Route prefixes match
 * ignoring ASCII case, and non-ASCII characters that fold to ASCII are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;
let adminUp: EchoUpstream;

beforeAll(async () => {
  pki = await makeTestPki();
  adminUp = await startEchoUpstream('127.0.0.1', 0);
  const policy = {
    routes: [
      { name: 'admin', prefix: '/admin', upstream: `http://127.0.0.1:${adminUp.port}`, allow: [] },
      { name: 'public', prefix: '/', allow: ['*'] },
    ],
  };
  gw = await startTestGateway(pki, {
    GATEWAY_CONFIG: await pki.write('paths.json', JSON.stringify(policy)),
    GATEWAY_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await gw?.close();
  await adminUp?.close();
  await pki?.cleanup();
});

type Expected =
  | { readonly status: 403; readonly route: 'admin' }
  | { readonly status: 200; readonly route: 'public'; readonly upstreamPath: string }
  | { readonly status: 400 };

const admin: Expected = { status: 403, route: 'admin' };
const refused: Expected = { status: 400 };
const pub = (upstreamPath: string): Expected => ({ status: 200, route: 'public', upstreamPath });

/** Request target as sent on the request line → what must happen. */
const CORPUS: readonly (readonly [string, Expected])[] = [
  ['/admin/users', admin],
  ['/%61dmin/users', admin],
  ['/%61%64%6D%69%6e/users', admin],
  ['/admin;v=1/users', refused],
  ['/admin/users;jsessionid=x', refused],
  ['/public/..;/admin/users', refused],
  ['//admin/users', admin],
  ['///admin', admin],
  ['/public/../admin/users', admin],
  ['/public/./../admin', admin],
  ['/./admin', admin],
  ['/../admin', admin],
  ['/%2e%2e/admin', admin],
  ['/public/%2E%2e/admin/users', admin],
  ['/public/.%2e/admin', admin],
  ['/admin/../public/x', pub('/public/x')],
  ['/public/./x', pub('/public/x')],
  ['/public//x//y/', pub('/public/x/y/')],
  ['/public/x/..', pub('/public/')],
  ['/%7euser/caf%c3%a9', pub('/~user/caf%C3%A9')],
  ['/public/a%3bb', pub('/public/a%3Bb')],
  ['/public?next=/admin/../x;y', pub('/public?next=/admin/../x;y')],
  // Routes match ignoring ASCII case (Express, ASP.NET Core, IIS route so); the client's case is kept.
  ['/%41dmin', admin],
  ['/ADMIN/users', admin],
  ['/aDmIn', admin],
  ['/Public/X', pub('/Public/X')],
  // Non-ASCII that folds to ASCII (toUpperCase, toLowerCase, NFKC) is refused; other non-ASCII passes.
  ['/adm%C4%B1n/users', refused], // dotless ı → I
  ['/%C5%BFecret', refused], // long ſ → S
  ['/%E2%84%AAey', refused], // Kelvin sign → k
  ['/%EF%AC%81le', refused], // ligature ﬁ → fi
  ['/%EF%BD%81dmin', refused], // fullwidth ａ → a
  ['/%C4%B0', refused], // İ → i + dot
  ['/%2561dmin/users', refused],
  ['/%252e%252e/admin', refused],
  ['/%c0%ae%c0%ae/admin', refused],
  ['/%c0%afadmin', refused],
  ['/%e0%80%ae/admin', refused],
  ['/%ed%a0%80', refused],
  ['/public%2Fadmin', refused],
  ['/public%2fadmin', refused],
  ['/public%5cadmin', refused],
  ['/public\\admin', refused],
  ['/admin%00', refused],
  ['/admin%0a', refused],
  ['/%zzadmin', refused],
  ['/admin%', refused],
];

describe('path corpus', () => {
  it.each(CORPUS)('%s', async (target, expected) => {
    const id = `path-${Buffer.from(target).toString('hex').slice(0, 100)}`;
    const upstreamBefore = gw.upstream.seen.length;
    const adminBefore = adminUp.seen.length;
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      `GET ${target} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer.slice(0, 12)).toBe(`HTTP/1.1 ${expected.status}`);
    expect(adminUp.seen.length).toBe(adminBefore); // /admin allows nobody: never reached
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.request_id === id);
    expect(line.status).toBe(expected.status);
    if (expected.status === 200) {
      expect(line.route).toBe(expected.route);
      expect(gw.upstream.seen.length).toBe(upstreamBefore + 1);
      expect(gw.upstream.seen.at(-1)!.path).toBe(expected.upstreamPath);
    } else {
      expect(gw.upstream.seen.length).toBe(upstreamBefore);
      if (expected.status === 403) {
        expect(line.route).toBe('admin');
        expect(answer).toContain('"route":"admin"');
      } else {
        expect(answer).toContain('"error":"bad_request"');
      }
    }
  });
});
