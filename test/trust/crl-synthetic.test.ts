/**
 * CRLs built byte by byte (crl-builder.ts) and signed with real CA keys: the shapes no CA tool
 * emits (algorithm mismatch, unknown critical extensions, delta/indirect CRLs, foreign signers,
 * partitions) and the index's replacement and policy rules.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedCertificate } from '../../src/asn1/certificate.js';
import { checkCrl } from '../../src/inspect/crl-report.js';
import { CrlError, parseCrl } from '../../src/trust/crl/parse-crl.js';
import { type VerifiedCrl, verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import {
  akiExt,
  algorithmIdentifier,
  buildCrl,
  type CrlSpec,
  cdpValue,
  crlNumberExt,
  extension,
  idpExt,
  int,
  name,
  nul,
  octet,
  oid,
  seq,
} from './crl-builder.js';
import { OpensslCa, removeTempDirs, tempDir } from './openssl-pki.js';

afterAll(removeTempDirs);

let ec: OpensslCa;
let rsa: OpensslCa;
let ed: OpensslCa;

beforeAll(() => {
  const dir = tempDir('crl-synth-');
  ec = OpensslCa.root(join(dir, 'ec'), '/O=Synth/CN=EC CA', 'ec');
  rsa = OpensslCa.root(join(dir, 'rsa'), '/O=Synth/CN=RSA CA', 'rsa');
  ed = OpensslCa.root(join(dir, 'ed'), '/O=Synth/CN=Ed25519 CA', 'ed25519');
});

const cas = () => [ec.cert.x509, rsa.cert.x509, ed.cert.x509];

function ecSpec(extra: Partial<CrlSpec> = {}): CrlSpec {
  return {
    issuerDer: ec.cert.parsed.subjectDer,
    alg: 'ecdsa-sha256',
    key: ec.key,
    entries: [{ serialHex: '0A1B', reason: 1 }],
    extensions: [akiExt(ec.cert.parsed.subjectKeyId!), crlNumberExt(1)],
    ...extra,
  };
}

function one(der: Uint8Array): { accepted: VerifiedCrl[]; codes: string[] } {
  const r = verifiedCrlsFrom(der, cas());
  return { accepted: r.accepted, codes: r.rejected.map((x) => x.code) };
}

function parseCode(der: Uint8Array): string {
  try {
    parseCrl(der);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(CrlError);
    return (err as CrlError).code;
  }
}

let serialCounter = 0x100;
function fakeCert(opts: {
  issuerDer: Uint8Array;
  serialHex?: string;
  isCa?: boolean;
  cdp?: string[];
  subjectDer?: Uint8Array;
}): ParsedCertificate {
  return {
    serialHex: opts.serialHex ?? (serialCounter++).toString(16).toUpperCase().padStart(4, '0'),
    issuerDer: opts.issuerDer,
    subjectDer: opts.subjectDer ?? name(`leaf-${serialCounter}`),
    notBefore: 0,
    notAfter: Date.now() + 86_400_000,
    subjectPublicKeyInfoDer: new Uint8Array(0),
    san: { dns: [], uri: [], email: [], ip: [] },
    extKeyUsage: undefined,
    isCa: opts.isCa ?? false,
    pathLength: undefined,
    keyUsage: undefined,
    signatureAlgorithmOid: '1.2.840.10045.4.3.2',
    authorityKeyId: undefined,
    subjectKeyId: undefined,
    crlDistributionPointsDer: opts.cdp ? cdpValue(opts.cdp) : undefined,
  };
}

const STRICT = { graceSeconds: 0, crlRequired: true };

describe('signature algorithms', () => {
  it('accepts ECDSA SHA-256/384, RSA SHA-512, RSASSA-PSS and Ed25519 CRLs', () => {
    const variants: CrlSpec[] = [
      ecSpec(),
      ecSpec({ alg: 'ecdsa-sha384' }),
      {
        issuerDer: rsa.cert.parsed.subjectDer,
        alg: 'rsa-sha512',
        key: rsa.key,
        entries: [{ serialHex: '01' }],
      },
      {
        issuerDer: rsa.cert.parsed.subjectDer,
        alg: 'rsa-pss-sha256',
        key: rsa.key,
        entries: [{ serialHex: '01' }],
      },
      { issuerDer: ed.cert.parsed.subjectDer, alg: 'ed25519', key: ed.key, entries: [{ serialHex: '01' }] },
    ];
    for (const spec of variants) {
      const r = one(buildCrl(spec));
      expect(r.codes, spec.alg).toEqual([]);
      expect(r.accepted).toHaveLength(1);
    }
  });

  it('rejects an unknown (or SHA-1) algorithm and a key type that does not fit', () => {
    const sha1 = seq(oid('1.2.840.113549.1.1.5'), nul());
    expect(one(buildCrl(ecSpec({ algorithm: sha1 }))).codes).toEqual(['CRL_UNSUPPORTED_ALGORITHM']);
    const unknown = seq(oid('1.2.3.4.5'));
    expect(one(buildCrl(ecSpec({ algorithm: unknown }))).codes).toEqual(['CRL_UNSUPPORTED_ALGORITHM']);
    // An ECDSA signature presented as RSA, under the RSA CA's name: the RSA key cannot verify it.
    const asRsa = buildCrl({
      ...ecSpec(),
      issuerDer: rsa.cert.parsed.subjectDer,
      extensions: [],
      algorithm: algorithmIdentifier('rsa-sha256'),
    });
    expect(one(asRsa).codes).toEqual(['CRL_BAD_SIGNATURE']);
    // An ECDSA CA's key cannot verify a CRL claiming Ed25519.
    expect(one(buildCrl(ecSpec({ algorithm: algorithmIdentifier('ed25519') }))).codes).toEqual([
      'CRL_BAD_SIGNATURE',
    ]);
  });

  it('rejects a TBS algorithm that differs from the outer one', () => {
    const der = buildCrl(ecSpec({ tbsAlgorithm: algorithmIdentifier('ecdsa-sha384') }));
    expect(parseCode(der)).toBe('CRL_ALGORITHM_MISMATCH');
    expect(one(der).codes).toEqual(['CRL_ALGORITHM_MISMATCH']);
  });
});

describe('extensions', () => {
  it('rejects unknown critical CRL and entry extensions, ignores unknown non-critical ones', () => {
    const unknown = (critical: boolean) =>
      extension('1.3.6.1.4.1.99999.1', critical, octet(Buffer.from('x')));
    expect(one(buildCrl(ecSpec({ extensions: [crlNumberExt(1), unknown(true)] }))).codes).toEqual([
      'CRL_UNKNOWN_CRITICAL_EXTENSION',
    ]);
    expect(one(buildCrl(ecSpec({ extensions: [crlNumberExt(1), unknown(false)] }))).accepted).toHaveLength(1);
    const entry = (critical: boolean) => ({ serialHex: '05', extensions: [unknown(critical)] });
    expect(one(buildCrl(ecSpec({ entries: [entry(true)] }))).codes).toEqual([
      'CRL_UNKNOWN_CRITICAL_EXTENSION',
    ]);
    expect(one(buildCrl(ecSpec({ entries: [entry(false)] }))).accepted).toHaveLength(1);
  });

  it('rejects delta CRLs and indirect CRLs as unsupported', () => {
    const delta = extension('2.5.29.27', true, int('01'));
    expect(parseCode(buildCrl(ecSpec({ extensions: [crlNumberExt(2), delta] })))).toBe('CRL_UNSUPPORTED');
    const certIssuer = extension('2.5.29.29', true, seq());
    expect(parseCode(buildCrl(ecSpec({ entries: [{ serialHex: '07', extensions: [certIssuer] }] })))).toBe(
      'CRL_UNSUPPORTED',
    );
  });

  it('accepts a v1 CRL (no version, no extensions) and an empty CRL without nextUpdate', () => {
    const v1 = one(buildCrl(ecSpec({ v1: true, extensions: [], entries: [{ serialHex: '09' }] })));
    expect(v1.accepted[0]!.version).toBe(1);
    expect(v1.accepted[0]!.revoked.has('09')).toBe(true);
    const noNext = one(buildCrl(ecSpec({ nextUpdate: null, entries: [] })));
    expect(noNext.accepted[0]!.nextUpdate).toBeUndefined();
    expect(noNext.accepted[0]!.revoked.count).toBe(0);
    // v1 with an entry extension is malformed.
    expect(parseCode(buildCrl(ecSpec({ v1: true, extensions: [] })))).toBe('CRL_MALFORMED');
  });
});

describe('issuer and signer', () => {
  it('rejects a CRL signed by a different key under the CA name', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(one(buildCrl(ecSpec({ key: other, extensions: [crlNumberExt(1)] }))).codes).toEqual([
      'CRL_BAD_SIGNATURE',
    ]);
    // With an authority key id naming another key, no CA matches at all.
    expect(
      one(buildCrl(ecSpec({ key: other, extensions: [akiExt(Buffer.from('0102', 'hex'))] }))).codes,
    ).toEqual(['CRL_UNKNOWN_ISSUER']);
  });

  it('rejects a CRL whose issuer is not in the CA list', () => {
    const der = buildCrl(ecSpec({ issuerDer: name('Somebody Else'), extensions: [] }));
    const r = verifiedCrlsFrom(der, cas());
    expect(r.accepted).toEqual([]);
    expect(r.rejected).toEqual([
      expect.objectContaining({ code: 'CRL_UNKNOWN_ISSUER', issuer: 'CN=Somebody Else' }),
    ]);
  });

  it('reads every CRL of concatenated DER and of PEM, reporting bad blocks separately', () => {
    const a = buildCrl(ecSpec());
    const b = buildCrl({ issuerDer: ed.cert.parsed.subjectDer, alg: 'ed25519', key: ed.key });
    expect(one(Buffer.concat([a, b])).accepted).toHaveLength(2);
    const pem = (d: Uint8Array) =>
      `-----BEGIN X509 CRL-----\n${Buffer.from(d).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
    const text = `${pem(a)}-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n${pem(b)}`;
    const r = verifiedCrlsFrom(Buffer.from(text), cas());
    expect(r.accepted).toHaveLength(2);
    expect(r.rejected.map((x) => x.code)).toEqual(['CRL_MALFORMED']);
    expect(verifiedCrlsFrom(Buffer.from(''), cas()).rejected[0]!.code).toBe('CRL_MALFORMED');
    expect(verifiedCrlsFrom(Buffer.from('-----BEGIN CERTIFICATE-----\n'), cas()).accepted).toEqual([]);
  });
});

describe('RevocationIndex', () => {
  const crl = (spec: Partial<CrlSpec>): VerifiedCrl => {
    const r = one(buildCrl(ecSpec(spec)));
    expect(r.codes).toEqual([]);
    return r.accepted[0]!;
  };

  it('an older CRL never replaces a newer one (CRL number, else thisUpdate)', () => {
    const leafA = fakeCert({ issuerDer: ec.cert.parsed.subjectDer, serialHex: 'AA' });
    const leafB = fakeCert({ issuerDer: ec.cert.parsed.subjectDer, serialHex: 'BB' });
    const n5 = crl({ entries: [{ serialHex: 'AA' }], extensions: [crlNumberExt(5)] });
    const n4 = crl({ entries: [{ serialHex: 'BB' }], extensions: [crlNumberExt(4)], thisUpdate: Date.now() });
    const first = RevocationIndex.build([n5]).index;
    const offered = first.withOffered([n4]);
    expect(offered.superseded).toEqual([n4]);
    expect(offered.index.check([leafA, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
    expect(offered.index.check([leafB, ec.cert.parsed], Date.now(), STRICT).ok).toBe(true);
    // The newer one does replace.
    const n6 = crl({ entries: [{ serialHex: 'BB' }], extensions: [crlNumberExt(6)] });
    const replaced = offered.index.withOffered([n6]).index;
    expect(replaced.check([leafA, ec.cert.parsed], Date.now(), STRICT).ok).toBe(true);
    expect(replaced.check([leafB, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
    // Without CRL numbers, thisUpdate decides.
    const old = crl({ entries: [{ serialHex: 'AA' }], extensions: [], thisUpdate: Date.now() - 7_200_000 });
    const recent = crl({ entries: [{ serialHex: 'BB' }], extensions: [], thisUpdate: Date.now() - 60_000 });
    const byTime = RevocationIndex.build([recent]).index.withOffered([old]).index;
    expect(byTime.check([leafA, ec.cert.parsed], Date.now(), STRICT).ok).toBe(true);
    expect(byTime.check([leafB, ec.cert.parsed], Date.now(), STRICT).ok).toBe(false);
  });

  it('a rejected CRL leaves the loaded good CRL in force', () => {
    const good = RevocationIndex.build([crl({ entries: [{ serialHex: 'AA' }] })]).index;
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const bad = verifiedCrlsFrom(
      buildCrl(ecSpec({ key: other, entries: [], extensions: [crlNumberExt(99)] })),
      cas(),
    );
    expect(bad.accepted).toEqual([]);
    const after = good.withOffered(bad.accepted).index;
    const leafA = fakeCert({ issuerDer: ec.cert.parsed.subjectDer, serialHex: 'AA' });
    expect(after.check([leafA, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
  });

  it('crl_missing only for the leaf issuer; expiry and grace', () => {
    const root = fakeCert({ issuerDer: name('Root'), subjectDer: name('Root'), isCa: true });
    // The leaf's issuer in the chain carries the key that signs the CRL (the CRL's scope).
    const inter = {
      ...fakeCert({ issuerDer: name('Root'), subjectDer: ec.cert.parsed.subjectDer, isCa: true }),
      subjectPublicKeyInfoDer: ec.cert.parsed.subjectPublicKeyInfoDer,
    };
    const leaf = fakeCert({ issuerDer: ec.cert.parsed.subjectDer });
    const chain = [leaf, inter, root];
    expect(RevocationIndex.EMPTY.check(chain, Date.now(), STRICT)).toMatchObject({ reason: 'crl_missing' });
    expect(RevocationIndex.EMPTY.check(chain, Date.now(), { graceSeconds: 0, crlRequired: false }).ok).toBe(
      true,
    );
    const loaded = crl({ entries: [], nextUpdate: Date.now() + 1000 });
    const next = loaded.nextUpdate!;
    const index = RevocationIndex.build([loaded]).index;
    expect(index.check(chain, next, STRICT).ok).toBe(true);
    expect(index.check(chain, next + 1, STRICT)).toMatchObject({ ok: false, reason: 'crl_expired' });
    expect(index.check(chain, next + 10_000, { graceSeconds: 10, crlRequired: true }).ok).toBe(true);
    expect(index.check(chain, next + 10_001, { graceSeconds: 10, crlRequired: true }).ok).toBe(false);
  });

  it('partitioned CRLs apply only to certificates of their distribution point', () => {
    const p1 = 'http://crl.example/p1.crl';
    const p2 = 'http://crl.example/p2.crl';
    const part = crl({ entries: [{ serialHex: 'C1' }], extensions: [crlNumberExt(1), idpExt([p1])] });
    expect(part.issuingDistributionPoint?.uris).toEqual([p1]);
    const index = RevocationIndex.build([part]).index;
    const issuerDer = ec.cert.parsed.subjectDer;
    const inP1 = fakeCert({ issuerDer, serialHex: 'C1', cdp: [p1] });
    const inP2 = fakeCert({ issuerDer, serialHex: 'C1', cdp: [p2] });
    const goodP1 = fakeCert({ issuerDer, serialHex: 'C2', cdp: [p1] });
    expect(index.check([inP1, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      ok: false,
      reason: 'revoked',
      serial: 'C1',
    });
    expect(index.check([goodP1, ec.cert.parsed], Date.now(), STRICT).ok).toBe(true);
    expect(index.check([inP2, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      ok: false,
      reason: 'crl_missing',
    });
    expect(index.check([inP2, ec.cert.parsed], Date.now(), { graceSeconds: 0, crlRequired: false }).ok).toBe(
      true,
    );
    // onlyContainsCACerts: does not cover leaves.
    const caOnly = crl({ entries: [{ serialHex: 'C1' }], extensions: [idpExt([], { ca: true })] });
    const caIndex = RevocationIndex.build([caOnly]).index;
    expect(caIndex.check([inP1, ec.cert.parsed], Date.now(), STRICT)).toMatchObject({
      reason: 'crl_missing',
    });
    expect(
      caIndex.check(
        [fakeCert({ issuerDer, serialHex: 'C1', isCa: true }), ec.cert.parsed],
        Date.now(),
        STRICT,
      ),
    ).toMatchObject({
      reason: 'revoked',
    });
    // Two partitions of one issuer coexist (different scope: neither replaces the other).
    const part2 = crl({ entries: [{ serialHex: 'D2' }], extensions: [crlNumberExt(9), idpExt([p2])] });
    const both = RevocationIndex.build([part, part2]).index;
    expect(both.crls).toHaveLength(2);
    expect(both.check([inP1, ec.cert.parsed], Date.now(), STRICT).ok).toBe(false);
    expect(
      both.check([fakeCert({ issuerDer, serialHex: 'D2', cdp: [p2] }), ec.cert.parsed], Date.now(), STRICT)
        .ok,
    ).toBe(false);
  });

  it('an intermediate revoked by its root CRL refuses the leaves under it, though no leaf is listed', () => {
    const dir = tempDir('crl-chain-');
    const inter = ec.intermediate(join(dir, 'inter'), '/O=Synth/CN=EC intermediate CA');
    const leaf = inter.leaf('chain-leaf');
    const chain = [leaf.parsed, inter.cert.parsed, ec.cert.parsed];
    const signedBy = (ca: OpensslCa, serials: string[]): VerifiedCrl => {
      const spec = ecSpec({
        issuerDer: ca.cert.parsed.subjectDer,
        key: ca.key,
        entries: serials.map((serialHex) => ({ serialHex })),
        extensions: [akiExt(ca.cert.parsed.subjectKeyId!), crlNumberExt(1)],
      });
      const r = verifiedCrlsFrom(buildCrl(spec), [ec.cert.x509, inter.cert.x509]);
      expect(r.rejected).toEqual([]);
      return r.accepted[0]!;
    };
    // The intermediate's own CRL is empty: the leaf itself is in good standing.
    const interCrl = signedBy(inter, []);
    const clean = RevocationIndex.build([signedBy(ec, []), interCrl]).index;
    expect(clean.check(chain, Date.now(), STRICT)).toEqual({ ok: true });
    const serial = inter.cert.parsed.serialHex;
    const revoked = RevocationIndex.build([signedBy(ec, [serial]), interCrl]).index;
    expect(revoked.check(chain, Date.now(), STRICT)).toEqual({
      ok: false,
      reason: 'revoked',
      serial,
      issuer: 'CN=EC CA,O=Synth',
    });
  });

  it('summarises each CRL for /trust and metrics', () => {
    const c = crl({ extensions: [crlNumberExt(12345678901234567890n)] });
    const [s] = RevocationIndex.build([c]).index.summary();
    expect(s).toEqual({
      issuer: 'CN=EC CA,O=Synth',
      thisUpdate: c.thisUpdate,
      nextUpdate: c.nextUpdate,
      entries: 1,
      crlNumber: '12345678901234567890',
      distributionPoints: [],
      signedBy: 'CN=EC CA,O=Synth',
    });
    const index = RevocationIndex.build([c]).index;
    expect(index.refreshDue(c.thisUpdate)).toEqual([]);
    expect(index.refreshDue(c.nextUpdate! - 1000)).toEqual([c]);
  });
});

describe('RevocationIndex: scope per CA key and CRL dates (issue 13)', () => {
  let twin: OpensslCa;
  beforeAll(() => {
    // Same name as `ec`, another key.
    twin = OpensslCa.root(join(tempDir('crl-twin-'), 'twin'), '/O=Synth/CN=EC CA', 'ec');
  });
  const both = () => [ec.cert.x509, twin.cert.x509];
  const signedBy = (ca: OpensslCa, spec: Partial<CrlSpec>): VerifiedCrl => {
    const r = verifiedCrlsFrom(
      buildCrl(ecSpec({ key: ca.key, extensions: [akiExt(ca.cert.parsed.subjectKeyId!)], ...spec })),
      both(),
    );
    expect(r.rejected).toEqual([]);
    return r.accepted[0]!;
  };
  const crl = (spec: Partial<CrlSpec>): VerifiedCrl => signedBy(ec, spec);

  it('two same-name CAs keep their CRLs apart: numbers never compete across keys, serials never leak', () => {
    const a = signedBy(ec, {
      entries: [{ serialHex: 'AA' }],
      extensions: [akiExt(ec.cert.parsed.subjectKeyId!), crlNumberExt(90)],
    });
    const b = signedBy(twin, {
      entries: [{ serialHex: 'BB' }],
      extensions: [akiExt(twin.cert.parsed.subjectKeyId!), crlNumberExt(1)],
    });
    expect(a.signedBy.keySha256).not.toBe(b.signedBy.keySha256);
    const built = RevocationIndex.build([a, b]);
    expect(built.superseded).toEqual([]);
    const index = built.index;
    const of = (ca: OpensslCa, serialHex: string) => [
      fakeCert({ issuerDer: ca.cert.parsed.subjectDer, serialHex }),
      ca.cert.parsed,
    ];
    expect(index.check(of(ec, 'AA'), Date.now(), STRICT)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(index.check(of(twin, 'BB'), Date.now(), STRICT)).toMatchObject({ ok: false, reason: 'revoked' });
    // The same serial under the other key is not revoked.
    expect(index.check(of(twin, 'AA'), Date.now(), STRICT).ok).toBe(true);
    expect(index.check(of(ec, 'BB'), Date.now(), STRICT).ok).toBe(true);
    // Within one key the newer still wins.
    const b2 = signedBy(twin, {
      entries: [],
      extensions: [akiExt(twin.cert.parsed.subjectKeyId!), crlNumberExt(2)],
    });
    const next = index.withOffered([b2]);
    expect(next.superseded).toEqual([b]);
    expect(next.index.check(of(twin, 'BB'), Date.now(), STRICT).ok).toBe(true);
    expect(next.index.check(of(ec, 'AA'), Date.now(), STRICT).ok).toBe(false);
  });

  it('a CRL without nextUpdate applies and never expires', () => {
    const c = crl({ entries: [{ serialHex: 'AA' }], nextUpdate: null });
    expect(c.nextUpdate).toBeUndefined();
    const index = RevocationIndex.build([c]).index;
    const leaf = (serialHex: string) => [
      fakeCert({ issuerDer: ec.cert.parsed.subjectDer, serialHex }),
      ec.cert.parsed,
    ];
    const farFuture = Date.now() + 10 * 365 * 86_400_000;
    expect(index.check(leaf('AA'), farFuture, STRICT)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(index.check(leaf('AB'), farFuture, STRICT).ok).toBe(true);
    expect(index.refreshDue(farFuture)).toEqual([]);
  });

  it('a thisUpdate up to 5 minutes ahead is accepted; further ahead the CRL is left out and the previous stays', () => {
    const now = Date.now();
    const current = crl({
      entries: [{ serialHex: 'AA' }],
      extensions: [crlNumberExt(1)],
      thisUpdate: now - 60_000,
    });
    const early = crl({
      entries: [],
      extensions: [crlNumberExt(2)],
      thisUpdate: now + 3_600_000,
      nextUpdate: now + 7_200_000,
    });
    const skewed = crl({
      entries: [],
      extensions: [crlNumberExt(3)],
      thisUpdate: now + 240_000,
      nextUpdate: now + 7_200_000,
    });
    const index = RevocationIndex.build([current], now).index;
    const leaf = [fakeCert({ issuerDer: ec.cert.parsed.subjectDer, serialHex: 'AA' }), ec.cert.parsed];
    const held = index.withOffered([early], now);
    expect(held.notYetValid).toEqual([early]);
    expect(held.index.crls).toEqual([current]);
    expect(held.index.check(leaf, now, STRICT)).toMatchObject({ ok: false, reason: 'revoked' });
    // The same CRL once its time has come.
    expect(index.withOffered([early], now + 3_600_000).index.crls).toEqual([early]);
    const within = index.withOffered([skewed], now);
    expect(within.notYetValid).toEqual([]);
    expect(within.index.check(leaf, now, STRICT).ok).toBe(true);
  });

  it('`crl check` names a thisUpdate beyond the skew', () => {
    const now = Date.now();
    const der = buildCrl(ecSpec({ thisUpdate: now + 3_600_000, nextUpdate: now + 7_200_000 }));
    const report = checkCrl({
      source: 'x',
      bytes: der,
      bundlePem: ec.cert.x509.toString(),
      serials: [],
      now,
      graceSeconds: 0,
    });
    expect(report.crls[0]!.findings.map((f) => f.code)).toContain('crl_not_yet_valid');
    const ok = checkCrl({
      source: 'x',
      bytes: buildCrl(ecSpec()),
      bundlePem: ec.cert.x509.toString(),
      serials: [],
      now,
      graceSeconds: 0,
    });
    expect(ok.crls[0]!.findings.map((f) => f.code)).not.toContain('crl_not_yet_valid');
  });
});
