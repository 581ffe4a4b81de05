/**
 * Rebuilds the chain OpenSSL verified, leaf first, so revocation can check every element.
 * Node's getPeerX509Certificate() links only the certificates the client sent (often just the
 * leaf), so issuers are looked up in the CA bundle by subject name, disambiguated by key
 * identifier and, when several candidates remain, by signature. Pure: no I/O.
 */
import type { X509Certificate } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { type CaBundle, fingerprintHex, nameKey } from '../trust/ca-bundle.js';

export interface ChainElement {
  readonly x509: X509Certificate;
  readonly parsed: ParsedCertificate;
  readonly fingerprint256: string;
}

const MAX_DEPTH = 10;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;
}

function element(x509: X509Certificate, parsed?: ParsedCertificate, fingerprint256?: string): ChainElement {
  return {
    x509,
    parsed: parsed ?? parseCertificate(x509.raw),
    fingerprint256: fingerprint256 ?? fingerprintHex(x509),
  };
}

/** The issuer of `child` among `candidates`: matching key id first, then a verifying signature. */
function pickIssuer(child: ChainElement, candidates: readonly ChainElement[]): ChainElement | undefined {
  const aki = child.parsed.authorityKeyId;
  const byKeyId = aki ? candidates.filter((c) => sameBytes(c.parsed.subjectKeyId, aki)) : candidates;
  const pool = byKeyId.length > 0 ? byKeyId : candidates;
  if (pool.length === 1) return pool[0];
  return pool.find((c) => child.x509.verify(c.x509.publicKey));
}

/**
 * `leaf` is the peer certificate; `sent` the other certificates the client presented (Node's
 * issuerCertificate links). Throws DerError on an unparsable certificate.
 */
export function buildClientChain(
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  bundle: CaBundle,
  /** The leaf already parsed by the caller, so a handshake parses it once. */
  parsedLeaf?: ParsedCertificate,
): ChainElement[] {
  const chain = [element(leaf, parsedLeaf)];
  const sentElements = sent.map((c) => element(c));
  while (chain.length < MAX_DEPTH) {
    const child = chain[chain.length - 1]!;
    if (sameBytes(child.parsed.subjectDer, child.parsed.issuerDer) && chain.length > 1) break; // root
    const key = nameKey(child.parsed.issuerDer);
    const fromBundle = (bundle.bySubject.get(key) ?? []).map((ca) =>
      element(ca.x509, ca.parsed, ca.fingerprint256),
    );
    const fromSent = sentElements.filter((c) => nameKey(c.parsed.subjectDer) === key);
    const issuer = pickIssuer(child, [...fromBundle, ...fromSent]);
    if (!issuer || chain.some((c) => c.fingerprint256 === issuer.fingerprint256)) break;
    chain.push(issuer);
  }
  return chain;
}
