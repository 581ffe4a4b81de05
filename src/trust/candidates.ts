/**
 * Building candidates: what the bytes read would become if installed, or why they are refused.
 * Pure functions of (bytes read, the state in force, now): no I/O, no metrics, no logging, and no
 * callbacks handed back. The store reads the sources, verifies CRL signatures off-thread, asks the
 * guard, and commits (or reports) what these functions return.
 */
import { type CaBundle, parseCaBundle, TimeTrustMaterialError } from './ca-bundle.js';
import { type CrlLoadResult, mayIssueCrls, type VerifiedCrl } from './crl/verify-crl.js';
import {
  isNewerCrl,
  publicKeySha256,
  type RevocationIndex,
  sameCrlScope,
  type UnusableCrlMark,
} from './revocation-index.js';
import { isForced } from './rotation-guard.js';
import { parseServerCredentials, type ServerCredentials } from './server-credentials.js';
import type { LoadedMaterial } from './snapshot.js';
import type { CrlRead } from './source-reads.js';
import { iso } from './trust-status.js';

/** The bytes of one source version. */
export interface SourceBytes {
  readonly version: string;
  readonly bytes: Buffer;
}

/** Bytes refused: `hold` says whether to remember the version as invalid (false for the clock). */
export interface Refused {
  readonly refused: Error;
  /** False when refused only for the clock (TimeTrustMaterialError): decided again on every poll. */
  readonly hold: boolean;
  /** For a server certificate not valid yet: when it becomes valid (a poll is due then). */
  readonly validFrom?: number | undefined;
}

export function isRefused<T extends object>(c: T | Refused): c is Refused {
  return 'refused' in c;
}

export interface CaCandidate {
  readonly bundle: CaBundle;
  readonly info: LoadedMaterial;
  /** Staging labels of the version read, comma-separated. */
  readonly labels: string;
  /** The force marker (first line, or the Secrets Manager label): bypasses the lock-out guard. */
  readonly forced: boolean;
}

export interface ServerCandidate {
  readonly creds: ServerCredentials;
  readonly info: LoadedMaterial;
  /** The versions of the certificate and key sources that make up `info.version`. */
  readonly parts: { readonly cert: string; readonly key: string };
}

const refusal = (err: unknown): Refused => ({
  refused: err as Error,
  hold: !(err instanceof TimeTrustMaterialError),
  validFrom: err instanceof TimeTrustMaterialError ? err.validFrom : undefined,
});

/** A CA bundle version read from `source`, as a candidate or a refusal. */
export function caCandidate(
  read: { readonly version: string; readonly bytes: Buffer; readonly labels: string },
  opts: { readonly source: string; readonly now: number; readonly production: boolean },
): CaCandidate | Refused {
  let bundle: CaBundle;
  try {
    bundle = parseCaBundle(read.bytes, { now: opts.now, production: opts.production });
  } catch (err) {
    return refusal(err);
  }
  return {
    bundle,
    info: { source: opts.source, version: read.version, loadedAt: opts.now },
    labels: read.labels,
    forced: isForced(read.bytes, read.labels.split(',')),
  };
}

/** The server certificate and key versions read, as a candidate or a refusal. */
export function serverCandidate(
  cert: SourceBytes,
  key: SourceBytes,
  opts: { readonly source: string; readonly now: number; readonly production: boolean },
): ServerCandidate | Refused {
  try {
    const creds = parseServerCredentials(cert.bytes, key.bytes, {
      now: opts.now,
      production: opts.production,
    });
    return {
      creds,
      info: { source: opts.source, version: serverVersion(cert, key), loadedAt: opts.now },
      parts: { cert: cert.version, key: key.version },
    };
  } catch (err) {
    // A certificate and its key rotated as two secrets can be read between the two updates: the
    // mismatch is refused (and held) and the next poll (or refresh) picks up the pair.
    return refusal(err);
  }
}

/** The version of a certificate and key pair. */
export function serverVersion(cert: { readonly version: string }, key: { readonly version: string }): string {
  return `${cert.version}.${key.version}`;
}

// ---- CRLs ------------------------------------------------------------------------------------

