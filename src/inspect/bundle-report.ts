/**
 * `bundle check`: everything the security team needs to know about a CA bundle before it ships.
 * Per block: the CA's facts and its problems; then each CRL as the gateway would load it; then each
 * client certificate decided exactly as the gateway would (client-verdict.ts).
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificate } from '../asn1/certificate.js';
import type { RevocationPolicy } from '../tls/connection-gate.js';
import { isDevelopmentMaterial } from '../trust/ca-bundle.js';
import { type PemError, splitPem } from '../trust/pem.js';
import { type CertificateFacts, certificateFacts, isoSeconds } from './certificate-facts.js';
import { type ClientCertificateInput, type ClientDecision, decideClient } from './client-verdict.js';
import { count, type Finding } from './findings.js';
import { loadBundle, loadCrls } from './trust-material.js';

const DAY_MS = 86_400_000;

export interface CaBlockReport {
  /** 1-based position in the file. */
  readonly block: number;
  readonly facts: CertificateFacts | undefined;
  readonly findings: readonly Finding[];
}

export interface CrlLoadReport {
  readonly source: string;
  readonly issuer: string | undefined;
  readonly verified: boolean;
  readonly signedBy: string | undefined;
  readonly thisUpdate: number | undefined;
  readonly nextUpdate: number | undefined;
  readonly entries: number | undefined;
  readonly crlNumber: string | undefined;
  readonly findings: readonly Finding[];
}

export interface ClientReport {
  readonly name: string;
  readonly method: ClientDecision['method'];
  readonly accepted: boolean;
  readonly reason: string | undefined;
  readonly message: string | undefined;
  readonly subject: string | undefined;
  readonly serial: string | undefined;
  readonly issuer: string | undefined;
}

export interface BundleReport {
  readonly source: string;
  /** Whether the gateway (`parseCaBundle`) accepts the bundle as a whole. */
  readonly gatewayAccepts: boolean;
  readonly findings: readonly Finding[];
  readonly cas: readonly CaBlockReport[];
  readonly crls: readonly CrlLoadReport[];
  readonly clients: readonly ClientReport[];
  readonly errors: number;
  readonly warnings: number;
}

export interface BundleCheckInput {
  readonly source: string;
  readonly bytes: Uint8Array;
  readonly crls: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  readonly clients: readonly ClientCertificateInput[];
  readonly now: number;
  readonly warnDays: number;
  readonly production: boolean;
  readonly policy: RevocationPolicy;
  /** Called after each client decision (progress on a TTY). */
  readonly onClient?: (done: number, total: number) => void;
}

const error = (code: string, message: string): Finding => ({ severity: 'error', code, message });
const warning = (code: string, message: string): Finding => ({ severity: 'warning', code, message });
const info = (code: string, message: string): Finding => ({ severity: 'info', code, message });

/** Blank lines inside a PEM body: the gateway tolerates them, OpenSSL's PEM reader and many tools do not. */
function blankLineBlocks(text: string): number[] {
  const out: number[] = [];
  let i = 0;
  for (const m of text.matchAll(/-----BEGIN [A-Z0-9 ]+-----\r?\n([\s\S]*?)-----END [A-Z0-9 ]+-----/g)) {
    i++;
    if (/\n[ \t\r]*\n/.test(`\n${m[1] ?? ''}`)) out.push(i);
  }
  return out;
}

