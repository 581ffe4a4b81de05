/**
 * The CRL parser's rules, one by one, on CRLs built byte by byte in memory (crl-builder.ts). No
 * signatures: parseCrl only reads (verify-crl.ts checks the signature), so each CRL carries dummy
 * signature bits. Every malformed shape pins the exact CrlError code and message; every accepted
 * one the exact field values; the RevokedSet its lookups, probing and plain-data round trip.
 */
import { describe, expect, it } from 'vitest';
import {
  CrlError,
  type CrlErrorCode,
  type ParsedCrl,
  parseCrl,
  parseCrlEnvelope,
  RevokedSet,
  splitDer,
} from '../../src/trust/crl/parse-crl.js';
import {
  bool,
  enumerated,
  extension,
  int,
  name,
  nul,
  octet,
  oid,
  seq,
  set,
  time,
  tlv,
} from './crl-builder.js';

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const RSA_SHA256 = seq(oid('1.2.840.113549.1.1.11'), nul());
const SIG_BITS = Buffer.from('c0ffee', 'hex');
const SIGNATURE = tlv(0x03, Buffer.from([0]), SIG_BITS);
const ISSUER = name('Parse CA', 'Parse Org');
const T_THIS = Date.UTC(2026, 0, 2, 3, 4, 5);
const T_NEXT = Date.UTC(2026, 0, 9, 3, 4, 5);
const T_REVOKED = Date.UTC(2025, 11, 31, 23, 59, 58);

const OID_CRL_NUMBER = '2.5.29.20';
const OID_AKI = '2.5.29.35';
const OID_IDP = '2.5.29.28';
const OID_REASON = '2.5.29.21';
const UNKNOWN = '1.3.6.1.4.1.99999.7';

interface TbsParts {
  /** undefined: the v2 version INTEGER; null: none (v1). */
  readonly version?: Uint8Array | null;
  readonly algorithm?: Uint8Array;
  readonly issuer?: Uint8Array;
  /** null: omit thisUpdate. */
  readonly thisUpdate?: Uint8Array | null;
  /** null: omit nextUpdate. */
  readonly nextUpdate?: Uint8Array | null;
  /** The whole revokedCertificates element, if any. */
  readonly revoked?: Uint8Array;
  /** The whole [0] crlExtensions element, if any. */
  readonly extensions?: Uint8Array;
  /** Elements after everything else. */
  readonly tail?: readonly Uint8Array[];
}

function tbsDer(p: TbsParts = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  if (p.version !== null) parts.push(p.version ?? int('01'));
  parts.push(p.algorithm ?? ECDSA_SHA256, p.issuer ?? ISSUER);
  if (p.thisUpdate !== null) parts.push(p.thisUpdate ?? time(T_THIS));
  if (p.nextUpdate !== null) parts.push(p.nextUpdate ?? time(T_NEXT));
  if (p.revoked) parts.push(p.revoked);
  if (p.extensions) parts.push(p.extensions);
  parts.push(...(p.tail ?? []));
  return seq(...parts);
}

/** A whole CertificateList around a TBS built from `p`. */
function crl(p: TbsParts = {}, outer: { algorithm?: Uint8Array; signature?: Uint8Array } = {}): Uint8Array {
  return seq(tbsDer(p), outer.algorithm ?? p.algorithm ?? ECDSA_SHA256, outer.signature ?? SIGNATURE);
}

/** crlExtensions [0] around these Extension elements. */
const exts = (...e: Uint8Array[]): Uint8Array => tlv(0xa0, seq(...e));
/** revokedCertificates around these entries. */
const revoked = (...e: Uint8Array[]): Uint8Array => seq(...e);
/** One revoked entry: serial INTEGER content (hex, as is), date, optional crlEntryExtensions. */
function entry(serialContentHex: string, opts: { date?: Uint8Array; exts?: Uint8Array[] } = {}): Uint8Array {
  return seq(
    tlv(0x02, Buffer.from(serialContentHex, 'hex')),
    opts.date ?? time(T_REVOKED),
    ...(opts.exts ? [seq(...opts.exts)] : []),
  );
}
const reason = (r: number): Uint8Array => extension(OID_REASON, false, enumerated(r));

function refusal(
  der: Uint8Array,
  parse: (d: Uint8Array) => unknown = parseCrl,
): { code: CrlErrorCode; message: string } {
  try {
    parse(der);
  } catch (err) {
    expect(err).toBeInstanceOf(CrlError);
    const e = err as CrlError;
    expect(e.name).toBe('CrlError');
    return { code: e.code, message: e.message };
  }
  throw new Error('parsed, expected a CrlError');
}
const malformed = (message: string) => ({ code: 'CRL_MALFORMED', message });
const unsupported = (message: string) => ({ code: 'CRL_UNSUPPORTED', message });

/** The entries of a parsed CRL as plain rows. */
function rows(c: ParsedCrl): { serial: string; date: number; reason: number | undefined }[] {
  const out = [];
  for (let i = 0; i < c.revoked.count; i++) {
    out.push({
      serial: c.revoked.serialAt(i),
      date: c.revoked.revocationDateAt(i),
      reason: c.revoked.reasonAt(i),
    });
  }
  return out;
}

/** Offset of `needle` in `hay` (the test's own bytes, so offsets in messages can be named). */
function offsetOf(hay: Uint8Array, needle: Uint8Array): number {
  const at = Buffer.from(hay).indexOf(Buffer.from(needle));
  expect(at).toBeGreaterThanOrEqual(0);
  return at;
}

