/**
 * The TrustStore on its own: real file sources in a temporary folder, a real generated PKI, real
 * CRL verification (worker thread), a real logger and metrics registry. No gateway, no TLS.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import type { Source } from '../../src/config/config.js';
import { type Issued, makeCrl } from '../../src/dev/pki.js';
import { createLogger, createMetrics, type Metrics } from '../../src/observability/index.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { TrustStore, type TrustStoreOptions } from '../../src/trust/trust-store.js';
import { LogCapture } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const file = (path: string): Source => ({ kind: 'file', path });

let pki: TestPki;
let store: TrustStore | undefined;
let logs: LogCapture;
let metrics: Metrics;

beforeEach(async () => {
  pki = await makeTestPki();
  logs = new LogCapture();
  metrics = createMetrics({ defaultMetrics: false });
});

afterEach(async () => {
  store?.stop();
  store = undefined;
  await pki.cleanup();
});

function startStore(extra: Partial<TrustStoreOptions> = {}): Promise<TrustStore> {
  store = new TrustStore({
    caBundle: file(pki.path('ca-bundle.pem')),
    serverCert: file(pki.path('server.pem')),
    serverKey: file(pki.path('server-key.pem')),
    crls: [file(pki.path('crl.pem'))],
    refreshSeconds: 3600, // polls only when the test says so (refresh)
    production: false,
    logger: createLogger('debug', logs),
    metrics,
    ...extra,
  });
  return store.start().then(() => store!);
}

const der = (issued: Issued): Uint8Array => new Uint8Array(issued.cert.rawData);

/** What the gate would decide for `client` (issued by the intermediate) under `snapshot`. */
function revocationOf(snapshot: TrustSnapshot, client: Issued): string {
  const chain = [client, pki.pki.intermediate, pki.pki.root].map((c) => parseCertificate(der(c)));
  const verdict = snapshot.revocation.check(chain, Date.now(), { graceSeconds: 0, crlRequired: false });
  return verdict.ok ? 'ok' : verdict.reason;
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value;
}

