/**
 * A small, bounded DER reader: enough of X.690 to walk certificates and CRLs.
 *
 * Every read is checked against the end of its enclosing element, so malformed input raises a
 * DerError instead of reading past a buffer, recursing without bound or allocating on a length
 * the input merely claims. Values are never copied: a Tlv is offsets into the caller's buffer.
 */

export class DerError extends Error {
  override readonly name = 'DerError';
  readonly code = 'DER_MALFORMED';
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag number n, constructed (`[n] EXPLICIT` or constructed IMPLICIT). */
export const ctx = (n: number): number => 0xa0 | n;
/** Context-specific tag number n, primitive (`[n] IMPLICIT` over a primitive type). */
export const ctxPrim = (n: number): number => 0x80 | n;

export interface Tlv {
  /** The identifier octet (only low-tag-number form is accepted). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset one past the last content octet. */
  readonly end: number;
}

/**
 * Registers of the last `readHeader`: [contentStart, end]. A typed array, so the hot loops of the
 * CRL parser read element bounds without allocating a Tlv per element.
 */
export const HEADER = new Int32Array(2);

/**
 * Reads the identifier and length octets of one element at `pos`, which must end at or before
 * `limit`; returns its tag and leaves its content bounds in HEADER. The one DER length rule:
 * low-tag-number identifiers only, definite lengths only (BER's indefinite form 0x80 refused),
 * minimal length octets (short form below 0x80, no leading zero octet), at most 4 length octets,
 * and never past the container.
 */
export function readHeader(buf: Uint8Array, pos: number, limit: number): number {
  if (limit > 0x7fffffff) throw new DerError('input too large');
  if (pos >= limit) throw new DerError(`truncated: element expected at offset ${pos}`);
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported high tag number at offset ${pos}`);
  let p = pos + 1;
  if (p >= limit) throw new DerError(`truncated: length expected at offset ${p}`);
  const first = buf[p++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 octets cannot describe anything we hold in memory.
    if (count === 0 || count > 4) throw new DerError(`unsupported length form at offset ${p - 1}`);
    if (p + count > limit) throw new DerError(`truncated length at offset ${p}`);
    if (buf[p] === 0) throw new DerError(`non-minimal length at offset ${pos}`);
    length = 0;
    for (let k = 0; k < count; k++) length = length * 256 + buf[p++]!;
    if (length < 0x80) throw new DerError(`non-minimal length at offset ${pos}`);
  }
  const end = p + length;
  if (end > limit) throw new DerError(`element at offset ${pos} overruns its container`);
  HEADER[0] = p;
  HEADER[1] = end;
  return tag;
}

/** Reads one element at `offset`, which must end at or before `limit` (the rules of readHeader). */
export function readTlv(buf: Uint8Array, offset: number, limit: number): Tlv {
  const tag = readHeader(buf, offset, limit);
  return { tag, start: offset, contentStart: HEADER[0]!, end: HEADER[1]! };
}

/** Sequential reader over the children of one constructed element (or a whole buffer). */
export class DerReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  static of(buf: Uint8Array): DerReader {
    return new DerReader(buf, 0, buf.length);
  }

  /** A reader over the content of `tlv`. */
  inside(tlv: Tlv): DerReader {
    return new DerReader(this.buf, tlv.contentStart, tlv.end);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  next(): Tlv {
    const tlv = readTlv(this.buf, this.pos, this.end);
    this.pos = tlv.end;
    return tlv;
  }

  expect(tag: number, what: string): Tlv {
    const actual = this.peekTag();
    if (actual !== tag) {
      const seen = actual === undefined ? 'end of data' : `tag 0x${actual.toString(16)}`;
      throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found ${seen}`);
    }
    return this.next();
  }

  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** Throws unless every byte of this reader's range was consumed. */
  finish(what: string): void {
    if (this.pos !== this.end) throw new DerError(`${what}: unexpected trailing data`);
  }
}

export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

