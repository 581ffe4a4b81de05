/**
 * `bundle diff`: what changes between the bundle in force and a candidate. CAs are grouped by
 * subject: added, removed, or renewed (same subject, another certificate: new key or validity).
 * Client certificates are decided under both bundles with the gateway's own verification
 * (client-verdict.ts); certificates known only by an export of `/trust/expiring` (fingerprint,
 * subject, issuer) are judged by their issuer's name alone, and said so.
 */
import { X509Certificate } from 'node:crypto';
import { canonicalTextNameKey } from '../asn1/canonical-name.js';
import { parseCertificate } from '../asn1/certificate.js';
import type { RevocationPolicy } from '../tls/connection-gate.js';
import { splitPem } from '../trust/pem.js';
import { type CertificateFacts, certificateFacts } from './certificate-facts.js';
import { type ClientCertificateInput, decideClient } from './client-verdict.js';
import { loadBundle, loadCrls } from './trust-material.js';

export interface CaChange {
  readonly subject: string;
  readonly old: readonly CertificateFacts[];
  readonly new: readonly CertificateFacts[];
  /** For a renewal: whether the public key changed. */
  readonly keyChanged: boolean;
}

/** A certificate seen by the gateway, as `/trust/expiring` lists it. */
export interface SeenClient {
  readonly fingerprint256: string;
  readonly subject?: string;
  readonly issuer?: string;
  readonly partner?: string;
}

export interface ClientChange {
  readonly name: string;
  readonly subject: string | undefined;
  /** `certificate`: decided by the gateway's verification; `issuer-name`: from an export only. */
  readonly basis: 'certificate' | 'issuer-name';
  readonly before: string;
  readonly after: string;
}

export interface BundleDiff {
  readonly added: readonly CaChange[];
  readonly removed: readonly CaChange[];
  readonly renewed: readonly CaChange[];
  readonly unchanged: number;
  /** Why the gateway would refuse the new bundle (it would keep the old one); undefined if accepted. */
  readonly newBundleRefused: string | undefined;
  readonly loseAccess: readonly ClientChange[];
  readonly gainAccess: readonly ClientChange[];
  readonly undecided: readonly string[];
}

function factsOf(bytes: Uint8Array): CertificateFacts[] {
  let blocks: ReturnType<typeof splitPem>['blocks'];
  try {
    blocks = splitPem(Buffer.from(bytes).toString('latin1')).blocks;
  } catch {
    return [];
  }
  const out: CertificateFacts[] = [];
  for (const b of blocks) {
    if (b.label !== 'CERTIFICATE') continue;
    try {
      const facts = certificateFacts(new X509Certificate(b.der), parseCertificate(b.der));
      if (!out.some((f) => f.fingerprint256 === facts.fingerprint256)) out.push(facts);
    } catch {
      // unparsable: bundle check reports it
    }
  }
  return out;
}

export interface BundleDiffInput {
  readonly oldBytes: Uint8Array;
  readonly newBytes: Uint8Array;
  readonly clients: readonly ClientCertificateInput[];
  readonly seen: readonly SeenClient[];
  /**
   * CRLs in force, each verified against the bundle it is judged with (as the gateway loads them):
   * a revoked client is `revoked` under both bundles, never counted as losing or gaining access.
   */
  readonly crls?: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  readonly now: number;
  readonly production: boolean;
  readonly policy: RevocationPolicy;
  readonly onClient?: (done: number, total: number) => void;
}

/** Names compared canonically (RFC 5280 §7.1, as OpenSSL does), so a re-encoded subject is a renewal. */
function nameOf(rfc2253: string): string {
  return canonicalTextNameKey(rfc2253) ?? `exact:${rfc2253}`;
}

