/**
 * `crl diff`: what publishing a new CRL file would change, decided as the gateway loads CRLs. Each
 * CRL of both files is verified against the bundle (an unverifiable one is ignored by the gateway,
 * so it is reported and changes nothing); CRLs are paired by the CA that signed them (its
 * certificate's fingerprint), never by issuer name alone, so two CAs with the same name stay
 * apart. Per CA: serials added and removed, the CRL number and thisUpdate before and after, and
 * whether the gateway would keep the old CRL (the new one is not newer). With client certificates
 * at hand, each newly listed or unlisted serial is named by the client it belongs to.
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253 } from '../asn1/name.js';
import { fingerprintHex } from '../trust/ca-bundle.js';
import { type VerifiedCrl, verifiedCrlsFrom } from '../trust/crl/verify-crl.js';
import { count, type Finding } from './findings.js';

/** A client certificate known to the security team (leaf only), to name serials by. */
export interface KnownClient {
  readonly name: string;
  readonly pem: string;
}

export interface ClientRevocationChange {
  readonly name: string;
  readonly subject: string;
  readonly serial: string;
}

export interface CrlDiffEntry {
  /** The CA whose key signed the CRL(s): subject and SHA-256 fingerprint. */
  readonly ca: { readonly subject: string; readonly fingerprint256: string };
  readonly old: CrlSide | undefined;
  readonly new: CrlSide | undefined;
  /** Serials listed in the new CRL and not in the old (upper-case hex, sorted). */
  readonly added: readonly string[];
  /** Serials listed in the old CRL and not in the new. */
  readonly removed: readonly string[];
  /** False when the gateway would keep the old CRL: the new one is not newer (CRL number, thisUpdate). */
  readonly takesEffect: boolean;
  /** The new file carries the same CRL (same number and thisUpdate): nothing changes. */
  readonly unchanged: boolean;
  readonly newlyRevoked: readonly ClientRevocationChange[];
  readonly noLongerRevoked: readonly ClientRevocationChange[];
}

export interface CrlSide {
  readonly crl_number: string | null;
  readonly this_update: string;
  readonly next_update: string | null;
  readonly entries: number;
}

export interface CrlDiff {
  readonly cas: readonly CrlDiffEntry[];
  readonly findings: readonly Finding[];
  readonly errors: number;
  readonly warnings: number;
}

export interface CrlDiffInput {
  readonly oldBytes: Uint8Array;
  readonly newBytes: Uint8Array;
  readonly bundlePem: string;
  readonly clients: readonly KnownClient[];
}

/** Lower-case hex without colons, whichever form the fingerprint came in. */
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function side(crl: VerifiedCrl): CrlSide {
  return {
    crl_number: crl.crlNumber?.toString() ?? null,
    this_update: iso(crl.thisUpdate),
    next_update: crl.nextUpdate === undefined ? null : iso(crl.nextUpdate),
    entries: crl.revoked.count,
  };
}

/** The CRL the gateway keeps for one CA among several: the highest number, then the latest thisUpdate. */
function newest(crls: readonly VerifiedCrl[]): VerifiedCrl | undefined {
  let best: VerifiedCrl | undefined;
  for (const c of crls) if (!best || isNewer(c, best)) best = c;
  return best;
}

function isNewer(a: VerifiedCrl, b: VerifiedCrl): boolean {
  if (a.crlNumber !== undefined && b.crlNumber !== undefined && a.crlNumber !== b.crlNumber)
    return a.crlNumber > b.crlNumber;
  return a.thisUpdate > b.thisUpdate;
}

function serialsOf(crl: VerifiedCrl | undefined): Set<string> {
  const out = new Set<string>();
  if (!crl) return out;
  for (let i = 0; i < crl.revoked.count; i++) out.add(crl.revoked.serialAt(i).toUpperCase());
  return out;
}

function byCa(crls: readonly VerifiedCrl[]): Map<string, VerifiedCrl[]> {
  const out = new Map<string, VerifiedCrl[]>();
  for (const c of crls) {
    const fp = c.signedBy.fingerprint256;
    const list = out.get(fp) ?? [];
    list.push(c);
    out.set(fp, list);
  }
  return out;
}

