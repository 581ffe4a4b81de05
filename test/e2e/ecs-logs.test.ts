/**
 * GATEWAY_LOG_FORMAT=ecs end to end: a real gateway, real TLS clients, and the Elastic Common
 * Schema lines it writes for start-up, an accepted request, refused handshakes, a trust reload
 * and a drain. Values are checked against what the client sent and what its certificate holds.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeCrl } from '../../src/dev/pki.js';
import { ECS_VERSION } from '../../src/observability/ecs-format.js';
import { clientAgent, get, type LogLine, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

useTestGateway({ GATEWAY_LOG_FORMAT: 'ecs' }, (started) => ({ pki, gw } = started));

/** A field by its ECS name: a top-level dotted key (`log.level`) or a path into nested objects. */
function at(line: LogLine, path: string): unknown {
  if (path in line) return line[path];
  let node: unknown = line;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

const dataset = (event: string) => (l: LogLine) => at(l, 'event.dataset') === `mtls_gateway.${event}`;

/** One accepted request, one client of an unknown CA and one without a certificate. */
async function traffic(): Promise<void> {
  expect((await get(`${gw.url}/receipts/t`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  expect((await get(`${gw.url}/receipts/t`, clientAgent(pki, 'untrusted'))).status).toBe(401);
  expect((await get(`${gw.url}/receipts/t`, clientAgent(pki, undefined))).status).toBe(401);
}

describe('GATEWAY_LOG_FORMAT=ecs', () => {
  it('announces the TLS listener as a process start with its port', async () => {
    const line = await gw.logs.waitFor((l) => dataset('lifecycle')(l) && l.message === 'TLS listening');
    expect(at(line, 'server.port')).toBe(gw.port);
    expect(at(line, 'server.ip')).toBe('127.0.0.1');
    expect(at(line, 'event.category')).toEqual(['process']);
    expect(at(line, 'event.type')).toEqual(['start']);
  });

  it('logs an accepted request with its status, trace id, timing and client in ECS fields', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const before = gw.upstream.seen.length;
    const res = await get(`${gw.url}/receipts/ecs?x=1`, clientAgent(pki, 'partner-a'), {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(200);
    const requestId = gw.upstream.seen[before]!.headers['x-request-id'];
    const line = await gw.logs.waitFor((l) => dataset('request')(l) && at(l, 'url.path') === '/receipts/ecs');
    expect(at(line, 'http.response.status_code')).toBe(200);
    expect(at(line, 'http.request.method')).toBe('GET');
    expect(at(line, 'http.request.id')).toBe(requestId);
    expect(at(line, 'url.original')).toBe('/receipts/ecs?x=1');
    expect(at(line, 'url.query')).toBe('x=1');
    expect(at(line, 'trace.id')).toBe(traceId);
    expect(at(line, 'client.ip')).toBe('127.0.0.1');
    expect(at(line, 'source.ip')).toBe('127.0.0.1');
    expect(at(line, 'mtls_gateway.route')).toBe('default');
    expect(at(line, 'http.response.body.bytes')).toBe(Number(res.headers['content-length']));
    expect(at(line, 'event.outcome')).toBe('success');
    expect(at(line, 'event.category')).toEqual(['web']);
    // Native duration_ms has three decimals (µs): in nanoseconds, a positive whole multiple of 1000.
    const duration = at(line, 'event.duration') as number;
    expect(Number.isInteger(duration) && duration > 0 && duration % 1000 === 0, String(duration)).toBe(true);
    expect(at(line, 'mtls_gateway.request.upstream_duration') as number).toBeLessThanOrEqual(duration);
  });

  it("logs the accepted handshake with the client certificate's serial and names", async () => {
    expect((await get(`${gw.url}/receipts/hs`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    const cert = new X509Certificate(pki.pki.clients['partner-a'].certPem);
    const line = await gw.logs.waitFor(
      (l) =>
        dataset('handshake')(l) &&
        at(l, 'tls.client.x509.subject.distinguished_name') === 'CN=partner-a,O=Partner A',
    );
    expect(at(line, 'event.outcome')).toBe('success');
    expect(at(line, 'event.type')).toEqual(['connection', 'allowed']);
    expect(at(line, 'tls.client.x509.serial_number')).toBe(cert.serialNumber.toUpperCase());
    expect(at(line, 'tls.client.x509.issuer.distinguished_name')).toBe(
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    );
    expect(at(line, 'tls.established')).toBe(true);
    expect(at(line, 'tls.version_protocol')).toBe('tls');
    expect(['1.2', '1.3']).toContain(at(line, 'tls.version'));
    expect(at(line, 'tls.cipher')).toMatch(/^TLS_/);
    expect(at(line, 'tls.resumed')).toBe(false);
    expect(at(line, 'event.duration')).toEqual(expect.any(Number));
  });

  it('logs a client of an unknown CA as a denied handshake with its reason, and its 401', async () => {
    const res = await get(`${gw.url}/receipts/unknown`, clientAgent(pki, 'untrusted'));
    expect(res.status).toBe(401);
    const cert = new X509Certificate(pki.pki.clients.untrusted.certPem);
    const line = await gw.logs.waitFor(
      (l) => dataset('handshake')(l) && at(l, 'event.reason') === 'unknown_ca',
    );
    expect(at(line, 'event.outcome')).toBe('failure');
    expect(at(line, 'event.type')).toEqual(['connection', 'denied']);
    expect(at(line, 'log.level')).toBe('warn');
    expect(at(line, 'tls.client.x509.issuer.distinguished_name')).toBe('CN=untrusted CA,O=Not Trusted');
    expect(at(line, 'tls.client.x509.serial_number')).toBe(cert.serialNumber.toUpperCase());
    expect(at(line, 'tls.client.hash.sha256')).toBe(cert.fingerprint256.replaceAll(':', ''));
    const refused = await gw.logs.waitFor(
      (l) => dataset('request')(l) && at(l, 'url.path') === '/receipts/unknown',
    );
    expect(at(refused, 'http.response.status_code')).toBe(401);
    expect(at(refused, 'event.reason')).toBe('unknown_ca');
    expect(at(refused, 'event.outcome')).toBe('failure');
  });

  it('logs a client without a certificate as no_certificate', async () => {
    expect((await get(`${gw.url}/receipts/none`, clientAgent(pki, undefined))).status).toBe(401);
    const line = await gw.logs.waitFor(
      (l) => dataset('handshake')(l) && at(l, 'event.reason') === 'no_certificate',
    );
    expect(at(line, 'tls.client')).toBeUndefined();
    expect(at(line, 'client.port')).toEqual(expect.any(Number));
  });

  it('logs a trust reload as configuration changes', async () => {
    const crls = (await makeCrl(pki.pki.root)) + (await makeCrl(pki.pki.intermediate, { crlNumber: 9 }));
    await pki.write('crl.pem', crls);
    await gw.gateway.trust.refresh();
    const inForce = await gw.logs.waitFor(
      (l) => dataset('trust')(l) && at(l, 'mtls_gateway.trust.crl_number') === '9',
    );
    expect(at(inForce, 'event.action')).toBe('in_force');
    expect(at(inForce, 'event.category')).toEqual(['configuration']);
    expect(at(inForce, 'event.type')).toEqual(['change']);
    expect(at(inForce, 'event.outcome')).toBe('success');
    expect(at(inForce, 'mtls_gateway.trust.issuer')).toBe(
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    );
    expect(Date.parse(at(inForce, 'mtls_gateway.trust.next_update') as string)).toBeGreaterThan(Date.now());
    const installed = await gw.logs.waitFor(
      (l) =>
        l.message === 'trust snapshot installed' && (at(l, 'mtls_gateway.trust.generation') as number) > 1,
    );
    expect(at(installed, 'mtls_gateway.trust.crl_count')).toBe(2);
  });

  it('writes every line with the ECS base fields and nothing in the native names', async () => {
    await traffic();
    expect(gw.logs.lines.length).toBeGreaterThan(10);
    for (const line of gw.logs.lines) {
      expect(at(line, 'ecs.version')).toBe(ECS_VERSION);
      expect(at(line, 'service.name')).toBe('mtls-gateway');
      expect(at(line, '@timestamp')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(at(line, 'log.level'));
      expect(at(line, 'event.dataset')).toMatch(/^mtls_gateway\.[a-z_]+$/);
      expect(at(line, 'event.kind')).toBe('event');
      for (const native of ['level', 'time', 'msg', 'service', 'status', 'duration_ms', 'result']) {
        expect(line[native], `${native} in ${JSON.stringify(line)}`).toBeUndefined();
      }
    }
  });

  it('never logs a private key or a whole certificate', async () => {
    await traffic();
    const all = gw.logs.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|MII[A-Za-z0-9+/]{40}/);
  });

  it('logs the drain and the stop as a process end', async () => {
    expect(await gw.gateway.drain()).toBe(true);
    const stopped = await gw.logs.waitFor((l) => dataset('lifecycle')(l) && l.message === 'stopped');
    expect(at(stopped, 'event.type')).toEqual(['end']);
    expect(at(stopped, 'mtls_gateway.lifecycle.clean')).toBe(true);
    expect(at(stopped, 'mtls_gateway.lifecycle.cut_requests')).toBe(0);
  });
});
