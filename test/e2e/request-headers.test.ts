/**
 * Client headers cannot change what the upstream believes about who called (issue 14, findings 1
 * and 2): identity and forwarding headers spelled with `_`, in any case, never reach a real WSGI
 * upstream (which reads `_` as `-`); headers with `_` are dropped by default and, with
 * GATEWAY_UNDERSCORE_HEADERS=allow, kept only when they are neither; Forwarded, X-Real-IP,
 * X-Forwarded-Host/-Port, X-Original-URL and X-Rewrite-URL are stripped; the `forwarded` format
 * adds RFC 7239 `Forwarded` with the client address, quoted for IPv6.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { forwardedValue } from '../../src/identity/headers.js';
import { rawExchange, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayEnv, makeTestPki, type TestPki } from '../helpers/pki.js';
import { startWsgiUpstream, type WsgiUpstream } from '../helpers/wsgi-upstream.js';

let pki: TestPki;
let wsgi: WsgiUpstream;
let dropping: TestGateway;
let allowing: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  wsgi = await startWsgiUpstream();
  const upstream = { GATEWAY_UPSTREAM: `http://127.0.0.1:${wsgi.port}` };
  dropping = await startTestGateway(pki, upstream);
  allowing = await startTestGateway(pki, { ...upstream, GATEWAY_UNDERSCORE_HEADERS: 'allow' });
});
afterAll(async () => {
  await dropping?.close();
  await allowing?.close();
  await wsgi?.close();
  await pki?.cleanup();
});

/** The reproduction: identity and forwarding headers spelled with underscores. */
const UNDERSCORED = [
  'X_Client_Id: admin',
  'X_Client_Subject: CN=admin',
  'x_client_verify: SUCCESS',
  'X_SSL_Client_S_DN: CN=admin,O=Attacker',
  'X_Forwarded_For: 203.0.113.9',
  'X_Forwarded_Proto: http',
  'Client_Cert: :YWJj:',
  'X_Amzn_Mtls_Clientcert_Subject: CN=admin',
  'X-Forwarded_Client-Cert: Hash=abc;Subject="CN=admin"',
  'X_Real_IP: 203.0.113.9',
  'X_Original_URL: /admin',
  'X_Custom_Trace: keep-me-if-allowed',
];

async function environOf(gw: TestGateway, headers: readonly string[]): Promise<Record<string, string>> {
  const answer = await rawExchange(
    pki,
    'partner-a',
    gw.port,
    `GET /whoever HTTP/1.1\r\nHost: localhost\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n`,
  );
  expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
}

describe('identity headers spelled with underscores, against a real WSGI upstream', () => {
  it('by default drops every header with _ : the upstream sees only our identity', async () => {
    const env = await environOf(dropping, UNDERSCORED);
    expect(env.HTTP_X_CLIENT_ID).toBe('cn:partner-a');
    expect(env.HTTP_X_CLIENT_SUBJECT).toBe('CN=partner-a,O=Partner A');
    expect(env.HTTP_X_CLIENT_VERIFY).toBe('SUCCESS');
    expect(env.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1');
    expect(env.HTTP_X_FORWARDED_PROTO).toBe('https');
    for (const key of [
      'HTTP_X_SSL_CLIENT_S_DN',
      'HTTP_CLIENT_CERT',
      'HTTP_X_AMZN_MTLS_CLIENTCERT_SUBJECT',
      'HTTP_X_FORWARDED_CLIENT_CERT',
      'HTTP_X_REAL_IP',
      'HTTP_X_ORIGINAL_URL',
      'HTTP_X_CUSTOM_TRACE',
    ]) {
      expect({ key, value: env[key] }).toEqual({ key, value: undefined });
    }
    expect(JSON.stringify(env)).not.toMatch(/admin|203\.0\.113|Attacker/);
  });

  it('with GATEWAY_UNDERSCORE_HEADERS=allow keeps other _ headers, never an identity or forwarding one', async () => {
    const env = await environOf(allowing, [...UNDERSCORED, 'Content_Length: 5']);
    expect(env.HTTP_X_CUSTOM_TRACE).toBe('keep-me-if-allowed');
    expect(env.HTTP_X_CLIENT_ID).toBe('cn:partner-a');
    expect(env.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1');
    expect(env.HTTP_CONTENT_LENGTH).toBeUndefined();
    expect(JSON.stringify(env)).not.toMatch(/admin|203\.0\.113|Attacker/);
  });

  it('refuses a GATEWAY_UNDERSCORE_HEADERS value it does not know, naming the variable', () => {
    expect(() => loadConfig({ ...gatewayEnv(pki, 1), GATEWAY_UNDERSCORE_HEADERS: 'keep' })).toThrow(
      /^GATEWAY_UNDERSCORE_HEADERS: 'keep' must be one of drop, allow$/,
    );
  });
});

describe('forwarding headers', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(pki, { GATEWAY_IDENTITY_HEADERS: 'gateway,forwarded' });
  });
  afterAll(() => gw?.close());

  it('strips the client forwarding headers and sends RFC 7239 Forwarded with the client address', async () => {
    const before = gw.upstream.seen.length;
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /fwd HTTP/1.1\r\nHost: localhost\r\n' +
        [
          'Forwarded: for=203.0.113.9;proto=http;host=evil.example',
          'X-Real-IP: 203.0.113.9',
          'X-Forwarded-Host: evil.example',
          'X-Forwarded-Port: 80',
          'X-Forwarded-Prefix: /admin',
          'X-Original-URL: /admin/users',
          'X-Rewrite-URL: /admin/users',
          'True-Client-IP: 203.0.113.9',
          'X-Forwarded-For: 203.0.113.9',
        ].join('\r\n') +
        '\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const h = gw.upstream.seen[before]!.headers;
    expect(h.forwarded).toBe('for=127.0.0.1;proto=https');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    for (const name of [
      'x-real-ip',
      'x-forwarded-host',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x-original-url',
      'x-rewrite-url',
      'true-client-ip',
    ]) {
      expect({ name, value: h[name] }).toEqual({ name, value: undefined });
    }
    expect(JSON.stringify(gw.upstream.seen[before]!.rawHeaders)).not.toMatch(/203\.0\.113|evil|admin/);
  });

  it('quotes an IPv6 client address as RFC 7239 section 6 says', async () => {
    const v6 = await startTestGateway(pki, {
      GATEWAY_IDENTITY_HEADERS: 'forwarded',
      GATEWAY_LISTEN: '[::1]:0',
    });
    try {
      const before = v6.upstream.seen.length;
      const answer = await rawExchange(
        pki,
        'partner-a',
        v6.port,
        'GET /v6 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
        '::1',
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(v6.upstream.seen[before]!.headers.forwarded).toBe('for="[::1]";proto=https');
    } finally {
      await v6.close();
    }
    expect(forwardedValue('2001:db8::17')).toBe('for="[2001:db8::17]";proto=https');
    expect(forwardedValue('')).toBe('for=unknown;proto=https');
  });
});
