/**
 * The one gate every client connection passes. OpenSSL has already built and verified the chain
 * against the CA bundle (`rejectUnauthorized: false` lets us see failures too); here we read the
 * peer certificate once, classify any failure into the closed set of reasons, and check every
 * certificate of the verified chain against our revocation index. Only an `ok` verdict carries a
 * ClientIdentity, so nothing downstream can forward a request without one.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { DerError } from '../asn1/der.js';
import { formatRfc2253 } from '../asn1/name.js';
import { type ClientIdentity, clientIdentityFromDer } from '../identity/index.js';
import { fingerprintHex } from '../trust/ca-bundle.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { buildClientChain, type ChainElement, isAnchoredIn } from './client-chain.js';
import { classifyVerifyError, type RefusalFacts, type RefusalReason, refusalMessage } from './refusal.js';

export interface PresentedCertificate {
  readonly subject?: string;
  readonly serial?: string;
  readonly issuer?: string;
}

export interface RevocationPolicy {
  readonly graceSeconds: number;
  readonly crlRequired: boolean;
}

export type Verdict =
  | {
      readonly ok: true;
      readonly identity: ClientIdentity;
      /** The verified chain, leaf first, with the fingerprint of each element. */
      readonly chain: readonly ParsedCertificate[];
      readonly chainFingerprints: readonly string[];
    }
  | {
      readonly ok: false;
      readonly reason: RefusalReason;
      readonly presented: PresentedCertificate;
      readonly detail: string;
      /** One specific sentence for the partner engineer ("… expired at 2026-10-01T00:00:00Z …"). */
      readonly message?: string;
      /** Lower-case hex SHA-256 of the presented leaf, for the log (readable even when nothing else is). */
      readonly fingerprint256?: string;
    };

/**
 * The longest subject or issuer, in RFC 2253 form, a client certificate may carry (a real DN is a
 * few hundred characters). Longer ones are refused as bad_certificate: they would become headers
 * no upstream accepts, and a refused client must not write 60 KB into the log on every handshake.
 */
export const MAX_NAME_CHARS = 4096;
/** Presented names and error details longer than this are cut (with `...`) in refusals and logs. */
const MAX_LOGGED_CHARS = 1024;

