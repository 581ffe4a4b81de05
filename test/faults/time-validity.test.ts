/**
 * Trust material that becomes valid later (issue 20, defect 1). A CA whose notBefore lies a few
 * seconds ahead is loaded, as nginx and Envoy do: the gateway is ready, the other partners are
 * served, only chains through that CA are refused (not_yet_valid) and only until its notBefore;
 * a warning and a metric say which CA and until when. A server certificate that is not valid yet
 * is refused for now (the one in force keeps serving) and installed at the moment it becomes
 * valid. Nothing refused for a time reason is remembered as invalid.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import {
  clientAgent,
  get,
  type LogLine,
  metricValue,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';

const AHEAD_SECONDS = 5;
const DAY_S = 86_400;
const NEXT_CA = 'O=Partner N, CN=next intermediate CA';
const NEXT_CA_RFC2253 = 'CN=next intermediate CA,O=Partner N';

/** A new intermediate valid from AHEAD_SECONDS on, and a partner it issued (valid now). */
async function nextCaAndPartner(pki: TestPki): Promise<string> {
  const next = await issue(pki.pki.root, {
    subject: NEXT_CA,
    ca: true,
    notBeforeDays: AHEAD_SECONDS / DAY_S,
  });
  await pki.addClient('partner-n', await issue(next, { subject: 'O=Partner N, CN=partner-n' }));
  return pki.pki.intermediate.certPem + next.certPem + pki.pki.root.certPem;
}

const trustLine =
  (result: string) =>
  (l: LogLine): boolean =>
    l.event === 'trust' && l.result === result && l.subject === NEXT_CA_RFC2253;

/** partner-n refused with not_yet_valid, partner-a served, the gateway ready, the CA announced. */
async function expectPending(pki: TestPki, gw: TestGateway): Promise<void> {
  const warned = await gw.logs.waitFor(trustLine('ca_not_yet_valid'));
  expect(Date.parse(String(warned.not_before))).toBeGreaterThan(Date.now() - 1_000);
  expect((await get(`${gw.adminUrl}/readyz`, clientAgent(pki, undefined))).status).toBe(200);
  expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  const refused = await get(`${gw.url}/`, clientAgent(pki, 'partner-n'));
  expect(refused.status).toBe(403);
  expect(refused.json<{ error: string }>().error).toBe('not_yet_valid');
  const m = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
  expect(
    metricValue(m, 'mtls_gateway_ca_not_yet_valid_timestamp_seconds', { subject: NEXT_CA_RFC2253 }),
  ).toBe(Date.parse(String(warned.not_before)) / 1000);
}

/** Once the CA is valid (the gateway says so), partner-n is served without any reload. */
async function expectServedOnceValid(pki: TestPki, gw: TestGateway): Promise<void> {
  await gw.logs.waitFor(trustLine('ca_now_valid'));
  const res = await get(`${gw.url}/`, clientAgent(pki, 'partner-n'));
  expect(res.status).toBe(200);
  const m = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
  expect(
    metricValue(m, 'mtls_gateway_ca_not_yet_valid_timestamp_seconds', { subject: NEXT_CA_RFC2253 }),
  ).toBeUndefined();
  // Never a rejection of the bundle for it, at start or on a poll.
  expect(gw.logs.events('trust').filter((l) => l.kind === 'ca_bundle' && l.result === 'rejected')).toEqual(
    [],
  );
}

/** The serial of the certificate the gateway presents on a new TLS connection. */
function servedSerial(pki: TestPki, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = rawTlsConnect(pki, port, 'partner-a');
    s.once('secureConnect', () => {
      resolve(s.getPeerX509Certificate()?.serialNumber ?? '');
      s.destroy();
    });
    s.once('error', reject);
  });
}