interface ParsedClient {
  readonly name: string;
  readonly subject: string;
  readonly serial: string;
  readonly x509: X509Certificate;
}

function parseClients(clients: readonly KnownClient[], findings: Finding[]): ParsedClient[] {
  const out: ParsedClient[] = [];
  for (const c of clients) {
    try {
      const x509 = new X509Certificate(c.pem);
      const parsed = parseCertificate(x509.raw);
      out.push({ name: c.name, subject: formatRfc2253(parsed.subjectDer), serial: parsed.serialHex, x509 });
    } catch (err) {
      findings.push({
        severity: 'warning',
        code: 'client_unreadable',
        message: `${c.name}: not a readable certificate (${(err as Error).message})`,
      });
    }
  }
  return out;
}

export function diffCrls(input: CrlDiffInput): CrlDiff {
  const cas = [
    ...input.bundlePem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g),
  ].map((m) => new X509Certificate(m[0]));
  const findings: Finding[] = [];
  const load = (bytes: Uint8Array, which: 'old' | 'new'): VerifiedCrl[] => {
    const r = verifiedCrlsFrom(bytes, cas);
    for (const rej of r.rejected) {
      findings.push({
        severity: which === 'new' ? 'error' : 'warning',
        code: `${which}_crl_ignored`,
        message: `a CRL of the ${which} file${rej.issuer ? ` (${rej.issuer})` : ''} is ignored by the gateway: ${rej.reason}`,
      });
    }
    return r.accepted;
  };
  const oldByCa = byCa(load(input.oldBytes, 'old'));
  const newByCa = byCa(load(input.newBytes, 'new'));
  const clients = parseClients(input.clients, findings);
  const caByFingerprint = new Map(cas.map((x) => [fingerprintHex(x), x] as const));
  const entries: CrlDiffEntry[] = [];
  for (const fp of [...new Set([...oldByCa.keys(), ...newByCa.keys()])].sort()) {
    const o = newest(oldByCa.get(fp) ?? []);
    const n = newest(newByCa.get(fp) ?? []);
    const signer = (n ?? o)!.signedBy;
    // The gateway never replaces a CRL with one that is not newer: the old one would stay. The
    // same CRL published again (same number and thisUpdate) is no change at all.
    const unchanged =
      n !== undefined && o !== undefined && n.crlNumber === o.crlNumber && n.thisUpdate === o.thisUpdate;
    const takesEffect = n !== undefined && (o === undefined || isNewer(n, o));
    if (n && !takesEffect && !unchanged)
      findings.push({
        severity: 'error',
        code: 'crl_not_newer',
        message: `the new CRL of ${signer.subject} is not newer than the old one (CRL number ${n.crlNumber ?? 'none'} vs ${o?.crlNumber ?? 'none'}): the gateway keeps the old one`,
      });
    if (!n && o)
      findings.push({
        severity: 'warning',
        code: 'crl_dropped',
        message: `the new file has no CRL of ${signer.subject}: the gateway keeps the one it has until it expires`,
      });
    const before = serialsOf(o);
    const after = serialsOf(takesEffect ? n : o);
    const added = [...after].filter((s) => !before.has(s)).sort();
    const removed = [...before].filter((s) => !after.has(s)).sort();
    const ca = caByFingerprint.get(fp);
    // A serial belongs to a client only if this CA's key signed that client's certificate.
    const issuedHere = clients.filter((c) => ca !== undefined && c.x509.verify(ca.publicKey));
    const named = (serials: readonly string[]): ClientRevocationChange[] => {
      const set = new Set(serials);
      return issuedHere
        .filter((c) => set.has(c.serial.toUpperCase()))
        .map((c) => ({ name: c.name, subject: c.subject, serial: c.serial }));
    };
    entries.push({
      ca: { subject: signer.subject, fingerprint256: fp },
      old: o && side(o),
      new: n && side(n),
      added,
      removed,
      takesEffect,
      unchanged,
      newlyRevoked: named(added),
      noLongerRevoked: named(removed),
    });
  }
  return { cas: entries, findings, errors: count(findings, 'error'), warnings: count(findings, 'warning') };
}
