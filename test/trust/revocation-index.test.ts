/**
 * RevocationIndex rules on synthetic, already-verified CRLs (no signatures, no openssl: the index
 * trusts what verify-crl.ts hands it). Each test pins one exact decision of the index: which CRLs
 * compete, which apply to a certificate (keys, flags, distribution points, cRLIssuer), when a CRL
 * is not yet valid or due for refresh, and the verdict's reason, serial and issuer.
 */
import { describe, expect, it } from 'vitest';
import type { ParsedCertificate } from '../../src/asn1/certificate.js';
import { type IssuingDistributionPoint, RevokedSet } from '../../src/trust/crl/parse-crl.js';
import type { VerifiedCrl } from '../../src/trust/crl/verify-crl.js';
import {
  CRL_CLOCK_SKEW_MS,
  isNewerCrl,
  isNotYetValid,
  RevocationIndex,
  sameCrlScope,
  spkiSha256,
} from '../../src/trust/revocation-index.js';
import { cdpValue, name, seq, tlv } from './crl-builder.js';

const T0 = Date.UTC(2026, 0, 1);
const STRICT = { graceSeconds: 0, crlRequired: true };
const LAX = { graceSeconds: 0, crlRequired: false };

function revokedSet(serials: string[]): RevokedSet {
  const bytes = serials.map((s) => Buffer.from(s, 'hex'));
  const offsets = new Uint32Array(serials.length + 1);
  for (let i = 0; i < bytes.length; i++) offsets[i + 1] = offsets[i]! + bytes[i]!.length;
  return RevokedSet.build(
    new Uint8Array(Buffer.concat(bytes)),
    offsets,
    new Float64Array(serials.length).fill(T0),
    new Int8Array(serials.length).fill(-1),
  );
}

interface Ca {
  readonly cert: ParsedCertificate;
  readonly keySha256: string;
}

function cert(opts: {
  serialHex: string;
  issuerDer: Uint8Array;
  subjectDer?: Uint8Array;
  spki?: string;
  isCa?: boolean;
  cdp?: Uint8Array;
}): ParsedCertificate {
  return {
    serialHex: opts.serialHex,
    issuerDer: opts.issuerDer,
    subjectDer: opts.subjectDer ?? name(`leaf ${opts.serialHex}`),
    notBefore: 0,
    notAfter: T0 + 86_400_000,
    subjectPublicKeyInfoDer: Buffer.from(opts.spki ?? `leaf-key-${opts.serialHex}`),
    san: { dns: [], uri: [], email: [], ip: [] },
    extKeyUsage: undefined,
    isCa: opts.isCa ?? false,
    pathLength: undefined,
    keyUsage: undefined,
    signatureAlgorithmOid: '1.2.840.10045.4.3.2',
    authorityKeyId: undefined,
    subjectKeyId: undefined,
    crlDistributionPointsDer: opts.cdp,
  };
}

function ca(cn: string, key: string, serialHex = '01'): Ca {
  const c = cert({ serialHex, issuerDer: name(cn), subjectDer: name(cn), spki: key, isCa: true });
  return { cert: c, keySha256: spkiSha256(c.subjectPublicKeyInfoDer) };
}

function crl(
  by: Ca,
  opts: {
    serials?: string[];
    thisUpdate?: number;
    nextUpdate?: number | undefined;
    crlNumber?: bigint | undefined;
    idp?: Partial<IssuingDistributionPoint>;
  } = {},
): VerifiedCrl {
  return {
    version: 2,
    issuerDer: by.cert.subjectDer,
    issuer: 'CN=x',
    thisUpdate: opts.thisUpdate ?? T0,
    nextUpdate: 'nextUpdate' in opts ? opts.nextUpdate : T0 + 3_600_000,
    crlNumber: opts.crlNumber,
    authorityKeyId: undefined,
    issuingDistributionPoint: opts.idp
      ? { uris: [], names: [], onlyContainsUserCerts: false, onlyContainsCACerts: false, ...opts.idp }
      : undefined,
    revoked: revokedSet(opts.serials ?? []),
    signedBy: {
      subject: `signer ${by.keySha256.slice(0, 4)}`,
      fingerprint256: 'ff',
      keySha256: by.keySha256,
    },
  };
}

const leafOf = (by: Ca, serialHex: string, extra: { cdp?: Uint8Array; isCa?: boolean } = {}) =>
  cert({ serialHex, issuerDer: by.cert.subjectDer, ...extra });

