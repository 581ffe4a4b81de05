/**
 * Rebuilds the chain OpenSSL verified, leaf first, so revocation can check every element.
 * Node's getPeerX509Certificate() links only the certificates the client sent (often just the
 * leaf), so issuers are looked up in the CA bundle (first, as OpenSSL's default trusted-first
 * search does) and among the sent certificates by canonical subject name (RFC 5280 §7.1), and a
 * candidate is taken only when OpenSSL's own X509_check_issued (names, key identifiers, keyUsage)
 * accepts it and the child's signature verifies with its key, even when it is the only candidate.
 * Among fitting candidates a currently valid one is preferred, as OpenSSL does.
 *
 * Security property: every link of the returned chain is signature-checked, and `isAnchoredIn`
 * tells whether it ends at a self-signed CA of a given bundle; the gate refuses a chain that does
 * not. Bounded: depth 10 and at most 64 signature checks per chain, whatever the client sends.
 * Pure: no I/O.
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
const MAX_SIGNATURE_CHECKS = 64;

function element(x509: X509Certificate, parsed?: ParsedCertificate, fingerprint256?: string): ChainElement {
  return {
    x509,
    parsed: parsed ?? parseCertificate(x509.raw),
    fingerprint256: fingerprint256 ?? fingerprintHex(x509),
  };
}

/** Self-signed per OpenSSL: it issued itself (names, key ids) and its signature verifies with its key. */
const selfSignedCache = new WeakMap<X509Certificate, boolean>();
export function isSelfSigned(x509: X509Certificate): boolean {
  let known = selfSignedCache.get(x509);
  if (known === undefined) {
    try {
      known = x509.checkIssued(x509) && x509.verify(x509.publicKey);
    } catch {
      known = false;
    }
    selfSignedCache.set(x509, known);
  }
  return known;
}

/** True when `chain` ends at a self-signed CA of `bundle` (the only anchors OpenSSL accepts here). */
export function isAnchoredIn(chain: readonly ChainElement[], bundle: CaBundle): boolean {
  const top = chain[chain.length - 1];
  return top !== undefined && bundle.byFingerprint.has(top.fingerprint256) && isSelfSigned(top.x509);
}

interface Search {
  readonly bundle: CaBundle;
  readonly sent: readonly ChainElement[];
  readonly now: number;
  checks: number;
  /** The longest signature-checked path seen, for diagnostics when none is anchored. */
  longest: ChainElement[];
}

/**
 * Link results per issuer certificate object (bundle CAs live as long as their snapshot), keyed by
 * the child's SHA-256 fingerprint: the answer depends only on those bytes and that key, so a CA
 * above a new leaf is not verified again for every handshake. Bounded per issuer.
 */
const MAX_CACHED_LINKS = 1_000;
const linkCache = new WeakMap<X509Certificate, Map<string, boolean>>();

function issues(search: Search, issuer: ChainElement, child: ChainElement): boolean {
  let links = linkCache.get(issuer.x509);
  const known = links?.get(child.fingerprint256);
  if (known !== undefined) return known;
  if (search.checks >= MAX_SIGNATURE_CHECKS) return false;
  search.checks++;
  let ok: boolean;
  try {
    ok = child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.x509.publicKey);
  } catch {
    ok = false;
  }
  if (!links) {
    links = new Map();
    linkCache.set(issuer.x509, links);
  }
  if (links.size >= MAX_CACHED_LINKS) links.clear();
  links.set(child.fingerprint256, ok);
  return ok;
}

/** The issuers of `child`: bundle CAs first, then sent certificates; currently valid ones first. */
function issuersOf(search: Search, child: ChainElement): ChainElement[] {
  const key = nameKey(child.parsed.issuerDer);
  const fromBundle = (search.bundle.bySubject.get(key) ?? []).map((ca) =>
    element(ca.x509, ca.parsed, ca.fingerprint256),
  );
  const fromSent = search.sent.filter((c) => nameKey(c.parsed.subjectDer) === key);
  const fitting = [...fromBundle, ...fromSent].filter((c) => issues(search, c, child));
  const valid = (c: ChainElement): boolean =>
    c.parsed.notBefore <= search.now && search.now <= c.parsed.notAfter;
  return [...fitting.filter(valid), ...fitting.filter((c) => !valid(c))];
}

/** Depth-first: the first path from `path`'s last element to a self-signed bundle CA. */
function extend(search: Search, path: ChainElement[]): ChainElement[] | undefined {
  if (path.length > search.longest.length) search.longest = path;
  const child = path[path.length - 1]!;
  if (isSelfSigned(child.x509)) {
    return search.bundle.byFingerprint.has(child.fingerprint256) ? path : undefined;
  }
  if (path.length >= MAX_DEPTH) return undefined;
  for (const issuer of issuersOf(search, child)) {
    if (path.some((c) => c.fingerprint256 === issuer.fingerprint256)) continue;
    const found = extend(search, [...path, issuer]);
    if (found) return found;
  }
  return undefined;
}

/**
 * `leaf` is the peer certificate; `sent` the other certificates the client presented (Node's
 * issuerCertificate links). Returns the chain ending at a self-signed CA of `bundle` when one
 * exists (check with `isAnchoredIn`), else the longest signature-checked path from the leaf.
 * Throws DerError on an unparsable certificate.
 */
export function buildClientChain(
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  bundle: CaBundle,
  /** The leaf already parsed by the caller, so a handshake parses it once. */
  parsedLeaf?: ParsedCertificate,
  now: number = Date.now(),
): ChainElement[] {
  const first = element(leaf, parsedLeaf);
  const search: Search = { bundle, sent: sent.map((c) => element(c)), now, checks: 0, longest: [first] };
  return extend(search, [first]) ?? search.longest;
}
