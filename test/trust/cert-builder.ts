/**
 * Test helper: builds X.509 certificates (DER) in memory with crl-builder.ts's encoders and a key
 * generated per run, so CA shapes no `openssl req` config would make in one line (no keyUsage, no
 * subjectKeyIdentifier, keyUsage without cRLSign, not a CA, twins under one name) cost no process.
 * Node's X509Certificate reads the result. Not a test.
 */
import { createHash, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from '../../src/asn1/certificate.js';
import {
  algorithmIdentifier,
  bool,
  extension,
  int,
  octet,
  type SigAlg,
  seq,
  signBytes,
  time,
  tlv,
} from './crl-builder.js';

export type KeyKind = 'ec' | 'rsa' | 'rsa-pss' | 'ed25519';

export function keyPair(kind: KeyKind): { publicKey: KeyObject; privateKey: KeyObject } {
  if (kind === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (kind === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (kind === 'rsa-pss') return generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  return generateKeyPairSync('ed25519');
}

/** The signature algorithm a key of this kind signs certificates (and CRLs) with by default. */
export function defaultAlg(kind: KeyKind): SigAlg {
  if (kind === 'ec') return 'ecdsa-sha256';
  if (kind === 'rsa') return 'rsa-sha256';
  if (kind === 'rsa-pss') return 'rsa-pss-sha256';
  return 'ed25519';
}

export interface CertSpec {
  readonly subjectDer: Uint8Array;
  /** Defaults to the subject (self-issued). */
  readonly issuerDer?: Uint8Array | undefined;
  readonly publicKey: KeyObject;
  /** Signs the certificate; defaults to a throw-away key (nothing here verifies certificate signatures). */
  readonly signer?: { readonly key: KeyObject; readonly alg: SigAlg } | undefined;
  readonly serialHex?: string | undefined;
  /** basicConstraints cA; undefined: no basicConstraints extension. */
  readonly ca?: boolean | undefined;
  /** The first keyUsage octet (KeyUsage bits); undefined: no keyUsage extension. */
  readonly keyUsage?: number | undefined;
  /** subjectKeyIdentifier; undefined: none. */
  readonly subjectKeyId?: Uint8Array | undefined;
  readonly authorityKeyId?: Uint8Array | undefined;
  readonly notBefore?: number | undefined;
  readonly notAfter?: number | undefined;
  /** More Extension elements (DER), after the others. */
  readonly extraExtensions?: readonly Uint8Array[] | undefined;
}

export interface BuiltCert {
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  readonly parsed: ParsedCertificate;
  readonly pem: string;
}

let serial = 0x2000;
let fallbackSigner: { key: KeyObject; alg: SigAlg } | undefined;

/** A KeyUsage BIT STRING with its first octet `bits` (unused trailing zero bits counted). */
function keyUsageValue(bits: number): Uint8Array {
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return tlv(0x03, Buffer.from([unused, bits]));
}

/** The certificate's DER only (for shapes our own certificate parser refuses). */
export function buildCertDer(spec: CertSpec): Uint8Array {
  fallbackSigner ??= { key: keyPair('ec').privateKey, alg: 'ecdsa-sha256' };
  const signer = spec.signer ?? fallbackSigner;
  const alg = algorithmIdentifier(signer.alg);
  const exts: Uint8Array[] = [];
  if (spec.ca !== undefined) exts.push(extension('2.5.29.19', true, spec.ca ? seq(bool(true)) : seq()));
  if (spec.keyUsage !== undefined) exts.push(extension('2.5.29.15', true, keyUsageValue(spec.keyUsage)));
  if (spec.subjectKeyId) exts.push(extension('2.5.29.14', false, octet(spec.subjectKeyId)));
  if (spec.authorityKeyId) exts.push(extension('2.5.29.35', false, seq(tlv(0x80, spec.authorityKeyId))));
  exts.push(...(spec.extraExtensions ?? []));
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, int('02')),
    int(spec.serialHex ?? (serial++).toString(16)),
    alg,
    spec.issuerDer ?? spec.subjectDer,
    seq(time(spec.notBefore ?? now - 86_400_000), time(spec.notAfter ?? now + 365 * 86_400_000)),
    spec.subjectDer,
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    ...(exts.length > 0 ? [tlv(0xa3, seq(...exts))] : []),
  );
  return seq(tbs, alg, tlv(0x03, Buffer.from([0]), signBytes(signer.alg, signer.key, tbs)));
}

export function buildCert(spec: CertSpec): BuiltCert {
  const der = buildCertDer(spec);
  const x509 = new X509Certificate(der);
  return { der, x509, parsed: parseCertificate(x509.raw), pem: x509.toString() };
}

/** A key id as `openssl x509 -subject_key_hash`-independent test data: SHA-1 of the SPKI. */
export function keyIdOf(publicKey: KeyObject): Uint8Array {
  return createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

export interface TestCa {
  readonly cert: BuiltCert;
  readonly key: KeyObject;
  readonly alg: SigAlg;
  readonly keyId: Uint8Array;
}

/**
 * A self-signed CA (basicConstraints cA, keyUsage keyCertSign|cRLSign, a subject key id) unless
 * `overrides` says otherwise.
 */
export function testCa(
  subjectDer: Uint8Array,
  kind: KeyKind = 'ec',
  overrides: Partial<CertSpec> = {},
): TestCa {
  const { publicKey, privateKey } = keyPair(kind);
  const alg = defaultAlg(kind);
  const keyId = keyIdOf(publicKey);
  const cert = buildCert({
    subjectDer,
    publicKey,
    signer: { key: privateKey, alg },
    ca: true,
    keyUsage: 0x06,
    subjectKeyId: keyId,
    ...overrides,
  });
  return { cert, key: privateKey, alg, keyId };
}
