/**
 * Names compared as OpenSSL compares them (RFC 5280 §7.1; OpenSSL's x509_name_canon and
 * asn1_string_canon): every value of a directory string type (UTF8String, PrintableString,
 * T61String, IA5String, VisibleString, BMPString, UniversalString) is converted to UTF-8, leading
 * and trailing whitespace is removed, internal whitespace runs become one space, ASCII letters are
 * lower-cased; other value types (NumericString included, as in OpenSSL) are kept as tag and bytes;
 * each RDN is a set (attribute order inside it does not count); empty RDNs vanish.
 *
 * Security property: two names get the same key exactly when OpenSSL's X509_NAME_cmp calls them
 * equal. A name we cannot canonicalize (malformed DER, invalid UTF-8, odd-length BMPString) gets a
 * key made of its raw bytes, so it still equals only itself: lookups by such a name can only find
 * fewer candidates, never a wrong one. Pure and total: never throws.
 */
import { DerReader, decodeOid, Tag, type Tlv } from './der.js';

/** Bytes per character of each string type OpenSSL canonicalizes (0 = UTF-8). */
const CANON_WIDTH: Readonly<Record<number, number>> = {
  [Tag.UTF8_STRING]: 0,
  [Tag.PRINTABLE_STRING]: 1,
  [Tag.T61_STRING]: 1, // OpenSSL reads T61 as Latin-1
  [Tag.IA5_STRING]: 1,
  [Tag.VISIBLE_STRING]: 1,
  [Tag.BMP_STRING]: 2,
  [Tag.UNIVERSAL_STRING]: 4,
};
const NUMERIC_STRING = 0x12;

class NotCanonical extends Error {}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

