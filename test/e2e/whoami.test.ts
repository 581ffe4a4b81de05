/**
 * whoami on the TLS listener: on when the file says so, explaining an undeclared partner when only
 * declared partners may call, answering a refused certificate with its refusal in explain mode,
 * and absent (forwarded as any other path, as before) without a GATEWAY_CONFIG file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, openssl, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const WHOAMI = '/.well-known/mtls-gateway/whoami';
let pki: TestPki;
let gw: TestGateway;
let plain: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  const config = await pki.write(
    'gateway.json',
    JSON.stringify({
      whoami: true,
      requireDeclaredPartners: true,
      partners: [{ id: 'acme', match: { sanDns: '*.partners.example', organization: 'Partner A' } }],
      routes: [{ name: 'receipts', prefix: '/receipts', allow: ['acme'] }],
    }),
  );
  gw = await startTestGateway(pki, { GATEWAY_CONFIG: config, GATEWAY_VERIFY_MODE: 'explain' });
  plain = await startTestGateway(pki);
});
afterAll(async () => {
  await gw?.close();
  await plain?.close();
  await pki?.cleanup();
});

describe('whoami', () => {
  it('tells a declared partner who it is and which routes it may call', async () => {
    const res = await get(`${gw.url}${WHOAMI}`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const body = res.json<{ partner: unknown; routes: unknown; certificate: { san_dns: string[] } }>();
    expect(body.partner).toEqual({ id: 'acme', declared: true, matched_by: 'partners[0].match[0]' });
    expect(body.certificate.san_dns).toEqual(['partner-a.partners.example']);
    // The implicit `default` route (GATEWAY_UPSTREAM, any verified partner) comes last.
    expect(body.routes).toEqual([
      { name: 'receipts', prefix: '/receipts', methods: 'any' },
      { name: 'default', prefix: '/', methods: 'any' },
    ]);
    expect(gw.upstream.seen).toHaveLength(0);
  });

  it('explains an undeclared certificate, which every route refuses', async () => {
    const agent = clientAgent(pki, 'partner-b');
    const who = await get(`${gw.url}${WHOAMI}`, agent);
    expect(who.status).toBe(200);
    expect(who.json()).toMatchObject({
      partner: { id: 'cn:partner-b', declared: false, refused: 'requireDeclaredPartners' },
      routes: [],
    });
    const res = await get(`${gw.url}/receipts`, agent);
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({
      error: 'not_authorized',
      route: 'receipts',
      rule: 'requireDeclaredPartners',
      message:
        'The client certificate CN=partner-b,O=Partner B matches no partner declared on this gateway, and only declared partners may call it.',
    });
    expect(gw.upstream.seen).toHaveLength(0);
  });

  it('answers a refused certificate in explain mode with its refusal', async () => {
    const res = await get(`${gw.url}${WHOAMI}`, clientAgent(pki, 'revoked'));
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'revoked', subject: 'CN=revoked,O=Partner R' });
  });

  it('says which date made a certificate expired, and which serial is revoked, in one sentence', async () => {
    const end = await openssl(['x509', '-in', pki.path('expired.pem'), '-noout', '-enddate']);
    const iso = `${new Date(end.trim().replace(/^notAfter=/, '')).toISOString().slice(0, 19)}Z`;
    const expired = await get(`${gw.url}/receipts`, clientAgent(pki, 'expired'));
    expect(expired.status).toBe(403);
    expect(expired.json<{ message: string }>().message).toBe(
      `The client certificate expired at ${iso}; renew it.`,
    );
    const serial = (await openssl(['x509', '-in', pki.path('revoked.pem'), '-noout', '-serial']))
      .trim()
      .slice(7);
    const revoked = await get(`${gw.url}/receipts`, clientAgent(pki, 'revoked'));
    expect(revoked.json<{ message: string }>().message).toBe(
      `The certificate with serial ${serial} in the client's chain has been revoked by its issuer CN=mtls-gateway dev intermediate CA,O=mtls-gateway development.`,
    );
  });

  it('is not served without GATEWAY_CONFIG (the request is forwarded as before)', async () => {
    const res = await get(`${plain.url}${WHOAMI}`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    expect(plain.upstream.seen.at(-1)?.path).toBe(WHOAMI);
  });
});
