/**
 * CA bundle validation. A bundle is accepted whole or not at all: every PEM block must be a
 * certificate, at least one must be present, each must be a CA (basicConstraints CA:TRUE) and not
 * expired. A CA that is not valid yet is loaded (as nginx and Envoy do): OpenSSL refuses chains
 * through it until its notBefore, so one CA prepared in advance (or issued by a clock slightly
 * ahead) never locks out the partners of the others; it is listed in `notYetValid` and warned
 * about. Exact duplicates are dropped with a warning. In production, material issued under the
 * development root (O=mtls-gateway development) is refused.
 */
import { X509Certificate } from 'node:crypto';
import { canonicalNameKey } from '../asn1/canonical-name.js';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253, OID_O, parseName } from '../asn1/name.js';
import { type PemError, splitPem } from './pem.js';

export const DEV_ORGANIZATION = 'mtls-gateway development';

export class TrustMaterialError extends Error {
  override readonly name: string = 'TrustMaterialError';
}

/**
 * Refused only because of the clock (expired, or not valid yet): the same bytes may be accepted
 * later, or after the clock is corrected, so they are decided again on every poll and never
 * remembered as invalid.
 */
export class TimeTrustMaterialError extends TrustMaterialError {
  override readonly name: string = 'TimeTrustMaterialError';
  constructor(
    message: string,
    /** When the material becomes valid, if that lies ahead (the store retries then). */
    readonly validFrom?: number,
  ) {
    super(message);
  }
}

export interface TrustedCa {
  readonly x509: X509Certificate;
  readonly parsed: ParsedCertificate;
  readonly subject: string;
  readonly fingerprint256: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface CaBundle {
  /** Re-encoded PEM of the accepted CAs, handed to OpenSSL as the `ca` option. */
  readonly pem: string;
  readonly cas: readonly TrustedCa[];
  /** The CAs' fingerprints, fingerprintHex form. */
  readonly byFingerprint: ReadonlySet<string>;
  /** CAs by canonical subject Name (nameKey): the candidates when building a client's chain. */
  readonly bySubject: ReadonlyMap<string, readonly TrustedCa[]>;
  readonly warnings: readonly string[];
}

/** The CAs of a bundle whose notBefore is still ahead of `now`, earliest first. */
export function notYetValidCas(bundle: CaBundle, now: number): TrustedCa[] {
  return bundle.cas.filter((c) => c.notBefore > now).sort((a, b) => a.notBefore - b.notBefore);
}

export function isDevelopmentMaterial(parsed: ParsedCertificate): boolean {
  const dev = (der: Uint8Array): boolean =>
    parseName(der).some((a) => a.oid === OID_O && a.value === DEV_ORGANIZATION);
  return dev(parsed.subjectDer) || dev(parsed.issuerDer);
}

/**
 * The map key for a Name: its canonical form (RFC 5280 §7.1, as OpenSSL compares names), so a
 * PrintableString issuer finds its UTF8String-named CA as OpenSSL's chain builder does.
 */
export function nameKey(der: Uint8Array): string {
  return canonicalNameKey(der);
}

/**
 * The one form a certificate fingerprint takes in our code, /trust and logs: SHA-256 of the DER,
 * lower-case hex without colons (Node's `fingerprint256` is colon-separated upper case).
 */
export function fingerprintHex(x509: X509Certificate): string {
  return x509.fingerprint256.replaceAll(':', '').toLowerCase();
}

export function parseCaBundle(bytes: Uint8Array, opts: { now: number; production: boolean }): CaBundle {
  let blocks: ReturnType<typeof splitPem>;
  try {
    blocks = splitPem(Buffer.from(bytes).toString('latin1'));
  } catch (err) {
    throw new TrustMaterialError(`CA bundle: ${(err as PemError).message}`);
  }
  const warnings: string[] = [];
  if (blocks.strayText) warnings.push('text outside PEM blocks was ignored');
  if (blocks.blocks.length === 0) throw new TrustMaterialError('CA bundle: no certificate found');
  const cas: TrustedCa[] = [];
  const seen = new Set<string>();
  blocks.blocks.forEach((block, i) => {
    const where = `CA bundle block ${i + 1}`;
    if (block.label !== 'CERTIFICATE')
      throw new TrustMaterialError(`${where}: ${block.label} is not a CERTIFICATE`);
    let x509: X509Certificate;
    let parsed: ParsedCertificate;
    try {
      x509 = new X509Certificate(block.der);
      parsed = parseCertificate(block.der);
    } catch (err) {
      throw new TrustMaterialError(`${where}: not a valid certificate (${(err as Error).message})`);
    }
    const subject = formatRfc2253(parsed.subjectDer);
    if (!parsed.isCa)
      throw new TrustMaterialError(`${where} (${subject}): not a CA (basicConstraints CA:TRUE missing)`);
    if (parsed.notAfter < opts.now) {
      throw new TimeTrustMaterialError(
        `${where} (${subject}): expired ${new Date(parsed.notAfter).toISOString()}`,
      );
    }
    if (parsed.notBefore > opts.now) {
      // Loaded all the same: only chains through this CA fail, and only until its notBefore.
      warnings.push(`CA not valid yet: ${subject} (valid from ${new Date(parsed.notBefore).toISOString()})`);
    }
    if (opts.production && isDevelopmentMaterial(parsed)) {
      throw new TrustMaterialError(`${where} (${subject}): development CA refused in production`);
    }
    const fingerprint256 = fingerprintHex(x509);
    if (seen.has(fingerprint256)) {
      warnings.push(`duplicate CA dropped: ${subject}`);
      return;
    }
    seen.add(fingerprint256);
    cas.push({
      x509,
      parsed,
      subject,
      fingerprint256,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
    });
  });
  const bySubject = new Map<string, TrustedCa[]>();
  for (const ca of cas) {
    const key = nameKey(ca.parsed.subjectDer);
    bySubject.set(key, [...(bySubject.get(key) ?? []), ca]);
  }
  return { pem: cas.map((c) => c.x509.toString()).join(''), cas, byFingerprint: seen, bySubject, warnings };
}
