/**
 * The revocation index: verified CRLs keyed by the key of the CA that signed them, answering "is
 * any certificate of this verified chain revoked, or is its issuer's CRL too old?" in O(1) per
 * certificate, whatever the size of the CRLs.
 *
 * Security property (fail closed): a certificate whose issuer has a CRL loaded is refused when the
 * CRL lists it (`revoked`) or when that CRL is past nextUpdate + grace (`crl_expired`); with
 * `crlRequired` a leaf whose issuer has no applicable CRL is refused (`crl_missing`). Only verified
 * CRLs (verify-crl.ts) enter the index.
 *
 * Scope: a CRL applies only to certificates whose issuer in the verified chain has the key that
 * verified the CRL's signature (issuer names compared canonically). Two CAs with the same name and
 * different keys (a rollover, two partners' "CN=Issuing CA") keep their CRLs apart: both stay in
 * force, and neither can replace or cancel the other. "Newer" is compared only within one scope
 * (signing key + canonical issuer name + distribution point): higher CRL number, else later
 * thisUpdate; an older CRL never replaces a newer one.
 *
 * Partitioned CRLs (an IssuingDistributionPoint naming a distribution point) apply as OpenSSL's
 * crl_crldp_check applies them: to a certificate with a distribution point whose cRLIssuer (if any)
 * names the CRL's issuer and whose name (if any) shares any GeneralName with the IDP (URIs byte for
 * byte, directoryNames canonically). A certificate whose CRLDistributionPoints we cannot read gets
 * every partitioned CRL of its issuer's key (fail closed).
 *
 * CRL dates (README "Trust rules"):
 * - no nextUpdate: accepted, its entries apply, it never expires by date (as in OpenSSL); a newer
 *   CRL of the same scope replaces it. Refusing it would un-revoke the serials it lists.
 * - thisUpdate in the future: accepted up to CRL_CLOCK_SKEW_MS (5 min) ahead of our clock; beyond
 *   that the CRL is not-yet-valid material: left out (`notYetValid`), the previous CRL of its scope
 *   stays in force, and the trust store retries it at the next poll.
 * - CRL numbers: compared only within one scope, never across keys.
 */

import { createHash } from 'node:crypto';
import { canonicalNameKey, sameName } from '../asn1/canonical-name.js';
import type { ParsedCertificate } from '../asn1/certificate.js';
import { DerReader, Tag } from '../asn1/der.js';
import { directoryNameKey, generalNameKey } from '../asn1/general-name.js';
import { formatRfc2253 } from '../asn1/name.js';
import type { CrlSigner, UnusableCrl, VerifiedCrl } from './crl/verify-crl.js';

/** An unusable CRL (verify-crl.ts) in force in an index, with the trust source it came from. */
export interface UnusableCrlMark extends UnusableCrl {
  readonly source?: string;
}

export interface RevocationCheckOptions {
  /** How long past nextUpdate a CRL still counts. */
  readonly graceSeconds: number;
  /** Refuse a leaf whose issuer has no applicable CRL. */
  readonly crlRequired: boolean;
}

export type RevocationVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'revoked' | 'crl_expired' | 'crl_missing';
      /** The refused certificate's serial (`openssl -serial` form). */
      readonly serial: string;
      /** Its issuer, RFC 2253. */
      readonly issuer: string;
    };

export interface CrlSummary {
  readonly issuer: string;
  /** Epoch ms. */
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly entries: number;
  /** Decimal, or undefined when the CRL has no CRL number. */
  readonly crlNumber: string | undefined;
  /** Distribution point URIs of a partitioned CRL (empty for a full CRL). */
  readonly distributionPoints: readonly string[];
  readonly signedBy: string;
}

const OK: RevocationVerdict = { ok: true };

/** How far ahead of our clock a CRL's thisUpdate may be (clock skew between CA and gateway). */
export const CRL_CLOCK_SKEW_MS = 5 * 60_000;

/** True when the CRL's thisUpdate is beyond the allowed skew: not-yet-valid material. */
export function isNotYetValid(crl: VerifiedCrl, now: number): boolean {
  return crl.thisUpdate > now + CRL_CLOCK_SKEW_MS;
}

/** Signing key + canonical issuer + IDP scope: CRLs with the same scope compete, the newer wins. */
function scopeKey(crl: VerifiedCrl): string {
  const idp = crl.issuingDistributionPoint;
  const scope = idp
    ? JSON.stringify([[...idp.names].sort(), idp.onlyContainsUserCerts, idp.onlyContainsCACerts])
    : 'full';
  return `${crl.signedBy.keySha256}|${canonicalNameKey(crl.issuerDer)}|${scope}`;
}