describe('parseCrl: the fields of a well-formed CRL', () => {
  it('reads version, issuer, dates, algorithm, signature and the TBS bytes', () => {
    const tbs = tbsDer();
    const der = seq(tbs, ECDSA_SHA256, SIGNATURE);
    const c = parseCrl(der);
    expect(c.version).toBe(2);
    expect(Buffer.from(c.issuerDer)).toEqual(Buffer.from(ISSUER));
    expect(c.issuer).toBe('CN=Parse CA,O=Parse Org');
    expect(c.thisUpdate).toBe(T_THIS);
    expect(c.nextUpdate).toBe(T_NEXT);
    expect(c.signatureAlgorithmOid).toBe('1.2.840.10045.4.3.2');
    expect(c.signatureAlgorithmParams).toBeUndefined();
    expect(Buffer.from(c.signature)).toEqual(SIG_BITS);
    expect(Buffer.from(c.tbsDer)).toEqual(Buffer.from(tbs));
    expect(c.crlNumber).toBeUndefined();
    expect(c.authorityKeyId).toBeUndefined();
    expect(c.issuingDistributionPoint).toBeUndefined();
    expect(c.revoked.count).toBe(0);
    expect(c.revoked.data.table.length).toBe(8);
    expect(c.revoked.has('00')).toBe(false);
  });

  it('keeps the AlgorithmIdentifier parameters element whole', () => {
    const c = parseCrl(crl({ algorithm: RSA_SHA256 }));
    expect(c.signatureAlgorithmOid).toBe('1.2.840.113549.1.1.11');
    expect(Buffer.from(c.signatureAlgorithmParams!)).toEqual(Buffer.from([0x05, 0x00]));
  });

  it('reads a v1 CRL (no version) with entries and no nextUpdate', () => {
    const c = parseCrl(crl({ version: null, nextUpdate: null, revoked: revoked(entry('0A1B')) }));
    expect(c.version).toBe(1);
    expect(c.nextUpdate).toBeUndefined();
    expect(rows(c)).toEqual([{ serial: '0A1B', date: T_REVOKED, reason: undefined }]);
  });

  it('reads GeneralizedTime thisUpdate and nextUpdate (years from 2050)', () => {
    const t1 = Date.UTC(2051, 1, 3, 4, 5, 6);
    const t2 = Date.UTC(2052, 2, 4, 5, 6, 7);
    const c = parseCrl(crl({ thisUpdate: time(t1), nextUpdate: time(t2) }));
    expect([c.thisUpdate, c.nextUpdate]).toEqual([t1, t2]);
  });

  it('reads a GeneralizedTime nextUpdate after a UTCTime thisUpdate, then the entries', () => {
    const t2 = Date.UTC(2050, 0, 1);
    const c = parseCrl(crl({ nextUpdate: time(t2), revoked: revoked(entry('05')) }));
    expect(c.nextUpdate).toBe(t2);
    expect(c.revoked.has('05')).toBe(true);
  });

  it('reads entries right after thisUpdate when there is no nextUpdate', () => {
    const c = parseCrl(crl({ nextUpdate: null, revoked: revoked(entry('07')) }));
    expect(c.nextUpdate).toBeUndefined();
    expect(rows(c)).toEqual([{ serial: '07', date: T_REVOKED, reason: undefined }]);
  });

  it('reads extensions right after nextUpdate when there are no entries', () => {
    const c = parseCrl(crl({ extensions: exts(extension(OID_CRL_NUMBER, false, int('2A'))) }));
    expect(c.crlNumber).toBe(42n);
    expect(c.revoked.count).toBe(0);
  });

  it('reads an empty revokedCertificates SEQUENCE as no entries', () => {
    const c = parseCrl(crl({ revoked: revoked() }));
    expect(c.revoked.count).toBe(0);
    expect(Array.from(c.revoked.data.offsets)).toEqual([0]);
  });
});

describe('parseCrl: the envelope', () => {
  it('refuses input that is not one CertificateList SEQUENCE', () => {
    expect(refusal(new Uint8Array(0))).toEqual(
      malformed('CertificateList: expected tag 0x30, found end of data'),
    );
    expect(refusal(octet(Buffer.from('x')))).toEqual(
      malformed('CertificateList: expected tag 0x30, found tag 0x4'),
    );
    expect(refusal(Buffer.concat([crl(), Buffer.from([0x05, 0x00])]))).toEqual(
      malformed('CertificateList: unexpected trailing data'),
    );
  });

  it('refuses a CertificateList without its three elements, or with a fourth', () => {
    const tbs = tbsDer();
    expect(refusal(seq())).toEqual(malformed('TBSCertList: expected tag 0x30, found end of data'));
    expect(refusal(seq(set(), ECDSA_SHA256, SIGNATURE))).toEqual(
      malformed('TBSCertList: expected tag 0x30, found tag 0x31'),
    );
    expect(refusal(seq(tbs))).toEqual(malformed('signatureAlgorithm: expected tag 0x30, found end of data'));
    expect(refusal(seq(tbs, oid('1.2.840.10045.4.3.2'), SIGNATURE))).toEqual(
      malformed('signatureAlgorithm: expected tag 0x30, found tag 0x6'),
    );
    expect(refusal(seq(tbs, ECDSA_SHA256))).toEqual(
      malformed('signatureValue: expected tag 0x3, found end of data'),
    );
    expect(refusal(seq(tbs, ECDSA_SHA256, octet(SIG_BITS)))).toEqual(
      malformed('signatureValue: expected tag 0x3, found tag 0x4'),
    );
    expect(refusal(seq(tbs, ECDSA_SHA256, SIGNATURE, nul()))).toEqual(
      malformed('CertificateList: unexpected trailing data'),
    );
  });

  it('refuses a signature BIT STRING that is empty or has unused bits', () => {
    expect(refusal(crl({}, { signature: tlv(0x03) }))).toEqual(malformed('signatureValue has unused bits'));
    expect(refusal(crl({}, { signature: tlv(0x03, Buffer.from([1, 0xfe])) }))).toEqual(
      malformed('signatureValue has unused bits'),
    );
    // No unused bits and no signature bits: read as an empty signature (verification refuses it).
    expect(parseCrl(crl({}, { signature: tlv(0x03, Buffer.from([0])) })).signature).toHaveLength(0);
  });

  it('refuses a TBS algorithm that differs from the outer one, even only in its parameters', () => {
    const mismatch = {
      code: 'CRL_ALGORITHM_MISMATCH',
      message: 'TBSCertList signature algorithm differs from signatureAlgorithm',
    };
    expect(refusal(crl({ algorithm: ECDSA_SHA256 }, { algorithm: RSA_SHA256 }))).toEqual(mismatch);
    const noParams = seq(oid('1.2.840.113549.1.1.11'));
    expect(refusal(crl({ algorithm: RSA_SHA256 }, { algorithm: noParams }))).toEqual(mismatch);
    expect(refusal(crl({ algorithm: noParams }, { algorithm: RSA_SHA256 }))).toEqual(mismatch);
  });

  it('refuses an AlgorithmIdentifier without an OID or with two parameters', () => {
    const noOid = seq(nul());
    expect(refusal(crl({ algorithm: noOid }))).toEqual(
      malformed('algorithm: expected tag 0x6, found tag 0x5'),
    );
    expect(refusal(crl({ algorithm: seq() }))).toEqual(
      malformed('algorithm: expected tag 0x6, found end of data'),
    );
    const twoParams = seq(oid('1.2.840.113549.1.1.11'), nul(), nul());
    expect(refusal(crl({ algorithm: twoParams }))).toEqual(
      malformed('AlgorithmIdentifier: unexpected trailing data'),
    );
  });

  it('refuses a TBS without a signature algorithm or an issuer', () => {
    expect(refusal(seq(seq(int('01')), ECDSA_SHA256, SIGNATURE))).toEqual(
      malformed('signature: expected tag 0x30, found end of data'),
    );
    expect(refusal(crl({ issuer: set() }))).toEqual(malformed('issuer: expected tag 0x30, found tag 0x31'));
    expect(refusal(seq(seq(int('01'), ECDSA_SHA256), ECDSA_SHA256, SIGNATURE))).toEqual(
      malformed('issuer: expected tag 0x30, found end of data'),
    );
  });

  it('refuses every version but v2 (INTEGER 1, one octet)', () => {
    const notV2 = unsupported('CRL version is not v2');
    expect(refusal(crl({ version: int('00') }))).toEqual(notV2);
    expect(refusal(crl({ version: int('02') }))).toEqual(notV2);
    expect(refusal(crl({ version: tlv(0x02, Buffer.from([0, 1])) }))).toEqual(notV2);
    expect(refusal(crl({ version: tlv(0x02, Buffer.from([1, 0])) }))).toEqual(notV2);
    expect(refusal(crl({ version: tlv(0x02) }))).toEqual(notV2);
  });

  it('refuses a missing or malformed thisUpdate, and a malformed nextUpdate', () => {
    const noThis = crl({ thisUpdate: null, nextUpdate: null });
    // The TBS ends right after the issuer: the element is expected at the end of the TBS.
    const tbsEnd = offsetOf(noThis, ISSUER) + ISSUER.length;
    expect(refusal(noThis)).toEqual(malformed(`truncated: element expected at offset ${tbsEnd}`));
    expect(refusal(crl({ thisUpdate: int('01') }))).toEqual(malformed('expected a time'));
    const noSeconds = tlv(0x17, Buffer.from('2601020304Z', 'latin1'));
    expect(refusal(crl({ thisUpdate: noSeconds }))).toEqual(
      malformed('malformed UTCTime: not YYMMDDHHMMSSZ'),
    );
    expect(refusal(crl({ nextUpdate: noSeconds }))).toEqual(
      malformed('malformed UTCTime: not YYMMDDHHMMSSZ'),
    );
    const month13 = tlv(0x18, Buffer.from('20261302030405Z', 'latin1'));
    expect(refusal(crl({ nextUpdate: month13 }))).toEqual(
      malformed('malformed time: a field is out of range'),
    );
  });

  it('refuses anything after the extensions, or a second nextUpdate', () => {
    expect(refusal(crl({ tail: [nul()] }))).toEqual(malformed('TBSCertList: unexpected trailing data'));
    expect(refusal(crl({ tail: [time(T_NEXT)] }))).toEqual(
      malformed('TBSCertList: unexpected trailing data'),
    );
    const ext = exts(extension(OID_CRL_NUMBER, false, int('01')));
    expect(refusal(crl({ extensions: ext, tail: [ext] }))).toEqual(
      malformed('TBSCertList: unexpected trailing data'),
    );
    expect(refusal(crl({ revoked: revoked(entry('01')), tail: [revoked(entry('02'))] }))).toEqual(
      malformed('TBSCertList: unexpected trailing data'),
    );
  });
});