describe('TrustStore with file sources', () => {
  it('installs the first snapshot from the files and describes it in status()', async () => {
    const s = await startStore();
    const snap = s.current!;
    expect(snap.generation).toBe(1);
    expect(snap.caBundle.cas.map((c) => c.subject)).toEqual([
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
      'CN=mtls-gateway dev root CA,O=mtls-gateway development',
    ]);
    expect(revocationOf(snap, pki.pki.clients.revoked)).toBe('revoked');
    expect(revocationOf(snap, pki.pki.clients['partner-a'])).toBe('ok');
    const status = s.status();
    expect(status.ca_bundle?.source).toBe(pki.path('ca-bundle.pem'));
    expect(status.crls.map((c) => [c.issuer, c.source, c.entries])).toEqual([
      ['CN=mtls-gateway dev root CA,O=mtls-gateway development', pki.path('crl.pem'), 0],
      ['CN=mtls-gateway dev intermediate CA,O=mtls-gateway development', pki.path('crl.pem'), 1],
    ]);
    expect(status.server_cert?.subject).toBe('CN=localhost,O=mtls-gateway development');
    expect(status.last_rejected).toEqual([]);
    const installed = logs.lines.find((l) => l.msg === 'trust snapshot installed');
    expect(installed).toMatchObject({ generation: 1, cas: 2, crls: 2 });
    expect(await metricValue('mtls_gateway_trust_reloads_total', { kind: 'crl', result: 'success' })).toBe(1);
  });

  it('keeps the bundle in force when a new one is refused, and lists the rejection', async () => {
    const s = await startStore();
    const before = s.current!;
    await pki.write('ca-bundle.pem', 'not a certificate\n');
    await s.refresh();
    expect(s.current).toBe(before);
    const status = s.status();
    expect(status.ca_bundle?.version).toBe(before.caBundleInfo.version);
    expect(status.ca_bundle?.last_rejected).toMatchObject({
      kind: 'ca_bundle',
      source: pki.path('ca-bundle.pem'),
      reason: 'CA bundle: no certificate found',
    });
    expect(
      await metricValue('mtls_gateway_trust_reloads_total', { kind: 'ca_bundle', result: 'failure' }),
    ).toBe(1);
    // The refused version is held: an unchanged poll neither re-reads nor re-reports it.
    await s.refresh();
    expect(s.status().last_rejected).toHaveLength(1);
  });

  it('keeps the CRLs in force when the CA bundle changes while the CRL source is unreadable', async () => {
    const s = await startStore();
    expect(revocationOf(s.current!, pki.pki.clients.revoked)).toBe('revoked');
    await rm(pki.path('crl.pem'));
    // The same CAs plus one more: the CRLs of the intermediate and the root still apply.
    await pki.write(
      'ca-bundle.pem',
      pki.pki.intermediate.certPem + pki.pki.root.certPem + pki.pki.rogue.certPem,
    );
    await s.refresh();
    const snap = s.current!;
    expect(snap.caBundle.cas).toHaveLength(3);
    expect(snap.revocation.crls.map((c) => c.issuer)).toEqual([
      'CN=mtls-gateway dev root CA,O=mtls-gateway development',
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    ]);
    expect(revocationOf(snap, pki.pki.clients.revoked)).toBe('revoked');
    expect(s.status().last_rejected[0]).toMatchObject({ kind: 'crl', source: pki.path('crl.pem') });
  });

  it('never lets a CA bundle change bring back an older CRL the source offered since', async () => {
    const { intermediate, clients } = pki.pki;
    const revokedEntry = [{ serialHex: clients.revoked.serialHex }];
    await pki.write('crl.pem', await makeCrl(intermediate, { crlNumber: 5, revoked: revokedEntry }));
    const s = await startStore();
    expect(revocationOf(s.current!, clients.revoked)).toBe('revoked');
    // The source rolls back to an older CRL that does not list the revoked client: refused.
    await pki.write('crl.pem', await makeCrl(intermediate, { crlNumber: 4 }));
    await s.refresh();
    expect(revocationOf(s.current!, clients.revoked)).toBe('revoked');
    expect(s.status().last_rejected[0]?.reason).toMatch(/older than the one in force/);
    // A new CA bundle (same CAs, plus one) must not re-open the question.
    await pki.write('ca-bundle.pem', intermediate.certPem + pki.pki.root.certPem + pki.pki.rogue.certPem);
    await s.refresh();
    expect(s.current!.caBundle.cas).toHaveLength(3);
    expect(s.status().crls.map((c) => c.crl_number)).toEqual(['5']);
    expect(revocationOf(s.current!, clients.revoked)).toBe('revoked');
  });

  it('drops the CRLs of a CA that left the bundle, and keeps the others', async () => {
    const s = await startStore();
    await rm(pki.path('crl.pem'));
    await pki.write('ca-bundle.pem', pki.pki.intermediate.certPem);
    await s.refresh();
    expect(s.current!.caBundle.cas).toHaveLength(1);
    expect(s.status().crls.map((c) => c.issuer)).toEqual([
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    ]);
  });

  it('holds back a bundle that would cut off the recent partners, until it carries the force marker', async () => {
    const s = await startStore();
    const { clients, intermediate } = pki.pki;
    for (const name of ['partner-a', 'partner-b'] as const) {
      const leaf = Buffer.from(clients[name].cert.rawData);
      s.recordVerifiedClient({
        partnerId: name,
        fingerprint256: createHash('sha256').update(leaf).digest('hex'),
        leafDer: leaf,
        sentDer: [Buffer.from(intermediate.cert.rawData)],
      });
    }
    const blocked: string[] = [];
    s.on('guardBlocked', (kind) => blocked.push(kind));
    const before = s.current!;
    // Only a CA nobody's chain goes through: every recent partner would be refused.
    await pki.write('ca-bundle.pem', pki.pki.rogue.certPem);
    await s.refresh();
    expect(s.current).toBe(before);
    expect(blocked).toEqual(['ca_bundle']);
    const held = s.status().guard.ca_bundle;
    expect(held).toMatchObject({
      source: pki.path('ca-bundle.pem'),
      active_partners: 2,
      refused_percent: 100,
    });
    expect(held?.would_refuse.map((w) => w.partner).sort()).toEqual(['partner-a', 'partner-b']);
    expect(s.guardHeldVersions()).toEqual(new Map([[pki.path('ca-bundle.pem'), held!.blocked_version]]));
    expect(await metricValue('mtls_gateway_trust_guard_blocked_total', { kind: 'ca_bundle' })).toBe(1);

    await pki.write('ca-bundle.pem', `# mtls-gateway: force\n${pki.pki.rogue.certPem}`);
    await s.refresh();
    expect(s.current!.generation).toBe(before.generation + 1);
    expect(s.current!.caBundle.cas.map((c) => c.subject)).toEqual(['CN=untrusted CA,O=Not Trusted']);
    expect(s.status().guard.ca_bundle).toBeNull();
    expect(logs.lines.find((l) => l.result === 'guard_bypassed')).toMatchObject({ kind: 'ca_bundle' });
  });

  it('keeps everything when the TLS check refuses the combination, and installs the next good one', async () => {
    let refuse = false;
    const s = await startStore({
      checkSnapshot: () => {
        if (refuse) throw new Error('unsupported curve');
      },
    });
    const updates: number[] = [];
    s.on('update', (snap) => updates.push(snap.generation));
    const before = s.current!;
    refuse = true;
    await pki.write(
      'ca-bundle.pem',
      pki.pki.intermediate.certPem + pki.pki.root.certPem + pki.pki.rogue.certPem,
    );
    await s.refresh();
    expect(s.current).toBe(before);
    expect(s.status().last_rejected[0]).toMatchObject({
      kind: 'ca_bundle',
      reason: 'TLS context refused: unsupported curve',
    });
    refuse = false;
    await s.refresh(); // the refused version is decided again on an explicit refresh
    expect(updates).toEqual([2]);
    expect(s.current!.caBundle.cas).toHaveLength(3);
  });
});
