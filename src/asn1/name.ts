/**
 * X.501 distinguished names: decoding and the exact text form our headers use.
 *
 * `formatRfc2253` reproduces `openssl x509 -noout -subject -nameopt RFC2253` byte for byte
 * (OpenSSL's XN_FLAG_RFC2253: reversed RDN order, ',' and '+' separators, short names,
 * RFC 2253 escapes, values converted to UTF-8 and every byte >= 0x80 written as \XX, unknown
 * attribute types dumped as #hex). The result is always printable ASCII, so it is safe in a header.
 */
import { DerError, DerReader, decodeOid, Tag, type Tlv, whole } from './der.js';

/**
 * OpenSSL's short names (OpenSSL 3.0 `openssl list -objects`) for every attribute type in the
 * arcs names use: 2.5.4 (X.520), 0.9.2342.19200300.100.1 (COSINE), 1.2.840.113549.1.9 (PKCS #9)
 * and the EV jurisdiction arc. OpenSSL prints a type it has no name for as its dotted OID and
 * dumps its value as #hex; so do we.
 */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.2': 'textEncodedORAddress',
  '0.9.2342.19200300.100.1.3': 'mail',
  '0.9.2342.19200300.100.1.4': 'info',
  '0.9.2342.19200300.100.1.5': 'favouriteDrink',
  '0.9.2342.19200300.100.1.6': 'roomNumber',
  '0.9.2342.19200300.100.1.7': 'photo',
  '0.9.2342.19200300.100.1.8': 'userClass',
  '0.9.2342.19200300.100.1.9': 'host',
  '0.9.2342.19200300.100.1.10': 'manager',
  '0.9.2342.19200300.100.1.11': 'documentIdentifier',
  '0.9.2342.19200300.100.1.12': 'documentTitle',
  '0.9.2342.19200300.100.1.13': 'documentVersion',
  '0.9.2342.19200300.100.1.14': 'documentAuthor',
  '0.9.2342.19200300.100.1.15': 'documentLocation',
  '0.9.2342.19200300.100.1.20': 'homeTelephoneNumber',
  '0.9.2342.19200300.100.1.21': 'secretary',
  '0.9.2342.19200300.100.1.22': 'otherMailbox',
  '0.9.2342.19200300.100.1.23': 'lastModifiedTime',
  '0.9.2342.19200300.100.1.24': 'lastModifiedBy',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.26': 'aRecord',
  '0.9.2342.19200300.100.1.27': 'pilotAttributeType27',
  '0.9.2342.19200300.100.1.28': 'mXRecord',
  '0.9.2342.19200300.100.1.29': 'nSRecord',
  '0.9.2342.19200300.100.1.30': 'sOARecord',
  '0.9.2342.19200300.100.1.31': 'cNAMERecord',
  '0.9.2342.19200300.100.1.37': 'associatedDomain',
  '0.9.2342.19200300.100.1.38': 'associatedName',
  '0.9.2342.19200300.100.1.39': 'homePostalAddress',
  '0.9.2342.19200300.100.1.40': 'personalTitle',
  '0.9.2342.19200300.100.1.41': 'mobileTelephoneNumber',
  '0.9.2342.19200300.100.1.42': 'pagerTelephoneNumber',
  '0.9.2342.19200300.100.1.43': 'friendlyCountryName',
  '0.9.2342.19200300.100.1.44': 'uid',
  '0.9.2342.19200300.100.1.45': 'organizationalStatus',
  '0.9.2342.19200300.100.1.46': 'janetMailbox',
  '0.9.2342.19200300.100.1.47': 'mailPreferenceOption',
  '0.9.2342.19200300.100.1.48': 'buildingName',
  '0.9.2342.19200300.100.1.49': 'dSAQuality',
  '0.9.2342.19200300.100.1.50': 'singleLevelQuality',
  '0.9.2342.19200300.100.1.51': 'subtreeMinimumQuality',
  '0.9.2342.19200300.100.1.52': 'subtreeMaximumQuality',
  '0.9.2342.19200300.100.1.53': 'personalSignature',
  '0.9.2342.19200300.100.1.54': 'dITRedirect',
  '0.9.2342.19200300.100.1.55': 'audio',
  '0.9.2342.19200300.100.1.56': 'documentPublisher',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.2.840.113549.1.9.3': 'contentType',
  '1.2.840.113549.1.9.4': 'messageDigest',
  '1.2.840.113549.1.9.5': 'signingTime',
  '1.2.840.113549.1.9.6': 'countersignature',
  '1.2.840.113549.1.9.7': 'challengePassword',
  '1.2.840.113549.1.9.8': 'unstructuredAddress',
  '1.2.840.113549.1.9.9': 'extendedCertificateAttributes',
  '1.2.840.113549.1.9.14': 'extReq',
  '1.2.840.113549.1.9.15': 'SMIME-CAPS',
  '1.2.840.113549.1.9.16': 'SMIME',
  '1.2.840.113549.1.9.20': 'friendlyName',
  '1.2.840.113549.1.9.21': 'localKeyID',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.14': 'searchGuide',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.19': 'physicalDeliveryOfficeName',
  '2.5.4.20': 'telephoneNumber',
  '2.5.4.21': 'telexNumber',
  '2.5.4.22': 'teletexTerminalIdentifier',
  '2.5.4.23': 'facsimileTelephoneNumber',
  '2.5.4.24': 'x121Address',
  '2.5.4.25': 'internationaliSDNNumber',
  '2.5.4.26': 'registeredAddress',
  '2.5.4.27': 'destinationIndicator',
  '2.5.4.28': 'preferredDeliveryMethod',
  '2.5.4.29': 'presentationAddress',
  '2.5.4.30': 'supportedApplicationContext',
  '2.5.4.31': 'member',
  '2.5.4.32': 'owner',
  '2.5.4.33': 'roleOccupant',
  '2.5.4.34': 'seeAlso',
  '2.5.4.35': 'userPassword',
  '2.5.4.36': 'userCertificate',
  '2.5.4.37': 'cACertificate',
  '2.5.4.38': 'authorityRevocationList',
  '2.5.4.39': 'certificateRevocationList',
  '2.5.4.40': 'crossCertificatePair',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.47': 'enhancedSearchGuide',
  '2.5.4.48': 'protocolInformation',
  '2.5.4.49': 'distinguishedName',
  '2.5.4.50': 'uniqueMember',
  '2.5.4.51': 'houseIdentifier',
  '2.5.4.52': 'supportedAlgorithms',
  '2.5.4.53': 'deltaRevocationList',
  '2.5.4.54': 'dmdName',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '2.5.4.98': 'c3',
  '2.5.4.99': 'n3',
  '2.5.4.100': 'dnsName',
};

