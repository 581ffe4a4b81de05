/**
 * The policy room without I/O: URI wildcards as ghostunnel reads them, every partner matcher against
 * real certificates, route selection (longest prefix on segments, methods never falling through to
 * a shorter prefix), decisions naming the rule, and ambiguous paths.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { type ClientIdentity, clientIdentityFromDer } from '../../src/identity/index.js';
import {
  ConnectionAuthorization,
  compileUriPattern,
  normalizeRequestPath,
  Policy,
  type PolicyDocument,
  spkiPinOf,
} from '../../src/policy/index.js';

async function identityOf(
  opts: Parameters<typeof issue>[1],
  caSubject = 'O=Test, CN=test CA',
): Promise<ClientIdentity> {
  const ca = await issue(undefined, { subject: caSubject, ca: true });
  const leaf = await issue(ca, opts);
  return clientIdentityFromDer(Buffer.from(leaf.cert.rawData), []);
}

describe('SAN URI patterns', () => {
  it.each([
    ['spiffe://example.com/service', 'spiffe://example.com/service', true],
    ['spiffe://example.com/service', 'spiffe://example.com/service/x', false],
    ['spiffe://example.com/*', 'spiffe://example.com/a', true],
    ['spiffe://example.com/*', 'spiffe://example.com/a/b', false],
    ['spiffe://example.com/*', 'spiffe://example.com/', false],
    ['spiffe://example.com/*/api', 'spiffe://example.com/a/api', true],
    ['spiffe://example.com/*/api', 'spiffe://example.com/a/b/api', false],
    ['spiffe://example.com/**', 'spiffe://example.com/a/b/c', true],
    ['spiffe://example.com/**', 'spiffe://example.com/a', true],
    ['spiffe://example.com/**', 'spiffe://example.com', false],
    ['spiffe://example.com/**/api', 'spiffe://example.com/a/b/api', true],
    ['spiffe://example.com/**/api', 'spiffe://example.com/api', false],
    ['spiffe://example.com/*', 'spiffe://example.com.evil/a', false],
    ['spiffe://example.com/*', 'spiffe://other.com/a', false],
  ])('%s vs %s → %s', (pattern, uri, expected) => {
    expect(compileUriPattern(pattern).matches(uri)).toBe(expected);
  });

  it('refuses wildcards outside whole path segments', () => {
    expect(() => compileUriPattern('spiffe://*.example.com/a')).toThrow(/path only/);
    expect(() => compileUriPattern('spiffe://example.com/a*')).toThrow(/whole path segment/);
    expect(() => compileUriPattern('not a uri')).toThrow(/scheme:\/\/authority/);
  });
});

