/**
 * `crl check`: every CRL in a file (PEM blocks or concatenated DER) read with the gateway's parser
 * and verified with its verifier against a bundle; what it says (issuer, this/next update, number,
 * entries) is shown even when verification fails, marked unverified.
 */
import { X509Certificate } from 'node:crypto';
import { CRL_REASONS, CrlError, type ParsedCrl, parseCrl, splitDer } from '../trust/crl/parse-crl.js';
import { caCandidates, verifyParsedCrl } from '../trust/crl/verify-crl.js';
import { CRL_CLOCK_SKEW_MS } from '../trust/revocation-index.js';
import { isoSeconds } from './certificate-facts.js';
import { count, type Finding } from './findings.js';

export interface SerialLookup {
  readonly serial: string;
  readonly listed: boolean;
  readonly revokedAt: number | undefined;
  readonly reason: string | undefined;
}

export interface CrlCheckEntry {
  readonly index: number;
  readonly issuer: string | undefined;
  readonly verified: boolean;
  readonly signedBy: string | undefined;
  readonly thisUpdate: number | undefined;
  readonly nextUpdate: number | undefined;
  readonly crlNumber: string | undefined;
  readonly entries: number | undefined;
  readonly serials: readonly SerialLookup[];
  readonly findings: readonly Finding[];
}

export interface CrlReport {
  readonly source: string;
  readonly crls: readonly CrlCheckEntry[];
  readonly errors: number;
  readonly warnings: number;
}

export interface CrlCheckInput {
  readonly source: string;
  readonly bytes: Uint8Array;
  /** CA certificates (PEM) the CRL must be signed by. */
  readonly bundlePem: string;
  readonly serials: readonly string[];
  readonly now: number;
  readonly graceSeconds: number;
  /** Before parsing each CRL (progress for huge ones). */
  readonly onParse?: (index: number, bytes: number) => void;
}

function derCrls(bytes: Uint8Array): Uint8Array[] {
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  )
    i++;
  if (bytes[i] === 0x30) return splitDer(bytes.subarray(i));
  const text = Buffer.from(bytes).toString('latin1');
  return [...text.matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1] ?? '', 'base64')),
  );
}

function lookup(crl: ParsedCrl, serial: string): SerialLookup {
  const clean = serial.replaceAll(':', '').trim();
  const i = crl.revoked.indexOf(clean);
  if (i < 0) return { serial: clean.toUpperCase(), listed: false, revokedAt: undefined, reason: undefined };
  const code = crl.revoked.reasonAt(i);
  return {
    serial: crl.revoked.serialAt(i),
    listed: true,
    // 0: a date the lenient reader could not read (der.ts lenientTimeAt).
    revokedAt: crl.revoked.revocationDateAt(i) || undefined,
    reason: code === undefined ? undefined : (CRL_REASONS[code] ?? String(code)),
  };
}

export function checkCrl(input: CrlCheckInput): CrlReport {
  const cas = caCandidates(
    [...input.bundlePem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map(
      (m) => new X509Certificate(m[0]),
    ),
  );
  const crls: CrlCheckEntry[] = [];
  let ders: Uint8Array[];
  try {
    ders = derCrls(input.bytes);
  } catch (err) {
    ders = [];
    crls.push(empty(0, [{ severity: 'error', code: 'crl_malformed', message: (err as Error).message }]));
  }
  if (ders.length === 0 && crls.length === 0) {
    crls.push(
      empty(0, [{ severity: 'error', code: 'crl_malformed', message: 'no X509 CRL PEM block and not DER' }]),
    );
  }
  ders.forEach((der, i) => {
    input.onParse?.(i + 1, der.length);
    let parsed: ParsedCrl;
    try {
      parsed = parseCrl(der);
    } catch (err) {
      const code = err instanceof CrlError ? err.code.toLowerCase() : 'crl_malformed';
      crls.push(empty(i + 1, [{ severity: 'error', code, message: (err as Error).message }]));
      return;
    }
    const findings: Finding[] = [];
    let signedBy: string | undefined;
    try {
      signedBy = verifyParsedCrl(parsed, cas).signedBy.subject;
    } catch (err) {
      const code = err instanceof CrlError ? err.code.toLowerCase() : 'crl_internal';
      findings.push({
        severity: 'error',
        code,
        message: `the gateway ignores this CRL: ${(err as Error).message}`,
      });
    }
    const next = parsed.nextUpdate;
    if (parsed.thisUpdate > input.now + CRL_CLOCK_SKEW_MS) {
      findings.push({
        severity: 'error',
        code: 'crl_not_yet_valid',
        message: `thisUpdate ${isoSeconds(parsed.thisUpdate)} is more than 5 minutes ahead: the gateway rejects it until then and keeps the CRL in force`,
      });
    }
    if (next !== undefined && input.now > next + input.graceSeconds * 1000) {
      findings.push({
        severity: 'error',
        code: 'crl_expired',
        message: `past its nextUpdate ${isoSeconds(next)}: clients of ${parsed.issuer} are refused (crl_expired)`,
      });
    } else if (next !== undefined && input.now >= next - (next - parsed.thisUpdate) / 4) {
      findings.push({
        severity: 'warning',
        code: 'crl_near_expiry',
        message: `in the last 25% of its validity (nextUpdate ${isoSeconds(next)}): publish a new one`,
      });
    }
    crls.push({
      index: i + 1,
      issuer: parsed.issuer,
      verified: signedBy !== undefined,
      signedBy,
      thisUpdate: parsed.thisUpdate,
      nextUpdate: next,
      crlNumber: parsed.crlNumber?.toString(),
      entries: parsed.revoked.count,
      serials: input.serials.map((s) => lookup(parsed, s)),
      findings,
    });
  });
  const all = crls.flatMap((c) => c.findings);
  return { source: input.source, crls, errors: count(all, 'error'), warnings: count(all, 'warning') };
}

function empty(index: number, findings: Finding[]): CrlCheckEntry {
  return {
    index,
    issuer: undefined,
    verified: false,
    signedBy: undefined,
    thisUpdate: undefined,
    nextUpdate: undefined,
    crlNumber: undefined,
    entries: undefined,
    serials: [],
    findings,
  };
}
