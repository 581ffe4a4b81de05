/**
 * The mass lock-out guard. A CA bundle or CRL set that is valid on its own can still cut off most
 * partners (a bundle missing an intermediate, a CRL listing the wrong serials). Before activating
 * one, the store re-decides the clients verified in the last 24 h against the candidate; if more
 * than the allowed share of recently active partners would lose access, the candidate is held back
 * and the material in force stays. An operator who means it marks the version as forced.
 *
 * Security property: the guard only ever keeps the current (already trusted) material longer; it
 * never makes the gateway accept a client the current snapshot would refuse. Memory is bounded: at
 * most MAX_CLIENTS certificates (least recently seen evicted first), DER only until evaluated.
 */
import { X509Certificate } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253 } from '../asn1/name.js';
import type { CaBundle, TrustedCa } from './ca-bundle.js';
import type { RevocationCheckOptions, RevocationIndex } from './revocation-index.js';

/** A Secrets Manager staging label on the AWSCURRENT version that bypasses the guard. */
export const FORCE_STAGE_LABEL = 'MTLS_GATEWAY_FORCE';
/** A first line of a PEM text that bypasses the guard for that exact content (any source kind). */
const FORCE_LINE = /^\s*#\s*mtls-gateway:\s*force\b/;

export function isForced(bytes: Uint8Array, labels: readonly string[]): boolean {
  if (labels.includes(FORCE_STAGE_LABEL)) return true;
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1');
  return FORCE_LINE.test(head.split('\n', 1)[0] ?? '');
}

export const MAX_CLIENTS = 10_000;
/**
 * Cutting off one partner is never a mass lock-out: revoking a single compromised client (even the
 * only active one) must always take effect at once. The guard needs at least this many.
 */
export const MIN_REFUSED_PARTNERS = 2;
export const WINDOW_MS = 24 * 3600 * 1000;
const MAX_DEPTH = 10;

export interface VerifiedClient {
  readonly partnerId: string;
  /** Lower-case hex SHA-256 of the leaf DER. */
  readonly fingerprint256: string;
  readonly leafDer: Buffer;
  /** The certificates of the verified chain that the client sent after its leaf (ClientIdentity.chainDer). */
  readonly sentDer: readonly Buffer[];
}

interface Cert {
  readonly x509: X509Certificate;
  readonly parsed: ParsedCertificate;
}

interface RecentClient {
  readonly input: VerifiedClient;
  lastSeen: number;
  /** Parsed lazily at the first evaluation; undefined when unparsable (never counted). */
  certs?: { leaf: Cert; sent: Cert[]; subject: string } | null;
  /** CA fingerprints whose key verified this leaf's signature (a signature never changes). */
  readonly verifiedBy: Set<string>;
}

/** Clients verified recently, least recently seen first (a Map keeps insertion order). */
export class RecentClients {
  private readonly clients = new Map<string, RecentClient>();

