/**
 * RFC 5280 §5 CertificateList parser, written for speed and bounded by its input.
 *
 * Security property (fail closed): anything malformed, ambiguous or outside what we understand
 * (an unknown critical extension, an indirect or delta CRL, a TBS algorithm that differs from the
 * outer one) raises a typed CrlError, never a partially read CRL. Nothing here is trusted yet: the
 * caller must verify `signature` over `tbsDer` (verify-crl.ts) before using any field.
 *
 * Speed: revoked entries are not turned into objects. Their serials are copied into one packed
 * byte pool and indexed by an open-addressing hash table (`RevokedSet`), with revocation dates and
 * reasons in parallel typed arrays. All of it is a handful of ArrayBuffers, so a worker can
 * transfer it to the main thread without structured-cloning a million objects, and lookups are
 * O(1) in the size of the CRL. Allocation is proportional to the input's length, never to a length
 * the input merely claims.
 */
import {
  DerError,
  DerReader,
  decodeBoolean,
  decodeOid,
  decodeTime,
  HEADER,
  lenientTimeAt,
  readHeader,
  readTlv,
  Tag,
  type Tlv,
  whole,
} from '../../asn1/der.js';
import { generalNameKey } from '../../asn1/general-name.js';
import { formatRfc2253 } from '../../asn1/name.js';

export type CrlErrorCode =
  | 'CRL_MALFORMED'
  | 'CRL_UNSUPPORTED'
  | 'CRL_UNKNOWN_CRITICAL_EXTENSION'
  | 'CRL_ALGORITHM_MISMATCH'
  | 'CRL_UNSUPPORTED_ALGORITHM'
  | 'CRL_BAD_SIGNATURE'
  | 'CRL_UNKNOWN_ISSUER'
  | 'CRL_INTERNAL';

