/**
 * The server's certificate chain and key. Accepted only if the key matches the leaf, every
 * certificate is signed by the next one in the file, and the leaf is valid now: a rotation that
 * would break every handshake is refused and the current credentials stay in force. A refusal
 * for time alone (TimeTrustMaterialError) is retried, never remembered as invalid.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { parseCertificate } from '../asn1/certificate.js';
import { formatRfc2253 } from '../asn1/name.js';
import { isDevelopmentMaterial, TimeTrustMaterialError, TrustMaterialError } from './ca-bundle.js';
import { splitPem } from './pem.js';

export interface ServerCredentials {
  readonly certPem: string;
  /** The private key, PEM (PKCS#8). Held in memory for OpenSSL only; never logged. */
  readonly keyPem: string;
  readonly subject: string;
  readonly notAfter: number;
}

export function parseServerCredentials(
  certBytes: Uint8Array,
  keyBytes: Uint8Array,
  opts: { now: number; production: boolean },
): ServerCredentials {
  let chain: X509Certificate[];
  try {
    chain = splitPem(Buffer.from(certBytes).toString('latin1')).blocks.map((b) => {
      if (b.label !== 'CERTIFICATE') throw new Error(`${b.label} block where a CERTIFICATE was expected`);
      return new X509Certificate(b.der);
    });
  } catch (err) {
    throw new TrustMaterialError(`server certificate: ${(err as Error).message}`);
  }
  const leaf = chain[0];
  if (!leaf) throw new TrustMaterialError('server certificate: no certificate found');
  let key: KeyObject;
  try {
    key = createPrivateKey(Buffer.from(keyBytes));
  } catch {
    // The key's bytes never go into the message.
    throw new TrustMaterialError('server key: not a readable private key (PEM or DER, unencrypted)');
  }
  if (!leaf.checkPrivateKey(key))
    throw new TrustMaterialError('server key: does not match the server certificate');
  for (let i = 0; i + 1 < chain.length; i++) {
    const [child, parent] = [chain[i]!, chain[i + 1]!];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new TrustMaterialError(
        `server certificate: chain element ${i + 1} is not issued by element ${i + 2}`,
      );
    }
  }
  const parsed = parseCertificate(leaf.raw);
  // A time refusal: the store keeps the credentials in force, retries on every poll, and again
  // at the notBefore of a certificate installed ahead of time.
  if (parsed.notBefore > opts.now) {
    throw new TimeTrustMaterialError(
      `server certificate: not valid before ${new Date(parsed.notBefore).toISOString()}`,
      parsed.notBefore,
    );
  }
  if (parsed.notAfter < opts.now) {
    throw new TimeTrustMaterialError(
      `server certificate: expired ${new Date(parsed.notAfter).toISOString()}`,
    );
  }
  if (opts.production && isDevelopmentMaterial(parsed)) {
    throw new TrustMaterialError('server certificate: development certificate refused in production');
  }
  return {
    certPem: chain.map((c) => c.toString()).join(''),
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }) as string,
    subject: formatRfc2253(parsed.subjectDer),
    notAfter: parsed.notAfter,
  };
}