describe('partner matchers', () => {
  let a: ClientIdentity;
  let b: ClientIdentity;
  let opensslDir: string;

  beforeAll(async () => {
    a = await identityOf({
      subject: 'O=Partner A, OU=Payments, CN=partner-a',
      dns: ['api.partner-a.example'],
      uris: ['spiffe://partners.example/partner-a/billing'],
      emails: ['Ops@Partner-A.example'],
    });
    b = await identityOf({ subject: 'O=Partner B, CN=partner-b' }, 'O=Other, CN=other CA');
    opensslDir = mkdtempSync(join(tmpdir(), 'policy-test-'));
  });
  afterAll(() => rmSync(opensslDir, { recursive: true, force: true }));

  const policyWith = (match: PolicyDocument['partners'][number]['match']): Policy =>
    Policy.fromDocument(
      { partners: [{ id: 'pa', match }], routes: [], requireDeclaredPartners: false },
      'http://127.0.0.1:1',
    );

  it.each([
    ['commonName', { commonName: ['partner-a'] }],
    ['organization', { organization: ['Partner A'] }],
    ['organizationalUnit', { organizationalUnit: ['Payments'] }],
    ['sanDns wildcard', { sanDns: ['*.partner-a.example'] }],
    ['sanDns exact, any case', { sanDns: ['API.partner-a.example'] }],
    ['sanUri **', { sanUri: ['spiffe://partners.example/partner-a/**'] }],
    ['sanUri *', { sanUri: ['spiffe://partners.example/*/billing'] }],
    ['sanEmail, any case', { sanEmail: ['ops@partner-a.example'] }],
    ['issuer', { issuer: ['CN=test CA,O=Test'] }],
    ['issuer, compared canonically (case, spaces)', { issuer: ['CN=TEST  ca,O=test'] }],
    ['two fields, both true', { commonName: ['partner-a'], organization: ['Partner A'] }],
  ])('matches on %s, and not partner-b', (_name, spec) => {
    const policy = policyWith([spec]);
    expect(policy.partnerFor(a)).toEqual({ declared: true, id: 'pa', rule: 'partners[0].match[0]' });
    expect(policy.partnerFor(b)).toEqual({ declared: false, id: 'cn:partner-b' });
  });

  it('requires every field of one alternative, and tries the alternatives in order', () => {
    expect(
      policyWith([{ commonName: ['partner-a'], organization: ['Partner B'] }]).partnerFor(a).declared,
    ).toBe(false);
    expect(policyWith([{ commonName: ['nobody'] }, { organization: ['Partner A'] }]).partnerFor(a)).toEqual({
      declared: true,
      id: 'pa',
      rule: 'partners[0].match[1]',
    });
  });

  it('does not take a one-label DNS wildcard for two labels', async () => {
    const deep = await identityOf({ subject: 'CN=x', dns: ['a.api.partner-a.example'] });
    expect(policyWith([{ sanDns: ['*.partner-a.example'] }]).partnerFor(deep).declared).toBe(false);
  });

  it('matches the SHA-256 fingerprint (any case, colons) and the SPKI pin as openssl computes them', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${a.leafDer.toString('base64')}\n-----END CERTIFICATE-----\n`;
    const file = join(opensslDir, 'a.pem');
    writeFileSync(file, pem);
    const fp = execFileSync('openssl', ['x509', '-in', file, '-noout', '-fingerprint', '-sha256'], {
      encoding: 'utf8',
    })
      .trim()
      .replace(/^.*=/, '');
    expect(policyWith([{ fingerprintSha256: [fp] }]).partnerFor(a).declared).toBe(true);
    expect(policyWith([{ fingerprintSha256: [fp] }]).partnerFor(b).declared).toBe(false);
    // HPKP pin: openssl x509 -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64
    const spkiDer = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], {
      input: execFileSync('openssl', ['x509', '-in', file, '-noout', '-pubkey']),
    });
    const pin = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: spkiDer }).toString(
      'base64',
    );
    expect(spkiPinOf(a)).toBe(pin);
    expect(policyWith([{ spkiSha256: [pin] }]).partnerFor(a).declared).toBe(true);
    expect(policyWith([{ spkiSha256: [pin] }]).partnerFor(b).declared).toBe(false);
  });

  it('gives the first declared partner in file order', () => {
    const policy = Policy.fromDocument(
      {
        partners: [
          { id: 'first', match: [{ organization: ['Partner A'] }] },
          { id: 'second', match: [{ commonName: ['partner-a'] }] },
        ],
        routes: [],
        requireDeclaredPartners: false,
      },
      'http://127.0.0.1:1',
    );
    expect(policy.partnerFor(a).id).toBe('first');
  });
});

describe('routes and decisions', () => {
  const doc: PolicyDocument = {
    partners: [
      { id: 'pa', match: [{ commonName: ['partner-a'] }] },
      { id: 'ops', match: [{ commonName: ['ops'] }] },
    ],
    routes: [
      { name: 'receipts', prefix: '/receipts', allow: ['pa', 'ops'], upstream: 'http://10.0.0.1:80' },
      { name: 'receipts-read', prefix: '/receipts/archive', methods: ['GET', 'HEAD'], allow: ['*'] },
      { name: 'admin', prefix: '/admin', methods: ['GET'], allow: ['ops'] },
      { name: 'admin-write', prefix: '/admin', methods: ['POST'], allow: ['ops'] },
      { name: 'root', prefix: '/', allow: ['*'] },
    ],
    requireDeclaredPartners: false,
  };
  const policy = Policy.fromDocument(doc, 'http://127.0.0.1:8081');
  const pick = (method: string, path: string): string => {
    const s = policy.select(method, path);
    return s ? `${s.ok ? 'ok' : 'refused'}:${s.route.name}` : 'none';
  };

  it.each([
    ['GET', '/receipts', 'ok:receipts'],
    ['POST', '/receipts/123', 'ok:receipts'],
    ['GET', '/receiptsX', 'ok:root'],
    ['GET', '/receipts/archive/2024', 'ok:receipts-read'],
    // A longer prefix with the wrong method refuses; it never falls back to the shorter one.
    ['DELETE', '/receipts/archive/2024', 'refused:receipts-read'],
    ['GET', '/admin/users', 'ok:admin'],
    ['POST', '/admin/users', 'ok:admin-write'],
    ['DELETE', '/admin', 'refused:admin'],
    ['GET', '/', 'ok:root'],
    // Prefixes match ignoring ASCII case, as case-insensitive upstreams route.
    ['GET', '/ADMIN/users', 'ok:admin'],
    ['DELETE', '/Admin', 'refused:admin'],
    ['GET', '/Receipts/ARCHIVE/2024', 'ok:receipts-read'],
    ['GET', '/RECEIPTSX', 'ok:root'],
  ])('%s %s → %s', (method, path, expected) => {
    expect(pick(method, path)).toBe(expected);
  });

  it('names the methods rule for a method refusal', () => {
    const s = policy.select('DELETE', '/admin');
    expect(s?.ok === false && s.rule).toBe('routes[2].methods');
  });

  it('uses GATEWAY_UPSTREAM for a route without upstream', () => {
    expect(policy.select('GET', '/')?.route.upstream).toBe('http://127.0.0.1:8081');
    expect(policy.select('GET', '/receipts')?.route.upstream).toBe('http://10.0.0.1:80');
  });

  it('adds the implicit default route only when no route claims /', () => {
    const p = Policy.fromDocument({ ...doc, routes: doc.routes.slice(0, 2) }, 'http://127.0.0.1:8081');
    const s = p.select('GET', '/other');
    expect(s?.ok && s.route.name).toBe('default');
    expect(s?.route.upstream).toBe('http://127.0.0.1:8081');
  });

  it('decides per partner and names the rule, never the allowed list', async () => {
    const partnerA = await identityOf({ subject: 'CN=partner-a' });
    const stranger = await identityOf({ subject: 'CN=ops' }); // same CN as a partner id, but...
    const auth = new ConnectionAuthorization(policy, partnerA);
    const receipts = policy.select('GET', '/receipts');
    const admin = policy.select('GET', '/admin');
    if (!receipts?.ok || !admin?.ok) throw new Error('routes not selected');
    expect(auth.authorize(receipts.route)).toEqual({ allowed: true, rule: 'routes[0].allow' });
    const refused = auth.authorize(admin.route);
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.rule).toBe('routes[2].allow');
    expect(refused.message).toContain("route 'admin'");
    expect(refused.message).not.toContain('ops');
    // The decision is cached per (connection, route): the same object comes back.
    expect(auth.authorize(admin.route)).toBe(refused);
    // ...'ops' is matched by CN=ops here, so use a policy where ops is declared by O instead.
    const strict = Policy.fromDocument(
      { ...doc, partners: [doc.partners[0]!, { id: 'ops', match: [{ organization: ['Ops'] }] }] },
      'http://127.0.0.1:8081',
    );
    const s = new ConnectionAuthorization(strict, stranger);
    expect(s.partner).toEqual({ declared: false, id: 'cn:ops' });
    const adminStrict = strict.select('GET', '/admin');
    if (!adminStrict?.ok) throw new Error('route not selected');
    expect(s.authorize(adminStrict.route).allowed).toBe(false);
  });

  it('refuses every route to an undeclared certificate when partners must be declared', async () => {
    const p = Policy.fromDocument({ ...doc, requireDeclaredPartners: true }, 'http://127.0.0.1:8081');
    const auth = new ConnectionAuthorization(p, await identityOf({ subject: 'O=Else, CN=someone' }));
    const root = p.select('GET', '/');
    if (!root?.ok) throw new Error('route not selected');
    const d = auth.authorize(root.route);
    expect(d).toMatchObject({ allowed: false, rule: 'requireDeclaredPartners' });
    expect(!d.allowed && d.message).toContain('CN=someone,O=Else');
    expect(p.allowedRoutes(auth.partner)).toEqual([]);
  });

  it('without a file: one default route every verified client may call', async () => {
    const p = Policy.defaultOnly('http://127.0.0.1:8081');
    const auth = new ConnectionAuthorization(p, await identityOf({ subject: 'CN=any' }));
    const s = p.select('PATCH', '/anything');
    if (!s?.ok) throw new Error('route not selected');
    expect(s.route.name).toBe('default');
    expect(auth.authorize(s.route).allowed).toBe(true);
    expect(auth.partner.id).toBe('cn:any');
    expect(auth.partnerLabel).toBe('undeclared');
  });

  it.each([
    ['/receipts/../admin', '/admin'],
    ['/receipts/%2e%2e/admin', '/admin'],
    ['/receipts/.%2E/admin', '/admin'],
    ['//admin', '/admin'],
    ['/./admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/%61dmin/users', '/admin/users'],
    ['/%7e%41-%5F', '/~A-_'],
    ['/a%3bb', '/a%3Bb'],
    ['/receipts/a%20b', '/receipts/a%20b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/receipts/1.2/..x', '/receipts/1.2/..x'],
    ['/', '/'],
  ])('normalizes %s to %s', (path, expected) => {
    expect(normalizeRequestPath(path, true)).toEqual({ ok: true, path: expected, query: '' });
  });

  it.each([
    '/receipts/..;/admin',
    '/admin;v=1/users',
    '/receipts%2Fadmin',
    '/a%5cb',
    '/a%00b',
    '/a%0ab',
    '/a\\b',
    '/a#b',
    '/%2561dmin',
    '/%c0%ae%c0%ae/admin',
    '/%ed%a0%80',
    '/%c3',
    '/%zz',
    '/a%2',
  ])('refuses %s', (path) => {
    expect(normalizeRequestPath(path, true).ok).toBe(false);
  });

  it('keeps the query as sent and allows ; without a policy', () => {
    expect(normalizeRequestPath('/a//b?x=%2F&y=../z', true)).toEqual({
      ok: true,
      path: '/a/b',
      query: '?x=%2F&y=../z',
    });
    expect(normalizeRequestPath('/a;v=1', false)).toEqual({ ok: true, path: '/a;v=1', query: '' });
  });
});