/** One DistributionPoint: optional fullName URIs, reasons bits, cRLIssuer directoryNames / URIs. */
function dp(opts: {
  uris?: string[];
  reasons?: boolean;
  crlIssuerDns?: Uint8Array[];
  crlIssuerUris?: string[];
}) {
  const parts: Uint8Array[] = [];
  if (opts.uris)
    parts.push(tlv(0xa0, tlv(0xa0, ...opts.uris.map((u) => tlv(0x86, Buffer.from(u, 'latin1'))))));
  if (opts.reasons) parts.push(Buffer.from([0x81, 0x02, 0x06, 0x40]));
  if (opts.crlIssuerDns || opts.crlIssuerUris) {
    parts.push(
      tlv(
        0xa2,
        ...(opts.crlIssuerUris ?? []).map((u) => tlv(0x86, Buffer.from(u, 'latin1'))),
        ...(opts.crlIssuerDns ?? []).map((n) => tlv(0xa4, n)),
      ),
    );
  }
  return seq(...parts);
}

const A = ca('CA A', 'key-a');
const B = ca('CA B', 'key-b');

describe('CRL dates and competition', () => {
  it('a thisUpdate exactly at the skew limit is valid, one ms beyond is not', () => {
    expect(CRL_CLOCK_SKEW_MS).toBe(300_000);
    expect(isNotYetValid(crl(A, { thisUpdate: T0 + CRL_CLOCK_SKEW_MS }), T0)).toBe(false);
    expect(isNotYetValid(crl(A, { thisUpdate: T0 + CRL_CLOCK_SKEW_MS + 1 }), T0)).toBe(true);
  });

  it('isNewerCrl: CRL numbers when both have one and they differ, else thisUpdate', () => {
    const mk = (crlNumber: bigint | undefined, thisUpdate: number) => crl(A, { crlNumber, thisUpdate });
    expect(isNewerCrl(mk(6n, T0), mk(5n, T0 + 1000))).toBe(true);
    expect(isNewerCrl(mk(5n, T0 + 1000), mk(6n, T0))).toBe(false);
    // One side without a number: thisUpdate decides.
    expect(isNewerCrl(mk(undefined, T0 + 1000), mk(5n, T0))).toBe(true);
    expect(isNewerCrl(mk(5n, T0 + 1000), mk(undefined, T0))).toBe(true);
    expect(isNewerCrl(mk(5n, T0), mk(undefined, T0 + 1000))).toBe(false);
    // Equal numbers: thisUpdate decides; equal everything: not newer.
    expect(isNewerCrl(mk(5n, T0 + 1000), mk(5n, T0))).toBe(true);
    expect(isNewerCrl(mk(5n, T0), mk(5n, T0))).toBe(false);
    expect(isNewerCrl(mk(undefined, T0), mk(undefined, T0))).toBe(false);
  });

  it('sameCrlScope: key, issuer and IDP names in any order and flags', () => {
    const ab = crl(A, { idp: { names: ['uri:b', 'uri:a'] } });
    expect(sameCrlScope(ab, crl(A, { idp: { names: ['uri:a', 'uri:b'] } }))).toBe(true);
    expect(sameCrlScope(crl(A), crl(A, { crlNumber: 9n }))).toBe(true);
    expect(sameCrlScope(crl(A), crl(B))).toBe(false);
    expect(sameCrlScope(crl(A), ab)).toBe(false);
    expect(sameCrlScope(crl(A), crl(A, { idp: { onlyContainsUserCerts: true } }))).toBe(false);
    // build: the same partition named in another order competes (the newer replaces the older).
    const older = crl(A, { idp: { names: ['uri:a', 'uri:b'] }, crlNumber: 1n });
    const newer = crl(A, { idp: { names: ['uri:b', 'uri:a'] }, crlNumber: 2n });
    const built = RevocationIndex.build([older, newer], T0);
    expect(built.index.crls).toEqual([newer]);
    expect(built.superseded).toEqual([older]);
  });

  it('build: the skew limit, and a tie keeps the first', () => {
    const atLimit = crl(A, { thisUpdate: T0 + CRL_CLOCK_SKEW_MS, crlNumber: 2n });
    const beyond = crl(B, { thisUpdate: T0 + CRL_CLOCK_SKEW_MS + 1 });
    const built = RevocationIndex.build([atLimit, beyond], T0);
    expect(built.index.crls).toEqual([atLimit]);
    expect(built.notYetValid).toEqual([beyond]);
    const first = crl(A, { crlNumber: 3n });
    const twin = crl(A, { crlNumber: 3n });
    const tie = RevocationIndex.build([first, twin], T0);
    expect(tie.index.crls[0]).toBe(first);
    expect(tie.superseded[0]).toBe(twin);
  });
});

