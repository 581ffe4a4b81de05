/**
 * The body of `GET /.well-known/mtls-gateway/whoami`: what the gateway made of the caller's
 * certificate (parsed identity, partner and the rule that matched, the chain it verified with each
 * element's revocation coverage) and which routes it may call. Partner engineers read it while
 * onboarding; it holds nothing the caller did not present, plus route names and prefixes. Pure.
 */
import type { ClientIdentity } from '../identity/index.js';
import { isoSeconds } from '../identity/index.js';
import type { ConnectionAuthorization } from './connection-authorization.js';
import { spkiPinOf } from './partner-matcher.js';

export const WHOAMI_PATH = '/.well-known/mtls-gateway/whoami';

export interface WhoamiChainElement {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly fingerprint256: string;
  readonly notAfter: number;
  /** `checked`: a CRL of its issuer is loaded and does not list it; `no_crl`; `trust_anchor`. */
  readonly revocation: 'checked' | 'no_crl' | 'trust_anchor';
}

export function whoamiBody(
  identity: ClientIdentity,
  auth: ConnectionAuthorization,
  chain: readonly WhoamiChainElement[],
  requestId: string,
): Record<string, unknown> {
  const refusal = auth.connectionRefusal;
  return {
    request_id: requestId,
    partner: {
      id: auth.partner.id,
      declared: auth.partner.declared,
      ...(auth.partner.declared ? { matched_by: auth.partner.rule } : {}),
      ...(refusal ? { refused: refusal.rule } : {}),
    },
    certificate: {
      subject: identity.subject,
      issuer: identity.issuer,
      serial: identity.serial,
      fingerprint256: identity.fingerprint256,
      spki_sha256: spkiPinOf(identity),
      not_before: isoSeconds(identity.notBefore),
      not_after: isoSeconds(identity.notAfter),
      common_name: identity.commonName ?? null,
      organization: identity.organization,
      organizational_unit: identity.organizationalUnit,
      san_dns: identity.sanDns,
      san_uri: identity.sanUri,
      san_email: identity.sanEmail,
    },
    chain: chain.map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      fingerprint256: c.fingerprint256,
      not_after: isoSeconds(c.notAfter),
      revocation: c.revocation,
    })),
    // Only a connection that passed the gate (and its re-checks) gets here.
    revocation: { status: 'not_revoked' },
    routes: auth.policy.allowedRoutes(auth.partner).map((r) => ({
      name: r.name,
      prefix: r.prefix,
      methods: r.methods ? [...r.methods] : 'any',
    })),
  };
}
