/**
 * The identity of a verified client, computed once per connection from its certificate DER.
 *
 * Security property: every field comes from the exact bytes OpenSSL verified (never from anything
 * the client sends in HTTP), in the forms design.md fixes (RFC 2253 names as OpenSSL prints them,
 * OpenSSL's serial form, SHA-256 of the leaf DER), and the object is frozen so later code cannot
 * alter who the caller is. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { ctx, DerReader, Tag } from '../asn1/der.js';
import { formatRfc2253, type NameAttribute, OID_CN, OID_O, OID_OU, parseName } from '../asn1/name.js';

export interface ClientIdentity {
  /** Subject DN, exactly `openssl x509 -noout -subject -nameopt RFC2253` (after `subject=`). */
  readonly subject: string;
  /** Issuer DN in the same form. */
  readonly issuer: string;
  /** Serial as `openssl x509 -noout -serial` prints it (upper-case hex, even digits, no sign byte). */
  readonly serial: string;
  /** Lower-case hex SHA-256 of the leaf DER. */
  readonly fingerprint256: string;
  readonly sanDns: readonly string[];
  readonly sanUri: readonly string[];
  readonly sanEmail: readonly string[];
  /** Epoch milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The first CN (in DER order, as OpenSSL's X509_NAME_get_index_by_NID finds it), decoded. */
  readonly commonName: string | undefined;
  /** The first CN as it appears in `subject` (RFC 2253 escaped, ASCII only). */
  readonly commonNameRfc2253: string | undefined;
  readonly organization: readonly string[];
  readonly organizationalUnit: readonly string[];
  readonly leafDer: Buffer;
  /** The certificates of the verified chain that the client sent, after its leaf, in chain order. */
  readonly chainDer: readonly Buffer[];
  readonly parsed: ParsedCertificate;
}

const HEX = '0123456789ABCDEF';

/**
 * The serial as OpenSSL's i2a_ASN1_INTEGER prints it: the magnitude in upper-case hex, two digits
 * per byte, with '-' for a negative INTEGER (forbidden by RFC 5280, accepted by OpenSSL).
 * ParsedCertificate.serialHex keeps the two's-complement bytes (the revocation index key), so a
 * negative serial is recomputed here from the DER.
 */
function opensslSerial(der: Uint8Array, parsed: ParsedCertificate): string {
  const top = DerReader.of(der);
  const cert = top.inside(top.expect(Tag.SEQUENCE, 'Certificate'));
  const tbs = cert.inside(cert.expect(Tag.SEQUENCE, 'TBSCertificate'));
  tbs.optional(ctx(0));
  const int = tbs.expect(Tag.INTEGER, 'serialNumber');
  const bytes = der.subarray(int.contentStart, int.end);
  if (bytes.length === 0 || (bytes[0]! & 0x80) === 0) return parsed.serialHex;
  // Two's complement negation: invert and add one, from the last byte.
  const mag = new Uint8Array(bytes.length);
  let carry = 1;
  for (let i = bytes.length - 1; i >= 0; i--) {
    const v = (~bytes[i]! & 0xff) + carry;
    mag[i] = v & 0xff;
    carry = v >> 8;
  }
  let start = 0;
  while (start < mag.length - 1 && mag[start] === 0) start++;
  let out = '-';
  for (let i = start; i < mag.length; i++) out += HEX[mag[i]! >> 4]! + HEX[mag[i]! & 15]!;
  return out;
}

function valuesOf(attrs: readonly NameAttribute[], oid: string): string[] {
  const out: string[] = [];
  for (const a of attrs) if (a.oid === oid && a.value !== undefined) out.push(a.value);
  return out;
}

/** Builds the identity of a verified client from its leaf and the certificates sent after it. */
export function clientIdentityFromDer(
  leafDer: Buffer,
  chainDer: readonly Buffer[],
  /** The leaf already parsed by the caller (the gate), so a handshake parses it once. */
  parsed: ParsedCertificate = parseCertificate(leafDer),
): ClientIdentity {
  const attrs = parseName(parsed.subjectDer);
  const cn = attrs.find((a) => a.oid === OID_CN);
  const identity: ClientIdentity = {
    subject: formatRfc2253(parsed.subjectDer),
    issuer: formatRfc2253(parsed.issuerDer),
    serial: opensslSerial(leafDer, parsed),
    fingerprint256: createHash('sha256').update(leafDer).digest('hex'),
    sanDns: Object.freeze([...parsed.san.dns]),
    sanUri: Object.freeze([...parsed.san.uri]),
    sanEmail: Object.freeze([...parsed.san.email]),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    commonName: cn?.value,
    commonNameRfc2253: cn?.rfc2253,
    organization: Object.freeze(valuesOf(attrs, OID_O)),
    organizationalUnit: Object.freeze(valuesOf(attrs, OID_OU)),
    leafDer,
    chainDer: Object.freeze([...chainDer]),
    parsed,
  };
  return Object.freeze(identity);
}
