/**
 * The closed set of reasons a client connection is refused, with the status and the sentence a
 * partner engineer reads, and the classification of OpenSSL/Node errors into that set. Logs,
 * metrics, refusal bodies and tests all use these codes; an unknown error maps to `other`, never
 * to acceptance.
 */

export const REFUSAL_REASONS = [
  'no_certificate',
  'unknown_ca',
  'expired',
  'not_yet_valid',
  'revoked',
  'crl_expired',
  'crl_missing',
  'bad_certificate',
  'protocol',
  'timeout',
  'other',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export const REFUSAL_MESSAGES: Readonly<Record<RefusalReason, string>> = {
  no_certificate:
    'No client certificate was presented; configure your client to send its certificate and key.',
  unknown_ca:
    'The client certificate is not issued by a CA this gateway trusts; send the full chain or ask us to add your CA.',
  expired: 'The client certificate (or a CA in its chain) has expired; renew it.',
  not_yet_valid:
    'The client certificate (or a CA in its chain) is not valid yet; check its notBefore and your clock.',
  revoked: 'The client certificate (or a CA in its chain) has been revoked by its issuer.',
  crl_expired:
    "The issuer's revocation list is out of date, so certificates from this issuer are refused for now.",
  crl_missing: 'No revocation list is loaded for the issuer of this certificate, and one is required.',
  bad_certificate:
    'The client certificate cannot be used for client authentication (wrong key usage or purpose, or malformed).',
  protocol: 'The TLS handshake failed (protocol version, cipher or malformed handshake).',
  timeout: 'The TLS handshake did not complete in time.',
  other: 'The client certificate could not be verified.',
};

/** The RFC 9457 `title` of each reason: the same short phrase for every refusal of that reason. */
export const REFUSAL_TITLES: Readonly<Record<RefusalReason, string>> = {
  no_certificate: 'No client certificate',
  unknown_ca: 'Client certificate from an untrusted CA',
  expired: 'Client certificate expired',
  not_yet_valid: 'Client certificate not yet valid',
  revoked: 'Client certificate revoked',
  crl_expired: 'Revocation list out of date',
  crl_missing: 'Revocation list missing',
  bad_certificate: 'Client certificate not usable for client authentication',
  protocol: 'TLS handshake failed',
  timeout: 'TLS handshake timed out',
  other: 'Client certificate not verified',
};

/** What the gate knows about a refused chain, to say it in one specific sentence. */
export interface RefusalFacts {
  /** The presented chain, leaf first (validity in epoch ms, subject RFC 2253). */
  readonly chain?:
    | readonly {
        readonly subject: string;
        readonly notBefore: number;
        readonly notAfter: number;
      }[]
    | undefined;
  /** For revocation reasons: the refused certificate's serial and issuer. */
  readonly serial?: string | undefined;
  readonly issuer?: string | undefined;
  readonly now?: number;
}

const iso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/**
 * The sentence a partner engineer reads for this refusal, with the specifics the gate knows
 * (which certificate, which date, which issuer); the generic REFUSAL_MESSAGES line otherwise.
 */
export function refusalMessage(reason: RefusalReason, facts: RefusalFacts = {}): string {
  const now = facts.now ?? Date.now();
  const chain = facts.chain ?? [];
  const which = (i: number): string =>
    i === 0 ? 'The client certificate' : `The CA certificate ${chain[i]?.subject} in the client's chain`;
  switch (reason) {
    case 'expired': {
      const i = chain.findIndex((c) => c.notAfter < now);
      if (i >= 0) return `${which(i)} expired at ${iso(chain[i]!.notAfter)}; renew it.`;
      break;
    }
    case 'not_yet_valid': {
      const i = chain.findIndex((c) => c.notBefore > now);
      if (i >= 0) {
        return `${which(i)} is not valid until ${iso(chain[i]!.notBefore)} (gateway time ${iso(now)}); check its notBefore and your clock.`;
      }
      break;
    }
    case 'revoked':
      if (facts.serial && facts.issuer) {
        return `The certificate with serial ${facts.serial} in the client's chain has been revoked by its issuer ${facts.issuer}.`;
      }
      break;
    case 'crl_expired':
      if (facts.issuer) {
        return `The revocation list of ${facts.issuer} is out of date, so certificates it issued are refused until a current one is loaded.`;
      }
      break;
    case 'crl_missing':
      if (facts.issuer) return `No revocation list is loaded for ${facts.issuer}, and one is required.`;
      break;
    case 'unknown_ca':
      if (facts.issuer) {
        return `The client certificate is issued by ${facts.issuer}, which this gateway does not trust; send the full chain or ask us to add your CA.`;
      }
      break;
    default:
      break;
  }
  return REFUSAL_MESSAGES[reason];
}

/** HTTP status for a refusal's answer (strict and explain): 401 when we do not know who you are, 403 otherwise. */
export function refusalStatus(reason: RefusalReason): 401 | 403 {
  return reason === 'no_certificate' || reason === 'unknown_ca' ? 401 : 403;
}

/** What a refused connection's requests are answered with (strict and explain, parsed or not). */
export interface RefusalAnswer {
  readonly status: 401 | 403;
  readonly error: RefusalReason;
  readonly title: string;
  readonly message: string;
  /** What the client presented (subject, serial, issuer), the fields it has. */
  readonly details: Readonly<Record<string, string>>;
}

/** The answer to a refusal: its status, code and title, its specific sentence, and what was presented. */
export function refusalAnswer(refused: {
  readonly reason: RefusalReason;
  readonly message?: string;
  readonly presented: { readonly subject?: string; readonly serial?: string; readonly issuer?: string };
}): RefusalAnswer {
  const details: Record<string, string> = {};
  for (const [k, v] of Object.entries(refused.presented)) if (v !== undefined) details[k] = v;
  return {
    status: refusalStatus(refused.reason),
    error: refused.reason,
    title: REFUSAL_TITLES[refused.reason],
    message: refused.message ?? REFUSAL_MESSAGES[refused.reason],
    details,
  };
}

/** OpenSSL verify error codes (as Node names them in `authorizationError`) → our reasons. */
const VERIFY_ERRORS: Readonly<Record<string, RefusalReason>> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unknown_ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown_ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown_ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown_ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown_ca',
  CERT_UNTRUSTED: 'unknown_ca',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not_yet_valid',
  CERT_REVOKED: 'revoked',
  INVALID_PURPOSE: 'bad_certificate',
  INVALID_CA: 'bad_certificate',
  PATH_LENGTH_EXCEEDED: 'bad_certificate',
  CERT_SIGNATURE_FAILURE: 'bad_certificate',
  CERT_REJECTED: 'bad_certificate',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'bad_certificate',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'bad_certificate',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'bad_certificate',
  CERT_CHAIN_TOO_LONG: 'bad_certificate',
  HOSTNAME_MISMATCH: 'bad_certificate',
  EE_KEY_TOO_SMALL: 'bad_certificate',
  CA_KEY_TOO_SMALL: 'bad_certificate',
  CA_MD_TOO_WEAK: 'bad_certificate',
};

export function classifyVerifyError(code: string | Error | undefined | null): RefusalReason {
  if (code === undefined || code === null) return 'other';
  const text = typeof code === 'string' ? code : ((code as NodeJS.ErrnoException).code ?? code.message);
  return VERIFY_ERRORS[text] ?? 'other';
}

/** A `tlsClientError` (the handshake itself failed) → our reason. */
export function classifyHandshakeError(err: Error): RefusalReason {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'other';
  const text = `${code} ${err.message}`.toLowerCase();
  if (text.includes('peer did not return a certificate') || text.includes('certificate required')) {
    return 'no_certificate';
  }
  if (code.startsWith('ERR_SSL_') || text.includes('ssl routines') || text.includes('wrong version number')) {
    return 'protocol';
  }
  return 'other';
}
