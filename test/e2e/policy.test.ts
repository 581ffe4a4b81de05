/**
 * Per-route authorization through a real gateway with real certificates: two upstreams behind
 * routes from a GATEWAY_CONFIG file, declared partners giving X-Client-Id, 403 JSON naming the route
 * and the rule (never the allowed list), per-route and per-partner metrics, the expiry radar, and
 * reload on `reloadTrust()` (SIGHUP) keeping the policy in force when the new file is broken.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { issue } from '../../src/dev/pki.js';
import {
  clientAgent,
  get,
  metricValue,
  openssl,
  rawExchange,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;
let receiptsUp: EchoUpstream;
let adminUp: EchoUpstream;
let configPath: string;

function policy(adminAllow: string[]): string {
  return JSON.stringify(
    {
      whoami: true,
      partners: [
        { id: 'acme', match: { commonName: 'partner-a', organization: 'Partner A' } },
        { id: 'ops', match: { sanUri: 'spiffe://ops.example/**' } },
        { id: 'soon', match: { commonName: 'soon' } },
      ],
      routes: [
        {
          name: 'receipts',
          prefix: '/receipts',
          upstream: `http://127.0.0.1:${receiptsUp.port}`,
          allow: ['acme', 'ops', 'soon'],
        },
        { name: 'admin', prefix: '/admin', upstream: `http://127.0.0.1:${adminUp.port}`, allow: adminAllow },
        { name: 'reports', prefix: '/reports', methods: ['GET'], allow: ['*'] },
      ],
    },
    null,
    2,
  );
}

beforeAll(async () => {
  pki = await makeTestPki();
  receiptsUp = await startEchoUpstream('127.0.0.1', 0);
  adminUp = await startEchoUpstream('127.0.0.1', 0);
  await pki.addClient(
    'ops',
    await issue(pki.pki.intermediate, {
      subject: 'O=Ops, CN=ops-bot',
      uris: ['spiffe://ops.example/team/bot'],
    }),
  );
  await pki.addClient(
    'soon',
    await issue(pki.pki.intermediate, { subject: 'O=Soon, CN=soon', notAfterDays: 10 }),
  );
  configPath = await pki.write('gateway.json', policy(['ops']));
  gw = await startTestGateway(pki, { GATEWAY_CONFIG: configPath });
});
afterAll(async () => {
  await gw?.close();
  await receiptsUp?.close();
  await adminUp?.close();
  await pki?.cleanup();
});

const counts = () => [receiptsUp.seen.length, adminUp.seen.length, gw.upstream.seen.length];

async function metrics(): Promise<string> {
  const res = await fetch(`${gw.adminUrl}/metrics`);
  return res.text();
}

describe('routes from GATEWAY_CONFIG', () => {
  it('forwards partner-a on /receipts to its upstream with X-Client-Id from the declared partner', async () => {
    const res = await get(`${gw.url}/receipts/42?x=1`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    const seen = receiptsUp.seen.at(-1);
    expect(seen?.path).toBe('/receipts/42?x=1');
    expect(seen?.headers['x-client-id']).toBe('acme');
    expect(adminUp.seen).toHaveLength(0);
    expect(gw.upstream.seen).toHaveLength(0);
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/receipts/42?x=1');
    expect(line).toMatchObject({ route: 'receipts', partner_id: 'acme', status: 200 });
  });

  it('refuses partner-a on /admin with a 403 JSON naming the route and rule, never the allowed list', async () => {
    // A request it may make first, so its partner counters are its own (the test runs alone too).
    expect((await get(`${gw.url}/receipts/own`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    const before = counts();
    const res = await get(`${gw.url}/admin/users`, clientAgent(pki, 'partner-a'), {
      headers: { 'x-request-id': 'policy-admin-1' },
    });
    expect(res.status).toBe(403);
    const body = res.json<Record<string, string>>();
    expect(body).toMatchObject({
      error: 'not_authorized',
      route: 'admin',
      rule: 'routes[1].allow',
      request_id: 'policy-admin-1',
    });
    expect(body.message).toBe("Partner 'acme' may not call route 'admin' (refused by routes[1].allow).");
    expect(res.text).not.toContain('ops');
    expect(counts()).toEqual(before);
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.request_id === 'policy-admin-1');
    expect(line).toMatchObject({ route: 'admin', status: 403, reason: 'not_authorized', partner_id: 'acme' });
    const text = await metrics();
    expect(metricValue(text, 'mtls_gateway_requests_total', { route: 'admin', code: '403' })).toBe(1);
    expect(
      metricValue(text, 'mtls_gateway_partner_requests_total', {
        partner: 'acme',
        route: 'admin',
        code: '403',
      }),
    ).toBe(1);
    expect(
      metricValue(text, 'mtls_gateway_partner_requests_total', {
        partner: 'acme',
        route: 'receipts',
        code: '200',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('lets ops (matched by a SAN URI wildcard) call /admin on the second upstream', async () => {
    const res = await get(`${gw.url}/admin/users`, clientAgent(pki, 'ops'));
    expect(res.status).toBe(200);
    expect(adminUp.seen.at(-1)?.headers['x-client-id']).toBe('ops');
    expect(adminUp.seen.at(-1)?.path).toBe('/admin/users');
  });

  it('sends an undeclared client to `*` routes with its CN, counted as undeclared, and refuses a wrong method', async () => {
    const agent = clientAgent(pki, 'partner-b');
    const res = await get(`${gw.url}/reports/daily`, agent);
    expect(res.status).toBe(200);
    expect(gw.upstream.seen.at(-1)?.headers['x-client-id']).toBe('cn:partner-b');
    const post = await get(`${gw.url}/reports/daily`, agent, { method: 'POST', body: 'x' });
    expect(post.status).toBe(403);
    expect(post.json()).toMatchObject({
      error: 'not_authorized',
      route: 'reports',
      rule: 'routes[2].methods',
    });
    const text = await metrics();
    expect(
      metricValue(text, 'mtls_gateway_partner_requests_total', {
        partner: 'undeclared',
        route: 'reports',
        code: '200',
      }),
    ).toBe(1);
    expect(text).not.toContain('partner="partner-b"');
  });

  it('routes a path with dot segments as the upstream would read it: /receipts/../admin is /admin', async () => {
    const before = counts();
    const answer = await rawExchange(
      pki,
      'partner-a',
      gw.port,
      'GET /receipts/../admin/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toContain('"route":"admin"');
    expect(counts()).toEqual(before);
  });

  it('answers whoami on the TLS listener without forwarding it', async () => {
    const before = counts();
    const res = await get(`${gw.url}/.well-known/mtls-gateway/whoami`, clientAgent(pki, 'partner-a'));
    expect(res.status).toBe(200);
    const body = res.json<{
      partner: { id: string; declared: boolean; matched_by: string };
      certificate: { subject: string; serial: string };
      chain: { subject: string; revocation: string }[];
      revocation: { status: string };
      routes: { name: string }[];
    }>();
    expect(body.partner).toEqual({ id: 'acme', declared: true, matched_by: 'partners[0].match[0]' });
    const subject = await openssl([
      'x509',
      '-in',
      pki.path('partner-a.pem'),
      '-noout',
      '-subject',
      '-nameopt',
      'RFC2253',
    ]);
    expect(body.certificate.subject).toBe(subject.trim().replace(/^subject=/, ''));
    expect(body.chain.map((c) => c.revocation)).toEqual(['checked', 'checked', 'trust_anchor']);
    expect(body.chain[1]?.subject).toContain('intermediate CA');
    expect(body.revocation.status).toBe('not_revoked');
    expect(body.routes.map((r) => r.name)).toEqual(['receipts', 'reports', 'default']);
    expect(counts()).toEqual(before);
  });

  it('tracks client certificate expiry by partner (metric, /trust/expiring, a warn line)', async () => {
    expect((await get(`${gw.url}/receipts/own`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    expect((await get(`${gw.url}/receipts/soon`, clientAgent(pki, 'soon'))).status).toBe(200);
    const text = await metrics();
    const notAfter = await openssl(['x509', '-in', pki.path('partner-a.pem'), '-noout', '-enddate']);
    const expected = Date.parse(notAfter.trim().replace(/^notAfter=/, '')) / 1000;
    expect(
      metricValue(text, 'mtls_gateway_client_cert_not_after_timestamp_seconds', { partner: 'acme' }),
    ).toBe(expected);
    const report = (await (await fetch(`${gw.adminUrl}/trust/expiring`)).json()) as {
      window_days: number;
      expiring: { partner: string; subject: string; days_left: number }[];
    };
    expect(report.window_days).toBe(30);
    expect(report.expiring).toHaveLength(1);
    expect(report.expiring[0]).toMatchObject({ partner: 'soon', subject: 'CN=soon,O=Soon', days_left: 9 });
    const warn = await gw.logs.waitFor((l) => l.level === 'warn' && l.partner_id === 'soon');
    expect(warn.msg).toMatch(/^client certificate of partner 'soon' expires at \d{4}-\d\d-\d\dT/);
  });
});

describe('reload', () => {
  it('applies a new file on reloadTrust(), also to open connections, and keeps it when the next is broken', async () => {
    const agent = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/admin/a`, agent)).status).toBe(403);
    writeFileSync(configPath, policy(['ops', 'acme']));
    await gw.gateway.reloadTrust();
    // Same keep-alive connection: the cached decision belonged to the old policy.
    const allowed = await get(`${gw.url}/admin/a`, agent);
    expect(allowed.status).toBe(200);
    expect(adminUp.seen.at(-1)?.headers['x-client-id']).toBe('acme');

    writeFileSync(configPath, policy(['ops']).replace('"routes"', '"routez"'));
    await gw.gateway.reloadTrust();
    const rejected = await gw.logs.waitFor((l) => l.event === 'policy' && l.level === 'error');
    expect(rejected.error).toBe(
      '(top level).routez: is not a known key (known: $schema, comment, partners, routes, requireDeclaredPartners, whoami)',
    );
    expect((await get(`${gw.url}/admin/b`, agent)).status).toBe(200);
    expect((await get(`${gw.url}/admin/b`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    const text = await metrics();
    expect(metricValue(text, 'mtls_gateway_policy_reloads_total', { result: 'failure' })).toBe(1);
    expect(metricValue(text, 'mtls_gateway_policy_reloads_total', { result: 'success' })).toBe(1);
    expect(readFileSync(configPath, 'utf8')).toContain('routez');
  });
});