function caFindings(
  facts: CertificateFacts,
  now: number,
  warnDays: number,
  production: boolean,
  dev: boolean,
): Finding[] {
  const f: Finding[] = [];
  if (!facts.isCa)
    f.push(error('not_ca', 'not a CA (basicConstraints CA:TRUE missing): the gateway refuses the bundle'));
  if (facts.notAfter < now) {
    f.push(error('expired', `expired at ${isoSeconds(facts.notAfter)}: the gateway refuses the bundle`));
  } else if (facts.notAfter - now < warnDays * DAY_MS) {
    const days = Math.floor((facts.notAfter - now) / DAY_MS);
    f.push(warning('expiring', `expires at ${isoSeconds(facts.notAfter)} (in ${days} days)`));
  }
  if (facts.notBefore > now) {
    f.push(
      warning(
        'not_yet_valid',
        `not valid before ${isoSeconds(facts.notBefore)}: loaded, but chains through it fail until then`,
      ),
    );
  }
  if (facts.keyType === 'rsa' && (facts.keyBits ?? 0) < 2048) {
    f.push(error('weak_key', `RSA key of ${facts.keyBits} bits (at least 2048 required)`));
  }
  if (facts.sha1Signature) {
    // A root's self-signature is never checked; any other SHA-1 signature is forgeable.
    f.push(
      facts.selfSigned
        ? warning(
            'sha1_signature',
            `self-signed with ${facts.signatureAlgorithm} (not checked for a root; replace it)`,
          )
        : error('sha1_signature', `signed with ${facts.signatureAlgorithm} (SHA-1 signatures are forgeable)`),
    );
  }
  if (production && dev) f.push(error('development_ca', 'development CA: refused in production'));
  return f;
}