  constructor(
    private readonly max = MAX_CLIENTS,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Called once per verified connection: O(1), no parsing. */
  record(client: VerifiedClient, now: number = Date.now()): void {
    const known = this.clients.get(client.fingerprint256);
    if (known) {
      this.clients.delete(client.fingerprint256);
      known.lastSeen = now;
      this.clients.set(client.fingerprint256, known);
      return;
    }
    this.clients.set(client.fingerprint256, { input: client, lastSeen: now, verifiedBy: new Set() });
    if (this.clients.size > this.max) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
  }

  get size(): number {
    return this.clients.size;
  }

  /** The clients seen within the window (older ones are dropped). */
  active(now: number): RecentClient[] {
    for (const [fp, c] of this.clients) {
      if (now - c.lastSeen <= this.windowMs) break; // the rest are more recent
      this.clients.delete(fp);
    }
    return [...this.clients.values()];
  }
}

function certOf(der: Buffer): Cert {
  return { x509: new X509Certificate(der), parsed: parseCertificate(der) };
}

function certsOf(c: RecentClient): RecentClient['certs'] {
  if (c.certs !== undefined) return c.certs;
  try {
    const leaf = certOf(c.input.leafDer);
    c.certs = {
      leaf,
      sent: c.input.sentDer.map(certOf),
      subject: formatRfc2253(leaf.parsed.subjectDer),
    };
  } catch {
    c.certs = null;
  }
  return c.certs;
}

function issues(issuer: X509Certificate, child: X509Certificate): boolean {
  return child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

/**
 * The path from a bundle CA to a self-signed root of the same bundle (OpenSSL, as Node uses it,
 * needs the whole chain up to a trusted root). Memoized per evaluation: CAs are few.
 */
function caPath(
  ca: TrustedCa,
  bundle: CaBundle,
  memo: Map<string, Cert[] | null>,
  now: number | undefined,
  depth = 0,
): Cert[] | undefined {
  const known = memo.get(ca.fingerprint256);
  if (known !== undefined) return known ?? undefined;
  memo.set(ca.fingerprint256, null); // a cycle reads as "not anchored"
  let path: Cert[] | undefined;
  if (!usableAt(ca, now)) {
    path = undefined;
  } else if (issues(ca.x509, ca.x509)) {
    path = [ca];
  } else if (depth < MAX_DEPTH) {
    for (const parent of bundle.cas) {
      if (parent === ca || !issues(parent.x509, ca.x509)) continue;
      const rest = caPath(parent, bundle, memo, now, depth + 1);
      if (rest) {
        path = [ca, ...rest];
        break;
      }
    }
  }
  memo.set(ca.fingerprint256, path ?? null);
  return path;
}

/**
 * Whether a bundle CA can vouch at `now` (undefined: ignore time). OpenSSL fails a chain through a
 * CA outside its validity (a bundle may hold one that is not valid yet), so the guard must too: a
 * bundle swapping a valid intermediate for a re-issue that is not valid yet locks partners out.
 */
function usableAt(ca: TrustedCa, now: number | undefined): boolean {
  return now === undefined || (ca.notBefore <= now && now <= ca.notAfter);
}

/** The chain the candidate bundle would verify for this client, or undefined (unknown_ca). */
function clientPath(
  c: RecentClient,
  bundle: CaBundle,
  memo: Map<string, Cert[] | null>,
  now: number | undefined,
): Cert[] | undefined {
  const certs = certsOf(c);
  if (!certs) return undefined;
  const path: Cert[] = [certs.leaf];
  let cert = certs.leaf;
  while (path.length < MAX_DEPTH) {
    for (const ca of bundle.cas) {
      if (!cert.x509.checkIssued(ca.x509)) continue;
      const isLeaf = cert === certs.leaf;
      if (isLeaf && !c.verifiedBy.has(ca.fingerprint256)) {
        if (!cert.x509.verify(ca.x509.publicKey)) continue;
        c.verifiedBy.add(ca.fingerprint256);
      } else if (!isLeaf && !cert.x509.verify(ca.x509.publicKey)) {
        continue;
      }
      const rest = caPath(ca, bundle, memo, now);
      if (rest) return [...path, ...rest];
    }
    // Not issued by a bundle CA: an intermediate the client sends itself may bridge the gap.
    const next = certs.sent.find((s) => !path.includes(s) && issues(s.x509, cert.x509));
    if (!next) return undefined;
    path.push(next);
    cert = next;
  }
  return undefined;
}

export interface TrustUnderTest {
  readonly bundle: CaBundle;
  readonly index: RevocationIndex;
}

export interface WouldRefuse {
  readonly partner: string;
  readonly subject: string;
  readonly reason: string;
}

export interface GuardVerdict {
  /** Partners with at least one recent certificate the current material accepts. */
  readonly activePartners: number;
  /** Those of them the candidate would refuse with every recent certificate. */
  readonly wouldRefuse: readonly WouldRefuse[];
  readonly refusedPercent: number;
  readonly blocked: boolean;
}

function decide(
  c: RecentClient,
  trust: TrustUnderTest,
  memo: Map<string, Cert[] | null>,
  policy: RevocationCheckOptions,
  now: number,
): string | undefined {
  const path = clientPath(c, trust.bundle, memo, now);
  if (!path) {
    // A path through CAs outside their validity: refused for the clock, and said so.
    const untimed = clientPath(c, trust.bundle, new Map(), undefined);
    if (!untimed) return 'unknown_ca';
    return untimed.some((p) => p.parsed.notBefore > now) ? 'not_yet_valid' : 'expired';
  }
  const verdict = trust.index.check(
    path.map((p) => p.parsed),
    now,
    policy,
  );
  return verdict.ok ? undefined : verdict.reason;
}

/**
 * Re-decides every recent client under `current` and `candidate`. A partner counts as cut off when
 * the current material accepts at least one of its certificates and the candidate none.
 */
export function evaluateGuard(
  clients: RecentClients,
  current: TrustUnderTest,
  candidate: TrustUnderTest,
  opts: { maxRefusedPercent: number; policy: RevocationCheckOptions; now?: number },
): GuardVerdict {
  const now = opts.now ?? Date.now();
  const currentMemo = new Map<string, Cert[] | null>();
  const candidateMemo = new Map<string, Cert[] | null>();
  const partners = new Map<string, { accepted: boolean; refused: WouldRefuse[] }>();
  for (const c of clients.active(now)) {
    if (decide(c, current, currentMemo, opts.policy, now) !== undefined) continue;
    const entry = partners.get(c.input.partnerId) ?? { accepted: false, refused: [] };
    partners.set(c.input.partnerId, entry);
    const reason = decide(c, candidate, candidateMemo, opts.policy, now);
    if (reason === undefined) entry.accepted = true;
    else entry.refused.push({ partner: c.input.partnerId, subject: c.certs?.subject ?? '', reason });
  }
  const wouldRefuse = [...partners.values()].filter((p) => !p.accepted).flatMap((p) => p.refused);
  const refusedPartners = new Set(wouldRefuse.map((w) => w.partner)).size;
  const refusedPercent = partners.size === 0 ? 0 : (refusedPartners * 100) / partners.size;
  return {
    activePartners: partners.size,
    wouldRefuse,
    refusedPercent,
    blocked: refusedPartners >= MIN_REFUSED_PARTNERS && refusedPercent > opts.maxRefusedPercent,
  };
}