describe('parseCrl: crlExtensions', () => {
  it('refuses crlExtensions in a v1 CRL', () => {
    const ext = exts(extension(OID_CRL_NUMBER, false, int('01')));
    expect(refusal(crl({ version: null, extensions: ext }))).toEqual(malformed('crlExtensions in a v1 CRL'));
  });

  it('refuses a crlExtensions wrapper that does not hold exactly one non-empty Extensions SEQUENCE', () => {
    const one = extension(OID_CRL_NUMBER, false, int('01'));
    expect(refusal(crl({ extensions: tlv(0xa0, set(one)) }))).toEqual(
      malformed('Extensions: expected tag 0x30, found tag 0x31'),
    );
    expect(refusal(crl({ extensions: tlv(0xa0) }))).toEqual(
      malformed('Extensions: expected tag 0x30, found end of data'),
    );
    expect(refusal(crl({ extensions: tlv(0xa0, seq(one), seq()) }))).toEqual(
      malformed('crlExtensions: unexpected trailing data'),
    );
    expect(refusal(crl({ extensions: exts() }))).toEqual(malformed('empty crlExtensions'));
  });

  it('refuses a malformed Extension', () => {
    expect(refusal(crl({ extensions: exts(set(oid(OID_CRL_NUMBER))) }))).toEqual(
      malformed('Extension: expected tag 0x30, found tag 0x31'),
    );
    expect(refusal(crl({ extensions: exts(seq(octet(int('01')))) }))).toEqual(
      malformed('extnID: expected tag 0x6, found tag 0x4'),
    );
    expect(refusal(crl({ extensions: exts(seq(oid(OID_CRL_NUMBER))) }))).toEqual(
      malformed('extnValue: expected tag 0x4, found end of data'),
    );
    expect(refusal(crl({ extensions: exts(seq(oid(OID_CRL_NUMBER), bool(false))) }))).toEqual(
      malformed('extnValue: expected tag 0x4, found end of data'),
    );
    expect(refusal(crl({ extensions: exts(seq(oid(OID_CRL_NUMBER), octet(int('01')), nul())) }))).toEqual(
      malformed('Extension: unexpected trailing data'),
    );
    const longBool = tlv(0x01, Buffer.from([0xff, 0xff]));
    expect(refusal(crl({ extensions: exts(seq(oid(OID_CRL_NUMBER), longBool, octet(int('01')))) }))).toEqual(
      malformed('malformed BOOLEAN'),
    );
  });

  it('refuses a duplicate extension, known or not', () => {
    const n = extension(OID_CRL_NUMBER, false, int('01'));
    expect(refusal(crl({ extensions: exts(n, n) }))).toEqual(
      malformed(`duplicate extension ${OID_CRL_NUMBER}`),
    );
    const u = extension(UNKNOWN, false, nul());
    expect(refusal(crl({ extensions: exts(u, n, u) }))).toEqual(malformed(`duplicate extension ${UNKNOWN}`));
  });

  it('refuses an unknown critical extension, ignores an unknown non-critical one', () => {
    expect(refusal(crl({ extensions: exts(extension(UNKNOWN, true, nul())) }))).toEqual({
      code: 'CRL_UNKNOWN_CRITICAL_EXTENSION',
      message: `unknown critical CRL extension ${UNKNOWN}`,
    });
    const c = parseCrl(
      crl({
        extensions: exts(
          extension(UNKNOWN, false, nul()),
          seq(oid('1.3.6.1.4.1.99999.8'), bool(false), octet(nul())),
          extension(OID_CRL_NUMBER, false, int('05')),
        ),
      }),
    );
    expect(c.crlNumber).toBe(5n);
  });

  it('reads the known extensions whether marked critical or not', () => {
    const c = parseCrl(
      crl({
        extensions: exts(
          extension(OID_CRL_NUMBER, true, int('0102')),
          extension(OID_AKI, true, seq(tlv(0x80, Buffer.from('a1b2c3', 'hex')))),
        ),
      }),
    );
    expect(c.crlNumber).toBe(0x102n);
    expect(Buffer.from(c.authorityKeyId!).toString('hex')).toBe('a1b2c3');
  });

  it('refuses a delta CRL, critical or not', () => {
    for (const critical of [true, false]) {
      expect(refusal(crl({ extensions: exts(extension('2.5.29.27', critical, int('01'))) }))).toEqual(
        unsupported('delta CRLs are not supported'),
      );
    }
  });
});