export const OID_CN = '2.5.4.3';
export const OID_O = '2.5.4.10';
export const OID_OU = '2.5.4.11';

export interface NameAttribute {
  readonly oid: string;
  /** The value decoded to a JavaScript string; undefined for non-string value types. */
  readonly value: string | undefined;
  /** Index of the RDN (in DER order) this attribute belongs to. */
  readonly rdn: number;
  /**
   * The value exactly as `formatRfc2253` prints it after `type=`: RFC 2253 escaped, non-ASCII as
   * \XX, or `#hex` of the DER for non-string values and types OpenSSL has no name for. ASCII only.
   */
  readonly rfc2253: string;
}

/** How OpenSSL reads each string type: bytes per character (0 = UTF-8); absent = not a string. */
const CHAR_WIDTH: Readonly<Record<number, number>> = {
  [Tag.UTF8_STRING]: 0,
  18: 1, // NumericString
  [Tag.PRINTABLE_STRING]: 1,
  [Tag.T61_STRING]: 1, // OpenSSL treats T61 as Latin-1
  [Tag.IA5_STRING]: 1,
  [Tag.UTC_TIME]: 1,
  [Tag.GENERALIZED_TIME]: 1,
  [Tag.VISIBLE_STRING]: 1,
  [Tag.UNIVERSAL_STRING]: 4,
  [Tag.BMP_STRING]: 2,
};

/**
 * The characters of a directory string value as code points (UTF-8 decoded; Latin-1 bytes;
 * UCS-2; UCS-4), or undefined if it is not a string type. Invalid UTF-8 and code points outside
 * Unicode become U+FFFD (OpenSSL refuses to load such certificates at all).
 */
