/**
 * candidates.ts: bytes + the state in force + now → candidate data or refusals. Real PKI generated
 * per run (src/dev/pki.ts), real CRL signatures verified in-thread (verifiedCrlsFrom).
 */
import type { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DevPki, generateDevPki, type Issued, issue, makeCrl } from '../../src/dev/pki.js';
import {
  type CaBundle,
  fingerprintHex,
  parseCaBundle,
  TimeTrustMaterialError,
} from '../../src/trust/ca-bundle.js';
import {
  type CrlToVerify,
  caCandidate,
  crlStage,
  crlsToVerify,
  isRefused,
  serverCandidate,
  withoutRemovedCas,
} from '../../src/trust/candidates.js';
import { verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import type { CrlRead } from '../../src/trust/source-reads.js';

const NOW = Date.now();
const opts = { source: '/etc/trust/ca.pem', now: NOW, production: false };
const bytes = (text: string): Buffer => Buffer.from(text);

let pki: DevPki;
let bundle: CaBundle;
let x509s: X509Certificate[];

beforeAll(async () => {
  pki = await generateDevPki();
  bundle = parseCaBundle(bytes(pki.files['ca-bundle.pem']!), { now: NOW, production: false });
  x509s = bundle.cas.map((c) => c.x509);
});

const read = (name: string, version: string, text: string, labels: string[] = []): CrlRead => ({
  name,
  version,
  bytes: bytes(text),
  labels,
});

/** A stage from reads of CRL text, verified against `against` (default: the dev bundle). */
function stageOf(
  toVerify: readonly CrlToVerify[],
  inForce: RevocationIndex,
  against: CaBundle = bundle,
  bundleChanged = false,
) {
  const cas = against.cas.map((c) => c.x509);
  const verified = toVerify.map((v) => ({ ...v, result: verifiedCrlsFrom(v.bytes, cas) }));
  return crlStage({ bundle: against, bundleChanged, inForce, verified, now: NOW });
}

const changed = (r: CrlRead): CrlToVerify => ({ read: r, changed: true, bytes: r.bytes });

describe('caCandidate', () => {
  it('turns a valid bundle into a candidate with where and when it came from', () => {
    const c = caCandidate({ version: 'v1', bytes: bytes(pki.files['ca-bundle.pem']!), labels: '' }, opts);
    if (isRefused(c)) throw c.refused;
    expect(c.bundle.cas.map((ca) => ca.subject)).toEqual([
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
      'CN=mtls-gateway dev root CA,O=mtls-gateway development',
    ]);
    expect(c.info).toEqual({ source: '/etc/trust/ca.pem', version: 'v1', loadedAt: NOW });
    expect(c.forced).toBe(false);
  });

  it('reads the force marker from the first line and from the staging labels', () => {
    const pem = pki.files['ca-bundle.pem']!;
    const marked = caCandidate(
      { version: 'v2', bytes: bytes(`# mtls-gateway: force\n${pem}`), labels: '' },
      opts,
    );
    const labelled = caCandidate(
      { version: 'v3', bytes: bytes(pem), labels: 'AWSCURRENT,MTLS_GATEWAY_FORCE' },
      opts,
    );
    expect(!isRefused(marked) && marked.forced).toBe(true);
    expect(!isRefused(labelled) && labelled.forced).toBe(true);
  });

  it('refuses bytes that are no bundle, to be held until they change', () => {
    const c = caCandidate({ version: 'v4', bytes: bytes('hello\n'), labels: '' }, opts);
    expect(isRefused(c) && { message: c.refused.message, hold: c.hold }).toEqual({
      message: 'CA bundle: no certificate found',
      hold: true,
    });
  });

  it('refuses an expired CA for the clock only: never held', async () => {
    const expired = await issue(undefined, {
      subject: 'O=Old, CN=old CA',
      ca: true,
      notBeforeDays: -30,
      notAfterDays: -1,
    });
    const c = caCandidate({ version: 'v5', bytes: bytes(expired.certPem), labels: '' }, opts);
    expect(isRefused(c)).toBe(true);
    if (!isRefused(c)) return;
    expect(c.refused).toBeInstanceOf(TimeTrustMaterialError);
    expect(c.hold).toBe(false);
  });
});

describe('serverCandidate', () => {
  const cert = () => ({ version: 'c1', bytes: bytes(pki.files['server.pem']!) });
  const key = () => ({ version: 'k1', bytes: bytes(pki.files['server-key.pem']!) });

  it('pairs a certificate and its key; the version names both', () => {
    const c = serverCandidate(cert(), key(), opts);
    if (isRefused(c)) throw c.refused;
    expect(c.info.version).toBe('c1.k1');
    expect(c.parts).toEqual({ cert: 'c1', key: 'k1' });
    expect(c.creds.subject).toBe('CN=localhost,O=mtls-gateway development');
  });

  it('refuses a key of another certificate, to be held until either changes', () => {
    const other = { version: 'k2', bytes: bytes(pki.clients['partner-a'].keyPem) };
    const c = serverCandidate(cert(), other, opts);
    expect(isRefused(c) && { message: c.refused.message, hold: c.hold }).toEqual({
      message: 'server key: does not match the server certificate',
      hold: true,
    });
  });

  it('refuses a certificate not valid yet for the clock, saying when it becomes valid', async () => {
    const later: Issued = await issue(pki.intermediate, {
      subject: 'O=mtls-gateway development, CN=localhost',
      notBeforeDays: 1,
      notAfterDays: 30,
    });
    const c = serverCandidate(
      { version: 'c3', bytes: bytes(later.certPem) },
      { version: 'k3', bytes: bytes(later.keyPem) },
      opts,
    );
    expect(isRefused(c)).toBe(true);
    if (!isRefused(c)) return;
    expect(c.hold).toBe(false);
    expect(c.validFrom).toBe(later.cert.notBefore.getTime());
  });
});

describe('crlsToVerify', () => {
  const a = read('a.pem', 'a2', 'new bytes of a');
  const b = read('b.pem', 'b1', 'bytes of b');
  const inForce = new Map([
    ['a.pem', { version: 'a1', bytes: bytes('old bytes of a') }],
    ['b.pem', { version: 'b1', bytes: bytes('bytes of b in force') }],
  ]);

  it('verifies new versions only while the CA bundle stays', () => {
    const out = crlsToVerify([a, b], { inForce, stillHeld: new Set(), bundleChanged: false });
    expect(out.map((v) => [v.read.name, v.changed, v.bytes.toString()])).toEqual([
      ['a.pem', true, 'new bytes of a'],
    ]);
  });

  it('does not verify a version still held back, unless the bundle changed (then: the bytes in force)', () => {
    const held = new Set(['a.pem']);
    expect(crlsToVerify([a, b], { inForce, stillHeld: held, bundleChanged: false })).toEqual([]);
    const out = crlsToVerify([a, b], { inForce, stillHeld: held, bundleChanged: true });
    expect(out.map((v) => [v.read.name, v.changed, v.bytes.toString()])).toEqual([
      ['a.pem', false, 'old bytes of a'],
      ['b.pem', false, 'bytes of b in force'],
    ]);
  });

  it('verifies a source read for the first time', () => {
    const out = crlsToVerify([read('c.pem', 'c1', 'c')], {
      inForce,
      stillHeld: new Set(),
      bundleChanged: true,
    });
    expect(out.map((v) => [v.read.name, v.changed])).toEqual([['c.pem', true]]);
  });
});

describe('withoutRemovedCas', () => {
  it('keeps the CRLs of the CAs still in the bundle and drops those of a CA that left', () => {
    const { accepted } = verifiedCrlsFrom(bytes(pki.files['crl.pem']!), x509s);
    expect(accepted).toHaveLength(2);
    // One fingerprint form on both sides of the comparison.
    expect(accepted.map((c) => c.signedBy.fingerprint256).sort()).toEqual(x509s.map(fingerprintHex).sort());
    const index = RevocationIndex.build(accepted, NOW).index;
    const intermediateOnly = parseCaBundle(bytes(pki.intermediate.certPem), { now: NOW, production: false });
    expect(withoutRemovedCas(index, intermediateOnly).crls.map((c) => c.issuer)).toEqual([
      'CN=mtls-gateway dev intermediate CA,O=mtls-gateway development',
    ]);
    expect(withoutRemovedCas(index, bundle).crls).toHaveLength(2);
  });
});

describe('crlStage', () => {
  const revokedEntry = () => [{ serialHex: pki.clients.revoked.serialHex }];

  it('offers a new CRL: a changed index, the source accepted with its version', async () => {
    const r = read(
      'crl.pem',
      'v1',
      await makeCrl(pki.intermediate, { crlNumber: 3, revoked: revokedEntry() }),
    );
    const s = stageOf([changed(r)], RevocationIndex.EMPTY);
    expect(s.changed).toBe(true);
    expect(s.index.crls.map((c) => c.crlNumber)).toEqual([3n]);
    expect([...s.accepted.keys()]).toEqual(['crl.pem']);
    expect(s.offeredBy.get('crl.pem')).toEqual({ version: 'v1', labels: '' });
    expect(s.origin.get(s.index.crls[0]!)).toBe('crl.pem');
    expect(s.rejections).toEqual([]);
    expect(s.invalid).toEqual([]);
    expect(s.forced).toBe(false);
  });

  it('refuses an older CRL of the same scope and keeps the newer one', async () => {
    const newer = stageOf(
      [changed(read('crl.pem', 'v5', await makeCrl(pki.intermediate, { crlNumber: 5 })))],
      RevocationIndex.EMPTY,
    );
    const older = read('crl.pem', 'v4', await makeCrl(pki.intermediate, { crlNumber: 4 }));
    const s = stageOf([changed(older)], newer.index);
    expect(s.changed).toBe(false);
    expect(s.index.crls.map((c) => c.crlNumber)).toEqual([5n]);
    expect(s.rejections).toEqual([
      {
        source: 'crl.pem',
        code: 'CRL_OLDER',
        reason:
          'CRL of CN=mtls-gateway dev intermediate CA,O=mtls-gateway development is older than the one in force; kept the newer one',
      },
    ]);
  });

  it('says nothing about the same CRL offered again', async () => {
    const text = await makeCrl(pki.intermediate, { crlNumber: 7 });
    const first = stageOf([changed(read('crl.pem', 'v7', text))], RevocationIndex.EMPTY);
    const again = stageOf([changed(read('other.pem', 'w7', text))], first.index);
    expect(again.changed).toBe(false);
    expect(again.rejections).toEqual([]);
  });

  it('holds back a new version with nothing usable in it, and keeps the index', async () => {
    const rogueCrl = await makeCrl(pki.rogue, { crlNumber: 1 }); // signed by a CA outside the bundle
    const s = stageOf([changed(read('crl.pem', 'bad', rogueCrl, ['AWSCURRENT']))], RevocationIndex.EMPTY);
    expect(s.changed).toBe(false);
    expect(s.accepted.size).toBe(0);
    expect(s.invalid).toEqual([{ source: 'crl.pem', version: 'bad', labels: 'AWSCURRENT' }]);
    expect(s.rejections).toHaveLength(1);
    expect(s.rejections[0]).toMatchObject({ source: 'crl.pem' });
  });

  it('refuses a CRL issued beyond the clock skew, and does not accept its source', async () => {
    const ahead = read('crl.pem', 'v9', await makeCrl(pki.intermediate, { crlNumber: 9, thisUpdateDays: 1 }));
    const s = stageOf([changed(ahead)], RevocationIndex.EMPTY);
    expect(s.index.crls).toEqual([]);
    expect(s.accepted.size).toBe(0);
    expect(s.offeredBy.size).toBe(0);
    expect(s.rejections.map((r) => [r.source, r.code])).toEqual([['crl.pem', 'CRL_NOT_YET_VALID']]);
    expect(s.rejections[0]!.reason).toMatch(
      /is not yet valid \(thisUpdate \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); kept the one in force$/,
    );
  });

  it('marks a changed source carrying the force marker', async () => {
    const text = `# mtls-gateway: force\n${await makeCrl(pki.intermediate, { crlNumber: 2 })}`;
    expect(stageOf([changed(read('crl.pem', 'f', text))], RevocationIndex.EMPTY).forced).toBe(true);
  });

  it('on a bundle change keeps the CRLs of the CAs that stay, even when their source was not read', async () => {
    const { accepted } = verifiedCrlsFrom(bytes(pki.files['crl.pem']!), x509s);
    const inForce = RevocationIndex.build(accepted, NOW).index;
    const wider = parseCaBundle(bytes(pki.files['ca-bundle.pem']! + pki.rogue.certPem), {
      now: NOW,
      production: false,
    });
    const s = stageOf([], inForce, wider, true);
    expect(s.index.crls).toHaveLength(2);
    expect(s.changed).toBe(false);
  });
});