describe('parseCrl: CRLNumber', () => {
  const withNumber = (value: Uint8Array) =>
    crl({ extensions: exts(extension(OID_CRL_NUMBER, false, value)) });

  it('reads 0, small and 20-octet numbers exactly', () => {
    expect(parseCrl(withNumber(int('00'))).crlNumber).toBe(0n);
    expect(parseCrl(withNumber(int('7F'))).crlNumber).toBe(127n);
    expect(parseCrl(withNumber(int('80'))).crlNumber).toBe(128n);
    const max = 'FF'.repeat(20);
    expect(parseCrl(withNumber(int(max))).crlNumber).toBe(BigInt(`0x${max}`));
    const twenty = '0123456789ABCDEF0123456789ABCDEF01234567';
    expect(parseCrl(withNumber(int(twenty))).crlNumber).toBe(BigInt(`0x${twenty}`));
  });

  it('refuses a CRLNumber that is not one INTEGER of 1 to 21 octets, or negative', () => {
    expect(refusal(withNumber(octet(int('01'))))).toEqual(
      malformed('CRLNumber: expected tag 0x2, found tag 0x4'),
    );
    expect(refusal(withNumber(Buffer.concat([int('01'), nul()])))).toEqual(
      malformed('CRLNumber: unexpected trailing data'),
    );
    expect(refusal(withNumber(tlv(0x02)))).toEqual(malformed('CRLNumber out of range'));
    expect(refusal(withNumber(tlv(0x02, Buffer.alloc(22, 0x01))))).toEqual(
      malformed('CRLNumber out of range'),
    );
    expect(parseCrl(withNumber(tlv(0x02, Buffer.alloc(21, 0x01)))).crlNumber).toBe(
      BigInt(`0x${'01'.repeat(21)}`),
    );
    expect(refusal(withNumber(tlv(0x02, Buffer.from([0x80]))))).toEqual(malformed('negative CRLNumber'));
    expect(refusal(withNumber(tlv(0x02, Buffer.from([0xff, 0x00]))))).toEqual(
      malformed('negative CRLNumber'),
    );
  });
});

describe('parseCrl: AuthorityKeyIdentifier', () => {
  const withAki = (value: Uint8Array) => crl({ extensions: exts(extension(OID_AKI, false, value)) });
  const keyId = tlv(0x80, Buffer.from('0102030405', 'hex'));
  const certIssuer = tlv(0xa1, tlv(0xa4, name('Root')));
  const certSerial = tlv(0x82, Buffer.from([0x11]));

  it('reads the keyIdentifier, with or without issuer and serial', () => {
    expect(Buffer.from(parseCrl(withAki(seq(keyId))).authorityKeyId!).toString('hex')).toBe('0102030405');
    const full = parseCrl(withAki(seq(keyId, certIssuer, certSerial)));
    expect(Buffer.from(full.authorityKeyId!).toString('hex')).toBe('0102030405');
    expect(parseCrl(withAki(seq(certIssuer, certSerial))).authorityKeyId).toBeUndefined();
    expect(parseCrl(withAki(seq())).authorityKeyId).toBeUndefined();
  });

  it('copies the key id out of the input, a Buffer (what the sources read) too', () => {
    for (const der of [new Uint8Array(withAki(seq(keyId))), Buffer.from(withAki(seq(keyId)))]) {
      const aki = parseCrl(der).authorityKeyId!;
      der.fill(0);
      expect(Buffer.from(aki).toString('hex')).toBe('0102030405');
      // Its own memory: a verified CRL keeps the key id, which must not pin the whole input.
      expect(aki.buffer.byteLength).toBe(aki.byteLength);
    }
  });

  it('refuses a value that is not one AuthorityKeyIdentifier SEQUENCE of known fields in order', () => {
    expect(refusal(withAki(keyId))).toEqual(
      malformed('AuthorityKeyIdentifier: expected tag 0x30, found tag 0x80'),
    );
    expect(refusal(withAki(Buffer.concat([seq(keyId), nul()])))).toEqual(
      malformed('AuthorityKeyIdentifier: unexpected trailing data'),
    );
    expect(refusal(withAki(seq(certSerial, keyId)))).toEqual(
      malformed('AuthorityKeyIdentifier: unexpected trailing data'),
    );
    expect(refusal(withAki(seq(keyId, nul())))).toEqual(
      malformed('AuthorityKeyIdentifier: unexpected trailing data'),
    );
  });
});