/** A CRL source whose bytes must be verified (against the candidate CA bundle) this poll. */
export interface CrlToVerify {
  readonly read: CrlRead;
  /** The read offers a version not in force and not held back: a candidate of its own. */
  readonly changed: boolean;
  /** What to verify: the bytes read when changed, else the bytes in force (the CA bundle changed). */
  readonly bytes: Buffer;
}

/**
 * Which CRL reads need verifying: each new version (not held back), and, when the CA bundle
 * changed, the bytes in force of every other source, since every CRL is verified again against
 * the new CAs.
 */
export function crlsToVerify(
  reads: readonly CrlRead[],
  state: {
    /** The accepted bytes per source name. */
    readonly inForce: ReadonlyMap<string, SourceBytes>;
    /** Source names whose version read is held back and still undecidable (SourceReads.stillHeld). */
    readonly stillHeld: ReadonlySet<string>;
    readonly bundleChanged: boolean;
  },
): CrlToVerify[] {
  const out: CrlToVerify[] = [];
  for (const read of reads) {
    const previous = state.inForce.get(read.name);
    const changed = read.version !== previous?.version && !state.stillHeld.has(read.name);
    if (changed) out.push({ read, changed, bytes: read.bytes });
    else if (state.bundleChanged && previous) out.push({ read, changed, bytes: previous.bytes });
  }
  return out;
}

/** One CRL refused this poll: counted as `mtls_gateway_crl_rejected_total{reason: code}`, listed. */
export interface CrlRejection {
  readonly source: string;
  readonly code: string;
  readonly reason: string;
}

/** The revocation index a CA bundle would have with the CRLs read, and what that means. */
export interface CrlStage {
  readonly index: RevocationIndex;
  /** The index differs from the one in force (CRLs or unusable marks). */
  readonly changed: boolean;
  /** A changed source carried the force marker. */
  readonly forced: boolean;
  /** The changed sources whose CRLs were offered, with the version and labels read. */
  readonly offeredBy: ReadonlyMap<string, { readonly version: string; readonly labels: string }>;
  /** The bytes to remember as in force per source, if the stage is committed. */
  readonly accepted: ReadonlyMap<string, SourceBytes>;
  /** The source each CRL verified this poll came from. */
  readonly origin: ReadonlyMap<VerifiedCrl, string>;
  /** Refusals to report if the stage is committed, in the order they arose. */
  readonly rejections: readonly CrlRejection[];
  /** New versions refused whole (nothing usable in them): held back as invalid on commit. */
  readonly invalid: readonly { readonly source: string; readonly version: string; readonly labels: string }[];
}

/**
 * The index without the CRLs (and unusable marks) whose signing CA is no longer in `bundle`. A CA
 * stays when its certificate does, or when a certificate of the same CA does: the same key and
 * subject, allowed to sign CRLs (a renewal). Its CRLs still verify against the new bundle, and
 * they stay in force even when their source is unreadable during the bundle change.
 */
export function withoutRemovedCas(index: RevocationIndex, bundle: CaBundle): RevocationIndex {
  // Fingerprints on both sides are fingerprintHex: CaBundle.byFingerprint and CrlSigner.fingerprint256.
  const signers = new Set<string>();
  for (const ca of bundle.cas) {
    if (mayIssueCrls(ca.x509, ca.parsed)) signers.add(`${publicKeySha256(ca.parsed)}\0${ca.subject}`);
  }
  return index.without(
    ({ signedBy }) =>
      !bundle.byFingerprint.has(signedBy.fingerprint256) &&
      !signers.has(`${signedBy.keySha256}\0${signedBy.subject}`),
  );
}

/**
 * Builds the revocation index `bundle` would have with the CRLs verified (`verified`, in read
 * order, each with its load result against `bundle`), starting from the index in force. Nothing is
 * applied: the guard or the TLS check may still discard it, and it is built again against the old
 * bundle when a bundle candidate is held back.
 */