const clip = (text: string): string =>
  text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS - 3)}...` : text;

/**
 * The most certificates a client may send after its leaf. OpenSSL sees every one of them as an
 * untrusted issuer candidate, so the gate must see them all too: a chain is refused, not cut,
 * when it is longer (a certificate the gate did not read could be the one OpenSSL verified through).
 */
const MAX_SENT = 32;

/**
 * The distinct certificates the client sent after its leaf, in the order sent (Node's
 * issuerCertificate links), or undefined when there are more than MAX_SENT. A repeated certificate
 * is skipped, not taken as the end: otherwise [A, A, B] would hide B from the gate.
 */
function sentChain(leaf: X509Certificate): X509Certificate[] | undefined {
  const sent: X509Certificate[] = [];
  const seen = new Set([leaf.fingerprint256]);
  let current = leaf;
  for (let hops = 0; ; hops++) {
    const next = current.issuerCertificate;
    if (!next || next === current) return sent;
    if (hops >= MAX_SENT) return undefined;
    if (!seen.has(next.fingerprint256)) {
      seen.add(next.fingerprint256);
      sent.push(next);
    }
    current = next;
  }
}

/** What a refusal shows of a certificate. Cannot throw: a ParsedCertificate's names are well-formed. */
function presentedOf(parsed: ParsedCertificate | undefined): PresentedCertificate {
  if (!parsed) return {};
  return {
    subject: clip(formatRfc2253(parsed.subjectDer)),
    serial: parsed.serialHex,
    issuer: clip(formatRfc2253(parsed.issuerDer)),
  };
}

function refuse(
  reason: RefusalReason,
  presented: PresentedCertificate,
  detail: string,
  message?: string,
): Verdict {
  return message === undefined
    ? { ok: false, reason, presented, detail }
    : { ok: false, reason, presented, detail, message };
}

/** Validity of each presented certificate (unparsable ones skipped), for a sentence naming the one at fault. */
function chainFacts(leaf: ParsedCertificate, sent: readonly X509Certificate[]): RefusalFacts['chain'] {
  const out = [leaf];
  for (const c of sent) {
    try {
      out.push(parseCertificate(c.raw));
    } catch {
      break;
    }
  }
  return out.map((c) => ({
    subject: clip(formatRfc2253(c.subjectDer)),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  }));
}

/**
 * Decides a freshly established connection against `snapshot`, which must be the snapshot whose
 * secure context verified the handshake (the listener records it per socket). Must be called once
 * per connection: in Node 20 a second getPeerX509Certificate() loses the chain.
 */
export function verifyNewConnection(
  socket: TLSSocket,
  snapshot: TrustSnapshot | undefined,
  policy: RevocationPolicy,
  now: number = Date.now(),
): Verdict {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return refuse('no_certificate', {}, 'no client certificate');
  const verdict = decide(socket, leaf, snapshot, policy, now);
  return verdict.ok ? verdict : { ...verdict, fingerprint256: fingerprintHex(leaf) };
}

function decide(
  socket: TLSSocket,
  leaf: X509Certificate,
  snapshot: TrustSnapshot | undefined,
  policy: RevocationPolicy,
  now: number,
): Verdict {
  const sent = sentChain(leaf);
  if (!sent) {
    const parsed = parseLeaf(leaf);
    return 'ok' in parsed
      ? parsed
      : refuse(
          'bad_certificate',
          presentedOf(parsed),
          `more than ${MAX_SENT} certificates sent after the leaf`,
        );
  }
  if (!snapshot || !socket.authorized) return refuseUnverified(socket, leaf, sent, snapshot, now);
  const cache = verifiedChains(snapshot);
  const key = chainKey(leaf, sent);
  const cached = cache.get(key);
  let known = cached && cached.from <= now && now <= cached.until ? cached.verdict : undefined;
  if (!known) {
    const built = buildVerified(leaf, sent, snapshot, now);
    if (!built.ok) return built;
    if (cache.size >= MAX_CACHED_CHAINS) cache.clear();
    cache.set(key, { verdict: built, ...decisionWindow(built.chain, sent, snapshot, now) });
    known = built;
  }
  // Revocation is checked on every connection, cached chain or not: the index may have changed.
  const revoked = checkRevocation(known.chain, snapshot, policy, now);
  if (revoked) return refuse(revoked.reason, presentedOf(known.chain[0]), revoked.detail, revoked.message);
  return known;
}

/**
 * The leaf parsed once (names included), or its bad_certificate refusal: DER that OpenSSL loaded
 * but we cannot read exactly (a non-minimal length, an empty RDN, …) is never formatted into a
 * log or a header; the refusal shows the serial as OpenSSL read it (and the listener logs the
 * fingerprint). Only DerError is a refusal here: anything else is a bug, and goes to the
 * listener's last-resort catch.
 */
function parseLeaf(leaf: X509Certificate): ParsedCertificate | Verdict {
  let parsed: ParsedCertificate;
  try {
    parsed = parseCertificate(leaf.raw);
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    return refuse(
      'bad_certificate',
      { serial: leaf.serialNumber },
      clip(`unparsable certificate: ${err.message}`),
    );
  }
  const subject = formatRfc2253(parsed.subjectDer);
  const issuer = formatRfc2253(parsed.issuerDer);
  if (subject.length > MAX_NAME_CHARS || issuer.length > MAX_NAME_CHARS) {
    return refuse(
      'bad_certificate',
      presentedOf(parsed),
      `subject or issuer name longer than ${MAX_NAME_CHARS} characters`,
    );
  }
  return parsed;
}

/** A connection OpenSSL did not verify (or with no trust loaded): the reason, and what was presented. */
function refuseUnverified(
  socket: TLSSocket,
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  snapshot: TrustSnapshot | undefined,
  now: number,
): Verdict {
  const parsedLeaf = parseLeaf(leaf);
  if ('ok' in parsedLeaf) return parsedLeaf;
  const presented = presentedOf(parsedLeaf);
  if (!snapshot) return refuse('other', presented, 'trust material not loaded');
  const code = String(socket.authorizationError ?? 'unknown');
  const reason = classifyVerifyError(code);
  const facts: RefusalFacts = { chain: chainFacts(parsedLeaf, sent), now, issuer: presented.issuer };
  return refuse(reason, presented, code, refusalMessage(reason, facts));
}

/** The verified chain rebuilt leaf first (for revocation) and the client's identity. */
function buildVerified(
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  snapshot: TrustSnapshot,
  now: number,
): Verdict {
  const parsedLeaf = parseLeaf(leaf);
  if ('ok' in parsedLeaf) return parsedLeaf;
  let elements: ChainElement[];
  try {
    elements = buildClientChain(leaf, sent, snapshot.caBundle, parsedLeaf, now);
  } catch (err) {
    const presented = presentedOf(parsedLeaf);
    return refuse('bad_certificate', presented, `unparsable certificate in chain: ${(err as Error).message}`);
  }
  // One chain, the verified one: every link signature-checked, ending at a self-signed CA of the
  // snapshot whose secure context verified the handshake. Anything else is not what OpenSSL
  // verified, so nothing (revocation, identity) may be decided from it.
  if (!isAnchoredIn(elements, snapshot.caBundle)) {
    return refuse(
      'unknown_ca',
      presentedOf(parsedLeaf),
      'the rebuilt chain does not end at a CA of the trust snapshot that verified the handshake',
    );
  }
  return acceptedVerdict(leaf, sent, parsedLeaf, elements);
}

/**
 * The `ok` verdict of a verified, unrevoked chain (`elements` leaf first): identity and chain.
 * The identity's chainDer is the part of the verified chain the client sent, in chain order:
 * anything else it sent (another partner's CA, a same-name look-alike, a twin OpenSSL did not
 * use) verified nothing, and must not reach Client-Cert-Chain or the rotation guard as if it had.
 */
export function acceptedVerdict(
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  parsedLeaf: ParsedCertificate,
  elements: readonly ChainElement[],
): Verdict & { ok: true } {
  const sentFingerprints = new Set(sent.map(fingerprintHex));
  return {
    ok: true,
    identity: clientIdentityFromDer(
      leaf.raw,
      elements
        .slice(1)
        .filter((e) => sentFingerprints.has(e.fingerprint256))
        .map((e) => e.x509.raw),
      parsedLeaf,
    ),
    chain: elements.map((e) => e.parsed),
    chainFingerprints: elements.map((e) => e.fingerprint256),
  };
}

/**
 * Chains OpenSSL verified under one snapshot, with the identity built from them, keyed by the
 * SHA-256 of every certificate the client sent. A partner reconnecting (a resumed session or a new
 * handshake with the same certificate) skips the chain rebuild and the identity formatting; the
 * entry is reused only after OpenSSL verified the same bytes again, and dies with its snapshot (a
 * new bundle rebuilds chains). Bounded: cleared when full.
 */
const MAX_CACHED_CHAINS = 10_000;

/**
 * A cached chain and the span of time (epoch ms, inclusive) over which it stays the one OpenSSL
 * picks: which candidate issuer OpenSSL takes depends on which are valid now (the first valid
 * one), so once any certificate the client sent, or any CA of the bundle, crosses its notBefore
 * or notAfter the chain is rebuilt. Otherwise a chain cached through a since-expired certificate
 * would keep deciding revocation after OpenSSL moved on to a revoked twin.
 */
interface CachedChain {
  readonly verdict: Verdict & { ok: true };
  readonly from: number;
  readonly until: number;
}

type Validity = { readonly notBefore: number; readonly notAfter: number };

function decisionWindow(
  chain: readonly Validity[],
  sent: readonly X509Certificate[],
  snapshot: TrustSnapshot,
  now: number,
): { from: number; until: number } {
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  const consider = (c: Validity): void => {
    if (c.notBefore > now) until = Math.min(until, c.notBefore - 1);
    else from = Math.max(from, c.notBefore);
    if (c.notAfter < now) from = Math.max(from, c.notAfter + 1);
    else until = Math.min(until, c.notAfter);
  };
  for (const c of chain) consider(c);
  for (const c of sent) consider(parseCertificate(c.raw));
  for (const c of snapshot.caBundle.cas) consider(c);
  return { from, until };
}

const chainsBySnapshot = new WeakMap<TrustSnapshot, Map<string, CachedChain>>();

function verifiedChains(snapshot: TrustSnapshot): Map<string, CachedChain> {
  let cache = chainsBySnapshot.get(snapshot);
  if (!cache) {
    cache = new Map();
    chainsBySnapshot.set(snapshot, cache);
  }
  return cache;
}

function chainKey(leaf: X509Certificate, sent: readonly X509Certificate[]): string {
  let key = leaf.fingerprint256;
  for (const c of sent) key += `/${c.fingerprint256}`;
  return key;
}

function checkRevocation(
  chain: readonly ParsedCertificate[],
  snapshot: TrustSnapshot,
  policy: RevocationPolicy,
  now: number,
): { reason: RefusalReason; detail: string; message: string } | undefined {
  const result = snapshot.revocation.check(chain, now, policy);
  if (result.ok) return undefined;
  return {
    reason: result.reason,
    detail: `${result.reason}: serial ${result.serial} issued by ${result.issuer}`,
    message: refusalMessage(result.reason, { serial: result.serial, issuer: result.issuer }),
  };
}

/**
 * Re-decides an established connection after the trust snapshot changed: its chain must still
 * lead to a CA in the new bundle, and no certificate of it may have been revoked since.
 */
export function recheckConnection(
  previous: Verdict & { ok: true },
  previousSnapshot: TrustSnapshot,
  snapshot: TrustSnapshot,
  policy: RevocationPolicy,
  now: number = Date.now(),
): Verdict {
  const presented = presentedOf(previous.chain[0]);
  const fps = previous.chainFingerprints;
  const anchor = fps[fps.length - 1];
  const anchorKept = anchor !== undefined && snapshot.caBundle.byFingerprint.has(anchor);
  // A CA the old bundle supplied and the new one dropped no longer vouches for this chain.
  const droppedCa = fps
    .slice(1)
    .some(
      (fp) => previousSnapshot.caBundle.byFingerprint.has(fp) && !snapshot.caBundle.byFingerprint.has(fp),
    );
  if (!anchorKept || droppedCa) return refuse('unknown_ca', presented, 'issuing CA removed from the bundle');
  const revoked = checkRevocation(previous.chain, snapshot, policy, now);
  if (revoked) return refuse(revoked.reason, presented, revoked.detail, revoked.message);
  return previous;
}