describe('parseCrl: IssuingDistributionPoint', () => {
  const withIdp = (value: Uint8Array) => crl({ extensions: exts(extension(OID_IDP, true, value)) });
  const uri = (u: string) => tlv(0x86, Buffer.from(u, 'latin1'));
  const fullName = (...names: Uint8Array[]) => tlv(0xa0, tlv(0xa0, ...names));
  const flag = (tag: number, v: number) => Buffer.from([tag, 0x01, v]);

  it('reads fullName URIs, the comparison keys of every name, and the flags', () => {
    const dns = tlv(0x82, Buffer.from('crl.example', 'latin1'));
    const idp = parseCrl(
      withIdp(seq(fullName(uri('http://a/x.crl'), dns, uri('ldap://b')), flag(0x81, 0xff))),
    ).issuingDistributionPoint!;
    expect(idp).toEqual({
      uris: ['http://a/x.crl', 'ldap://b'],
      names: ['uri:http://a/x.crl', `gn:${Buffer.from(dns).toString('hex')}`, 'uri:ldap://b'],
      onlyContainsUserCerts: true,
      onlyContainsCACerts: false,
    });
    expect(parseCrl(withIdp(seq(flag(0x82, 0x01)))).issuingDistributionPoint).toEqual({
      uris: [],
      names: [],
      onlyContainsUserCerts: false,
      onlyContainsCACerts: true,
    });
    expect(parseCrl(withIdp(seq())).issuingDistributionPoint).toEqual({
      uris: [],
      names: [],
      onlyContainsUserCerts: false,
      onlyContainsCACerts: false,
    });
  });

  it('reads explicit FALSE flags as false, and accepts indirectCRL and onlyContainsAttributeCerts FALSE', () => {
    const idp = parseCrl(
      withIdp(seq(fullName(uri('u:1')), flag(0x81, 0), flag(0x82, 0), flag(0x84, 0), flag(0x85, 0))),
    ).issuingDistributionPoint!;
    expect(idp).toEqual({
      uris: ['u:1'],
      names: ['uri:u:1'],
      onlyContainsUserCerts: false,
      onlyContainsCACerts: false,
    });
  });

  it('refuses the scopes it does not support', () => {
    expect(refusal(withIdp(seq(tlv(0xa0, tlv(0xa1, set())))))).toEqual(
      unsupported('IssuingDistributionPoint nameRelativeToCRLIssuer is not supported'),
    );
    expect(refusal(withIdp(seq(tlv(0x83, Buffer.from([0x07, 0x80])))))).toEqual(
      unsupported('IssuingDistributionPoint onlySomeReasons is not supported'),
    );
    expect(refusal(withIdp(seq(flag(0x84, 0xff))))).toEqual(unsupported('indirect CRL is not supported'));
    expect(refusal(withIdp(seq(flag(0x85, 0xff))))).toEqual(
      unsupported('attribute-certificate CRL is not supported'),
    );
  });

  it('refuses both only-user and only-CA', () => {
    expect(refusal(withIdp(seq(flag(0x81, 0xff), flag(0x82, 0xff))))).toEqual(
      malformed('IssuingDistributionPoint claims both onlyContainsUserCerts and onlyContainsCACerts'),
    );
  });

  it('refuses a malformed IssuingDistributionPoint', () => {
    expect(refusal(withIdp(set()))).toEqual(
      malformed('IssuingDistributionPoint: expected tag 0x30, found tag 0x31'),
    );
    expect(refusal(withIdp(Buffer.concat([seq(), nul()])))).toEqual(
      malformed('IssuingDistributionPoint: unexpected trailing data'),
    );
    expect(refusal(withIdp(seq(tlv(0xa0, tlv(0xa2, uri('x'))))))).toEqual(
      malformed('malformed DistributionPointName'),
    );
    expect(refusal(withIdp(seq(tlv(0xa0, tlv(0xa0, uri('x')), tlv(0xa0, uri('y'))))))).toEqual(
      malformed('DistributionPointName: unexpected trailing data'),
    );
    expect(refusal(withIdp(seq(fullName())))).toEqual(malformed('IssuingDistributionPoint: empty fullName'));
    // Out of order (onlyContainsUserCerts after onlyContainsCACerts) and unknown fields.
    expect(refusal(withIdp(seq(flag(0x82, 0xff), flag(0x81, 0xff))))).toEqual(
      malformed('IssuingDistributionPoint: unexpected trailing data'),
    );
    expect(refusal(withIdp(seq(flag(0x86, 0xff))))).toEqual(
      malformed('IssuingDistributionPoint: unexpected trailing data'),
    );
    expect(refusal(withIdp(seq(tlv(0x81, Buffer.from([0xff, 0xff])))))).toEqual(
      malformed('malformed BOOLEAN'),
    );
    expect(refusal(withIdp(seq(tlv(0x82))))).toEqual(malformed('malformed BOOLEAN'));
  });
});