describe('which CRLs apply', () => {
  it('every CRL of one key applies, whatever its scope', () => {
    const full = crl(A, { serials: ['AA'] });
    const usersOnly = crl(A, { serials: ['BB'], idp: { onlyContainsUserCerts: true } });
    const p1 = crl(A, { serials: ['CC'], idp: { names: ['uri:http://a/1'] } });
    const p2 = crl(A, { serials: ['DD'], idp: { names: ['uri:http://a/1', 'uri:http://a/2'] } });
    const index = RevocationIndex.build([full, usersOnly, p1, p2], T0).index;
    const cdp = cdpValue(['http://a/1']);
    for (const serial of ['AA', 'BB', 'CC', 'DD']) {
      expect(index.check([leafOf(A, serial, { cdp }), A.cert], T0, STRICT), serial).toEqual({
        ok: false,
        reason: 'revoked',
        serial,
        issuer: 'CN=CA A',
      });
    }
    expect(index.check([leafOf(A, 'EE', { cdp }), A.cert], T0, STRICT)).toEqual({ ok: true });
  });

  it('onlyContainsUserCerts skips CA certificates, onlyContainsCACerts skips leaves', () => {
    const users = crl(A, { serials: ['AA'], idp: { onlyContainsUserCerts: true } });
    const cas = crl(A, { serials: ['BB'], idp: { onlyContainsCACerts: true } });
    const index = RevocationIndex.build([users, cas], T0).index;
    expect(index.check([leafOf(A, 'AA', { isCa: true }), A.cert], T0, LAX)).toEqual({ ok: true });
    expect(index.check([leafOf(A, 'AA'), A.cert], T0, LAX)).toMatchObject({ reason: 'revoked' });
    expect(index.check([leafOf(A, 'BB'), A.cert], T0, LAX)).toEqual({ ok: true });
    expect(index.check([leafOf(A, 'BB', { isCa: true }), A.cert], T0, LAX)).toMatchObject({
      reason: 'revoked',
    });
  });

  it('a partitioned CRL does not apply to a certificate without CRLDistributionPoints', () => {
    const index = RevocationIndex.build(
      [crl(A, { serials: ['AA'], idp: { names: ['uri:http://a/1'] } })],
      T0,
    ).index;
    const leaf = leafOf(A, 'AA');
    expect(index.covers(leaf, A.cert)).toBe(false);
    expect(index.check([leaf, A.cert], T0, LAX)).toEqual({ ok: true });
    expect(index.check([leaf, A.cert], T0, STRICT)).toMatchObject({ reason: 'crl_missing', serial: 'AA' });
  });

  it('an unreadable CRLDistributionPoints gets every partitioned CRL of the key', () => {
    const p = crl(A, { serials: ['AA'], idp: { names: ['uri:http://a/1'] } });
    const index = RevocationIndex.build([p], T0).index;
    const garbage = leafOf(A, 'AA', { cdp: Buffer.from([0x30, 0x05, 0x01]) });
    expect(index.check([garbage, A.cert], T0, LAX)).toMatchObject({ reason: 'revoked', serial: 'AA' });
    // nameRelativeToCRLIssuer ([1]) is a form we do not resolve: unreadable too.
    const relative = leafOf(A, 'AA', { cdp: seq(seq(tlv(0xa0, tlv(0xa1, Buffer.alloc(0))))) });
    expect(index.check([relative, A.cert], T0, LAX)).toMatchObject({ reason: 'revoked' });
    // A key with only full CRLs: an unreadable extension changes nothing.
    const fullOnly = RevocationIndex.build([crl(A, { serials: ['BB'] })], T0).index;
    expect(fullOnly.check([garbage, A.cert], T0, LAX)).toEqual({ ok: true });
    expect(fullOnly.covers(garbage, A.cert)).toBe(true);
  });

  it('a distribution point with reasons is read; its name selects only its own partition', () => {
    const p1 = crl(A, { serials: ['AA'], idp: { names: ['uri:http://a/1'] } });
    const p2 = crl(A, { serials: ['AA'], idp: { names: ['uri:http://a/2'] } });
    const index = RevocationIndex.build([p2], T0).index;
    const leaf = leafOf(A, 'AA', { cdp: seq(dp({ uris: ['http://a/1'], reasons: true })) });
    expect(index.check([leaf, A.cert], T0, LAX)).toEqual({ ok: true });
    expect(RevocationIndex.build([p1], T0).index.check([leaf, A.cert], T0, LAX)).toMatchObject({
      reason: 'revoked',
    });
  });

  it('cRLIssuer: a point naming another issuer selects nothing, one naming the CRL issuer selects', () => {
    const p = crl(A, { serials: ['AA'], idp: { names: ['uri:http://a/1'] } });
    const index = RevocationIndex.build([p], T0).index;
    const check = (point: Uint8Array) => index.check([leafOf(A, 'AA', { cdp: seq(point) }), A.cert], T0, LAX);
    // With a name.
    expect(check(dp({ uris: ['http://a/1'], crlIssuerDns: [name('Other CA')] }))).toEqual({ ok: true });
    expect(check(dp({ uris: ['http://a/1'], crlIssuerDns: [name('CA A')] }))).toMatchObject({
      reason: 'revoked',
    });
    expect(
      check(dp({ uris: ['http://a/1'], crlIssuerUris: ['http://x'], crlIssuerDns: [name('CA A')] })),
    ).toMatchObject({ reason: 'revoked' });
    // Without a name: every partition whose issuer the cRLIssuer names.
    expect(check(dp({ crlIssuerDns: [name('Other CA')] }))).toEqual({ ok: true });
    expect(check(dp({ crlIssuerUris: ['http://x'] }))).toEqual({ ok: true });
    expect(check(dp({ crlIssuerDns: [name('CA A')] }))).toMatchObject({ reason: 'revoked' });
    expect(check(dp({ crlIssuerDns: [name('CA A')] }))).toMatchObject({ reason: 'revoked' });
    // Neither name nor cRLIssuer: every partition.
    expect(check(dp({}))).toMatchObject({ reason: 'revoked' });
  });

  it('covers and hasCrlSignedBy', () => {
    const index = RevocationIndex.build([crl(A)], T0).index;
    expect(index.covers(leafOf(A, 'AA'), A.cert)).toBe(true);
    expect(index.covers(leafOf(A, 'AA'), undefined)).toBe(false);
    expect(index.covers(leafOf(B, 'AA'), B.cert)).toBe(false);
    expect(index.hasCrlSignedBy(A.cert)).toBe(true);
    expect(index.hasCrlSignedBy(B.cert)).toBe(false);
  });
});