export class CrlError extends Error {
  override readonly name = 'CrlError';
  constructor(
    readonly code: CrlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const OID_CRL_NUMBER = '2.5.29.20';
export const OID_DELTA_CRL_INDICATOR = '2.5.29.27';
export const OID_ISSUING_DISTRIBUTION_POINT = '2.5.29.28';
export const OID_AUTHORITY_KEY_ID = '2.5.29.35';
export const OID_REASON_CODE = '2.5.29.21';
export const OID_CERTIFICATE_ISSUER = '2.5.29.29';

/** Issuing distribution point (RFC 5280 §5.2.5): the scope of a partitioned CRL. */
export interface IssuingDistributionPoint {
  /** fullName URIs (for /trust); empty when the IDP names none. */
  readonly uris: readonly string[];
  /**
   * Comparison keys (general-name.ts) of every fullName GeneralName: a certificate's distribution
   * point selects this CRL when it names any of them (OpenSSL's idp_check_dp). Empty when the IDP
   * names no distribution point (scope given by flags only).
   */
  readonly names: readonly string[];
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCACerts: boolean;
}

/** What the revocation index needs from a CRL (no signature material, no per-entry objects). */
export interface CrlInfo {
  /** 1 for v1 (no version field), 2 for v2. */
  readonly version: 1 | 2;
  /** The issuer Name element (DER), compared byte for byte with the CA's subject. */
  readonly issuerDer: Uint8Array;
  /** The issuer in `openssl -nameopt RFC2253` form. */
  readonly issuer: string;
  /** Epoch ms. */
  readonly thisUpdate: number;
  /** Epoch ms, or undefined when the CRL has none. */
  readonly nextUpdate: number | undefined;
  readonly crlNumber: bigint | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  readonly issuingDistributionPoint: IssuingDistributionPoint | undefined;
  readonly revoked: RevokedSet;
}

export interface ParsedCrl extends CrlInfo {
  /** The signed TBSCertList element (DER), a view into the input. */
  readonly tbsDer: Uint8Array;
  readonly signatureAlgorithmOid: string;
  /** The parameters element of the AlgorithmIdentifier (DER), if any. */
  readonly signatureAlgorithmParams: Uint8Array | undefined;
  /** The signature bits (BIT STRING content without its unused-bits octet). */
  readonly signature: Uint8Array;
}

/** CRLReason values (RFC 5280 §5.3.1); -1 in `reasons` means the entry carries no reason code. */
export const CRL_REASONS: Readonly<Record<number, string>> = {
  0: 'unspecified',
  1: 'keyCompromise',
  2: 'cACompromise',
  3: 'affiliationChanged',
  4: 'superseded',
  5: 'cessationOfOperation',
  6: 'certificateHold',
  8: 'removeFromCRL',
  9: 'privilegeWithdrawn',
  10: 'aACompromise',
};

/** The plain data of a RevokedSet: ArrayBuffer-backed arrays, each transferable on its own. */
export interface RevokedSetData {
  /** Serial bytes (minimal form, as `integerHex` prints them), concatenated. */
  readonly pool: Uint8Array;
  /** Entry i's serial is pool[offsets[i], offsets[i+1]). */
  readonly offsets: Uint32Array;
  /** Revocation dates, epoch ms. */
  readonly dates: Float64Array;
  /** Reason codes, -1 when absent. */
  readonly reasons: Int8Array;
  /** Open-addressing hash table (power-of-two size): entry index + 1, 0 = empty slot. */
  readonly table: Uint32Array;
}

const HEX = '0123456789ABCDEF';
const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);
/** Scratch for decoding a looked-up serial; serials longer than this cannot be in any set. */
const MAX_SERIAL_BYTES = 128;
const scratch = new Uint8Array(MAX_SERIAL_BYTES);

function fnv1a(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The revoked serials of one CRL: a packed, immutable hash set with O(1) lookups. */
export class RevokedSet {
  readonly count: number;
  private readonly mask: number;

  constructor(readonly data: RevokedSetData) {
    this.count = data.dates.length;
    this.mask = data.table.length - 1;
    if (
      data.offsets.length !== this.count + 1 ||
      data.reasons.length !== this.count ||
      data.table.length === 0 ||
      (data.table.length & this.mask) !== 0
    ) {
      throw new CrlError('CRL_INTERNAL', 'inconsistent revoked-set data');
    }
  }

  /** Builds the hash table over already packed entries (each serial at most MAX_SERIAL_BYTES). */
  static build(pool: Uint8Array, offsets: Uint32Array, dates: Float64Array, reasons: Int8Array): RevokedSet {
    const count = dates.length;
    let size = 8;
    while (size < count * 2) size *= 2;
    const table = new Uint32Array(size);
    const mask = size - 1;
    for (let i = 0; i < count; i++) {
      const s = offsets[i]!;
      const e = offsets[i + 1]!;
      let slot = fnv1a(pool, s, e) & mask;
      for (;;) {
        const at = table[slot]!;
        if (at === 0) {
          table[slot] = i + 1;
          break;
        }
        if (RevokedSet.equal(pool, offsets, at - 1, pool, s, e)) break; // duplicate serial: keep the first
        slot = (slot + 1) & mask;
      }
    }
    return new RevokedSet({ pool, offsets, dates, reasons, table });
  }

  private static equal(
    pool: Uint8Array,
    offsets: Uint32Array,
    index: number,
    key: Uint8Array,
    start: number,
    end: number,
  ): boolean {
    const s = offsets[index]!;
    const len = offsets[index + 1]! - s;
    if (len !== end - start) return false;
    for (let k = 0; k < len; k++) if (pool[s + k] !== key[start + k]) return false;
    return true;
  }

  /**
   * Entry index of a serial, or -1. Accepts `openssl -serial` / `X509Certificate.serialNumber`
   * forms: hex in either case, odd length allowed, leading zero octets ignored.
   */
  indexOf(serialHex: string): number {
    let start = 0;
    const n = serialHex.length;
    if (n === 0) return -1;
    let bytes = 0;
    let i = 0;
    if (n % 2 === 1) {
      const v = hexNibble(serialHex.charCodeAt(0));
      if (v < 0) return -1;
      scratch[bytes++] = v;
      i = 1;
    }
    for (; i < n; i += 2) {
      const hi = hexNibble(serialHex.charCodeAt(i));
      const lo = hexNibble(serialHex.charCodeAt(i + 1));
      if (hi < 0 || lo < 0) return -1;
      if (bytes >= MAX_SERIAL_BYTES) return -1;
      scratch[bytes++] = (hi << 4) | lo;
    }
    while (start < bytes - 1 && scratch[start] === 0) start++;
    const { pool, offsets, table } = this.data;
    let slot = fnv1a(scratch, start, bytes) & this.mask;
    for (;;) {
      const at = table[slot]!;
      if (at === 0) return -1;
      if (RevokedSet.equal(pool, offsets, at - 1, scratch, start, bytes)) return at - 1;
      slot = (slot + 1) & this.mask;
    }
  }

  has(serialHex: string): boolean {
    return this.indexOf(serialHex) >= 0;
  }

  /** Serial of entry i in `openssl -serial` form. */
  serialAt(i: number): string {
    const { pool, offsets } = this.data;
    let out = '';
    for (let k = offsets[i]!; k < offsets[i + 1]!; k++) out += HEX_BYTE[pool[k]!]!;
    return out;
  }

  revocationDateAt(i: number): number {
    return this.data.dates[i]!;
  }

  /** CRLReason code of entry i, or undefined when the entry has none. */
  reasonAt(i: number): number | undefined {
    const r = this.data.reasons[i]!;
    return r < 0 ? undefined : r;
  }

  /** The ArrayBuffers to list in a postMessage transfer list. */
  transferables(): ArrayBuffer[] {
    const d = this.data;
    return [
      d.pool.buffer,
      d.offsets.buffer,
      d.dates.buffer,
      d.reasons.buffer,
      d.table.buffer,
    ] as ArrayBuffer[];
  }
}

// ---------------------------------------------------------------------------------------------
// Hot-path helpers for the revoked entries: no Tlv objects. Element bounds come from the shared
// DER reader's registers (readHeader → HEADER), times from its time rules (timeAt; lenientTimeAt for revocation dates only).

/** OID content bytes equal to 2.5.29.<last> (55 1D xx)? */
function isIdCe(buf: Uint8Array, start: number, end: number, last: number): boolean {
  return end - start === 3 && buf[start] === 0x55 && buf[start + 1] === 0x1d && buf[start + 2] === last;
}

/** Minimal serial bytes: skip leading zero octets as integerHex does (keep at least one). */
function serialStart(buf: Uint8Array, start: number, end: number): number {
  if (start === end) throw new DerError('empty INTEGER');
  while (start < end - 1 && buf[start] === 0) start++;
  if (end - start > MAX_SERIAL_BYTES) throw new DerError('serial number too long');
  return start;
}

/**
 * One revoked entry at pos: SEQUENCE { userCertificate INTEGER, revocationDate Time,
 * crlEntryExtensions Extensions OPTIONAL }. Returns the entry's end; stores details in registers.
 */
/** Registers of the last readEntry(): [serialStart, serialEnd, reason]; and its date. */
const E = new Int32Array(3);
const EDATE = new Float64Array(1);

function readEntry(buf: Uint8Array, pos: number, limit: number, v2: boolean): number {
  if (readHeader(buf, pos, limit) !== Tag.SEQUENCE)
    throw new DerError('revokedCertificates: entry is not a SEQUENCE');
  const entryEnd = HEADER[1]!;
  if (readHeader(buf, HEADER[0]!, entryEnd) !== Tag.INTEGER)
    throw new DerError('revokedCertificates: userCertificate is not an INTEGER');
  E[0] = serialStart(buf, HEADER[0]!, HEADER[1]!);
  E[1] = HEADER[1]!;
  const timeTag = readHeader(buf, HEADER[1]!, entryEnd);
  // Lenient (seconds may be absent): nothing decides on a revocation date (der.ts lenientTimeAt).
  EDATE[0] = lenientTimeAt(buf, timeTag, HEADER[0]!, HEADER[1]!);
  E[2] = -1;
  const p = HEADER[1]!;
  if (p < entryEnd) {
    if (!v2) throw new DerError('entry extensions in a v1 CRL');
    if (readHeader(buf, p, entryEnd) !== Tag.SEQUENCE || HEADER[1]! !== entryEnd)
      throw new DerError('malformed crlEntryExtensions');
    const extsEnd = HEADER[1]!;
    let q = HEADER[0]!;
    if (q === extsEnd) throw new DerError('empty crlEntryExtensions');
    let seenReason = false;
    while (q < extsEnd) {
      if (readHeader(buf, q, extsEnd) !== Tag.SEQUENCE)
        throw new DerError('entry extension is not a SEQUENCE');
      const extEnd: number = HEADER[1]!;
      if (readHeader(buf, HEADER[0]!, extEnd) !== Tag.OID)
        throw new DerError('entry extension without extnID');
      const oidStart = HEADER[0]!;
      const oidEnd = HEADER[1]!;
      let tag = readHeader(buf, HEADER[1]!, extEnd);
      let critical = false;
      if (tag === Tag.BOOLEAN) {
        if (HEADER[1]! - HEADER[0]! !== 1) throw new DerError('malformed BOOLEAN');
        critical = buf[HEADER[0]!] !== 0;
        tag = readHeader(buf, HEADER[1]!, extEnd);
      }
      if (tag !== Tag.OCTET_STRING || HEADER[1]! !== extEnd) throw new DerError('malformed entry extnValue');
      const valueStart = HEADER[0]!;
      const valueEnd: number = HEADER[1]!;
      if (isIdCe(buf, oidStart, oidEnd, 0x15)) {
        // reasonCode ::= ENUMERATED
        if (seenReason) throw new DerError('duplicate reasonCode');
        seenReason = true;
        if (
          readHeader(buf, valueStart, valueEnd) !== Tag.ENUMERATED ||
          HEADER[1]! !== valueEnd ||
          HEADER[1]! - HEADER[0]! !== 1
        ) {
          throw new DerError('malformed reasonCode');
        }
        const r = buf[HEADER[0]!]!;
        if (r > 10 || r === 7) throw new DerError(`invalid reasonCode ${r}`);
        E[2] = r;
      } else if (isIdCe(buf, oidStart, oidEnd, 0x1d)) {
        throw new CrlError(
          'CRL_UNSUPPORTED',
          'indirect CRL (certificateIssuer entry extension) is not supported',
        );
      } else if (critical && !isIdCe(buf, oidStart, oidEnd, 0x18)) {
        // invalidityDate (2.5.29.24) is informational; anything else critical we do not understand.
        const oid = decodeOid(buf, {
          tag: Tag.OID,
          start: oidStart - 2,
          contentStart: oidStart,
          end: oidEnd,
        });
        throw new CrlError('CRL_UNKNOWN_CRITICAL_EXTENSION', `unknown critical entry extension ${oid}`);
      }
      q = extEnd;
    }
  }
  return entryEnd;
}

function parseRevoked(buf: Uint8Array, start: number, end: number, v2: boolean): RevokedSet {
  // Pass 1 (cheap): count entries and serial bytes to size the arrays exactly; pass 2 validates.
  let count = 0;
  let poolBytes = 0;
  for (let p = start; p < end; ) {
    if (readHeader(buf, p, end) !== Tag.SEQUENCE)
      throw new DerError('revokedCertificates: entry is not a SEQUENCE');
    const entryEnd = HEADER[1]!;
    if (readHeader(buf, HEADER[0]!, entryEnd) !== Tag.INTEGER)
      throw new DerError('userCertificate is not an INTEGER');
    poolBytes += HEADER[1]! - serialStart(buf, HEADER[0]!, HEADER[1]!);
    count++;
    p = entryEnd;
  }
  const pool = new Uint8Array(poolBytes);
  const offsets = new Uint32Array(count + 1);
  const dates = new Float64Array(count);
  const reasons = new Int8Array(count);
  // Pass 2: validate each entry fully; copy serials, dates, reasons.
  let i = 0;
  let o = 0;
  for (let p = start; p < end; i++) {
    p = readEntry(buf, p, end, v2);
    offsets[i] = o;
    for (let k = E[0]!; k < E[1]!; k++) pool[o++] = buf[k]!;
    dates[i] = EDATE[0]!;
    reasons[i] = E[2]!;
  }
  offsets[count] = o;
  return RevokedSet.build(pool, offsets, dates, reasons);
}

const EMPTY_REVOKED = (): RevokedSet =>
  RevokedSet.build(new Uint8Array(0), new Uint32Array(1), new Float64Array(0), new Int8Array(0));

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function parseCrlNumber(buf: Uint8Array, value: Tlv): bigint {
  const r = new DerReader(buf, value.contentStart, value.end);
  const int = r.expect(Tag.INTEGER, 'CRLNumber');
  r.finish('CRLNumber');
  const len = int.end - int.contentStart;
  if (len === 0 || len > 21) throw new DerError('CRLNumber out of range');
  if (buf[int.contentStart]! & 0x80) throw new DerError('negative CRLNumber');
  let n = 0n;
  for (let i = int.contentStart; i < int.end; i++) n = (n << 8n) | BigInt(buf[i]!);
  return n;
}

function parseAuthorityKeyId(buf: Uint8Array, value: Tlv): Uint8Array | undefined {
  const outer = new DerReader(buf, value.contentStart, value.end);
  const seqTlv = outer.expect(Tag.SEQUENCE, 'AuthorityKeyIdentifier');
  outer.finish('AuthorityKeyIdentifier');
  const seq = outer.inside(seqTlv);
  const keyId = seq.optional(0x80);
  seq.optional(0xa1); // authorityCertIssuer
  seq.optional(0x82); // authorityCertSerialNumber
  seq.finish('AuthorityKeyIdentifier');
  return keyId ? new Uint8Array(buf.subarray(keyId.contentStart, keyId.end)) : undefined;
}

function parseIdp(buf: Uint8Array, value: Tlv): IssuingDistributionPoint {
  const outer = new DerReader(buf, value.contentStart, value.end);
  const seqTlv = outer.expect(Tag.SEQUENCE, 'IssuingDistributionPoint');
  outer.finish('IssuingDistributionPoint');
  const seq = outer.inside(seqTlv);
  const uris: string[] = [];
  const names: string[] = [];
  const dp = seq.optional(0xa0);
  if (dp) {
    const dpr = seq.inside(dp);
    const name = dpr.next();
    dpr.finish('DistributionPointName');
    if (name.tag === 0xa1) {
      throw new CrlError(
        'CRL_UNSUPPORTED',
        'IssuingDistributionPoint nameRelativeToCRLIssuer is not supported',
      );
    }
    if (name.tag !== 0xa0) throw new DerError('malformed DistributionPointName');
    const generalNames = dpr.inside(name);
    while (!generalNames.done) {
      const gn = generalNames.next();
      names.push(generalNameKey(buf, gn));
      if (gn.tag === 0x86) uris.push(Buffer.from(buf.subarray(gn.contentStart, gn.end)).toString('latin1'));
    }
    if (names.length === 0) throw new DerError('IssuingDistributionPoint: empty fullName');
  }
  const userTlv = seq.optional(0x81);
  const caTlv = seq.optional(0x82);
  const onlyContainsUserCerts = userTlv ? decodeBoolean(buf, userTlv) : false;
  const onlyContainsCACerts = caTlv ? decodeBoolean(buf, caTlv) : false;
  if (seq.optional(0x83)) {
    throw new CrlError('CRL_UNSUPPORTED', 'IssuingDistributionPoint onlySomeReasons is not supported');
  }
  const indirect = seq.optional(0x84);
  if (indirect && decodeBoolean(buf, indirect))
    throw new CrlError('CRL_UNSUPPORTED', 'indirect CRL is not supported');
  const attr = seq.optional(0x85);
  if (attr && decodeBoolean(buf, attr)) {
    throw new CrlError('CRL_UNSUPPORTED', 'attribute-certificate CRL is not supported');
  }
  seq.finish('IssuingDistributionPoint');
  if (onlyContainsUserCerts && onlyContainsCACerts) {
    throw new DerError('IssuingDistributionPoint claims both onlyContainsUserCerts and onlyContainsCACerts');
  }
  return { uris, names, onlyContainsUserCerts, onlyContainsCACerts };
}

/**
 * The signed envelope of a CertificateList, read once for both parsers: the outer SEQUENCE, the
 * TBS, both algorithm identifiers (which must be equal) and the signature, then the TBS up to and
 * including its issuer. `tbs` is left just after the issuer; `versionTlv` is the optional version.
 */
function readEnvelope(der: Uint8Array): {
  envelope: CrlEnvelope;
  tbs: DerReader;
  versionTlv: Tlv | undefined;
} {
  const top = DerReader.of(der);
  const listTlv = top.expect(Tag.SEQUENCE, 'CertificateList');
  top.finish('CertificateList');
  const list = top.inside(listTlv);
  const tbsTlv = list.expect(Tag.SEQUENCE, 'TBSCertList');
  const outerAlg = list.expect(Tag.SEQUENCE, 'signatureAlgorithm');
  const sigTlv = list.expect(Tag.BIT_STRING, 'signatureValue');
  list.finish('CertificateList');
  if (sigTlv.end === sigTlv.contentStart || der[sigTlv.contentStart] !== 0) {
    throw new DerError('signatureValue has unused bits');
  }
  const tbs = list.inside(tbsTlv);
  const versionTlv = tbs.optional(Tag.INTEGER);
  const innerAlg = tbs.expect(Tag.SEQUENCE, 'signature');
  if (!bytesEqual(whole(der, innerAlg), whole(der, outerAlg))) {
    throw new CrlError(
      'CRL_ALGORITHM_MISMATCH',
      'TBSCertList signature algorithm differs from signatureAlgorithm',
    );
  }
  const alg = tbs.inside(outerAlg);
  const signatureAlgorithmOid = decodeOid(der, alg.expect(Tag.OID, 'algorithm'));
  const paramsTlv = alg.done ? undefined : alg.next();
  alg.finish('AlgorithmIdentifier');
  const issuerDer = whole(der, tbs.expect(Tag.SEQUENCE, 'issuer'));
  return {
    envelope: {
      tbsDer: whole(der, tbsTlv),
      issuerDer,
      issuer: formatRfc2253(issuerDer),
      signatureAlgorithmOid,
      signatureAlgorithmParams: paramsTlv ? whole(der, paramsTlv) : undefined,
      signature: der.subarray(sigTlv.contentStart + 1, sigTlv.end),
    },
    tbs,
    versionTlv,
  };
}

function parseInner(der: Uint8Array): ParsedCrl {
  const { envelope, tbs, versionTlv } = readEnvelope(der);
  let version: 1 | 2 = 1;
  if (versionTlv) {
    if (versionTlv.end - versionTlv.contentStart !== 1 || der[versionTlv.contentStart] !== 1) {
      throw new CrlError('CRL_UNSUPPORTED', 'CRL version is not v2');
    }
    version = 2;
  }
  const thisUpdate = decodeTime(der, tbs.next());
  let nextUpdate: number | undefined;
  const peek = tbs.peekTag();
  if (peek === Tag.UTC_TIME || peek === Tag.GENERALIZED_TIME) nextUpdate = decodeTime(der, tbs.next());

  const revokedTlv = tbs.optional(Tag.SEQUENCE);
  const revoked = revokedTlv
    ? parseRevoked(der, revokedTlv.contentStart, revokedTlv.end, version === 2)
    : EMPTY_REVOKED();

  let crlNumber: bigint | undefined;
  let authorityKeyId: Uint8Array | undefined;
  let issuingDistributionPoint: IssuingDistributionPoint | undefined;
  const extsWrapper = tbs.optional(0xa0);
  if (extsWrapper) {
    if (version !== 2) throw new DerError('crlExtensions in a v1 CRL');
    const wrapper = tbs.inside(extsWrapper);
    const extsTlv = wrapper.expect(Tag.SEQUENCE, 'Extensions');
    wrapper.finish('crlExtensions');
    const exts = wrapper.inside(extsTlv);
    if (exts.done) throw new DerError('empty crlExtensions');
    const seen = new Set<string>();
    while (!exts.done) {
      const ext = exts.inside(exts.expect(Tag.SEQUENCE, 'Extension'));
      const oid = decodeOid(der, ext.expect(Tag.OID, 'extnID'));
      if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
      seen.add(oid);
      const criticalTlv = ext.optional(Tag.BOOLEAN);
      const critical = criticalTlv ? decodeBoolean(der, criticalTlv) : false;
      const value = ext.expect(Tag.OCTET_STRING, 'extnValue');
      ext.finish('Extension');
      switch (oid) {
        case OID_CRL_NUMBER:
          crlNumber = parseCrlNumber(der, value);
          break;
        case OID_AUTHORITY_KEY_ID:
          authorityKeyId = parseAuthorityKeyId(der, value);
          break;
        case OID_ISSUING_DISTRIBUTION_POINT:
          issuingDistributionPoint = parseIdp(der, value);
          break;
        case OID_DELTA_CRL_INDICATOR:
          throw new CrlError('CRL_UNSUPPORTED', 'delta CRLs are not supported');
        default:
          // Unknown non-critical extensions (issuerAltName, freshestCRL, AIA, …) may be ignored (RFC 5280).
          if (critical)
            throw new CrlError('CRL_UNKNOWN_CRITICAL_EXTENSION', `unknown critical CRL extension ${oid}`);
      }
    }
  }
  tbs.finish('TBSCertList');

  return {
    ...envelope,
    version,
    thisUpdate,
    nextUpdate,
    crlNumber,
    authorityKeyId,
    issuingDistributionPoint,
    revoked,
  };
}

/** What verifying a CRL's signature needs, and nothing else of the TBSCertList. */
export interface CrlEnvelope {
  readonly tbsDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly issuer: string;
  readonly signatureAlgorithmOid: string;
  readonly signatureAlgorithmParams: Uint8Array | undefined;
  readonly signature: Uint8Array;
}

/**
 * Reads only the signed envelope of a CRL that `parseCrl` refused (CertificateList, the TBS's
 * version, signature algorithm and issuer), so that the caller can tell a CRL its CA really
 * signed but we cannot use (unknown critical extension, an entry we cannot read) from garbage.
 * Throws CrlError when even that much is unreadable.
 */
export function parseCrlEnvelope(der: Uint8Array): CrlEnvelope {
  return asCrlError(() => readEnvelope(der).envelope);
}

/** Bad input as a CrlError (a DerError becomes CRL_MALFORMED); anything else is a bug, rethrown. */
function asCrlError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof CrlError) throw err;
    if (err instanceof DerError) throw new CrlError('CRL_MALFORMED', err.message);
    throw err;
  }
}

/** Parses one DER CertificateList. Throws CrlError (never anything else for bad input). */
export function parseCrl(der: Uint8Array): ParsedCrl {
  return asCrlError(() => parseInner(der));
}

/** Splits concatenated DER CRLs; a tail that is not a whole element raises CRL_MALFORMED. */
export function splitDer(input: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < input.length) {
    let tlv: Tlv;
    try {
      tlv = readTlv(input, pos, input.length);
    } catch (err) {
      if (err instanceof DerError) throw new CrlError('CRL_MALFORMED', `at offset ${pos}: ${err.message}`);
      throw err;
    }
    out.push(input.subarray(tlv.start, tlv.end));
    pos = tlv.end;
  }
  return out;
}
