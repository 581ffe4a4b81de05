/**
 * What the security team reads about one certificate: names, fingerprint, validity, CA flag and
 * path length, key type and size, signature algorithm. Read from the DER with the same parser the
 * gateway uses (asn1/), plus the two fields it does not need (pathLen, signature algorithm).
 */
import type { X509Certificate } from 'node:crypto';
import { sameName } from '../asn1/canonical-name.js';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253 } from '../asn1/name.js';
import { fingerprintHex } from '../trust/ca-bundle.js';

export interface CertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  /** Lower-case hex SHA-256 of the DER (as `/trust` shows it). */
  readonly fingerprint256: string;
  /** Epoch ms. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly selfSigned: boolean;
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, undefined when absent. */
  readonly pathLength: number | undefined;
  /** `rsa`, `ec`, `ed25519`, … */
  readonly keyType: string;
  /** RSA modulus bits, or EC curve bits; undefined when unknown. */
  readonly keyBits: number | undefined;
  /** EC curve name, when EC. */
  readonly curve: string | undefined;
  readonly signatureAlgorithm: string;
  readonly sha1Signature: boolean;
  readonly extKeyUsage: readonly string[] | undefined;
}

const SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};
const WEAK_SIGNATURES = new Set(['1.2.840.113549.1.1.4', '1.2.840.113549.1.1.5', '1.2.840.10045.4.1']);
const CURVE_BITS: Readonly<Record<string, number>> = {
  prime256v1: 256,
  secp384r1: 384,
  secp521r1: 521,
  secp256k1: 256,
};

/** The basicConstraints pathLenConstraint of a DER certificate, undefined when absent. */
export function pathLengthOf(der: Uint8Array): number | undefined {
  return parseCertificate(der).pathLength;
}

export function certificateFacts(x509: X509Certificate, parsed: ParsedCertificate): CertificateFacts {
  const { signatureAlgorithmOid: sigOid, pathLength } = parsed;
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const curve = details.namedCurve;
  const keyBits = details.modulusLength ?? (curve ? CURVE_BITS[curve] : undefined);
  return {
    subject: formatRfc2253(parsed.subjectDer),
    issuer: formatRfc2253(parsed.issuerDer),
    serial: parsed.serialHex,
    fingerprint256: fingerprintHex(x509),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    selfSigned: sameName(parsed.subjectDer, parsed.issuerDer) && x509.verify(key),
    isCa: parsed.isCa,
    pathLength,
    keyType: key.asymmetricKeyType ?? 'unknown',
    keyBits,
    curve,
    signatureAlgorithm: SIGNATURE_ALGORITHMS[sigOid] ?? sigOid,
    sha1Signature: WEAK_SIGNATURES.has(sigOid),
    extKeyUsage: parsed.extKeyUsage,
  };
}

/** `2027-11-26T12:00:00Z`, the gateway's time form. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