describe('check', () => {
  it('the self-issued anchor is checked against its own CRL; a last non-self-issued element is not', () => {
    const rootCrl = crl(A, { serials: ['01'] });
    const index = RevocationIndex.build([rootCrl], T0).index;
    expect(index.check([A.cert], T0, LAX)).toEqual({
      ok: false,
      reason: 'revoked',
      serial: '01',
      issuer: 'CN=CA A',
    });
    expect(index.check([leafOf(A, 'AA'), A.cert], T0, LAX)).toEqual({
      ok: false,
      reason: 'revoked',
      serial: '01',
      issuer: 'CN=CA A',
    });
    // A chain ending in an element that is not self-issued: no issuer, so no CRL and no error.
    expect(index.check([leafOf(A, 'AA')], T0, LAX)).toEqual({ ok: true });
    expect(index.check([leafOf(A, '01')], T0, LAX)).toEqual({ ok: true });
  });

  it('a key with an unusable CRL refuses the certificates no usable CRL of it covers, only those', () => {
    const mark = {
      issuer: 'CN=CA A',
      code: 'CRL_UNSUPPORTED' as const,
      reason: 'x',
      signedBy: crl(A).signedBy,
    };
    const index = RevocationIndex.build([], T0, [mark]).index;
    expect(index.check([leafOf(A, 'AA'), A.cert], T0, LAX)).toEqual({
      ok: false,
      reason: 'crl_missing',
      serial: 'AA',
      issuer: 'CN=CA A',
    });
    expect(index.check([leafOf(B, 'AA'), B.cert], T0, LAX)).toEqual({ ok: true });
    expect(index.check([leafOf(A, 'AA')], T0, LAX)).toEqual({ ok: true });
    // A usable CRL of the key keeps deciding.
    const both = RevocationIndex.build([crl(A, { serials: ['BB'] })], T0, [mark]).index;
    expect(both.check([leafOf(A, 'AA'), A.cert], T0, LAX)).toEqual({ ok: true });
  });

  it('a CRL without nextUpdate never expires; the refused issuer is empty when undecodable', () => {
    const index = RevocationIndex.build([crl(A, { nextUpdate: undefined })], T0).index;
    expect(index.check([leafOf(A, 'AA'), A.cert], T0 + 1e12, STRICT)).toEqual({ ok: true });
    const odd = cert({ serialHex: 'AB', issuerDer: Buffer.from([0x30, 0x03, 0x31, 0x01, 0x00]) });
    expect(RevocationIndex.EMPTY.check([odd], T0, STRICT)).toEqual({
      ok: false,
      reason: 'crl_missing',
      serial: 'AB',
      issuer: '',
    });
  });

  it('without drops the CRLs and the unusable marks the predicate selects', () => {
    const markA = {
      issuer: 'CN=CA A',
      code: 'CRL_UNSUPPORTED' as const,
      reason: 'x',
      signedBy: crl(A).signedBy,
    };
    const markB = { ...markA, signedBy: crl(B).signedBy };
    const a = crl(A);
    const b = crl(B);
    const index = RevocationIndex.build([a, b], T0, [markA, markB]).index;
    const kept = index.without((c) => c.signedBy.keySha256 === A.keySha256);
    expect(kept.crls).toEqual([b]);
    expect(kept.unusable).toEqual([markB]);
    expect(kept.check([leafOf(A, 'AA'), A.cert], T0, LAX)).toEqual({ ok: true });
  });
});

