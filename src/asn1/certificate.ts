/**
 * The fields of an X.509 certificate (RFC 5280 §4.1) that identity, policy and revocation need,
 * read straight from the DER. Node's X509Certificate does not expose raw names, the exact serial
 * bytes or SAN lists without its own escaping, so we read them once here. Signature checking is
 * not done here: OpenSSL verified the chain before any of this is used.
 */
import {
  content,
  ctx,
  DerError,
  DerReader,
  decodeBoolean,
  decodeOid,
  decodeTime,
  integerHex,
  smallInteger,
  Tag,
  type Tlv,
  whole,
} from './der.js';
import { parseName } from './name.js';

export const OID_EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** KeyUsage bits as they sit in the first content octet of the BIT STRING (RFC 5280 §4.2.1.3). */
export const KeyUsage = {
  digitalSignature: 0x80,
  keyEncipherment: 0x20,
  keyCertSign: 0x04,
  cRLSign: 0x02,
} as const;

export interface SubjectAltNames {
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
  readonly ip: readonly string[];
}

export interface ParsedCertificate {
  /** Upper-case hex, two digits per byte, no sign octet: `openssl x509 -serial` form. */
  readonly serialHex: string;
  /** The issuer Name element (DER), the key under which revocation is indexed. */
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly subjectPublicKeyInfoDer: Uint8Array;
  readonly san: SubjectAltNames;
  /** Extended key usage OIDs, or undefined when the extension is absent (any purpose). */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, undefined when absent. */
  readonly pathLength: number | undefined;
  /** The first octet of the keyUsage bits (see KeyUsage), undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** The outer signatureAlgorithm OID. */
  readonly signatureAlgorithmOid: string;
  readonly authorityKeyId: Uint8Array | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  /** The raw CRLDistributionPoints extension value, for matching partitioned CRLs. */
  readonly crlDistributionPointsDer: Uint8Array | undefined;
}

const EMPTY_SAN: SubjectAltNames = { dns: [], uri: [], email: [], ip: [] };

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    return groups.join(':');
  }
  return Buffer.from(bytes).toString('hex');
}

function parseSan(der: Uint8Array, value: Tlv): SubjectAltNames {
  const outer = new DerReader(der, value.contentStart, value.end);
  const names = outer.inside(outer.expect(Tag.SEQUENCE, 'SubjectAltName'));
  const dns: string[] = [];
  const uri: string[] = [];
  const email: string[] = [];
  const ip: string[] = [];
  while (!names.done) {
    const gn = names.next();
    const text = (): string => Buffer.from(content(der, gn)).toString('latin1');
    switch (gn.tag) {
      case 0x81:
        email.push(text());
        break;
      case 0x82:
        dns.push(text());
        break;
      case 0x86:
        uri.push(text());
        break;
      case 0x87:
        ip.push(formatIp(content(der, gn)));
        break;
      default:
        break; // otherName, directoryName, …: not used for identity
    }
  }
  return { dns, uri, email, ip };
}

function parseEku(der: Uint8Array, value: Tlv): string[] {
  const outer = new DerReader(der, value.contentStart, value.end);
  const seq = outer.inside(outer.expect(Tag.SEQUENCE, 'ExtKeyUsage'));
  const oids: string[] = [];
  while (!seq.done) oids.push(decodeOid(der, seq.expect(Tag.OID, 'KeyPurposeId')));
  return oids;
}

function parseBasicConstraints(
  der: Uint8Array,
  value: Tlv,
): { isCa: boolean; pathLength: number | undefined } {
  const outer = new DerReader(der, value.contentStart, value.end);
  const seq = outer.inside(outer.expect(Tag.SEQUENCE, 'BasicConstraints'));
  const ca = seq.optional(Tag.BOOLEAN);
  const len = seq.optional(Tag.INTEGER);
  return {
    isCa: ca !== undefined && decodeBoolean(der, ca),
    pathLength: len ? smallInteger(der, len) : undefined,
  };
}

function parseKeyUsage(der: Uint8Array, value: Tlv): number {
  const outer = new DerReader(der, value.contentStart, value.end);
  const bits = outer.expect(Tag.BIT_STRING, 'KeyUsage');
  // The first content octet counts unused bits; the usage bits start at the second.
  return bits.end - bits.contentStart >= 2 ? der[bits.contentStart + 1]! : 0;
}