describe('parseCrl: revoked entries', () => {
  const withEntries = (...e: Uint8Array[]) => crl({ revoked: revoked(...e) });

  it('reads serial, date and reason of each entry, in order', () => {
    const d2 = Date.UTC(2051, 5, 6, 7, 8, 9);
    const c = parseCrl(
      withEntries(
        entry('0A1B', { exts: [reason(1)] }),
        entry('00FF', { date: time(d2) }),
        entry('7F', { exts: [reason(0)] }),
        entry('01', { exts: [reason(10)] }),
      ),
    );
    expect(rows(c)).toEqual([
      { serial: '0A1B', date: T_REVOKED, reason: 1 },
      { serial: 'FF', date: d2, reason: undefined },
      { serial: '7F', date: T_REVOKED, reason: 0 },
      { serial: '01', date: T_REVOKED, reason: 10 },
    ]);
    expect(Array.from(c.revoked.data.reasons)).toEqual([1, -1, 0, 10]);
    expect(Array.from(c.revoked.data.offsets)).toEqual([0, 2, 3, 4, 5]);
    expect(Buffer.from(c.revoked.data.pool).toString('hex')).toBe('0a1bff7f01');
  });

  it('stores serials without leading zero octets, keeping one octet of a zero serial', () => {
    const c = parseCrl(withEntries(entry('000001'), entry('00'), entry('0000'), entry('0080')));
    expect(rows(c).map((r) => r.serial)).toEqual(['01', '00', '00', '80']);
    expect(Array.from(c.revoked.data.offsets)).toEqual([0, 1, 2, 3, 4]);
  });

  it('accepts every reason code but 7 and those above 10', () => {
    for (const r of [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]) {
      expect(rows(parseCrl(withEntries(entry('01', { exts: [reason(r)] }))))[0]!.reason).toBe(r);
    }
    for (const r of [7, 11, 0x7f, 0x80, 0xff]) {
      expect(refusal(withEntries(entry('01', { exts: [reason(r)] })))).toEqual(
        malformed(`invalid reasonCode ${r}`),
      );
    }
  });

  it('refuses a reasonCode that is not one ENUMERATED octet, or appears twice', () => {
    const bad = (value: Uint8Array) =>
      withEntries(entry('01', { exts: [extension(OID_REASON, false, value)] }));
    expect(refusal(bad(int('01')))).toEqual(malformed('malformed reasonCode'));
    expect(refusal(bad(tlv(0x0a)))).toEqual(malformed('malformed reasonCode'));
    expect(refusal(bad(tlv(0x0a, Buffer.from([0, 1]))))).toEqual(malformed('malformed reasonCode'));
    expect(refusal(bad(Buffer.concat([enumerated(1), nul()])))).toEqual(malformed('malformed reasonCode'));
    expect(refusal(withEntries(entry('01', { exts: [reason(1), reason(1)] })))).toEqual(
      malformed('duplicate reasonCode'),
    );
    const other = extension('2.5.29.24', false, time(T_REVOKED));
    expect(refusal(withEntries(entry('01', { exts: [reason(1), other, reason(4)] })))).toEqual(
      malformed('duplicate reasonCode'),
    );
  });

  it('reads the reason after other entry extensions, and each entry its own', () => {
    const invalidity = extension('2.5.29.24', true, tlv(0x18, Buffer.from('20251231000000Z', 'latin1')));
    const c = parseCrl(
      withEntries(
        entry('01', { exts: [invalidity, extension(UNKNOWN, false, nul()), reason(4)] }),
        entry('02', { exts: [invalidity] }),
        entry('03', { exts: [reason(6)] }),
      ),
    );
    expect(rows(c).map((r) => r.reason)).toEqual([4, undefined, 6]);
  });

  it('reads an OID that only resembles reasonCode as an unknown extension', () => {
    // 2.5.29.21 is 55 1D 15; change each octet, or add an arc.
    for (const near of ['2.5.29.21.1', '2.6.29.21', '2.5.28.21', '2.5.29.22', '1.5.29.21']) {
      const c = parseCrl(withEntries(entry('01', { exts: [extension(near, false, enumerated(1))] })));
      expect(rows(c)[0]!.reason, near).toBeUndefined();
      expect(
        refusal(withEntries(entry('01', { exts: [extension(near, true, enumerated(1))] }))),
        near,
      ).toEqual({
        code: 'CRL_UNKNOWN_CRITICAL_EXTENSION',
        message: `unknown critical entry extension ${near}`,
      });
    }
  });

  it('refuses an unknown critical entry extension; ignores a non-critical or explicitly non-critical one', () => {
    expect(refusal(withEntries(entry('01', { exts: [extension(UNKNOWN, true, nul())] })))).toEqual({
      code: 'CRL_UNKNOWN_CRITICAL_EXTENSION',
      message: `unknown critical entry extension ${UNKNOWN}`,
    });
    const any = tlv(0x01, Buffer.from([0x01]));
    expect(refusal(withEntries(entry('01', { exts: [seq(oid(UNKNOWN), any, octet(nul()))] })))).toEqual({
      code: 'CRL_UNKNOWN_CRITICAL_EXTENSION',
      message: `unknown critical entry extension ${UNKNOWN}`,
    });
    const explicitFalse = seq(oid(UNKNOWN), bool(false), octet(nul()));
    const c = parseCrl(withEntries(entry('01', { exts: [explicitFalse, reason(3)] })));
    expect(rows(c)[0]!.reason).toBe(3);
    // invalidityDate (2.5.29.24) is informational even when critical; its neighbours are not.
    for (const near of ['2.5.29.23', '2.5.29.25']) {
      expect(refusal(withEntries(entry('01', { exts: [extension(near, true, nul())] }))).code).toBe(
        'CRL_UNKNOWN_CRITICAL_EXTENSION',
      );
    }
  });

  it('refuses certificateIssuer (an indirect CRL), critical or not', () => {
    for (const critical of [true, false]) {
      expect(
        refusal(
          withEntries(entry('01', { exts: [extension('2.5.29.29', critical, seq(tlv(0xa4, ISSUER)))] })),
        ),
      ).toEqual(unsupported('indirect CRL (certificateIssuer entry extension) is not supported'));
    }
  });

  it('refuses entry extensions in a v1 CRL', () => {
    expect(refusal(crl({ version: null, revoked: revoked(entry('01', { exts: [reason(1)] })) }))).toEqual(
      malformed('entry extensions in a v1 CRL'),
    );
  });

  it('refuses malformed crlEntryExtensions', () => {
    const withExtsElement = (...after: Uint8Array[]) =>
      withEntries(seq(int('01'), time(T_REVOKED), ...after));
    expect(refusal(withExtsElement(set(reason(1))))).toEqual(malformed('malformed crlEntryExtensions'));
    expect(refusal(withExtsElement(seq(reason(1)), nul()))).toEqual(
      malformed('malformed crlEntryExtensions'),
    );
    expect(refusal(withExtsElement(seq()))).toEqual(malformed('empty crlEntryExtensions'));
    expect(refusal(withExtsElement(seq(set(oid(OID_REASON)))))).toEqual(
      malformed('entry extension is not a SEQUENCE'),
    );
    expect(refusal(withExtsElement(seq(reason(1), octet(nul()))))).toEqual(
      malformed('entry extension is not a SEQUENCE'),
    );
    expect(refusal(withExtsElement(seq(seq(octet(enumerated(1))))))).toEqual(
      malformed('entry extension without extnID'),
    );
    expect(
      refusal(
        withExtsElement(seq(seq(oid(OID_REASON), tlv(0x01, Buffer.from([0, 0])), octet(enumerated(1))))),
      ),
    ).toEqual(malformed('malformed BOOLEAN'));
    expect(refusal(withExtsElement(seq(seq(oid(OID_REASON), tlv(0x01), octet(enumerated(1))))))).toEqual(
      malformed('malformed BOOLEAN'),
    );
    expect(refusal(withExtsElement(seq(seq(oid(OID_REASON), enumerated(1)))))).toEqual(
      malformed('malformed entry extnValue'),
    );
    expect(refusal(withExtsElement(seq(seq(oid(OID_REASON), octet(enumerated(1)), nul()))))).toEqual(
      malformed('malformed entry extnValue'),
    );
    expect(refusal(withExtsElement(seq(seq(oid(OID_REASON), bool(false), nul()))))).toEqual(
      malformed('malformed entry extnValue'),
    );
  });

  it('refuses an entry that is not SEQUENCE { INTEGER, Time, ... }', () => {
    expect(refusal(withEntries(set(int('01'), time(T_REVOKED))))).toEqual(
      malformed('revokedCertificates: entry is not a SEQUENCE'),
    );
    expect(refusal(withEntries(entry('01'), set(int('02'), time(T_REVOKED))))).toEqual(
      malformed('revokedCertificates: entry is not a SEQUENCE'),
    );
    expect(refusal(withEntries(seq(octet(Buffer.from([1])), time(T_REVOKED))))).toEqual(
      malformed('userCertificate is not an INTEGER'),
    );
    expect(refusal(withEntries(entry('01'), seq(octet(Buffer.from([1])), time(T_REVOKED))))).toEqual(
      malformed('userCertificate is not an INTEGER'),
    );
    expect(refusal(withEntries(seq(tlv(0x02), time(T_REVOKED))))).toEqual(malformed('empty INTEGER'));
  });

  it('refuses an entry without a revocation date, naming the offset', () => {
    const bare = seq(int('01'));
    const der = withEntries(entry('02'), bare);
    const at = offsetOf(der, bare) + bare.length;
    expect(refusal(der)).toEqual(malformed(`truncated: element expected at offset ${at}`));
  });

  it('reads a loose revocation date as well as it can, and an unreadable one as 0', () => {
    const loose = tlv(0x17, Buffer.from('2512312359Z', 'latin1'));
    const unreadable = tlv(0x17, Buffer.from('yesterday', 'latin1'));
    const c = parseCrl(withEntries(entry('01', { date: loose }), entry('02', { date: unreadable })));
    expect(rows(c).map((r) => r.date)).toEqual([Date.UTC(2025, 11, 31, 23, 59), 0]);
  });

  it('accepts a serial of 128 octets (after leading zeros), refuses 129', () => {
    const s128 = `7F${'01'.repeat(127)}`;
    const c = parseCrl(withEntries(entry(`0000${s128}`)));
    expect(rows(c)[0]!.serial).toBe(s128);
    expect(c.revoked.has(s128)).toBe(true);
    expect(refusal(withEntries(entry(`7F${'01'.repeat(128)}`)))).toEqual(malformed('serial number too long'));
  });

  it('keeps the first of two entries with the same serial', () => {
    const c = parseCrl(withEntries(entry('05', { exts: [reason(1)] }), entry('0005', { exts: [reason(4)] })));
    expect(c.revoked.count).toBe(2);
    expect(c.revoked.indexOf('05')).toBe(0);
    expect(c.revoked.reasonAt(c.revoked.indexOf('5'))).toBe(1);
  });
});

