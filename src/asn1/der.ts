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

/** Reads one element at `offset`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number): Tlv {
  if (offset >= limit) throw new DerError(`truncated: element expected at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported high tag number at offset ${offset}`);
  let pos = offset + 1;
  if (pos >= limit) throw new DerError(`truncated: length expected at offset ${pos}`);
  const first = buf[pos++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 octets cannot describe anything we hold in memory.
    if (count === 0 || count > 4) throw new DerError(`unsupported length form at offset ${pos - 1}`);
    if (pos + count > limit) throw new DerError(`truncated length at offset ${pos}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]!;
    if (length < 0x80 || (count > 1 && buf[pos - count] === 0)) {
      throw new DerError(`non-minimal length at offset ${offset}`);
    }
  }
  const end = pos + length;
  if (end > limit) throw new DerError(`element at offset ${offset} overruns its container`);
  return { tag, start: offset, contentStart: pos, end };
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

const TIME_RE = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime or GeneralizedTime (the RFC 5280 profile: seconds, 'Z', no fractions) as epoch ms. */
export function decodeTime(buf: Uint8Array, tlv: Tlv): number {
  if (tlv.tag !== Tag.UTC_TIME && tlv.tag !== Tag.GENERALIZED_TIME) throw new DerError('expected a time');
  const text = Buffer.from(
    buf.buffer,
    buf.byteOffset + tlv.contentStart,
    tlv.end - tlv.contentStart,
  ).toString('latin1');
  const m = TIME_RE.exec(text);
  const wantLength = tlv.tag === Tag.UTC_TIME ? 2 : 4;
  if (!m || m[1]!.length !== wantLength) throw new DerError(`malformed time '${text.slice(0, 32)}'`);
  let year = Number(m[1]);
  if (tlv.tag === Tag.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  const ms = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (Number.isNaN(ms)) throw new DerError(`malformed time '${text}'`);
  return ms;
}
