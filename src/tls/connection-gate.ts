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
import { formatRfc2253 } from '../asn1/name.js';
import { type ClientIdentity, clientIdentityFromDer } from '../identity/client-identity.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { buildClientChain, type ChainElement } from './client-chain.js';
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
    };

/** The certificates the client sent after its leaf, following Node's issuerCertificate links. */
function sentChain(leaf: X509Certificate): X509Certificate[] {
  const sent: X509Certificate[] = [];
  let current = leaf;
  while (sent.length < 10) {
    const next = current.issuerCertificate;
    if (!next || next.fingerprint256 === current.fingerprint256) break;
    sent.push(next);
    current = next;
  }
  return sent;
}

function presentedOf(parsed: ParsedCertificate | undefined): PresentedCertificate {
  if (!parsed) return {};
  return {
    subject: formatRfc2253(parsed.subjectDer),
    serial: parsed.serialHex,
    issuer: formatRfc2253(parsed.issuerDer),
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
    subject: formatRfc2253(c.subjectDer),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  }));
}

/**
 * Decides a freshly established connection. Must be called once per connection: in Node 20 a
 * second getPeerX509Certificate() loses the chain.
 */
export function verifyNewConnection(
  socket: TLSSocket,
  snapshot: TrustSnapshot | undefined,
  policy: RevocationPolicy,
  now: number = Date.now(),
): Verdict {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return refuse('no_certificate', {}, 'no client certificate');
  const sent = sentChain(leaf);
  let parsedLeaf: ParsedCertificate;
  try {
    parsedLeaf = parseCertificate(leaf.raw);
  } catch (err) {
    return refuse('bad_certificate', {}, `unparsable certificate: ${(err as Error).message}`);
  }
  const presented = presentedOf(parsedLeaf);
  if (!snapshot) return refuse('other', presented, 'trust material not loaded');
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'unknown');
    const reason = classifyVerifyError(code);
    const facts: RefusalFacts = { chain: chainFacts(parsedLeaf, sent), now, issuer: presented.issuer };
    return refuse(reason, presented, code, refusalMessage(reason, facts));
  }
  let elements: ChainElement[];
  try {
    elements = buildClientChain(leaf, sent, snapshot.caBundle, parsedLeaf);
  } catch (err) {
    return refuse('bad_certificate', presented, `unparsable certificate in chain: ${(err as Error).message}`);
  }
  const chain = elements.map((e) => e.parsed);
  const verdict = checkRevocation(chain, snapshot, policy, now);
  if (verdict) return refuse(verdict.reason, presented, verdict.detail, verdict.message);
  const identity = clientIdentityFromDer(
    leaf.raw,
    sent.map((c) => c.raw),
    parsedLeaf,
  );
  return { ok: true, identity, chain, chainFingerprints: elements.map((e) => e.fingerprint256) };
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