function parseAuthorityKeyId(der: Uint8Array, value: Tlv): Uint8Array | undefined {
  const outer = new DerReader(der, value.contentStart, value.end);
  const seq = outer.inside(outer.expect(Tag.SEQUENCE, 'AuthorityKeyIdentifier'));
  const keyId = seq.optional(0x80);
  return keyId ? content(der, keyId) : undefined;
}

function parseOctets(der: Uint8Array, value: Tlv): Uint8Array {
  const outer = new DerReader(der, value.contentStart, value.end);
  return content(der, outer.expect(Tag.OCTET_STRING, 'SubjectKeyIdentifier'));
}

/**
 * Parses a DER certificate; throws DerError on anything malformed, and never anything else (the
 * gate relies on it: attacker-supplied bytes reach this before any verdict). The issuer and
 * subject Names are fully decoded here too, so every ParsedCertificate has names that
 * `formatRfc2253` can print: a Name OpenSSL tolerates but DER forbids (a non-minimal length, an
 * empty RDN) makes the whole certificate unparsable instead of failing later, mid-connection.
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const top = DerReader.of(der);
  const cert = top.inside(top.expect(Tag.SEQUENCE, 'Certificate'));
  top.finish('Certificate');
  const tbsTlv = cert.expect(Tag.SEQUENCE, 'TBSCertificate');
  const algorithm = cert.inside(cert.expect(Tag.SEQUENCE, 'signatureAlgorithm'));
  const signatureAlgorithmOid = decodeOid(der, algorithm.expect(Tag.OID, 'signatureAlgorithm'));
  const tbs = cert.inside(tbsTlv);
  tbs.optional(ctx(0)); // version
  const serialHex = integerHex(der, tbs.expect(Tag.INTEGER, 'serialNumber'));
  tbs.expect(Tag.SEQUENCE, 'signature');
  const issuerDer = whole(der, tbs.expect(Tag.SEQUENCE, 'issuer'));
  const validity = tbs.inside(tbs.expect(Tag.SEQUENCE, 'validity'));
  const notBefore = decodeTime(der, validity.next());
  const notAfter = decodeTime(der, validity.next());
  validity.finish('validity');
  const subjectDer = whole(der, tbs.expect(Tag.SEQUENCE, 'subject'));
  const subjectPublicKeyInfoDer = whole(der, tbs.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo'));
  parseName(issuerDer);
  parseName(subjectDer);
  tbs.optional(0x81); // issuerUniqueID
  tbs.optional(0x82); // subjectUniqueID

  let san = EMPTY_SAN;
  let extKeyUsage: string[] | undefined;
  let isCa = false;
  let pathLength: number | undefined;
  let keyUsage: number | undefined;
  let authorityKeyId: Uint8Array | undefined;
  let subjectKeyId: Uint8Array | undefined;
  let crlDistributionPointsDer: Uint8Array | undefined;
  const extsWrapper = tbs.optional(ctx(3));
  if (extsWrapper) {
    const wrapper = tbs.inside(extsWrapper);
    const exts = wrapper.inside(wrapper.expect(Tag.SEQUENCE, 'Extensions'));
    const seen = new Set<string>();
    while (!exts.done) {
      const ext = exts.inside(exts.expect(Tag.SEQUENCE, 'Extension'));
      const oid = decodeOid(der, ext.expect(Tag.OID, 'extnID'));
      if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
      seen.add(oid);
      const critical = ext.optional(Tag.BOOLEAN);
      if (critical) decodeBoolean(der, critical);
      const value = ext.expect(Tag.OCTET_STRING, 'extnValue');
      switch (oid) {
        case '2.5.29.17':
          san = parseSan(der, value);
          break;
        case '2.5.29.37':
          extKeyUsage = parseEku(der, value);
          break;
        case '2.5.29.19':
          ({ isCa, pathLength } = parseBasicConstraints(der, value));
          break;
        case '2.5.29.15':
          keyUsage = parseKeyUsage(der, value);
          break;
        case '2.5.29.35':
          authorityKeyId = parseAuthorityKeyId(der, value);
          break;
        case '2.5.29.14':
          subjectKeyId = parseOctets(der, value);
          break;
        case '2.5.29.31':
          crlDistributionPointsDer = content(der, value);
          break;
        default:
          break;
      }
    }
  }
  return {
    serialHex,
    issuerDer,
    subjectDer,
    notBefore,
    notAfter,
    subjectPublicKeyInfoDer,
    san,
    extKeyUsage,
    isCa,
    pathLength,
    keyUsage,
    signatureAlgorithmOid,
    authorityKeyId,
    subjectKeyId,
    crlDistributionPointsDer,
  };
}