// ignoreBOM: a leading U+FEFF is a character of the value (OpenSSL keeps it), not a byte-order mark.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The characters of a string value, or NotCanonical where OpenSSL's UTF-8 conversion fails. */
function decodeString(bytes: Uint8Array, width: number): string {
  if (width === 0) {
    try {
      return utf8Strict.decode(bytes);
    } catch {
      throw new NotCanonical();
    }
  }
  if (width === 1) return Buffer.from(bytes).toString('latin1');
  if (bytes.length % width !== 0) throw new NotCanonical();
  let out = '';
  for (let i = 0; i < bytes.length; i += width) {
    const cp =
      width === 2
        ? (bytes[i]! << 8) | bytes[i + 1]!
        : ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new NotCanonical();
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** asn1_string_canon on text: trim, collapse whitespace runs, lower-case ASCII only. */
export function canonicalText(text: string): string {
  // OpenSSL's ossl_isspace: space, \t, \n, \v, \f, \r (ASCII only).
  return text
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '')
    .replace(/[ \t\n\v\f\r]+/g, ' ')
    .replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** The canonical key of one attribute value (`u:` text, or `t<tag>:` hex of the raw value). */
function valueKey(buf: Uint8Array, tlv: Tlv, numericAsText: boolean): string {
  const bytes = buf.subarray(tlv.contentStart, tlv.end);
  const width = CANON_WIDTH[tlv.tag] ?? (numericAsText && tlv.tag === NUMERIC_STRING ? 1 : undefined);
  if (width === undefined) return `t${tlv.tag}:${hexOf(bytes)}`;
  return `u:${canonicalText(decodeString(bytes, width))}`;
}

interface KeyOptions {
  /** How an attribute type is named in the key (OID by default). */
  readonly typeName?: (oid: string) => string;
  /** Also canonicalize NumericString (for comparing with configured text, which has no types). */
  readonly numericAsText?: boolean;
}

function rdnsOf(der: Uint8Array, opts: KeyOptions): string[][] {
  const outer = DerReader.of(der);
  const seq = outer.expect(Tag.SEQUENCE, 'Name');
  outer.finish('Name');
  const rdns = outer.inside(seq);
  const out: string[][] = [];
  while (!rdns.done) {
    const set = rdns.inside(rdns.expect(Tag.SET, 'RelativeDistinguishedName'));
    const rdn: string[] = [];
    while (!set.done) {
      const atv = set.inside(set.expect(Tag.SEQUENCE, 'AttributeTypeAndValue'));
      const oid = decodeOid(der, atv.expect(Tag.OID, 'attribute type'));
      const value = atv.next();
      atv.finish('AttributeTypeAndValue');
      const type = opts.typeName ? opts.typeName(oid) : oid;
      rdn.push(`${type}=${valueKey(der, value, opts.numericAsText === true)}`);
    }
    if (rdn.length > 0) out.push(rdn.sort());
  }
  return out;
}

/** The raw-bytes key of a name that cannot be canonicalized (it equals only itself). */
function rawKey(der: Uint8Array): string {
  return `raw:${hexOf(der)}`;
}

/**
 * The key under which a DER Name is compared (map key for chain building, CRL matching, bundle
 * diffs): equal keys ⇔ OpenSSL calls the names equal. Never throws.
 */
export function canonicalNameKey(der: Uint8Array, opts: KeyOptions = {}): string {
  try {
    return `c:${JSON.stringify(rdnsOf(der, opts))}`;
  } catch {
    return rawKey(der);
  }
}

/** True when OpenSSL would call the two DER names equal. */
export function sameName(a: Uint8Array, b: Uint8Array): boolean {
  return canonicalNameKey(a) === canonicalNameKey(b);
}

/**
 * Splits RFC 2253 text (`CN=Issuing CA,O=Example`, as `openssl -nameopt RFC2253` prints it) into
 * RDNs of [type, value], undoing `\,`-style and `\XX` escapes. `#hex` values stay as written.
 * Returns undefined for text that is not a well-formed RFC 2253 name.
 */
function splitRfc2253(text: string): { type: string; value: string; hex: boolean }[][] | undefined {
  const rdns: { type: string; value: string; hex: boolean }[][] = [];
  let rdn: { type: string; value: string; hex: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = text.slice(i, eq).trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)$/.test(type)) return undefined;
    i = eq + 1;
    const hex = text[i] === '#';
    const bytes: number[] = [];
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === ',' || ch === '+') break;
      if (ch === '\\') {
        const pair = text.slice(i + 1, i + 3);
        if (/^[0-9A-Fa-f]{2}$/.test(pair)) {
          bytes.push(Number.parseInt(pair, 16));
          i += 2;
        } else if (i + 1 < text.length) {
          for (const b of Buffer.from(text[i + 1]!, 'utf8')) bytes.push(b);
          i += 1;
        } else return undefined;
        continue;
      }
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
    }
    let value: string;
    try {
      value = utf8Strict.decode(Uint8Array.from(bytes));
    } catch {
      return undefined;
    }
    rdn.push({ type, value, hex });
    if (i >= text.length || text[i] === ',') {
      rdns.push(rdn);
      rdn = [];
    }
    i++;
  }
  if (rdn.length > 0) rdns.push(rdn);
  return rdns;
}

/**
 * The canonical key of a name written as RFC 2253 text, comparable with
 * `canonicalNameKeyNamed(der, typeName)` where `typeName` gives the same short names the text uses
 * (RDN order as written: RFC 2253 text lists the last RDN first). Undefined for malformed text.
 */
export function canonicalTextNameKey(text: string): string | undefined {
  const rdns = splitRfc2253(text);
  if (!rdns) return undefined;
  const out: string[][] = [];
  for (const rdn of [...rdns].reverse()) {
    const keys: string[] = [];
    for (const { type, value, hex } of rdn) {
      let key: string;
      if (hex) {
        const raw = value.slice(1);
        if (!/^([0-9A-Fa-f]{2})+$/.test(raw)) return undefined;
        const der = Buffer.from(raw, 'hex');
        try {
          const r = DerReader.of(der);
          const tlv = r.next();
          r.finish('attribute value');
          key = valueKey(der, tlv, true);
        } catch {
          return undefined;
        }
      } else key = `u:${canonicalText(value)}`;
      keys.push(`${type.toUpperCase()}=${key}`);
    }
    out.push(keys.sort());
  }
  return `c:${JSON.stringify(out)}`;
}