describe('RevokedSet', () => {
  function setOf(serials: string[], reasons?: number[]): RevokedSet {
    const bytes = serials.map((s) => Buffer.from(s, 'hex'));
    const offsets = new Uint32Array(serials.length + 1);
    for (let i = 0; i < bytes.length; i++) offsets[i + 1] = offsets[i]! + bytes[i]!.length;
    return RevokedSet.build(
      new Uint8Array(Buffer.concat(bytes)),
      offsets,
      Float64Array.from(serials, (_, i) => T_THIS + i),
      Int8Array.from(reasons ?? serials.map(() => -1)),
    );
  }

  /** The parser's hash (FNV-1a, 32 bits), to choose serials that collide. */
  function fnv1a(bytes: Uint8Array): number {
    let h = 0x811c9dc5;
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
    return h >>> 0;
  }

  it('finds each serial in any case, odd length or with leading zeros; nothing else', () => {
    const s = setOf(['0A1B', 'FF', '00', '0123456789ABCDEF', 'ABCDEF']);
    expect(s.indexOf('0A1B')).toBe(0);
    expect(s.indexOf('a1b')).toBe(0);
    expect(s.indexOf('A1B')).toBe(0);
    expect(s.indexOf('000A1B')).toBe(0);
    expect(s.indexOf('ff')).toBe(1);
    expect(s.indexOf('00FF')).toBe(1);
    expect(s.indexOf('0')).toBe(2);
    expect(s.indexOf('00')).toBe(2);
    expect(s.indexOf('0000')).toBe(2);
    expect(s.indexOf('123456789abcdef')).toBe(3);
    expect(s.indexOf('abcdef')).toBe(4);
    expect(s.has('abcdef')).toBe(true);
    for (const absent of ['', '0A1C', '0A1B00', '0A', '1B', 'FE', '01', '0123456789ABCDEE', 'ABCDEF0']) {
      expect(s.indexOf(absent), absent).toBe(-1);
      expect(s.has(absent), absent).toBe(false);
    }
  });

  it('refuses non-hex characters next to the hex ranges, in either nibble', () => {
    // Every one-octet serial and every two-octet one ending in 10 is in the set: a character read
    // as some nibble (or as -1, 0xF/0xFF once masked) would find one of them.
    const hex2 = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
    const everything = setOf([
      ...Array.from({ length: 256 }, (_, b) => hex2(b)),
      ...Array.from({ length: 255 }, (_, b) => `${hex2(b + 1)}10`),
    ]);
    expect(everything.indexOf('1F')).toBe(0x1f);
    expect(everything.indexOf('F10')).toBe(256 + 0x0e);
    for (const c of ['/', ':', '@', 'G', 'W', '[', '`', 'g', ' ', 'x']) {
      expect(everything.indexOf(`1${c}`), `1${c}`).toBe(-1);
      expect(everything.indexOf(`${c}1`), `${c}1`).toBe(-1);
      expect(everything.indexOf(`${c}${c}`), `${c}${c}`).toBe(-1);
      expect(everything.indexOf(c), c).toBe(-1);
      expect(everything.indexOf(`${c}10`), `${c}10`).toBe(-1);
    }
    // Each hex digit, at each end of its range, in both nibbles.
    const all = setOf(['09', '90', 'AF', 'FA', '0F', 'F0']);
    expect(['09', '90', 'af', 'FA', 'aF', 'Fa', 'f', 'F0', '9'].map((x) => all.indexOf(x))).toEqual([
      0, 1, 2, 3, 2, 3, 4, 5, 0,
    ]);
  });

  it('looks up serials of up to 128 octets only', () => {
    const long = `7F${'AB'.repeat(127)}`;
    const s = setOf([long, '01']);
    expect(s.indexOf(long)).toBe(0);
    // The bound is on the digits given: leading zeros count.
    expect(s.indexOf(`0${long}`)).toBe(-1);
    expect(s.indexOf(`00${long}`)).toBe(-1);
    expect(s.indexOf(long.slice(2))).toBe(-1);
    expect(s.indexOf(`${long}AB`)).toBe(-1);
    expect(s.indexOf('01')).toBe(1);
  });

  it('reads each entry back: serial, date, reason', () => {
    const s = setOf(['0A1B', 'FF', '01'], [1, -1, 0]);
    expect(s.count).toBe(3);
    expect([s.serialAt(0), s.serialAt(1), s.serialAt(2)]).toEqual(['0A1B', 'FF', '01']);
    expect([s.revocationDateAt(0), s.revocationDateAt(2)]).toEqual([T_THIS, T_THIS + 2]);
    expect([s.reasonAt(0), s.reasonAt(1), s.reasonAt(2)]).toEqual([1, undefined, 0]);
  });

  it('sizes its table to a power of two at least twice the entries (at least 8)', () => {
    const sizes = [0, 1, 4, 5, 8, 9, 16, 17].map(
      (n) =>
        setOf(Array.from({ length: n }, (_, i) => (i + 1).toString(16).padStart(2, '0'))).data.table.length,
    );
    expect(sizes).toEqual([8, 8, 8, 16, 16, 32, 32, 64]);
  });

  it('finds serials whose hash slots collide, across the end of the table', () => {
    // Serials of one octet whose slot in an 8-slot table is 7: the second and third probe past the end.
    const last = Array.from({ length: 256 }, (_, b) => b).filter((b) => (fnv1a(Uint8Array.of(b)) & 7) === 7);
    const [a, b, c, d] = last.map((x) => x.toString(16).toUpperCase().padStart(2, '0'));
    const s = setOf([a!, b!, c!]);
    expect(Array.from(s.data.table)).toEqual([2, 3, 0, 0, 0, 0, 0, 1]);
    expect([s.indexOf(a!), s.indexOf(b!), s.indexOf(c!)]).toEqual([0, 1, 2]);
    // An absent serial with the same slot probes through all three before it finds the empty slot.
    expect(s.indexOf(d!)).toBe(-1);
    // A duplicate in the probe chain is not inserted again.
    const dup = setOf([a!, b!, a!]);
    expect(Array.from(dup.data.table)).toEqual([2, 0, 0, 0, 0, 0, 0, 1]);
    expect(dup.indexOf(a!)).toBe(0);
  });

  it('never takes a serial for a longer or shorter one in the same probe chain', () => {
    const slot = (hex: string) => fnv1a(Buffer.from(hex, 'hex')) & 7;
    const longer = Array.from({ length: 255 }, (_, b) => `01${(b + 1).toString(16).padStart(2, '0')}`).find(
      (k) => slot(k) === slot('01'),
    )!;
    expect(setOf(['01']).indexOf(longer)).toBe(-1);
    expect(setOf([longer]).indexOf('01')).toBe(-1);
    const both = setOf(['01', longer]);
    expect([both.indexOf('01'), both.indexOf(longer)]).toEqual([0, 1]);
    expect(both.data.table.filter((x) => x !== 0)).toHaveLength(2);
  });

  it('never finds the empty string, even beside an empty serial', () => {
    const s = setOf(['', '01']);
    expect(s.indexOf('')).toBe(-1);
    expect(s.has('')).toBe(false);
    expect(s.indexOf('01')).toBe(1);
  });

  it('finds every one of many serials and none of their neighbours', () => {
    const serials = Array.from({ length: 300 }, (_, i) => (0x1000 + i * 7).toString(16).toUpperCase());
    const s = setOf(serials);
    const wanted = new Set(serials);
    for (let i = 0x1000 - 8; i < 0x1000 + 300 * 7 + 8; i++) {
      const hex = i.toString(16).toUpperCase();
      expect(s.indexOf(hex)).toBe(wanted.has(hex) ? serials.indexOf(hex) : -1);
    }
  });

  it('comes back whole from its plain data (the worker transfer)', () => {
    const s = setOf(['0A1B', 'FF', '01'], [1, -1, 9]);
    const copy = new RevokedSet({
      pool: s.data.pool.slice(),
      offsets: s.data.offsets.slice(),
      dates: s.data.dates.slice(),
      reasons: s.data.reasons.slice(),
      table: s.data.table.slice(),
    });
    expect(copy.count).toBe(3);
    expect([copy.indexOf('a1b'), copy.indexOf('ff'), copy.indexOf('1'), copy.indexOf('02')]).toEqual([
      0, 1, 2, -1,
    ]);
    expect([copy.serialAt(0), copy.reasonAt(2), copy.revocationDateAt(1)]).toEqual(['0A1B', 9, T_THIS + 1]);
    const d = s.data;
    expect(s.transferables()).toEqual([
      d.pool.buffer,
      d.offsets.buffer,
      d.dates.buffer,
      d.reasons.buffer,
      d.table.buffer,
    ]);
    expect(s.transferables()[0]).toBe(d.pool.buffer);
    expect(s.transferables()[4]).toBe(d.table.buffer);
  });

  it('refuses inconsistent plain data', () => {
    const good = setOf(['01', '02']).data;
    const inconsistent = { code: 'CRL_INTERNAL', message: 'inconsistent revoked-set data' };
    const attempt = (patch: Partial<typeof good>) =>
      refusal(new Uint8Array(0), () => new RevokedSet({ ...good, ...patch }));
    expect(attempt({ offsets: new Uint32Array(2) })).toEqual(inconsistent);
    expect(attempt({ offsets: new Uint32Array(4) })).toEqual(inconsistent);
    expect(attempt({ reasons: new Int8Array(1) })).toEqual(inconsistent);
    expect(attempt({ reasons: new Int8Array(3) })).toEqual(inconsistent);
    expect(attempt({ table: new Uint32Array(0) })).toEqual(inconsistent);
    expect(attempt({ table: new Uint32Array(12) })).toEqual(inconsistent);
    expect(attempt({ table: new Uint32Array(7) })).toEqual(inconsistent);
    expect(new RevokedSet({ ...good, table: new Uint32Array(1) }).indexOf('01')).toBe(-1);
    expect(new RevokedSet({ ...good, table: new Uint32Array(16) }).count).toBe(2);
  });
});

