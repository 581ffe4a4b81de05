/**
 * The validated shape of the policy part of the `GATEWAY_CONFIG` file: partners (who a certificate
 * belongs to) and routes (where a request goes and who may call it). `config/` turns JSON into this
 * and reports mistakes by JSON path; `Policy` compiles it. Plain data, no behaviour.
 */

/** How to recognise a partner's certificate: every field given must match (any of its values). */
export interface PartnerMatchSpec {
  readonly commonName?: readonly string[];
  readonly organization?: readonly string[];
  readonly organizationalUnit?: readonly string[];
  /** Exact, case-insensitive; `*.example.com` matches exactly one leftmost label. */
  readonly sanDns?: readonly string[];
  /** ghostunnel-style patterns: a `*` segment is one path segment, `**` one or more. */
  readonly sanUri?: readonly string[];
  /** Exact, case-insensitive. */
  readonly sanEmail?: readonly string[];
  /** Issuer DN exactly as `openssl x509 -noout -issuer -nameopt RFC2253` prints it. */
  readonly issuer?: readonly string[];
  /** SHA-256 of the leaf DER, hex (colons allowed, any case). */
  readonly fingerprintSha256?: readonly string[];
  /** HPKP-style pin: base64 SHA-256 of the SubjectPublicKeyInfo DER (survives re-issue with the same key). */
  readonly spkiSha256?: readonly string[];
}

export const MATCH_FIELDS = [
  'commonName',
  'organization',
  'organizationalUnit',
  'sanDns',
  'sanUri',
  'sanEmail',
  'issuer',
  'fingerprintSha256',
  'spkiSha256',
] as const satisfies readonly (keyof PartnerMatchSpec)[];

export interface PartnerSpec {
  readonly id: string;
  /** Alternatives: a certificate is this partner's when it satisfies any one of them. */
  readonly match: readonly PartnerMatchSpec[];
}

export interface RouteSpec {
  /** The `route` label in metrics and logs, and what refusals name. */
  readonly name: string;
  /** Path prefix, matched on whole segments (`/receipts` claims `/receipts` and `/receipts/…`). */
  readonly prefix: string;
  /** Upper-case methods; undefined means every method. */
  readonly methods?: readonly string[];
  /** Origin (`http://host:port`); undefined means GATEWAY_UPSTREAM. */
  readonly upstream?: string;
  /** Partner ids, or `*` for any verified client. */
  readonly allow: readonly string[];
}

export interface PolicyDocument {
  readonly partners: readonly PartnerSpec[];
  readonly routes: readonly RouteSpec[];
  /** true: a certificate that matches no declared partner is refused on every route. */
  readonly requireDeclaredPartners: boolean;
  /** `GET /.well-known/mtls-gateway/whoami` on the TLS listener; undefined: on in dev mode only. */
  readonly whoami?: boolean;
}

/** Partner ids: what X-Client-Id carries and what metrics label, so a closed ASCII token set. */
export const PARTNER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
/** Prefixes of the X-Client-Id of undeclared certificates (`cn:partner-b`): never a declared id. */
export const UNDECLARED_ID_PREFIX = /^(?:cn|subject):/i;
export const ROUTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The metric label for every client that matches no declared partner (bounded cardinality). */
export const UNDECLARED_PARTNER_LABEL = 'undeclared';
export const ANY_PARTNER = '*';
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
