/**
 * Test and bench helper: builds DER CRLs directly (any shape, any signature algorithm, millions of
 * entries quickly), so the parser can be tested on inputs no CA tool would produce. Not a test.
 */
import { constants, type KeyObject, sign } from 'node:crypto';

export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else if (n < 0x100) len = [0x81, n];
  else if (n < 0x10000) len = [0x82, n >> 8, n & 0xff];
  else if (n < 0x1000000) len = [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  else len = [0x84, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, ...parts);
export const set = (...parts: Uint8Array[]): Uint8Array => tlv(0x31, ...parts);
export const nul = (): Uint8Array => Buffer.from([0x05, 0x00]);
export const octet = (b: Uint8Array): Uint8Array => tlv(0x04, b);
export const bool = (v: boolean): Uint8Array => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const ia5 = (s: string): Uint8Array => tlv(0x16, Buffer.from(s, 'latin1'));
export const utf8 = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, 'utf8'));
export const enumerated = (n: number): Uint8Array => Buffer.from([0x0a, 0x01, n]);

/** INTEGER from upper/lower-case hex (a sign octet is added when needed). */
export function int(hex: string): Uint8Array {
  let h = hex.length % 2 ? `0${hex}` : hex;
  if (Number.parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
  return tlv(0x02, Buffer.from(h, 'hex'));
}

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number): void => {
    const bytes = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) bytes.unshift((x & 0x7f) | 0x80);
    out.push(...bytes);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(out));
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** UTCTime (years 1950–2049) or GeneralizedTime otherwise, RFC 5280 profile. */
export function time(ms: number): Uint8Array {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${two(y % 100)}${rest}`, 'latin1'));
  return tlv(0x18, Buffer.from(`${y}${rest}`, 'latin1'));
}

export function name(cn: string, o?: string): Uint8Array {
  const rdns = [];
  if (o) rdns.push(set(seq(oid('2.5.4.10'), utf8(o))));
  rdns.push(set(seq(oid('2.5.4.3'), utf8(cn))));
  return seq(...rdns);
}

export function extension(extnId: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(extnId), bool(true), octet(value)) : seq(oid(extnId), octet(value));
}

export const reasonExt = (reason: number): Uint8Array => extension('2.5.29.21', false, enumerated(reason));
export const crlNumberExt = (n: number | bigint): Uint8Array =>
  extension('2.5.29.20', false, int(n.toString(16)));
export const akiExt = (keyId: Uint8Array): Uint8Array =>
  extension('2.5.29.35', false, seq(tlv(0x80, keyId).subarray(0)));
/** IDP with fullName URIs and optional only-user/only-CA flags. */
export function idpExt(uris: string[], flags: { user?: boolean; ca?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  if (uris.length > 0)
    parts.push(tlv(0xa0, tlv(0xa0, ...uris.map((u) => tlv(0x86, Buffer.from(u, 'latin1'))))));
  if (flags.user) parts.push(Buffer.from([0x81, 0x01, 0xff]));
  if (flags.ca) parts.push(Buffer.from([0x82, 0x01, 0xff]));
  return extension('2.5.29.28', true, seq(...parts));
}
/** CRLDistributionPoints extension value with one fullName URI per distribution point. */
export function cdpValue(uris: string[]): Uint8Array {
  return seq(...uris.map((u) => seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(u, 'latin1')))))));
}

export type SigAlg =
  | 'ecdsa-sha256'
  | 'ecdsa-sha384'
  | 'rsa-sha256'
  | 'rsa-sha512'
  | 'rsa-pss-sha256'
  | 'ed25519';

export function algorithmIdentifier(alg: SigAlg): Uint8Array {
  switch (alg) {
    case 'ecdsa-sha256':
      return seq(oid('1.2.840.10045.4.3.2'));
    case 'ecdsa-sha384':
      return seq(oid('1.2.840.10045.4.3.3'));
    case 'rsa-sha256':
      return seq(oid('1.2.840.113549.1.1.11'), nul());
    case 'rsa-sha512':
      return seq(oid('1.2.840.113549.1.1.13'), nul());
    case 'rsa-pss-sha256': {
      const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'), nul());
      return seq(
        oid('1.2.840.113549.1.1.10'),
        seq(tlv(0xa0, sha256), tlv(0xa1, seq(oid('1.2.840.113549.1.1.8'), sha256)), tlv(0xa2, int('20'))),
      );
    }
    case 'ed25519':
      return seq(oid('1.3.101.112'));
  }
}

export function signBytes(alg: SigAlg, key: KeyObject, data: Uint8Array): Uint8Array {
  switch (alg) {
    case 'ecdsa-sha256':
    case 'rsa-sha256':
      return sign('sha256', data, key);
    case 'ecdsa-sha384':
      return sign('sha384', data, key);
    case 'rsa-sha512':
      return sign('sha512', data, key);
    case 'rsa-pss-sha256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ed25519':
      return sign(null, data, key);
  }
}

export interface EntrySpec {
  readonly serialHex: string;
  readonly date?: number;
  readonly reason?: number;
  /** Extra entry extensions (DER Extension elements). */
  readonly extensions?: readonly Uint8Array[];
}

export interface CrlSpec {
  readonly issuerDer: Uint8Array;
  readonly alg: SigAlg;
  readonly key: KeyObject;
  readonly thisUpdate?: number;
  /** null: omit nextUpdate. */
  readonly nextUpdate?: number | null;
  readonly entries?: readonly EntrySpec[];
  /** Pre-encoded content of revokedCertificates (for bulk CRLs); overrides `entries`. */
  readonly revokedContent?: Uint8Array;
  readonly extensions?: readonly Uint8Array[];
  /** Omit the version field (v1). */
  readonly v1?: boolean;
  /** Put this AlgorithmIdentifier in the TBS instead of the outer one. */
  readonly tbsAlgorithm?: Uint8Array;
  /** Claim this AlgorithmIdentifier (TBS and outer) while still signing with `alg`. */
  readonly algorithm?: Uint8Array;
}

export function entryDer(e: EntrySpec): Uint8Array {
  const exts = [...(e.reason !== undefined ? [reasonExt(e.reason)] : []), ...(e.extensions ?? [])];
  return seq(
    int(e.serialHex),
    time(e.date ?? Date.now() - 3_600_000),
    ...(exts.length ? [seq(...exts)] : []),
  );
}

export function buildCrl(spec: CrlSpec): Uint8Array {
  const now = Date.now();
  const alg = spec.algorithm ?? algorithmIdentifier(spec.alg);
  const parts: Uint8Array[] = [];
  if (!spec.v1) parts.push(int('01'));
  parts.push(spec.tbsAlgorithm ?? alg, spec.issuerDer, time(spec.thisUpdate ?? now - 3_600_000));
  if (spec.nextUpdate !== null) parts.push(time(spec.nextUpdate ?? now + 7 * 86_400_000));
  if (spec.revokedContent) parts.push(tlv(0x30, spec.revokedContent));
  else if (spec.entries && spec.entries.length > 0) parts.push(seq(...spec.entries.map(entryDer)));
  if (spec.extensions && spec.extensions.length > 0) parts.push(tlv(0xa0, seq(...spec.extensions)));
  const tbs = seq(...parts);
  const sig = signBytes(spec.alg, spec.key, tbs);
  return seq(tbs, alg, tlv(0x03, Buffer.from([0]), sig));
}

/** Serial of bulk entry i: 8 bytes, 0x10 then a 7-byte counter (positive, no leading zero). */
export function bulkSerial(i: number): string {
  return `10${i.toString(16).toUpperCase().padStart(14, '0')}`;
}

/** revokedCertificates content for `count` entries, written directly (41 bytes each, keyCompromise). */
export function bulkRevokedContent(count: number, date = Date.UTC(2024, 0, 2, 3, 4, 5)): Uint8Array {
  const entry = Buffer.from(entryDer({ serialHex: bulkSerial(0), date, reason: 1 }));
  const size = entry.length;
  const out = Buffer.allocUnsafe(size * count);
  // Layout: 30 LL 02 08 <8 serial bytes> …; the serial starts at offset 4.
  for (let i = 0; i < count; i++) {
    const at = i * size;
    entry.copy(out, at);
    let v = i;
    for (let k = 11; k >= 5; k--) {
      out[at + k] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }
  return out;
}