export async function diffBundles(input: BundleDiffInput): Promise<BundleDiff> {
  const oldFacts = factsOf(input.oldBytes);
  const newFacts = factsOf(input.newBytes);
  const firstSubject = new Map<string, string>();
  for (const f of [...oldFacts, ...newFacts])
    if (!firstSubject.has(nameOf(f.subject))) firstSubject.set(nameOf(f.subject), f.subject);
  const subjects = [...firstSubject.values()];
  const added: CaChange[] = [];
  const removed: CaChange[] = [];
  const renewed: CaChange[] = [];
  let unchanged = 0;
  for (const subject of subjects) {
    const o = oldFacts.filter((f) => nameOf(f.subject) === nameOf(subject));
    const n = newFacts.filter((f) => nameOf(f.subject) === nameOf(subject));
    const same =
      o.length === n.length && o.every((f) => n.some((g) => g.fingerprint256 === f.fingerprint256));
    if (o.length === 0) added.push({ subject, old: o, new: n, keyChanged: false });
    else if (n.length === 0) removed.push({ subject, old: o, new: n, keyChanged: false });
    else if (same) unchanged++;
    else {
      renewed.push({
        subject,
        old: o,
        new: n,
        keyChanged: keyChanged(input.oldBytes, input.newBytes, subject),
      });
    }
  }

  const oldLoaded = loadBundle(input.oldBytes, { now: input.now, production: input.production });
  const newLoaded = loadBundle(input.newBytes, { now: input.now, production: input.production });
  const loseAccess: ClientChange[] = [];
  const gainAccess: ClientChange[] = [];
  const undecided: string[] = [];
  const crls = input.crls ?? [];
  const oldRevocation = loadCrls(crls, oldLoaded.bundle).index;
  const newRevocation = loadCrls(crls, newLoaded.bundle).index;
  for (const [i, client] of input.clients.entries()) {
    const decide = async (
      bundle: typeof oldLoaded.bundle,
      revocation: typeof oldRevocation,
    ): Promise<{ ok: boolean; reason: string; subject?: string | undefined }> => {
      if (!bundle) return { ok: false, reason: 'unknown_ca' };
      const d = await decideClient(client, { bundle, revocation, policy: input.policy });
      return d.verdict.ok
        ? { ok: true, reason: 'accepted', subject: d.verdict.identity.subject }
        : { ok: false, reason: d.verdict.reason, subject: d.verdict.presented.subject };
    };
    const before = await decide(oldLoaded.bundle, oldRevocation);
    // A bundle the gateway refuses never replaces the one in force.
    const after = newLoaded.gatewayError ? before : await decide(newLoaded.bundle, newRevocation);
    const change = {
      name: client.name,
      subject: before.subject ?? after.subject,
      basis: 'certificate' as const,
      before: before.reason,
      after: after.reason,
    };
    if (before.ok && !after.ok) loseAccess.push(change);
    if (!before.ok && after.ok) gainAccess.push(change);
    input.onClient?.(i + 1, input.clients.length);
  }
  const oldSubjects = new Set(oldLoaded.bundle?.cas.map((c) => nameOf(c.subject)) ?? []);
  const newSubjects = new Set(
    newLoaded.gatewayError ? oldSubjects : (newLoaded.bundle?.cas.map((c) => nameOf(c.subject)) ?? []),
  );
  for (const s of input.seen) {
    const name = s.partner ? `${s.partner} ${s.fingerprint256}` : s.fingerprint256;
    if (!s.issuer) {
      undecided.push(name);
      continue;
    }
    const before = oldSubjects.has(nameOf(s.issuer));
    const after = newSubjects.has(nameOf(s.issuer));
    const change = {
      name,
      subject: s.subject,
      basis: 'issuer-name' as const,
      before: before ? 'accepted' : 'unknown_ca',
      after: after ? 'accepted' : 'unknown_ca',
    };
    if (before && !after) loseAccess.push(change);
    if (!before && after) gainAccess.push(change);
  }
  return {
    added,
    removed,
    renewed,
    unchanged,
    newBundleRefused: newLoaded.gatewayError,
    loseAccess,
    gainAccess,
    undecided,
  };
}

function keyChanged(oldBytes: Uint8Array, newBytes: Uint8Array, subject: string): boolean {
  const keys = (bytes: Uint8Array): Set<string> => {
    const out = new Set<string>();
    try {
      for (const b of splitPem(Buffer.from(bytes).toString('latin1')).blocks) {
        if (b.label !== 'CERTIFICATE') continue;
        const x = new X509Certificate(b.der);
        const facts = certificateFacts(x, parseCertificate(b.der));
        if (nameOf(facts.subject) === nameOf(subject)) {
          out.add(x.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
        }
      }
    } catch {
      // unparsable: no keys
    }
    return out;
  };
  const o = keys(oldBytes);
  return [...keys(newBytes)].some((k) => !o.has(k));
}