describe('summary and refresh', () => {
  it('summary of a CRL without a CRL number or IDP', () => {
    const c = crl(A, { serials: ['AA', 'BB'], nextUpdate: undefined });
    expect(RevocationIndex.build([c], T0).index.summary()).toEqual([
      {
        issuer: 'CN=x',
        thisUpdate: T0,
        nextUpdate: undefined,
        entries: 2,
        crlNumber: undefined,
        distributionPoints: [],
        signedBy: c.signedBy.subject,
      },
    ]);
  });

  it('refreshDue from exactly the last quarter of the window', () => {
    const c = crl(A, { thisUpdate: T0, nextUpdate: T0 + 1000 });
    const none = crl(B, { nextUpdate: undefined });
    const index = RevocationIndex.build([c, none], T0).index;
    expect(index.refreshDue(T0 + 749)).toEqual([]);
    expect(index.refreshDue(T0 + 750)).toEqual([c]);
    expect(index.refreshDue(T0 + 1e12)).toEqual([c]);
  });
});

describe('caches', () => {
  it('a certificate reused across checks is parsed and hashed once; a full-only key never reads its CDP', () => {
    const reads = { subject: 0, spki: 0, cdp: 0 };
    const counted = (c: ParsedCertificate): ParsedCertificate =>
      Object.defineProperties(
        { ...c },
        {
          subjectDer: {
            get: () => {
              reads.subject++;
              return c.subjectDer;
            },
          },
          subjectPublicKeyInfoDer: {
            get: () => {
              reads.spki++;
              return c.subjectPublicKeyInfoDer;
            },
          },
          crlDistributionPointsDer: {
            get: () => {
              reads.cdp++;
              return c.crlDistributionPointsDer;
            },
          },
        },
      );
    const root = counted(ca('Root R', 'key-r').cert);
    const rootCa: Ca = { cert: root, keySha256: spkiSha256(Buffer.from('key-r')) };
    const leaf = counted(leafOf(rootCa, 'AA', { cdp: seq(dp({ crlIssuerDns: [name('Root R')] })) }));
    const full = RevocationIndex.build([crl(rootCa)], T0).index;
    Object.assign(reads, { subject: 0, spki: 0, cdp: 0 });
    expect(full.check([leaf, root], T0, STRICT)).toEqual({ ok: true });
    expect(full.check([leaf, root], T0, STRICT)).toEqual({ ok: true });
    expect(reads).toEqual({ subject: 2, spki: 1, cdp: 0 });
    const p = crl(rootCa, { serials: ['BB'], idp: { names: ['uri:http://r/1'] } });
    let issuerReads = 0;
    const countedCrl = Object.defineProperty({ ...p }, 'issuerDer', {
      get: () => {
        issuerReads++;
        return p.issuerDer;
      },
    }) as VerifiedCrl;
    const part = RevocationIndex.build([countedCrl], T0).index;
    const afterBuild = issuerReads;
    expect(part.check([leaf, root], T0, LAX)).toEqual({ ok: true });
    expect(part.check([leaf, root], T0, LAX)).toEqual({ ok: true });
    // Leaf and root (its own issuer) each read their CRLDistributionPoints once.
    expect(reads.cdp).toBe(2);
    expect(issuerReads - afterBuild).toBe(1);
  });
});
