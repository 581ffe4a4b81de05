/**
 * `explain`: the gateway's whole decision for one client certificate, step by step: chain,
 * validity, purpose and revocation (one gate verdict, see client-verdict.ts), then partner match
 * and allowed routes with the gateway's own Policy (GATEWAY_CONFIG file, or the default policy the
 * gateway runs without one). A step after the one that refused is `not_reached`, as in the gateway.
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificate } from '../asn1/certificate.js';
import { Policy, type PolicyDocument } from '../policy/index.js';
import type { RevocationPolicy } from '../tls/connection-gate.js';
import type { CaBundle } from '../trust/ca-bundle.js';
import { splitPem } from '../trust/pem.js';
import type { RevocationIndex } from '../trust/revocation-index.js';
import { certificateFacts, isoSeconds } from './certificate-facts.js';
import { type ClientCertificateInput, decideClient, type VerificationMethod } from './client-verdict.js';

export type StepName = 'chain' | 'validity' | 'purpose' | 'revocation' | 'partner' | 'routes';
export type StepVerdict = 'pass' | 'fail' | 'not_reached';

export interface ExplainStep {
  readonly step: StepName;
  readonly verdict: StepVerdict;
  readonly detail: string;
}

export interface Explanation {
  readonly certificate: {
    readonly subject: string;
    readonly issuer: string;
    readonly serial: string;
    readonly fingerprint256: string;
    readonly notBefore: string;
    readonly notAfter: string;
  };
  readonly method: VerificationMethod;
  readonly accepted: boolean;
  /** The gateway's refusal code (`unknown_ca`, `revoked`, `not_authorized`, …) when refused. */
  readonly reason: string | undefined;
  readonly message: string | undefined;
  readonly partner: string | undefined;
  readonly routes: readonly { readonly name: string; readonly prefix: string; readonly methods: string }[];
  readonly steps: readonly ExplainStep[];
}

export interface ExplainInput {
  readonly client: ClientCertificateInput;
  readonly bundle: CaBundle;
  readonly revocation: RevocationIndex;
  readonly policy: RevocationPolicy;
  /** The GATEWAY_CONFIG document; undefined: the gateway's default policy. */
  readonly config: PolicyDocument | undefined;
  readonly defaultUpstream: string;
}

const STEP_OF_REASON: Readonly<Record<string, StepName>> = {
  unknown_ca: 'chain',
  expired: 'validity',
  not_yet_valid: 'validity',
  bad_certificate: 'purpose',
  revoked: 'revocation',
  crl_expired: 'revocation',
  crl_missing: 'revocation',
};

const ORDER: readonly StepName[] = ['chain', 'validity', 'purpose', 'revocation', 'partner', 'routes'];