describe('parseCrlEnvelope', () => {
  it('reads the envelope of a CRL parseCrl refuses for its content', () => {
    const tbs = tbsDer({ algorithm: RSA_SHA256, extensions: exts(extension(UNKNOWN, true, nul())) });
    const der = seq(tbs, RSA_SHA256, SIGNATURE);
    expect(refusal(der).code).toBe('CRL_UNKNOWN_CRITICAL_EXTENSION');
    const e = parseCrlEnvelope(der);
    expect(Buffer.from(e.tbsDer)).toEqual(Buffer.from(tbs));
    expect(Buffer.from(e.issuerDer)).toEqual(Buffer.from(ISSUER));
    expect(e.issuer).toBe('CN=Parse CA,O=Parse Org');
    expect(e.signatureAlgorithmOid).toBe('1.2.840.113549.1.1.11');
    expect(Buffer.from(e.signatureAlgorithmParams!)).toEqual(Buffer.from(nul()));
    expect(Buffer.from(e.signature)).toEqual(SIG_BITS);
    // Also with a version parseCrl refuses and a broken thisUpdate: only the envelope is read.
    expect(parseCrlEnvelope(crl({ version: int('05'), thisUpdate: int('01') })).issuer).toBe(
      'CN=Parse CA,O=Parse Org',
    );
  });

  it('refuses what it cannot read as a CrlError', () => {
    expect(refusal(octet(Buffer.from('x')), parseCrlEnvelope)).toEqual(
      malformed('CertificateList: expected tag 0x30, found tag 0x4'),
    );
    expect(refusal(crl({ issuer: set() }), parseCrlEnvelope)).toEqual(
      malformed('issuer: expected tag 0x30, found tag 0x31'),
    );
    expect(refusal(crl({ algorithm: ECDSA_SHA256 }, { algorithm: RSA_SHA256 }), parseCrlEnvelope)).toEqual({
      code: 'CRL_ALGORITHM_MISMATCH',
      message: 'TBSCertList signature algorithm differs from signatureAlgorithm',
    });
  });

  it('lets a non-input error through unchanged', () => {
    expect(() => parseCrlEnvelope(undefined as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => parseCrl(undefined as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('splitDer', () => {
  it('splits concatenated elements into views of the input', () => {
    const a = crl();
    const b = crl({ revoked: revoked(entry('01')) });
    const input = Buffer.concat([a, b, nul()]);
    const parts = splitDer(input);
    expect(parts.map((p) => Buffer.from(p))).toEqual([Buffer.from(a), Buffer.from(b), Buffer.from(nul())]);
    expect(parts[1]!.byteOffset - input.byteOffset).toBe(a.length);
    expect(parts[1]!.buffer).toBe(input.buffer);
    expect(splitDer(new Uint8Array(0))).toEqual([]);
    expect(parseCrl(parts[1]!).revoked.has('01')).toBe(true);
  });

  it('refuses a tail that is not a whole element, naming its offset', () => {
    const a = crl();
    expect(refusal(Buffer.concat([a, Buffer.from([0x30])]), splitDer)).toEqual(
      malformed(`at offset ${a.length}: truncated: length expected at offset ${a.length + 1}`),
    );
    expect(refusal(Buffer.concat([a, Buffer.from([0x30, 0x05, 0x00])]), splitDer)).toEqual(
      malformed(`at offset ${a.length}: element at offset ${a.length} overruns its container`),
    );
    expect(refusal(Buffer.from('-----BEGIN X509 CRL-----\n', 'latin1'), splitDer)).toEqual(
      malformed('at offset 0: element at offset 0 overruns its container'),
    );
  });

  it('lets a non-input error through unchanged', () => {
    const hostile = new Proxy(new Uint8Array(4), {
      get(target, key) {
        if (key === '0') throw new RangeError('not bytes');
        return Reflect.get(target, key);
      },
    });
    expect(() => splitDer(hostile)).toThrow(RangeError);
  });
});
