/**
 * trust-status.ts: the /trust document from the store's state. Real PKI (src/dev/pki.ts), real
 * parsed bundle, server credentials and verified CRLs; the JSON is compared whole, key order
 * included, since operators' tooling reads it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type DevPki, generateDevPki } from '../../src/dev/pki.js';
import { type CaBundle, parseCaBundle } from '../../src/trust/ca-bundle.js';
import { type VerifiedCrl, verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { parseServerCredentials, type ServerCredentials } from '../../src/trust/server-credentials.js';
import { iso, type Rejection, type TrustStatusInput, trustStatus } from '../../src/trust/trust-status.js';

const LOADED = Date.UTC(2026, 11, 3, 12, 0, 0, 456);
let pki: DevPki;
let bundle: CaBundle;
let creds: ServerCredentials;
let crls: VerifiedCrl[];

beforeAll(async () => {
  pki = await generateDevPki();
  const now = Date.now();
  bundle = parseCaBundle(Buffer.from(pki.files['ca-bundle.pem']!), { now, production: false });
  creds = parseServerCredentials(
    Buffer.from(pki.files['server.pem']!),
    Buffer.from(pki.files['server-key.pem']!),
    {
      now,
      production: false,
    },
  );
  crls = verifiedCrlsFrom(
    Buffer.from(pki.files['crl.pem']!),
    bundle.cas.map((c) => c.x509),
  ).accepted;
});

const EMPTY: TrustStatusInput = {
  ca: undefined,
  server: undefined,
  crls: [],
  fleetHeld: [],
  maxRefusedPercent: 50,
  recentClients: 0,
  guardHolds: { ca_bundle: null, crl: null },
  rejections: [],
};

const rejection = (kind: Rejection['kind'], reason: string): Rejection => ({
  kind,
  source: `/trust/${kind}`,
  at: '2026-12-03T12:00:01.000Z',
  reason,
});

describe('iso', () => {
  it('writes instants to the second in UTC, and absence as null', () => {
    expect(iso(LOADED)).toBe('2026-12-03T12:00:00Z');
    expect(iso(undefined)).toBeNull();
  });
});

describe('trustStatus', () => {
  it('before anything loaded: nulls and empty lists, the guard settings', () => {
    expect(trustStatus({ ...EMPTY, maxRefusedPercent: 30, recentClients: 4 })).toEqual({
      ca_bundle: null,
      crls: [],
      server_cert: null,
      fleet_held: [],
      guard: { max_refused_percent: 30, recent_clients: 4, ca_bundle: null, crl: null },
      last_rejected: [],
    });
  });

  it('describes the material in force with snake_case keys and ISO times, in the documented order', () => {
    const caReject = rejection('ca_bundle', 'CA bundle: no certificate found');
    const crlReject = rejection('crl', 'CRL older');
    const serverReject = rejection('server_cert', 'server key: does not match the server certificate');
    const hold = {
      source: '/trust/ca.pem',
      blocked_version: 'v3',
      at: '2026-12-03T12:00:02.000Z',
      active_partners: 3,
      refused_percent: 66.7,
      would_refuse: [{ partner: 'partner-a', subject: 'CN=partner-a', reason: 'unknown_ca' }],
    };
    const status = trustStatus({
      ca: { bundle, info: { source: '/trust/ca.pem', version: 'v2', loadedAt: LOADED } },
      server: { creds, info: { source: '/trust/server.pem', version: 'c1.k1', loadedAt: LOADED } },
      crls: [
        { crl: crls[0]!, source: '/trust/crl.pem', version: 'r1' },
        { crl: crls[1]!, source: undefined, version: undefined },
      ],
      fleetHeld: [{ source: 'secretsmanager:ca', held_version: 'v3', serving_version: 'v2' }],
      maxRefusedPercent: 50,
      recentClients: 7,
      guardHolds: { ca_bundle: hold, crl: null },
      rejections: [crlReject, serverReject, caReject],
    });
    const [intermediate, root] = bundle.cas;
    const expected = {
      ca_bundle: {
        source: '/trust/ca.pem',
        version: 'v2',
        loaded_at: '2026-12-03T12:00:00Z',
        last_rejected: caReject,
        cas: [intermediate!, root!].map((c) => ({
          subject: c.subject,
          fingerprint256: c.fingerprint256,
          not_before: iso(c.notBefore),
          not_after: iso(c.notAfter),
        })),
      },
      crls: [
        {
          issuer: 'CN=mtls-gateway dev root CA,O=mtls-gateway development',
          source: '/trust/crl.pem',
          version: 'r1',
          this_update: iso(crls[0]!.thisUpdate),
          next_update: iso(crls[0]!.nextUpdate),
          entries: 0,
          crl_number: '1',
        },
        {
          issuer: 'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
          source: null,
          version: null,
          this_update: iso(crls[1]!.thisUpdate),
          next_update: iso(crls[1]!.nextUpdate),
          entries: 1,
          crl_number: '1',
        },
      ],
      server_cert: {
        source: '/trust/server.pem',
        version: 'c1.k1',
        loaded_at: '2026-12-03T12:00:00Z',
        subject: 'CN=localhost,O=mtls-gateway development',
        not_after: iso(creds.notAfter),
        last_rejected: serverReject,
      },
      fleet_held: [{ source: 'secretsmanager:ca', held_version: 'v3', serving_version: 'v2' }],
      guard: { max_refused_percent: 50, recent_clients: 7, ca_bundle: hold, crl: null },
      last_rejected: [crlReject, serverReject, caReject],
    };
    // Same JSON text: same keys, same values, same order.
    expect(JSON.stringify(status)).toBe(JSON.stringify(expected));
    expect(status.ca_bundle?.cas[0]?.fingerprint256).toMatch(/^[0-9a-f]{64}$/);
    expect(status.crls[0]?.this_update).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('gives each kind its newest rejection, and a list later rejections do not change', () => {
    const rejections = [rejection('ca_bundle', 'newest'), rejection('ca_bundle', 'older')];
    const status = trustStatus({
      ...EMPTY,
      ca: { bundle, info: { source: '/trust/ca.pem', version: 'v2', loadedAt: LOADED } },
      rejections,
    });
    expect(status.ca_bundle?.last_rejected?.reason).toBe('newest');
    rejections.unshift(rejection('ca_bundle', 'after the snapshot'));
    expect(status.last_rejected.map((r) => r.reason)).toEqual(['newest', 'older']);
  });

  it('has no server certificate rejection to show when only other kinds were refused', () => {
    const status = trustStatus({
      ...EMPTY,
      server: { creds, info: { source: '/trust/server.pem', version: 'c1.k1', loadedAt: LOADED } },
      rejections: [rejection('crl', 'x')],
    });
    expect(status.server_cert?.last_rejected).toBeNull();
  });
});