export async function explainCertificate(input: ExplainInput): Promise<Explanation> {
  const leafBlock = splitPem(input.client.certPem).blocks[0]!;
  const x509 = new X509Certificate(leafBlock.der);
  const facts = certificateFacts(x509, parseCertificate(leafBlock.der));
  const decision = await decideClient(input.client, {
    bundle: input.bundle,
    revocation: input.revocation,
    policy: input.policy,
  });
  const v = decision.verdict;
  const details: Record<StepName, string> = {
    chain: '',
    validity: `valid ${isoSeconds(facts.notBefore)} to ${isoSeconds(facts.notAfter)}`,
    purpose: facts.extKeyUsage
      ? `extended key usage ${facts.extKeyUsage.join(', ')} (clientAuth is 1.3.6.1.5.5.7.3.2)`
      : 'no extended key usage (any purpose)',
    revocation: '',
    partner: '',
    routes: '',
  };
  const verdicts: Partial<Record<StepName, StepVerdict>> = {};
  let reason: string | undefined;
  let message: string | undefined;
  let partnerId: string | undefined;
  let routes: Explanation['routes'] = [];
  if (!v.ok) {
    const failed = STEP_OF_REASON[v.reason] ?? 'chain';
    reason = v.reason;
    message = v.message ?? v.detail;
    const at = ORDER.indexOf(failed);
    ORDER.forEach((s, i) => {
      verdicts[s] = i < at ? 'pass' : i === at ? 'fail' : 'not_reached';
    });
    details[failed] = `${v.reason}: ${message}`;
    if (failed !== 'chain') details.chain = 'chains to a CA of the bundle';
    if (verdicts.revocation === 'not_reached') details.revocation = '';
  } else {
    for (const s of ORDER.slice(0, 4)) verdicts[s] = 'pass';
    const subjects = v.chain.map((_, i) => v.chainFingerprints[i]);
    details.chain = `verified: ${[v.identity.subject, ...chainSubjects(input.bundle, subjects.slice(1))].join(' <- ')}`;
    details.revocation = revocationDetail(
      input.revocation,
      v.chain.length,
      input.revocation.summary(),
      v.identity.issuer,
    );
    const policy = input.config
      ? Policy.fromDocument(input.config, input.defaultUpstream)
      : Policy.defaultOnly(input.defaultUpstream);
    const partner = policy.partnerFor(v.identity);
    partnerId = partner.id;
    const refusal = policy.connectionRefusal(partner, v.identity.subject);
    const source = input.config ? 'GATEWAY_CONFIG' : 'no GATEWAY_CONFIG: default policy';
    if (refusal) {
      verdicts.partner = 'fail';
      verdicts.routes = 'not_reached';
      reason = 'not_authorized';
      message = refusal.allowed ? undefined : refusal.message;
      details.partner = `${partner.id} is undeclared; refused by ${refusal.rule}`;
    } else {
      verdicts.partner = 'pass';
      details.partner = partner.declared
        ? `partner '${partner.id}' (matched by ${partner.rule})`
        : `undeclared, X-Client-Id '${partner.id}' (${source})`;
      const allowed = policy.allowedRoutes(partner);
      routes = allowed.map((r) => ({
        name: r.name,
        prefix: r.prefix,
        methods: r.methods ? [...r.methods].join(',') : 'any',
      }));
      verdicts.routes = allowed.length > 0 ? 'pass' : 'fail';
      if (allowed.length === 0) {
        reason = 'not_authorized';
        message = 'No route allows this partner.';
      }
      const refused = policy.routes.routes
        .filter((r) => !allowed.includes(r))
        .map((r) => `${r.name} (${r.prefix})`);
      details.routes =
        `may call ${routes.map((r) => `${r.name} (${r.prefix}, ${r.methods})`).join('; ') || 'nothing'}` +
        (refused.length > 0 ? `; refused: ${refused.join('; ')}` : '');
    }
  }
  return {
    certificate: {
      subject: facts.subject,
      issuer: facts.issuer,
      serial: facts.serial,
      fingerprint256: facts.fingerprint256,
      notBefore: isoSeconds(facts.notBefore),
      notAfter: isoSeconds(facts.notAfter),
    },
    method: decision.method,
    accepted: reason === undefined,
    reason,
    message,
    partner: partnerId,
    routes,
    steps: ORDER.map((s) => ({ step: s, verdict: verdicts[s] ?? 'not_reached', detail: details[s] })),
  };
}

function chainSubjects(bundle: CaBundle, fingerprints: readonly (string | undefined)[]): string[] {
  return fingerprints.map((fp) => bundle.cas.find((c) => c.fingerprint256 === fp)?.subject ?? `(sent) ${fp}`);
}

function revocationDetail(
  index: RevocationIndex,
  chainLength: number,
  summary: ReturnType<RevocationIndex['summary']>,
  leafIssuer: string,
): string {
  if (index.crls.length === 0) return 'no CRL loaded: not checked';
  const leafCrl = summary.find((s) => s.issuer === leafIssuer);
  const leaf = leafCrl
    ? `not listed in the CRL of ${leafIssuer} (${leafCrl.entries} entries, next update ${leafCrl.nextUpdate ? isoSeconds(leafCrl.nextUpdate) : 'none'})`
    : `no CRL for ${leafIssuer}: not checked`;
  return chainLength > 2 ? `${leaf}; CAs above checked against their issuers' CRLs` : leaf;
}