export function whole(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

export function decodeOid(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== Tag.OID) throw new DerError('expected an OBJECT IDENTIFIER');
  if (tlv.end === tlv.contentStart) throw new DerError('empty OBJECT IDENTIFIER');
  const parts: number[] = [];
  let value = 0;
  let inArc = false;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const byte = buf[i]!;
    if (!inArc && byte === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
    inArc = (byte & 0x80) !== 0;
    if (!inArc) {
      if (parts.length === 0) {
        const first = value < 40 ? 0 : value < 80 ? 1 : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  if (inArc) throw new DerError('truncated OBJECT IDENTIFIER');
  return parts.join('.');
}

/**
 * An INTEGER as OpenSSL prints a serial: upper-case hex, two digits per byte, without the sign
 * octet DER adds to keep a positive number positive. Negative serials (invalid per RFC 5280 but
 * seen in the wild) keep their two's-complement bytes and a leading '-' marker is not invented.
 */
export function integerHex(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== Tag.INTEGER) throw new DerError('expected an INTEGER');
  let start = tlv.contentStart;
  if (start === tlv.end) throw new DerError('empty INTEGER');
  while (start < tlv.end - 1 && buf[start] === 0) start++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, tlv.end - start)
    .toString('hex')
    .toUpperCase();
}

/** A small non-negative INTEGER or ENUMERATED (versions, reason codes, CRL numbers up to 2^48). */
export function smallInteger(buf: Uint8Array, tlv: Tlv): number {
  const length = tlv.end - tlv.contentStart;
  if (length === 0 || length > 6) throw new DerError('INTEGER out of range');
  if (buf[tlv.contentStart]! & 0x80) throw new DerError('negative INTEGER');
  let value = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) value = value * 256 + buf[i]!;
  return value;
}

function digits2(buf: Uint8Array, at: number): number {
  const a = buf[at]! - 48;
  const b = buf[at + 1]! - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * The one time rule (RFC 5280 §4.1.2.5): UTCTime is exactly YYMMDDHHMMSSZ (13 octets, YY >= 50 is
 * 19YY), GeneralizedTime exactly YYYYMMDDHHMMSSZ (15 octets); 'Z' required, no fractions, no
 * offsets; month 1-12, a day that exists in that month (leap years included), hour < 24,
 * minute < 60, second < 60. Anything else raises DerError: a time is never normalised (Date.UTC
 * would turn month 13 day 31 into a later date). Returns epoch ms; allocates nothing.
 */
export function timeAt(buf: Uint8Array, tag: number, start: number, end: number): number {
  let year: number;
  let p: number;
  if (tag === Tag.UTC_TIME) {
    if (end - start !== 13) throw new DerError('malformed UTCTime: not YYMMDDHHMMSSZ');
    const yy = digits2(buf, start);
    if (yy < 0) throw new DerError('malformed UTCTime');
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    p = start + 2;
  } else if (tag === Tag.GENERALIZED_TIME) {
    if (end - start !== 15) throw new DerError('malformed GeneralizedTime: not YYYYMMDDHHMMSSZ');
    const hi = digits2(buf, start);
    const lo = digits2(buf, start + 2);
    if (hi < 0 || lo < 0) throw new DerError('malformed GeneralizedTime');
    year = hi * 100 + lo;
    p = start + 4;
  } else {
    throw new DerError('expected a time');
  }
  const month = digits2(buf, p);
  const day = digits2(buf, p + 2);
  const hour = digits2(buf, p + 4);
  const minute = digits2(buf, p + 6);
  const second = digits2(buf, p + 8);
  if (
    buf[p + 10] !== 0x5a ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > (month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month]!) ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    throw new DerError('malformed time: a field is out of range');
  }
  // Days from the civil date (H. Hinnant's algorithm): Date.UTC's result, without its cost.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000;
}

/**
 * The lenient rule, only for dates nothing decides on (a CRL entry's revocationDate): any form
 * X.680 allows and OpenSSL loads, read as well as it can be (seconds optional, fractions ignored,
 * `Z` or a `±hhmm` offset, or neither), else 0 ("unknown"). Refusing one entry's date would refuse
 * the whole CRL and leave its CA with none. thisUpdate/nextUpdate stay under `timeAt`'s strict rule.
 */
export function lenientTimeAt(buf: Uint8Array, tag: number, start: number, end: number): number {
  try {
    return timeAt(buf, tag, start, end);
  } catch {
    // fall through: the strict form failed, read the loose one
  }
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(buf[i]!);
  const m =
    tag === Tag.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})?$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,]\d+)?(Z|[+-]\d{4})?$/.exec(text);
  if (!m) return 0;
  const yy = Number(m[1]);
  const year = tag === Tag.UTC_TIME ? (yy < 50 ? 2000 + yy : 1900 + yy) : yy;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return 0;
  const zone = m[7];
  const offset =
    zone === undefined || zone === 'Z'
      ? 0
      : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offset;
  return Number.isFinite(ms) ? ms : 0;
}

/** UTCTime or GeneralizedTime element as epoch ms, under the rule of `timeAt`. */
export function decodeTime(buf: Uint8Array, tlv: Tlv): number {
  return timeAt(buf, tlv.tag, tlv.contentStart, tlv.end);
}

/** A BOOLEAN's value (one content octet; any non-zero octet is TRUE, as OpenSSL reads it). */
export function decodeBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  if (tlv.end - tlv.contentStart !== 1) throw new DerError('malformed BOOLEAN');
  return buf[tlv.contentStart] !== 0;
}