function codePoints(buf: Uint8Array, tlv: Tlv): number[] | undefined {
  const width = CHAR_WIDTH[tlv.tag];
  if (width === undefined) return undefined;
  const bytes = buf.subarray(tlv.contentStart, tlv.end);
  const out: number[] = [];
  if (width === 0) {
    for (const ch of Buffer.from(bytes).toString('utf8')) out.push(ch.codePointAt(0)!);
    return out;
  }
  if (width === 1) return Array.from(bytes);
  if (bytes.length % width !== 0)
    throw new DerError('string length is not a multiple of its character width');
  for (let i = 0; i < bytes.length; i += width) {
    const cp =
      width === 2
        ? (bytes[i]! << 8) | bytes[i + 1]!
        : ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    out.push(cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0xfffd : cp);
  }
  return out;
}

const HEX = '0123456789ABCDEF';
const hexByte = (b: number): string => `\\${HEX[b >> 4]}${HEX[b & 15]}`;

/** UTF-8 bytes of one code point (OpenSSL's UTF8_putc). */
function utf8(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/**
 * RFC 2253 escaping as OpenSSL's do_buf/do_esc_char do it with ASN1_STRFLGS_RFC2253: each
 * character converted to UTF-8, bytes >= 0x80 and control bytes (and DEL) as \XX, `,+"\<>;` with a
 * backslash, '#' or ' ' first and ' ' last with a backslash. The last character takes the "last"
 * rule instead of the "first" one, so a lone '#' stays unescaped and a lone ' ' becomes '\ '.
 */
function escapeCodePoints(cps: readonly number[]): string {
  let out = '';
  const last = cps.length - 1;
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp >= 0x80) {
      for (const b of utf8(cp)) out += hexByte(b);
    } else if (cp < 0x20 || cp === 0x7f) out += hexByte(cp);
    else if (
      cp === 0x2c ||
      cp === 0x2b ||
      cp === 0x22 ||
      cp === 0x5c ||
      cp === 0x3c ||
      cp === 0x3e ||
      cp === 0x3b
    ) {
      out += `\\${String.fromCharCode(cp)}`;
    } else if (i === last ? cp === 0x20 : i === 0 && (cp === 0x23 || cp === 0x20)) {
      out += `\\${String.fromCharCode(cp)}`;
    } else out += String.fromCharCode(cp);
  }
  return out;
}

function dumpHex(bytes: Uint8Array): string {
  let out = '#';
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Parses a Name (the whole SEQUENCE element, as found in a certificate or CRL). */
export function parseName(der: Uint8Array): NameAttribute[] {
  const outer = DerReader.of(der);
  const seq = outer.expect(Tag.SEQUENCE, 'Name');
  outer.finish('Name');
  const rdns = outer.inside(seq);
  const attributes: NameAttribute[] = [];
  let rdn = 0;
  while (!rdns.done) {
    const set = rdns.expect(Tag.SET, 'RelativeDistinguishedName');
    const atvs = rdns.inside(set);
    if (atvs.done) throw new DerError('empty RelativeDistinguishedName');
    while (!atvs.done) {
      const atv = atvs.inside(atvs.expect(Tag.SEQUENCE, 'AttributeTypeAndValue'));
      const oid = decodeOid(der, atv.expect(Tag.OID, 'attribute type'));
      const valueTlv = atv.next();
      atv.finish('AttributeTypeAndValue');
      const cps = codePoints(der, valueTlv);
      let value: string | undefined;
      if (cps !== undefined) {
        value = '';
        for (const cp of cps) value += String.fromCodePoint(cp);
      }
      const rfc2253 =
        cps === undefined || SHORT_NAMES[oid] === undefined
          ? dumpHex(whole(der, valueTlv))
          : escapeCodePoints(cps);
      attributes.push({ oid, value, rdn, rfc2253 });
    }
    rdn++;
  }
  return attributes;
}

/** OpenSSL's short name for an attribute type, or the dotted OID when it has none. */
export function attributeName(oid: string): string {
  return SHORT_NAMES[oid] ?? oid;
}

/** Formats a DER Name exactly as `openssl … -nameopt RFC2253` prints it. */
export function formatRfc2253(der: Uint8Array): string {
  const parts = parseName(der);
  let out = '';
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (i < parts.length - 1) out += parts[i + 1]!.rdn === part.rdn ? '+' : ',';
    out += `${attributeName(part.oid)}=${part.rfc2253}`;
  }
  return out;
}
