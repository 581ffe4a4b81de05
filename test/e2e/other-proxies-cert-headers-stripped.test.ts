/**
 * Other proxies' client-certificate headers (issue 14 follow-up): upstreams are often configured to
 * trust the header names of the proxy they used before, so the gateway strips them all, in any
 * spelling and even with GATEWAY_UNDERSCORE_HEADERS=allow:
 * - `SSL_CLIENT_CERT`, `SSL_CLIENT_S_DN`, `SSL_CLIENT_VERIFY`, `ssl_client_escaped_cert` (mod_ssl
 *   variable names forwarded by `RequestHeader set`; Tomcat's SSLValve, Undertow and Keycloak read
 *   them): every `ssl-client-*`;
 * - `X-SSL-Cert` (nginx), `X-SSL-Subject`/`X-SSL-DN`: every `x-ssl-*`; `SSL-Client-Cert`
 *   (Keycloak's nginx lookup); `X-ARR-ClientCert` (Azure App Service, ASP.NET Core).
 * The upstream is the recording echo upstream; the names it received are checked.
 */ import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let drop: TestGateway;
let allow: TestGateway;
const PEM = '-----BEGIN CERTIFICATE----- MIIBforged -----END CERTIFICATE-----';

beforeAll(async () => {
  pki = await makeTestPki();
  drop = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'info' });
  allow = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'info', GATEWAY_UNDERSCORE_HEADERS: 'allow' });
});
afterAll(async () => {
  await drop?.close();
  await allow?.close();
  await pki?.cleanup();
});

async function upstreamSaw(gw: TestGateway, headers: readonly string[]): Promise<string[]> {
  const before = gw.upstream.seen.length;
  const raw = await rawExchange(
    pki,
    'partner-a',
    gw.port,
    `GET /who HTTP/1.1\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`,
  );
  expect(raw.startsWith('HTTP/1.1 200')).toBe(true);
  const seen = gw.upstream.seen[before]!;
  return seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

describe('GATEWAY_UNDERSCORE_HEADERS=allow never forwards a client-certificate header', () => {
  for (const name of ['SSL_CLIENT_CERT', 'ssl_client_escaped_cert', 'SSL_CLIENT_S_DN', 'SSL_CLIENT_VERIFY']) {
    it(`${name} does not reach the upstream`, async () => {
      const names = await upstreamSaw(allow, [`${name}: ${name.endsWith('VERIFY') ? 'SUCCESS' : PEM}`]);
      expect(names).not.toContain(name.toLowerCase());
    });
  }
});

describe("other proxies' client-certificate headers never reach the upstream", () => {
  for (const name of ['X-SSL-Cert', 'SSL-Client-Cert', 'X-ARR-ClientCert', 'X-SSL-Subject', 'X-SSL-DN']) {
    it(`${name} does not reach the upstream`, async () => {
      const names = await upstreamSaw(drop, [`${name}: ${name.endsWith('Cert') ? PEM : 'CN=admin'}`]);
      expect(names).not.toContain(name.toLowerCase());
    });
  }
});
