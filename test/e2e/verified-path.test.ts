/**
 * The verified path end to end: real TLS over loopback, real clients (undici, curl), a real
 * upstream. Accepted clients reach the upstream with identity headers equal to openssl's view of
 * the certificate; refused clients are classified, logged, counted, and never reach the upstream.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  clientAgent,
  curl,
  get,
  metricValue,
  openssl,
  rawExchange,
  refusal,
  type TestGateway,
  useTestGateway,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

useTestGateway({}, (started) => ({ pki, gw } = started));

async function opensslField(file: string, ...args: string[]): Promise<string> {
  const out = await openssl(['x509', '-in', pki.path(file), '-noout', ...args]);
  return out.trim().replace(/^[^=]+=/, '');
}

describe('an accepted client', () => {
  it('reaches the upstream with identity headers equal to what openssl reports', async () => {
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/receipts/42?x=1`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    const seen = gw.upstream.seen[before]!;
    expect(seen.path).toBe('/receipts/42?x=1');
    const h = seen.headers;
    expect(h['x-client-verify']).toBe('SUCCESS');
    expect(h['x-client-subject']).toBe(
      await opensslField('partner-a.pem', '-subject', '-nameopt', 'RFC2253'),
    );
    expect(h['x-client-issuer']).toBe(await opensslField('partner-a.pem', '-issuer', '-nameopt', 'RFC2253'));
    expect(h['x-client-serial']).toBe(await opensslField('partner-a.pem', '-serial'));
    const fp = await opensslField('partner-a.pem', '-fingerprint', '-sha256');
    expect(h['x-client-fingerprint-sha256']).toBe(fp.replaceAll(':', '').toLowerCase());
    expect(h['x-client-san-dns']).toBe('partner-a.partners.example');
    expect(h['x-client-san-uri']).toBe('spiffe://partners.example/partner-a');
    const enddate = await opensslField('partner-a.pem', '-enddate');
    expect(h['x-client-not-after']).toBe(new Date(enddate).toISOString().replace('.000Z', 'Z'));
    expect(h['x-client-id']).toBe('cn:partner-a');
    expect(h['x-client-declared']).toBe('false');
    expect(decodeURIComponent(String(h['x-client-cert']))).toBe(
      readFileSync(pki.path('partner-a.pem'), 'utf8'),
    );
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(String(h['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-request-id']).toBe(h['x-request-id']);
  });

  it.each([
    ['TLS 1.2', '--tls-max', '1.2', 'TLSv1.2'],
    ['TLS 1.3', '--tlsv1.3', '', 'TLSv1.3'],
  ])('works through curl over %s', async (_name, flag, value, version) => {
    const args = [
      '--cacert',
      pki.path('root-ca.pem'),
      '--cert',
      pki.path('partner-b.pem'),
      '--key',
      pki.path('partner-b-key.pem'),
      flag,
      ...(value ? [value] : []),
      '-w',
      '\n%{http_code}',
      `${gw.url}/curl`,
    ];
    const { stdout, code, stderr } = await curl(args);
    expect(code, stderr).toBe(0);
    const status = stdout.slice(stdout.lastIndexOf('\n') + 1);
    expect(status).toBe('200');
    const echoed = JSON.parse(stdout.slice(0, stdout.lastIndexOf('\n'))) as {
      headers: Record<string, string>;
    };
    expect(echoed.headers['x-client-subject']).toBe('CN=partner-b,O=Partner B');
    const log = await gw.logs.waitFor(
      (l) =>
        l.event === 'handshake' &&
        l.result === 'success' &&
        l.subject === 'CN=partner-b,O=Partner B' &&
        l.tls_version === version,
    );
    expect(log.cipher).toMatch(/GCM|CHACHA20/);
  });

  it('keeps a sane client X-Request-Id and replaces one that is not', async () => {
    const agent = clientAgent(pki, 'partner-a');
    const before = gw.upstream.seen.length;
    await get(`${gw.url}/a`, agent, { headers: { 'x-request-id': 'abc-123.x:y_z' } });
    await get(`${gw.url}/b`, agent, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(gw.upstream.seen[before]!.headers['x-request-id']).toBe('abc-123.x:y_z');
    expect(gw.upstream.seen[before + 1]!.headers['x-request-id']).not.toBe('bad id with spaces');
  });
});

describe('header hygiene', () => {
  it('removes every spoofed identity header and every hop-by-hop header', async () => {
    const before = gw.upstream.seen.length;
    const spoofed = [
      'X-Client-Verify: SUCCESS',
      'X-Client-Subject: CN=admin',
      'X-Client-Id: admin',
      'X-Client-Anything: x',
      'X-Forwarded-Client-Cert: Hash=abc;Subject="CN=admin"',
      'X-Amzn-Mtls-Clientcert-Subject: CN=admin',
      'X-Amzn-Mtls-Clientcert-Leaf: x',
      'Client-Cert: :YWJj:',
      'Client-Cert-Chain: :YWJj:',
      'X-Forwarded-Tls-Client-Cert: x',
      'X-Forwarded-Tls-Client-Cert-Info: x',
      'X-SSL-Client-S-DN: CN=admin',
      'X-Forwarded-For: 203.0.113.9',
      'X-Forwarded-Proto: http',
      'Connection: close, X-Secret',
      'X-Secret: hop',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Proxy-Authorization: Basic eDp5',
      'Proxy-Foo: bar',
      'X-Kept: yes',
    ];
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      `GET /spoof HTTP/1.1\r\nHost: localhost\r\n${spoofed.join('\r\n')}\r\n\r\n`,
    );
    expect(answer.startsWith('HTTP/1.1 200 ')).toBe(true);
    const seen = gw.upstream.seen[before]!;
    const h = seen.headers;
    expect(h['x-client-subject']).toBe('CN=partner-a,O=Partner A');
    // The spoofed X-Client-Verify has our very value: only the raw header count can tell a copy
    // that slipped through. Each identity header arrives once, ours.
    const count = (name: string): number =>
      seen.rawHeaders.filter((v, i) => i % 2 === 0 && v.toLowerCase() === name).length;
    for (const name of [
      'x-client-verify',
      'x-client-subject',
      'x-client-id',
      'x-forwarded-for',
      'x-forwarded-proto',
    ])
      expect(count(name), name).toBe(1);
    expect(h['x-client-verify']).toBe('SUCCESS');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-client-id']).toBe('cn:partner-a');
    expect(h['x-client-declared']).toBe('false');
    expect(h['x-client-anything']).toBeUndefined();
    for (const name of [
      'x-forwarded-client-cert',
      'x-amzn-mtls-clientcert-subject',
      'x-amzn-mtls-clientcert-leaf',
      'client-cert',
      'client-cert-chain',
      'x-forwarded-tls-client-cert',
      'x-forwarded-tls-client-cert-info',
      'x-ssl-client-s-dn',
      'x-secret',
      'keep-alive',
      'te',
      'proxy-authorization',
      'proxy-foo',
    ]) {
      expect(h[name], name).toBeUndefined();
    }
    // Exactly one value each: replaced, never appended.
    expect(seen.rawHeaders.filter((n) => n.toLowerCase() === 'x-client-subject')).toHaveLength(1);
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-kept']).toBe('yes');
  });
});

describe('refused clients', () => {
  const cases: [string, string | undefined, string][] = [
    ['no certificate', undefined, 'no_certificate'],
    ['an untrusted CA', 'untrusted', 'unknown_ca'],
    ['an expired certificate', 'expired', 'expired'],
    ['a certificate not yet valid', 'not-yet-valid', 'not_yet_valid'],
    ['a serverAuth-only certificate', 'server-only', 'bad_certificate'],
    ['a revoked certificate', 'revoked', 'revoked'],
  ];
  it.each(cases)('%s is refused, classified, logged and never forwarded', async (_what, client, reason) => {
    const before = gw.upstream.seen.length;
    const counted = async (): Promise<number> => {
      const m = await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined));
      return metricValue(m.text, 'mtls_gateway_handshakes_total', { result: 'failure', reason }) ?? 0;
    };
    const countBefore = await counted();
    // Strict mode: one readable answer with the reason, then the gateway closes the connection.
    expect(await refusal(`${gw.url}/should-not-pass`, clientAgent(pki, client))).toEqual({
      status: reason === 'no_certificate' || reason === 'unknown_ca' ? 401 : 403,
      error: reason,
      connection: 'close',
    });
    const log = await gw.logs.waitFor(
      (l) => l.event === 'handshake' && l.result === 'failure' && l.reason === reason,
    );
    expect(log.client).toBe('127.0.0.1');
    expect(log.tls_version).toBe('TLSv1.3');
    if (client) {
      expect(log.subject).toBe(await opensslField(`${client}.pem`, '-subject', '-nameopt', 'RFC2253'));
      expect(log.serial).toBe(await opensslField(`${client}.pem`, '-serial'));
      expect(log.issuer).toBe(await opensslField(`${client}.pem`, '-issuer', '-nameopt', 'RFC2253'));
    }
    expect(await counted()).toBe(countBefore + 1);
    expect(gw.upstream.seen.length).toBe(before);
  });

  it('refuses TLS 1.1 at the handshake (protocol)', async () => {
    const err = await new Promise<Error>((resolve) => {
      const s = connect({
        port: gw.port,
        host: '127.0.0.1',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        rejectUnauthorized: false,
      });
      s.on('error', resolve);
      s.on('secureConnect', () => resolve(new Error('connected')));
    });
    expect(err.message).not.toBe('connected');
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'protocol');
  });

  it('never logs a private key or a whole certificate', () => {
    const all = gw.logs.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|MII[A-Za-z0-9+/]{40}/);
  });
});
