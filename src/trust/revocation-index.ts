/**
 * The revocation index: verified CRLs keyed by issuer Name (DER) and serial, answering "is any
 * certificate of this verified chain revoked, or is its issuer's CRL too old?" in O(1) per
 * certificate, whatever the size of the CRLs.
 *
 * Security property (fail closed): a certificate whose issuer has a CRL loaded is refused when the
 * CRL lists it (`revoked`) or when that CRL is past nextUpdate + grace (`crl_expired`); with
 * `crlRequired` a leaf whose issuer has no applicable CRL is refused (`crl_missing`). Between two
 * CRLs of the same issuer and scope the newer one (higher CRL number, else later thisUpdate) wins,
 * so an older CRL never replaces a newer one. Only verified CRLs (verify-crl.ts) enter the index.
 */
import type { ParsedCertificate } from '../asn1/certificate.js';
import { DerReader, Tag } from '../asn1/der.js';
import { formatRfc2253 } from '../asn1/name.js';
import type { VerifiedCrl } from './crl/verify-crl.js';

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

function hexKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Issuer + IDP scope: CRLs with the same key compete, the newer wins. */
function scopeKey(crl: VerifiedCrl): string {
  const idp = crl.issuingDistributionPoint;
  const scope = idp
    ? JSON.stringify([[...idp.uris].sort(), idp.onlyContainsUserCerts, idp.onlyContainsCACerts])
    : 'full';
  return `${hexKey(crl.issuerDer)}|${scope}`;
}

/** True when `a` is strictly newer than `b`. */
export function isNewerCrl(a: VerifiedCrl, b: VerifiedCrl): boolean {
  if (a.crlNumber !== undefined && b.crlNumber !== undefined && a.crlNumber !== b.crlNumber) {
    return a.crlNumber > b.crlNumber;
  }
  return a.thisUpdate > b.thisUpdate;
}

const cdpCache = new WeakMap<ParsedCertificate, readonly string[]>();

/** fullName URIs of a certificate's CRLDistributionPoints (empty when absent or unreadable). */
function distributionPointUris(cert: ParsedCertificate): readonly string[] {
  const cached = cdpCache.get(cert);
  if (cached) return cached;
  const uris: string[] = [];
  const der = cert.crlDistributionPointsDer;
  if (der) {
    try {
      const top = DerReader.of(der);
      const points = top.inside(top.expect(Tag.SEQUENCE, 'CRLDistributionPoints'));
      while (!points.done) {
        const dp = points.inside(points.expect(Tag.SEQUENCE, 'DistributionPoint'));
        const nameTlv = dp.optional(0xa0);
        if (!nameTlv) continue;
        const name = dp.inside(nameTlv);
        const full = name.optional(0xa0);
        if (!full) continue;
        const names = name.inside(full);
        while (!names.done) {
          const gn = names.next();
          if (gn.tag === 0x86)
            uris.push(Buffer.from(der.subarray(gn.contentStart, gn.end)).toString('latin1'));
        }
      }
    } catch {
      uris.length = 0; // unreadable: matches no partitioned CRL (full CRLs still apply)
    }
  }
  cdpCache.set(cert, uris);
  return uris;
}

interface IssuerCrls {
  /** CRLs without a distribution point name: they cover every certificate their flags allow. */
  readonly full: VerifiedCrl[];
  /** Partitioned CRLs by distribution point URI. */
  readonly byUri: Map<string, VerifiedCrl[]>;
}

export interface IndexBuild {
  readonly index: RevocationIndex;
  /** CRLs that lost to a newer (or equally new, already present) CRL of the same issuer and scope. */
  readonly superseded: readonly VerifiedCrl[];
}

export class RevocationIndex {
  static readonly EMPTY = new RevocationIndex([]);

  private readonly byIssuer = new Map<string, IssuerCrls>();

  private constructor(readonly crls: readonly VerifiedCrl[]) {
    for (const crl of crls) {
      const key = hexKey(crl.issuerDer);
      let entry = this.byIssuer.get(key);
      if (!entry) {
        entry = { full: [], byUri: new Map() };
        this.byIssuer.set(key, entry);
      }
      const uris = crl.issuingDistributionPoint?.uris ?? [];
      if (uris.length === 0) {
        entry.full.push(crl);
      } else {
        for (const uri of new Set(uris)) {
          const list = entry.byUri.get(uri);
          if (list) list.push(crl);
          else entry.byUri.set(uri, [crl]);
        }
      }
    }
  }

  /**
   * An index of the newest CRL per issuer and scope among `crls`. On a tie (same CRL number and
   * thisUpdate) the earlier one in the list stays.
   */
  static build(crls: readonly VerifiedCrl[]): IndexBuild {
    const chosen = new Map<string, VerifiedCrl>();
    const superseded: VerifiedCrl[] = [];
    for (const crl of crls) {
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
    return { index: new RevocationIndex([...chosen.values()]), superseded };
  }

  /** This index plus `offered`: an offered CRL replaces a loaded one only when it is newer. */
  withOffered(offered: readonly VerifiedCrl[]): IndexBuild {
    return RevocationIndex.build([...this.crls, ...offered]);
  }

  /** This index without the CRLs `drop` selects (e.g. those whose signing CA left the bundle). */
  without(drop: (crl: VerifiedCrl) => boolean): RevocationIndex {
    return new RevocationIndex(this.crls.filter((crl) => !drop(crl)));
  }

  /** The CRLs that apply to `cert` (issued by the issuer its issuerDer names). */
  private applicable(cert: ParsedCertificate): VerifiedCrl[] {
    const entry = this.byIssuer.get(hexKey(cert.issuerDer));
    if (!entry) return [];
    const out: VerifiedCrl[] = [];
    const add = (crl: VerifiedCrl): void => {
      const idp = crl.issuingDistributionPoint;
      if (idp?.onlyContainsUserCerts && cert.isCa) return;
      if (idp?.onlyContainsCACerts && !cert.isCa) return;
      if (!out.includes(crl)) out.push(crl);
    };
    for (const crl of entry.full) add(crl);
    if (entry.byUri.size > 0) {
      for (const uri of distributionPointUris(cert)) for (const crl of entry.byUri.get(uri) ?? []) add(crl);
    }
    return out;
  }

  /**
   * Checks every certificate of a verified chain (leaf first; a self-issued root is skipped)
   * against its issuer's CRLs. `now` is epoch ms.
   */
  check(
    chain: readonly ParsedCertificate[],
    now: number,
    options: RevocationCheckOptions,
  ): RevocationVerdict {
    const graceMs = Math.max(0, options.graceSeconds) * 1000;
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i]!;
      if (i > 0 && bytesEqual(cert.subjectDer, cert.issuerDer)) continue; // self-issued root
      const crls = this.applicable(cert);
      if (crls.length === 0) {
        if (i === 0 && options.crlRequired) return refuse('crl_missing', cert);
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
