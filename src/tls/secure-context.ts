/**
 * The whole TLS option set for one trust snapshot, built in one place: `setSecureContext()`
 * replaces every option, so a hot swap must never rebuild only a part. TLS 1.2 and 1.3 only,
 * AEAD suites with forward secrecy only, no renegotiation, client certificate requested and verified by OpenSSL
 * against the CA bundle (revocation is ours, see design.md), the server chain always sent.
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import type { CaBundle } from '../trust/ca-bundle.js';
import type { ServerCredentials } from '../trust/server-credentials.js';

export const TLS12_AEAD_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
export const TLS13_SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

export function secureContextOptions(bundle: CaBundle, server: ServerCredentials): SecureContextOptions {
  return {
    cert: server.certPem,
    key: server.keyPem,
    ca: bundle.pem,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...TLS12_AEAD_CIPHERS].join(':'),
    honorCipherOrder: true,
    ecdhCurve: 'X25519:P-256:P-384',
    // A fixed context id lets TLS 1.2 session-id resumption work across context swaps; tickets
    // are re-keyed on every trust change (listener.ts), and every resumed session is re-checked.
    sessionIdContext: 'mtls-gateway',
    // TLS 1.2 renegotiation refused (TLS 1.3 has none): otherwise any connected client can make
    // the gateway do a full handshake's work on demand, as often as it likes.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}