/** True when the two CRLs compete (same signing key, issuer and scope). */
export function sameCrlScope(a: VerifiedCrl, b: VerifiedCrl): boolean {
  return scopeKey(a) === scopeKey(b);
}

const keyCache = new WeakMap<ParsedCertificate, string>();
const selfIssuedCache = new WeakMap<ParsedCertificate, boolean>();

/** Subject and issuer canonically equal (cached: chains are reused across connections). */
function isSelfIssued(cert: ParsedCertificate): boolean {
  let known = selfIssuedCache.get(cert);
  if (known === undefined) {
    known = sameName(cert.subjectDer, cert.issuerDer);
    selfIssuedCache.set(cert, known);
  }
  return known;
}

/** SHA-256 (hex) of a certificate's SubjectPublicKeyInfo: the key a CRL's scope is bound to. */
export function publicKeySha256(cert: ParsedCertificate): string {
  let key = keyCache.get(cert);
  if (key === undefined) {
    key = spkiSha256(cert.subjectPublicKeyInfoDer);
    keyCache.set(cert, key);
  }
  return key;
}

export function spkiSha256(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

/** True when `a` is strictly newer than `b`. */
export function isNewerCrl(a: VerifiedCrl, b: VerifiedCrl): boolean {
  if (a.crlNumber !== undefined && b.crlNumber !== undefined && a.crlNumber !== b.crlNumber) {
    return a.crlNumber > b.crlNumber;
  }
  return a.thisUpdate > b.thisUpdate;
}

/**
 * One DistributionPoint of a certificate, as CRL matching needs it: the comparison keys
 * (general-name.ts) of its fullName (undefined when it names no distribution point) and of the
 * directoryNames of its cRLIssuer (undefined when absent).
 */
interface CertDistributionPoint {
  readonly names: readonly string[] | undefined;
  readonly crlIssuers: readonly string[] | undefined;
}

/**
 * A certificate's CRLDistributionPoints: its points, or `unreadable` when the extension cannot be
 * read under our DER rule (OpenSSL may read it leniently) or uses a form we do not resolve
 * (nameRelativeToCRLIssuer). An unreadable extension selects EVERY partitioned CRL of the issuer's
 * key (fail closed: a superset of what OpenSSL could select, never fewer CRLs).
 */
type CertDistributionPoints = readonly CertDistributionPoint[] | 'unreadable';

const cdpCache = new WeakMap<ParsedCertificate, CertDistributionPoints>();

function generalNameKeys(r: DerReader): string[] {
  const keys: string[] = [];
  while (!r.done) keys.push(generalNameKey(r.buf, r.next()));
  return keys;
}

function distributionPointsOf(cert: ParsedCertificate): CertDistributionPoints {
  const cached = cdpCache.get(cert);
  if (cached) return cached;
  let out: CertDistributionPoints = [];
  const der = cert.crlDistributionPointsDer;
  if (der) {
    try {
      const points: CertDistributionPoint[] = [];
      const top = DerReader.of(der);
      const list = top.inside(top.expect(Tag.SEQUENCE, 'CRLDistributionPoints'));
      top.finish('CRLDistributionPoints');
      while (!list.done) {
        const dp = list.inside(list.expect(Tag.SEQUENCE, 'DistributionPoint'));
        let names: string[] | undefined;
        const nameTlv = dp.optional(0xa0);
        if (nameTlv) {
          const name = dp.inside(nameTlv);
          const full = name.expect(0xa0, 'fullName'); // [1] nameRelativeToCRLIssuer: unreadable
          name.finish('DistributionPointName');
          names = generalNameKeys(name.inside(full));
        }
        dp.optional(0x81); // reasons
        const issuerTlv = dp.optional(0xa2);
        const crlIssuers = issuerTlv
          ? generalNameKeys(dp.inside(issuerTlv)).filter((k) => k.startsWith('dn:'))
          : undefined;
        dp.finish('DistributionPoint');
        points.push({ names, crlIssuers });
      }
      out = points;
    } catch {
      out = 'unreadable';
    }
  }
  cdpCache.set(cert, out);
  return out;
}

const crlIssuerKeys = new WeakMap<VerifiedCrl, string>();

/** The CRL's issuer as a directoryName key, compared with a distribution point's cRLIssuer. */
function crlIssuerKey(crl: VerifiedCrl): string {
  let key = crlIssuerKeys.get(crl);
  if (key === undefined) {
    key = directoryNameKey(crl.issuerDer);
    crlIssuerKeys.set(crl, key);
  }
  return key;
}

/** OpenSSL's crldp_check_crlissuer for a direct CRL: no cRLIssuer, or one naming the CRL's issuer. */
function issuerMatches(dp: CertDistributionPoint, crl: VerifiedCrl): boolean {
  return dp.crlIssuers === undefined || dp.crlIssuers.includes(crlIssuerKey(crl));
}

interface IssuerCrls {
  /** CRLs without a distribution point name: they cover every certificate their flags allow. */
  readonly full: VerifiedCrl[];
  /** Partitioned CRLs (an IDP naming a distribution point). */
  readonly partitioned: VerifiedCrl[];
  /** Partitioned CRLs by each GeneralName key of their IDP's fullName. */
  readonly byName: Map<string, VerifiedCrl[]>;
}

export interface IndexBuild {
  readonly index: RevocationIndex;
  /** CRLs that lost to a newer (or equally new, already present) CRL of the same scope. */
  readonly superseded: readonly VerifiedCrl[];
  /** CRLs left out because their thisUpdate is more than CRL_CLOCK_SKEW_MS ahead of `now`. */
  readonly notYetValid: readonly VerifiedCrl[];
}

export class RevocationIndex {
  static readonly EMPTY = new RevocationIndex([]);

  /** By the SHA-256 of the signing CA's public key. */
  private readonly byKey = new Map<string, IssuerCrls>();
  /** Keys that signed a CRL we cannot use (an unknown critical extension, malformed content). */
  private readonly unusableKeys: ReadonlySet<string>;

  private constructor(
    readonly crls: readonly VerifiedCrl[],
    /**
     * CRLs their CA signed that we cannot use. A certificate issued by such a key that no usable
     * CRL of that key covers is refused (`crl_missing`) whatever `crlRequired` says (fail closed,
     * as OpenSSL refuses it); a good CRL of the key already in force keeps deciding.
     */
    readonly unusable: readonly UnusableCrlMark[] = [],
  ) {
    this.unusableKeys = new Set(unusable.map((u) => u.signedBy.keySha256));
    for (const crl of crls) {
      const key = crl.signedBy.keySha256;
      let entry = this.byKey.get(key);
      if (!entry) {
        entry = { full: [], partitioned: [], byName: new Map() };
        this.byKey.set(key, entry);
      }
      const names = crl.issuingDistributionPoint?.names ?? [];
      if (names.length === 0) {
        entry.full.push(crl);
      } else {
        entry.partitioned.push(crl);
        for (const name of new Set(names)) {
          const list = entry.byName.get(name);
          if (list) list.push(crl);
          else entry.byName.set(name, [crl]);
        }
      }
    }
  }

  /**
   * An index of the newest CRL per scope among `crls`. On a tie (same CRL number and thisUpdate)
   * the earlier one in the list stays. CRLs not yet valid at `now` (beyond the skew) are left out.
   */
  static build(
    crls: readonly VerifiedCrl[],
    now: number = Date.now(),
    unusable: readonly UnusableCrlMark[] = [],
  ): IndexBuild {
    const chosen = new Map<string, VerifiedCrl>();
    const superseded: VerifiedCrl[] = [];
    const notYetValid: VerifiedCrl[] = [];
    for (const crl of crls) {
      if (isNotYetValid(crl, now)) {
        notYetValid.push(crl);
        continue;
      }
      const key = scopeKey(crl);
      const current = chosen.get(key);
      if (!current) {
        chosen.set(key, crl);
      } else if (isNewerCrl(crl, current)) {
        superseded.push(current);
        chosen.set(key, crl);
      } else {
        superseded.push(crl);
      }
    }
    return { index: new RevocationIndex([...chosen.values()], unusable), superseded, notYetValid };
  }

  /**
   * This index plus `offered`: an offered CRL replaces a loaded one only when it is newer (a bad
   * CRL never replaces a good one: it is not offered, only marked). `unusable`, when given,
   * replaces the unusable marks.
   */
  withOffered(
    offered: readonly VerifiedCrl[],
    now: number = Date.now(),
    unusable: readonly UnusableCrlMark[] = this.unusable,
  ): IndexBuild {
    return RevocationIndex.build([...this.crls, ...offered], now, unusable);
  }

  /** This index without the CRLs and marks `drop` selects (e.g. those whose signing CA left the bundle). */
  without(drop: (crl: { readonly signedBy: CrlSigner }) => boolean): RevocationIndex {
    return new RevocationIndex(
      this.crls.filter((crl) => !drop(crl)),
      this.unusable.filter((mark) => !drop(mark)),
    );
  }

  /**
   * The CRLs that apply to `cert`, issued by `issuer` (its issuer in the verified chain): those
   * signed by `issuer`'s key. Every name the key signed CRLs under counts (a superset of the
   * canonical-name match, so an undecodable name can only add CRLs, never lose one).
   */
  private applicable(cert: ParsedCertificate, issuer: ParsedCertificate): VerifiedCrl[] {
    const entry = this.byKey.get(publicKeySha256(issuer));
    if (!entry) return [];
    const out: VerifiedCrl[] = [];
    const add = (crl: VerifiedCrl): void => {
      const idp = crl.issuingDistributionPoint;
      if (idp?.onlyContainsUserCerts && cert.isCa) return;
      if (idp?.onlyContainsCACerts && !cert.isCa) return;
      if (!out.includes(crl)) out.push(crl);
    };
    for (const crl of entry.full) add(crl);
    if (entry.partitioned.length === 0) return out;
    // Partitioned CRLs as OpenSSL's crl_crldp_check selects them: a distribution point of the
    // certificate whose cRLIssuer (if any) names the CRL's issuer and whose name (if any) shares a
    // GeneralName with the CRL's IDP.
    const points = distributionPointsOf(cert);
    if (points === 'unreadable') {
      for (const crl of entry.partitioned) add(crl);
      return out;
    }
    for (const dp of points) {
      if (dp.names === undefined) {
        for (const crl of entry.partitioned) if (issuerMatches(dp, crl)) add(crl);
        continue;
      }
      for (const name of dp.names) {
        for (const crl of entry.byName.get(name) ?? []) if (issuerMatches(dp, crl)) add(crl);
      }
    }
    return out;
  }

  /** True when a loaded CRL applies to `cert` issued by `issuer` (the next element of its chain). */
  covers(cert: ParsedCertificate, issuer: ParsedCertificate | undefined): boolean {
    return issuer !== undefined && this.applicable(cert, issuer).length > 0;
  }

  /** True when a loaded CRL was signed by `ca`'s key. */
  hasCrlSignedBy(ca: ParsedCertificate): boolean {
    return this.byKey.has(publicKeySha256(ca));
  }

  /**
   * Checks every certificate of a verified chain (leaf first, each element issued by the next)
   * against the CRLs of its issuer's key; the self-issued anchor at the end against the CRLs of
   * its own key (a root listed in its own CRL vouches for nobody). A last element that is not
   * self-issued has no issuer here, so no CRL applies to it. `now` is epoch ms.
   */
  check(
    chain: readonly ParsedCertificate[],
    now: number,
    options: RevocationCheckOptions,
  ): RevocationVerdict {
    const graceMs = Math.max(0, options.graceSeconds) * 1000;
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i]!;
      const selfIssued = isSelfIssued(cert);
      // The self-issued anchor is its own issuer: a CRL signed by its own key that lists it
      // withdraws it (as -crl_check_all checks the root); without such a CRL it needs none.
      const issuer = chain[i + 1] ?? (selfIssued ? cert : undefined);
      const crls = issuer ? this.applicable(cert, issuer) : [];
      if (crls.length === 0) {
        if (i === 0 && options.crlRequired) return refuse('crl_missing', cert);
        if (issuer && this.unusableKeys.size > 0 && this.unusableKeys.has(publicKeySha256(issuer)))
          return refuse('crl_missing', cert);
        continue;
      }
      let expired = false;
      for (const crl of crls) {
        if (crl.revoked.has(cert.serialHex)) return refuse('revoked', cert);
        if (crl.nextUpdate !== undefined && now > crl.nextUpdate + graceMs) expired = true;
      }
      if (expired) return refuse('crl_expired', cert);
    }
    return OK;
  }

  /** One line per loaded CRL, for /trust and metrics. */
  summary(): CrlSummary[] {
    return this.crls.map((crl) => ({
      issuer: crl.issuer,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      entries: crl.revoked.count,
      crlNumber: crl.crlNumber?.toString(),
      distributionPoints: crl.issuingDistributionPoint?.uris ?? [],
      signedBy: crl.signedBy.subject,
    }));
  }

  /** CRLs within the last `fraction` (default 25%) of their validity window, or past nextUpdate. */
  refreshDue(now: number, fraction = 0.25): VerifiedCrl[] {
    return this.crls.filter(
      (crl) =>
        crl.nextUpdate !== undefined &&
        now >= crl.nextUpdate - Math.max(0, crl.nextUpdate - crl.thisUpdate) * fraction,
    );
  }
}

function refuse(
  reason: 'revoked' | 'crl_expired' | 'crl_missing',
  cert: ParsedCertificate,
): RevocationVerdict {
  let issuer: string;
  try {
    issuer = formatRfc2253(cert.issuerDer);
  } catch {
    issuer = '';
  }
  return { ok: false, reason, serial: cert.serialHex, issuer };
}