export async function checkBundle(input: BundleCheckInput): Promise<BundleReport> {
  const text = Buffer.from(input.bytes).toString('latin1');
  const findings: Finding[] = [];
  const cas: CaBlockReport[] = [];
  let blocks: ReturnType<typeof splitPem> | undefined;
  try {
    blocks = splitPem(text);
  } catch (err) {
    findings.push(error('malformed_pem', `${(err as PemError).message}: the gateway refuses the bundle`));
  }
  if (blocks?.strayText) {
    findings.push(
      warning('stray_text', 'text outside PEM blocks (a truncated copy-paste?); the gateway ignores it'),
    );
  }
  for (const n of blankLineBlocks(text)) {
    findings.push(
      warning(
        'blank_line',
        `block ${n} has a blank line inside its base64 (OpenSSL and many tools refuse it)`,
      ),
    );
  }
  if (blocks && blocks.blocks.length === 0) findings.push(error('empty', 'no certificate in the bundle'));

  const seen = new Map<string, number>();
  const bundleFacts: CertificateFacts[] = [];
  blocks?.blocks.forEach((block, i) => {
    const n = i + 1;
    if (block.label !== 'CERTIFICATE') {
      cas.push({
        block: n,
        facts: undefined,
        findings: [error('not_certificate', `${block.label} block, not a CERTIFICATE`)],
      });
      return;
    }
    let facts: CertificateFacts;
    let dev: boolean;
    try {
      const x509 = new X509Certificate(block.der);
      const parsed = parseCertificate(block.der);
      facts = certificateFacts(x509, parsed);
      dev = isDevelopmentMaterial(parsed);
    } catch (err) {
      cas.push({
        block: n,
        facts: undefined,
        findings: [error('unparsable', `not a valid certificate (${(err as Error).message})`)],
      });
      return;
    }
    const f = caFindings(facts, input.now, input.warnDays, input.production, dev);
    const first = seen.get(facts.fingerprint256);
    if (first !== undefined)
      f.push(warning('duplicate', `duplicate of block ${first} (the gateway drops it)`));
    else seen.set(facts.fingerprint256, n);
    bundleFacts.push(facts);
    cas.push({ block: n, facts, findings: f });
  });
  // pathlen:0 on a CA of the bundle means no CA it issued can ever validate a client.
  for (const ca of cas) {
    const facts = ca.facts;
    if (!facts?.isCa || facts.selfSigned) continue;
    const parent = bundleFacts.find((p) => p.subject === facts.issuer && p !== facts && p.pathLength === 0);
    if (parent) {
      (ca.findings as Finding[]).push(
        error('path_length', `issued by ${parent.subject}, whose pathlen:0 forbids CAs below it`),
      );
    }
  }

  const loaded = loadBundle(input.bytes, { now: input.now, production: input.production });
  if (loaded.gatewayError)
    findings.push(error('gateway_refuses', `the gateway refuses this bundle: ${loaded.gatewayError}`));

  const crls = loadCrls(input.crls, loaded.bundle);
  const crlReports: CrlLoadReport[] = [];
  const graceMs = input.policy.graceSeconds * 1000;
  for (const { name, result } of crls.results) {
    for (const crl of result.accepted) {
      const f: Finding[] = [];
      if (crl.nextUpdate !== undefined && input.now > crl.nextUpdate + graceMs) {
        f.push(
          error(
            'crl_expired',
            `past its nextUpdate ${isoSeconds(crl.nextUpdate)}: clients of ${crl.issuer} are refused`,
          ),
        );
      } else if (
        crl.nextUpdate !== undefined &&
        input.now >= crl.nextUpdate - (crl.nextUpdate - crl.thisUpdate) / 4
      ) {
        f.push(
          warning(
            'crl_near_expiry',
            `in the last 25% of its validity (nextUpdate ${isoSeconds(crl.nextUpdate)}): publish a new one`,
          ),
        );
      }
      if (!crls.index.crls.includes(crl))
        f.push(info('crl_superseded', 'superseded by a newer CRL of the same issuer'));
      crlReports.push({
        source: name,
        issuer: crl.issuer,
        verified: true,
        signedBy: crl.signedBy.subject,
        thisUpdate: crl.thisUpdate,
        nextUpdate: crl.nextUpdate,
        entries: crl.revoked.count,
        crlNumber: crl.crlNumber?.toString(),
        findings: f,
      });
    }
    for (const rejected of result.rejected) {
      crlReports.push({
        source: name,
        issuer: rejected.issuer,
        verified: false,
        signedBy: undefined,
        thisUpdate: undefined,
        nextUpdate: undefined,
        entries: undefined,
        crlNumber: undefined,
        findings: [error(rejected.code.toLowerCase(), `ignored by the gateway: ${rejected.reason}`)],
      });
    }
  }
  if (input.crls.length > 0 && loaded.bundle) {
    for (const ca of loaded.bundle.cas) {
      // A CRL covers the certificates issued by the key that signed it.
      if (!crls.index.hasCrlSignedBy(ca.parsed)) {
        findings.push(
          warning(
            'no_crl',
            `no CRL for ${ca.subject}: certificates it issued are never checked for revocation`,
          ),
        );
      }
    }
  }

  const clients: ClientReport[] = [];
  const trust = loaded.bundle
    ? { bundle: loaded.bundle, revocation: crls.index, policy: input.policy }
    : undefined;
  for (const [i, client] of input.clients.entries()) {
    if (!trust) {
      clients.push({
        name: client.name,
        method: 'certificate-checks',
        accepted: false,
        reason: 'unknown_ca',
        message: 'no usable CA in the bundle',
        subject: undefined,
        serial: undefined,
        issuer: undefined,
      });
    } else {
      const d = await decideClient(client, trust);
      const v = d.verdict;
      clients.push(
        v.ok
          ? {
              name: d.name,
              method: d.method,
              accepted: true,
              reason: undefined,
              message: undefined,
              subject: v.identity.subject,
              serial: v.identity.serial,
              issuer: v.identity.issuer,
            }
          : {
              name: d.name,
              method: d.method,
              accepted: false,
              reason: v.reason,
              message: v.message ?? v.detail,
              subject: v.presented.subject,
              serial: v.presented.serial,
              issuer: v.presented.issuer,
            },
      );
    }
    input.onClient?.(i + 1, input.clients.length);
  }
  for (const c of clients) {
    if (!c.accepted)
      findings.push(error('client_refused', `${c.name} would be refused (${c.reason}): ${c.message}`));
  }

  const all = [...findings, ...cas.flatMap((c) => c.findings), ...crlReports.flatMap((c) => c.findings)];
  return {
    source: input.source,
    gatewayAccepts: loaded.gatewayError === undefined,
    findings,
    cas,
    crls: crlReports,
    clients,
    errors: count(all, 'error'),
    warnings: count(all, 'warning'),
  };
}