export function crlStage(input: {
  readonly bundle: CaBundle;
  readonly bundleChanged: boolean;
  readonly inForce: RevocationIndex;
  readonly verified: readonly (CrlToVerify & { readonly result: CrlLoadResult })[];
  readonly now: number;
}): CrlStage {
  let forced = false;
  const offered: VerifiedCrl[] = [];
  const origin = new Map<VerifiedCrl, string>();
  const offeredBy = new Map<string, { version: string; labels: string }>();
  const accepted = new Map<string, SourceBytes>();
  const rejections: CrlRejection[] = [];
  const invalid: { source: string; version: string; labels: string }[] = [];
  const reread = new Set<string>();
  const marks: UnusableCrlMark[] = [];
  for (const { read, changed, result: verified } of input.verified) {
    const name = read.name;
    const labels = read.labels.join(',');
    // CRLs their CA signed that we cannot use mark that key (its clients are refused unless a
    // good CRL of it, kept from before, covers them); re-reading a source replaces its marks.
    reread.add(name);
    for (const mark of verified.unusable) marks.push({ ...mark, source: name });
    for (const r of verified.rejected) {
      rejections.push({
        source: name,
        code: r.code,
        reason: r.issuer ? `${r.reason} (issuer ${r.issuer})` : r.reason,
      });
    }
    if (verified.accepted.length === 0 && verified.rejected.length > 0 && changed) {
      invalid.push({ source: name, version: read.version, labels });
      continue; // keep the previous bytes so a later CA change re-verifies them
    }
    for (const crl of verified.accepted) origin.set(crl, name);
    offered.push(...verified.accepted);
    if (changed) {
      accepted.set(name, { version: read.version, bytes: read.bytes });
      offeredBy.set(name, { version: read.version, labels });
      if (isForced(read.bytes, read.labels)) forced = true;
    }
  }

  // CRLs whose signing CA left the bundle no longer count; the rest compete with the offered ones.
  const inForce = input.inForce;
  const base = input.bundleChanged ? withoutRemovedCas(inForce, input.bundle) : inForce;
  const unusable = [
    ...base.unusable.filter((mark) => mark.source === undefined || !reread.has(mark.source)),
    ...marks,
  ];
  const marksChanged =
    unusable.length !== base.unusable.length || unusable.some((m, i) => !sameMark(m, base.unusable[i]));
  const { index, superseded, notYetValid } =
    offered.length > 0 || input.bundleChanged || marksChanged
      ? base.withOffered(offered, input.now, unusable)
      : { index: base, superseded: [], notYetValid: [] };
  // A CRL whose thisUpdate is beyond the clock skew is not-yet-valid material (README "Trust
  // rules"): rejected, the previous CRL of its scope stays in force, and its source is not
  // recorded as read, so the next poll offers it again.
  for (const crl of notYetValid) {
    const name = origin.get(crl) ?? 'unknown';
    accepted.delete(name);
    offeredBy.delete(name);
    rejections.push({
      source: name,
      code: 'CRL_NOT_YET_VALID',
      reason: `CRL of ${crl.issuer} is not yet valid (thisUpdate ${iso(crl.thisUpdate)}); kept the one in force`,
    });
  }
  for (const crl of superseded) {
    if (!offered.includes(crl)) continue;
    const newer = index.crls.find((c) => sameCrlScope(c, crl) && isNewerCrl(c, crl));
    if (!newer) continue; // the same CRL offered again: unchanged, not a rejection
    rejections.push({
      source: origin.get(crl) ?? 'unknown',
      code: 'CRL_OLDER',
      reason: `CRL of ${crl.issuer} is older than the one in force; kept the newer one`,
    });
  }
  const changed =
    marksChanged ||
    index.crls.length !== inForce.crls.length ||
    index.crls.some((c, i) => c !== inForce.crls[i]);
  return { index, changed, forced, offeredBy, accepted, origin, rejections, invalid };
}

/** The same unusable-CRL mark (same source, signing key and failure), whichever load produced it. */
function sameMark(a: UnusableCrlMark, b: UnusableCrlMark | undefined): boolean {
  return (
    b !== undefined &&
    a.source === b.source &&
    a.signedBy.keySha256 === b.signedBy.keySha256 &&
    a.code === b.code &&
    a.reason === b.reason
  );
}
