/**
 * The `/trust` document (design.md): what trust material is in force, where it
 * came from, what was refused or held back, and why. Built from the store's state by one pure
 * function; the admin listener and the cluster primary serve it as JSON unchanged. The keys are
 * snake_case and the instants ISO 8601 UTC, as every `--json` output (src/cli/json-output.ts).
 */
import type { TrustKind } from '../observability/index.js';
import type { CaBundle } from './ca-bundle.js';
import type { VerifiedCrl } from './crl/verify-crl.js';
import type { WouldRefuse } from './rotation-guard.js';
import type { ServerCredentials } from './server-credentials.js';
import type { LoadedMaterial } from './snapshot.js';

/** Instants in /trust and the trust log lines: ISO 8601 UTC to the second, as every `--json` output. */
export function iso(ms: number): string;
export function iso(ms: number | undefined): string | null;
export function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One refusal of trust material (newest first in `last_rejected`). */
export interface Rejection {
  readonly kind: TrustKind;
  /** The source as describeSource names it (URLs without userinfo or query). */
  readonly source: string;
  /** When it was refused: ISO 8601 UTC with milliseconds. */
  readonly at: string;
  /** Why, as logged (URLs redacted). */
  readonly reason: string;
}

/** A candidate the mass lock-out guard holds back, per kind (`guard.ca_bundle`, `guard.crl`). */
export interface GuardHold {
  /** The source of the candidate (for CRLs: the sources that offered it, comma-separated). */
  readonly source: string;
  /** The version held back ('' for a CRL set, whose versions are per source). */
  readonly blocked_version: string;
  /** When the guard decided: ISO 8601 UTC with milliseconds. */
  readonly at: string;
  /** Partners with a client certificate verified in the last 24 h that the material in force accepts. */
  readonly active_partners: number;
  /** The share of them the candidate would refuse, in percent, one decimal. */
  readonly refused_percent: number;
  /** Who would be refused and why (at most 50). */
  readonly would_refuse: readonly WouldRefuse[];
}

/** One CA of the bundle in force. */
export interface CaStatus {
  /** RFC 2253. */
  readonly subject: string;
  /** SHA-256 of the certificate, lower-case hex (fingerprintHex). */
  readonly fingerprint256: string;
  readonly not_before: string;
  readonly not_after: string;
}

export interface CaBundleStatus {
  readonly source: string;
  /** Content hash (file), Secrets Manager version id, or ETag. */
  readonly version: string;
  /** When this version was installed. */
  readonly loaded_at: string;
  /** The newest refusal of a CA bundle (this or another version), or null. */
  readonly last_rejected: Rejection | null;
  readonly cas: readonly CaStatus[];
}

/** One CRL of the revocation index in force. */
export interface CrlStatus {
  /** The CRL's issuer, RFC 2253. */
  readonly issuer: string;
  /** The source it was read from, or null if unknown. */
  readonly source: string | null;
  /** The version of that source in force, or null if unknown. */
  readonly version: string | null;
  readonly this_update: string;
  /** null for a CRL without nextUpdate. */
  readonly next_update: string | null;
  /** How many serials it lists. */
  readonly entries: number;
  /** Decimal, or null without a CRL number. */
  readonly crl_number: string | null;
}

export interface ServerCertStatus {
  readonly source: string;
  /** `<certificate version>.<key version>`. */
  readonly version: string;
  readonly loaded_at: string;
  /** The leaf's subject, RFC 2253. */
  readonly subject: string;
  readonly not_after: string;
  /** The newest refusal of a server certificate or key, or null. */
  readonly last_rejected: Rejection | null;
}

/** A Secrets Manager source whose AWSCURRENT the fleet holds back (staging label MTLSGW_HELD). */
export interface FleetHeldStatus {
  readonly source: string;
  /** The AWSCURRENT version not read. */
  readonly held_version: string;
  /** The version read instead (the last good one). */
  readonly serving_version: string;
}

export interface GuardStatus {
  /** GATEWAY_ROTATION_MAX_REFUSED_PERCENT (default 50; 100 in a cluster worker, whose primary decides). */
  readonly max_refused_percent: number;
  /** Client certificates remembered for the guard (verified in the last 24 h). */
  readonly recent_clients: number;
  /** The CA bundle candidate held back, or null. */
  readonly ca_bundle: GuardHold | null;
  /** The CRL set held back, or null. */
  readonly crl: GuardHold | null;
}

/** GET /trust. */
export interface TrustStatus {
  /** The CA bundle in force, or null before one was loaded. */
  readonly ca_bundle: CaBundleStatus | null;
  /** The CRLs in force, in index order. */
  readonly crls: readonly CrlStatus[];
  /** The server certificate in force, or null before one was loaded. */
  readonly server_cert: ServerCertStatus | null;
  readonly fleet_held: readonly FleetHeldStatus[];
  readonly guard: GuardStatus;
  /** The last 20 refusals of any kind, newest first. */
  readonly last_rejected: readonly Rejection[];
}

/** What the store knows, as trustStatus needs it. */
export interface TrustStatusInput {
  readonly ca: { readonly bundle: CaBundle; readonly info: LoadedMaterial } | undefined;
  readonly server: { readonly creds: ServerCredentials; readonly info: LoadedMaterial } | undefined;
  /** The CRLs in force, each with the source and version it came from when known. */
  readonly crls: readonly {
    readonly crl: VerifiedCrl;
    readonly source: string | undefined;
    readonly version: string | undefined;
  }[];
  readonly fleetHeld: readonly FleetHeldStatus[];
  readonly maxRefusedPercent: number;
  readonly recentClients: number;
  readonly guardHolds: { readonly ca_bundle: GuardHold | null; readonly crl: GuardHold | null };
  /** Newest first. */
  readonly rejections: readonly Rejection[];
}

export function trustStatus(input: TrustStatusInput): TrustStatus {
  const { ca, server } = input;
  const lastRejected = (kind: TrustKind): Rejection | null =>
    input.rejections.find((r) => r.kind === kind) ?? null;
  return {
    ca_bundle: ca
      ? {
          source: ca.info.source,
          version: ca.info.version,
          loaded_at: iso(ca.info.loadedAt),
          last_rejected: lastRejected('ca_bundle'),
          cas: ca.bundle.cas.map((c) => ({
            subject: c.subject,
            fingerprint256: c.fingerprint256,
            not_before: iso(c.notBefore),
            not_after: iso(c.notAfter),
          })),
        }
      : null,
    crls: input.crls.map(({ crl, source, version }) => ({
      issuer: crl.issuer,
      source: source ?? null,
      version: version ?? null,
      this_update: iso(crl.thisUpdate),
      next_update: iso(crl.nextUpdate),
      entries: crl.revoked.count,
      crl_number: crl.crlNumber?.toString() ?? null,
    })),
    server_cert: server
      ? {
          source: server.info.source,
          version: server.info.version,
          loaded_at: iso(server.info.loadedAt),
          subject: server.creds.subject,
          not_after: iso(server.creds.notAfter),
          last_rejected: lastRejected('server_cert'),
        }
      : null,
    fleet_held: input.fleetHeld.map((h) => ({ ...h })),
    guard: {
      max_refused_percent: input.maxRefusedPercent,
      recent_clients: input.recentClients,
      ca_bundle: input.guardHolds.ca_bundle,
      crl: input.guardHolds.crl,
    },
    last_rejected: [...input.rejections],
  };
}