describe.concurrent('trust material that becomes valid later', { timeout: 30_000 }, () => {
  it('at start: loads a bundle with a CA not valid yet, ready at once, its partner served once it is', async () => {
    const pki = await makeTestPki();
    const bundle = await pki.write('bundle-next.pem', await nextCaAndPartner(pki));
    const gw = await startTestGateway(pki, {
      GATEWAY_CA_BUNDLE: bundle,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
      GATEWAY_VERIFY_MODE: 'explain',
    });
    try {
      await expectPending(pki, gw);
      await expectServedOnceValid(pki, gw);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });

  it('on a running task: a bundle gaining a CA not valid yet is loaded on the next poll, served once valid', async () => {
    const pki = await makeTestPki();
    const bundle = await pki.write('bundle-live.pem', readFileSync(pki.path('ca-bundle.pem'), 'utf8'));
    const gw = await startTestGateway(pki, {
      GATEWAY_CA_BUNDLE: bundle,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
      GATEWAY_VERIFY_MODE: 'explain',
    });
    try {
      expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
      await pki.write('bundle-live.pem', await nextCaAndPartner(pki));
      await expectPending(pki, gw);
      await expectServedOnceValid(pki, gw);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });

  it('the lock-out guard holds back a bundle whose only intermediate is a re-issue not valid yet', async () => {
    const pki = await makeTestPki();
    const bundle = await pki.write('bundle-guard.pem', readFileSync(pki.path('ca-bundle.pem'), 'utf8'));
    const gw = await startTestGateway(pki, { GATEWAY_CA_BUNDLE: bundle, GATEWAY_TRUST_REFRESH_SECONDS: '1' });
    try {
      for (const partner of ['partner-a', 'partner-b'])
        expect((await get(`${gw.url}/`, clientAgent(pki, partner))).status).toBe(200);
      // The same intermediate (subject and key) renewed ahead of time, replacing the current one:
      // OpenSSL would fail every chain through it for an hour.
      const renewed = await issue(pki.pki.root, {
        subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
        ca: true,
        keys: pki.pki.intermediate.keys,
        notBeforeDays: 1 / 24,
      });
      await pki.write('bundle-guard.pem', renewed.certPem + pki.pki.root.certPem);
      const blocked = await gw.logs.waitFor((l) => l.event === 'trust' && l.result === 'guard_blocked');
      expect(blocked.would_refuse).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ partner: 'cn:partner-a', reason: 'not_yet_valid' }),
        ]),
      );
      expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });

  it('a server certificate not valid yet: the one in force keeps serving, the new one is installed once valid', async () => {
    const pki = await makeTestPki();
    const certPath = await pki.write('server-live.pem', readFileSync(pki.path('server.pem'), 'utf8'));
    const keyPath = await pki.write('server-live-key.pem', readFileSync(pki.path('server-key.pem'), 'utf8'));
    const gw = await startTestGateway(pki, {
      GATEWAY_SERVER_CERT: certPath,
      GATEWAY_SERVER_KEY: keyPath,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
    });
    try {
      const before = await servedSerial(pki, gw.port);
      expect(before).toBe(pki.pki.server.serialHex);
      const next = await issue(pki.pki.intermediate, {
        subject: 'O=mtls-gateway development, CN=localhost',
        eku: ['1.3.6.1.5.5.7.3.1'],
        dns: ['localhost'],
        ips: ['127.0.0.1'],
        notBeforeDays: AHEAD_SECONDS / DAY_S,
      });
      // Key first: the pair read in between (new key, old certificate) is refused as a mismatch.
      await pki.write('server-live-key.pem', next.keyPem);
      await pki.write('server-live.pem', next.certPem + pki.pki.intermediate.certPem);
      const refused = await gw.logs.waitFor(
        (l) =>
          l.event === 'trust' &&
          l.kind === 'server_cert' &&
          l.result === 'rejected' &&
          String(l.reason).includes('not valid before'),
      );
      expect(refused.kept).toBeDefined();
      expect(await servedSerial(pki, gw.port)).toBe(before);
      expect((await get(`${gw.adminUrl}/readyz`, clientAgent(pki, undefined))).status).toBe(200);
      await gw.logs.waitFor(
        (l) =>
          l.event === 'trust' &&
          l.msg === 'trust snapshot installed' &&
          l.server_cert_version !== refused.kept,
      );
      expect(await servedSerial(pki, gw.port)).toBe(next.serialHex);
    } finally {
      await gw.close();
      await pki.cleanup();
    }
  });
});
