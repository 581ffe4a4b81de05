/**
 * Turns CRL bytes (PEM with any number of `X509 CRL` blocks, or one or more concatenated DER CRLs)
 * into CRLs whose signatures were verified against their issuing CA from the bundle.
 *
 * Security property (fail closed): a CRL is accepted only if it parses completely, its issuer Name
 * is the subject of a CA in the bundle (compared canonically, RFC 5280 §7.1, as OpenSSL does) (and its authority key id, when both sides
 * carry one, matches that CA's subject key id), the CA may sign CRLs (keyUsage cRLSign when the
 * extension is present), the signature algorithm is one we know (no SHA-1), and the signature
 * verifies. Every other CRL is reported in `rejected` with a stable code; nothing in it is used.
 * Expired CRLs are still accepted: expiry is a policy decision of the revocation index.
 */
import { constants, createHash, verify as cryptoVerify, type KeyObject, X509Certificate } from 'node:crypto';
import { canonicalNameKey } from '../../asn1/canonical-name.js';
import { KeyUsage, type ParsedCertificate, parseCertificate } from '../../asn1/certificate.js';
import { DerError, DerReader, decodeOid, smallInteger, Tag } from '../../asn1/der.js';
import { formatRfc2253 } from '../../asn1/name.js';
import { fingerprintHex } from '../ca-bundle.js';
import {
  type CrlEnvelope,
  CrlError,
  type CrlErrorCode,
  type CrlInfo,
  type ParsedCrl,
  parseCrl,
  parseCrlEnvelope,
  splitDer,
} from './parse-crl.js';

/** The CA whose key verified a CRL's signature. */
export interface CrlSigner {
  readonly subject: string;
  /** The CA certificate's SHA-256, lower-case hex (fingerprintHex): the keys of CaBundle.byFingerprint. */
  readonly fingerprint256: string;
  /** SHA-256 (hex) of the CA's SubjectPublicKeyInfo: the CRL applies only to certificates this key issued. */
  readonly keySha256: string;
}

/** A CRL whose signature was verified against `signedBy`; all fields are trustworthy. */
export interface VerifiedCrl extends CrlInfo {
  readonly signedBy: CrlSigner;
}

export interface RejectedCrl {
  readonly reason: string;
  readonly code: CrlErrorCode | string;
  /** The CRL's issuer (RFC 2253), when it got far enough to have one. */
  readonly issuer?: string;
}

/**
 * A CRL whose signature verified with `signedBy`'s key but that cannot be used (an unknown
 * critical CRL or entry extension, or malformed past the envelope). It is also in `rejected`.
 * The revocation index refuses the clients of that key that no usable CRL of it covers
 * (`crl_missing`), whatever GATEWAY_CRL_REQUIRED says: OpenSSL refuses them too.
 */
export interface UnusableCrl {
  readonly issuer: string;
  readonly code: CrlErrorCode;
  readonly reason: string;
  readonly signedBy: CrlSigner;
}

export interface CrlLoadResult {
  readonly accepted: VerifiedCrl[];
  readonly rejected: RejectedCrl[];
  /** Subset of the rejections: CRLs their CA signed that we cannot use. */
  readonly unusable: UnusableCrl[];
}

interface SignatureScheme {
  /** Digest name for crypto.verify, or null for Ed25519. */
  readonly digest: string | null;
  /** Acceptable `KeyObject.asymmetricKeyType`s. */
  readonly keyTypes: readonly string[];
  readonly pssSaltLength?: number;
}

const ECDSA: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const RSA_PKCS1: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
const HASHES: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const OID_ED25519 = '1.3.101.112';

function isNull(params: Uint8Array): boolean {
  return params.length === 2 && params[0] === Tag.NULL && params[1] === 0;
}

/** A hash AlgorithmIdentifier (parameters absent or NULL) → digest name. */
function hashOf(r: DerReader, what: string): string {
  const alg = r.inside(r.expect(Tag.SEQUENCE, what));
  const oid = decodeOid(r.buf, alg.expect(Tag.OID, what));
  if (!alg.done) alg.expect(Tag.NULL, `${what} parameters`);
  alg.finish(what);
  const digest = HASHES[oid];
  if (!digest)
    throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', `unsupported hash ${oid} in RSASSA-PSS parameters`);
  return digest;
}

function pssScheme(params: Uint8Array | undefined): SignatureScheme {
  if (!params)
    throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', 'RSASSA-PSS without parameters (SHA-1) is not accepted');
  try {
    const top = DerReader.of(params);
    const seq = top.inside(top.expect(Tag.SEQUENCE, 'RSASSA-PSS-params'));
    top.finish('RSASSA-PSS-params');
    const hashTlv = seq.optional(0xa0);
    if (!hashTlv) throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', 'RSASSA-PSS with SHA-1 is not accepted');
    const h = seq.inside(hashTlv);
    const digest = hashOf(h, 'hashAlgorithm');
    h.finish('hashAlgorithm');
    const mgfTlv = seq.optional(0xa1);
    if (!mgfTlv)
      throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', 'RSASSA-PSS with MGF1-SHA-1 is not accepted');
    const m = seq.inside(mgfTlv);
    const mgf = m.inside(m.expect(Tag.SEQUENCE, 'maskGenAlgorithm'));
    m.finish('maskGenAlgorithm');
    const mgfOid = decodeOid(params, mgf.expect(Tag.OID, 'maskGenAlgorithm'));
    if (mgfOid !== OID_MGF1)
      throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', `unsupported mask generation ${mgfOid}`);
    const mgfDigest = hashOf(mgf, 'MGF1 hash');
    mgf.finish('maskGenAlgorithm');
    if (mgfDigest !== digest) {
      throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', 'RSASSA-PSS with an MGF1 hash unlike the message hash');
    }
    let saltLength = 20;
    const saltTlv = seq.optional(0xa2);
    if (saltTlv) {
      const s = seq.inside(saltTlv);
      saltLength = smallInteger(params, s.expect(Tag.INTEGER, 'saltLength'));
      s.finish('saltLength');
    }
    const trailerTlv = seq.optional(0xa3);
    if (trailerTlv) {
      const t = seq.inside(trailerTlv);
      if (smallInteger(params, t.expect(Tag.INTEGER, 'trailerField')) !== 1) {
        throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', 'RSASSA-PSS trailerField other than 1');
      }
      t.finish('trailerField');
    }
    seq.finish('RSASSA-PSS-params');
    return { digest, keyTypes: ['rsa', 'rsa-pss'], pssSaltLength: saltLength };
  } catch (err) {
    if (err instanceof DerError) throw new CrlError('CRL_MALFORMED', `RSASSA-PSS parameters: ${err.message}`);
    throw err;
  }
}

/** Maps the CRL's signature AlgorithmIdentifier to crypto.verify parameters; unknown → CrlError. */
export function signatureScheme(oid: string, params: Uint8Array | undefined): SignatureScheme {
  const ecdsa = ECDSA[oid];
  if (ecdsa) {
    if (params) throw new CrlError('CRL_MALFORMED', 'ECDSA signature algorithm with parameters');
    return { digest: ecdsa, keyTypes: ['ec'] };
  }
  const rsa = RSA_PKCS1[oid];
  if (rsa) {
    if (params && !isNull(params))
      throw new CrlError('CRL_MALFORMED', 'RSA signature algorithm with parameters');
    return { digest: rsa, keyTypes: ['rsa'] };
  }
  if (oid === OID_RSASSA_PSS) return pssScheme(params);
  if (oid === OID_ED25519) {
    if (params) throw new CrlError('CRL_MALFORMED', 'Ed25519 signature algorithm with parameters');
    return { digest: null, keyTypes: ['ed25519'] };
  }
  throw new CrlError('CRL_UNSUPPORTED_ALGORITHM', `unsupported signature algorithm ${oid}`);
}

/** A CA of the bundle, with what CRL matching needs read once. */
export interface CaCandidate {
  readonly cert: X509Certificate;
  readonly parsed: ParsedCertificate;
  /** canonicalNameKey of the subject. */
  readonly subjectKey: string;
  readonly mayIssueCrls: boolean;
  readonly fingerprint256: string;
  readonly subject: string;
}

/** Whether a CA certificate may sign CRLs: a CA whose keyUsage, when present, allows cRLSign. */
export function mayIssueCrls(cert: X509Certificate, parsed: ParsedCertificate): boolean {
  return cert.ca && (parsed.keyUsage === undefined || (parsed.keyUsage & KeyUsage.cRLSign) !== 0);
}

export function caCandidates(cas: readonly X509Certificate[]): CaCandidate[] {
  const out: CaCandidate[] = [];
  for (const cert of cas) {
    let parsed: ParsedCertificate;
    try {
      parsed = parseCertificate(cert.raw);
    } catch {
      continue; // a CA we cannot read cannot vouch for a CRL
    }
    out.push({
      cert,
      parsed,
      subjectKey: canonicalNameKey(parsed.subjectDer),
      mayIssueCrls: mayIssueCrls(cert, parsed),
      fingerprint256: fingerprintHex(cert),
      subject: formatRfc2253(parsed.subjectDer),
    });
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function verifyWith(crl: CrlEnvelope, scheme: SignatureScheme, key: KeyObject): boolean {
  if (!key.asymmetricKeyType || !scheme.keyTypes.includes(key.asymmetricKeyType)) return false;
  try {
    if (scheme.pssSaltLength !== undefined) {
      return cryptoVerify(
        scheme.digest,
        crl.tbsDer,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pssSaltLength },
        crl.signature,
      );
    }
    return cryptoVerify(scheme.digest, crl.tbsDer, key, crl.signature);
  } catch {
    return false; // malformed signature encodings are simply not valid signatures
  }
}

function signerOf(ca: CaCandidate): CrlSigner {
  return {
    subject: ca.subject,
    fingerprint256: ca.fingerprint256,
    keySha256: createHash('sha256').update(ca.parsed.subjectPublicKeyInfoDer).digest('hex'),
  };
}

/**
 * The CA of the bundle whose key verifies `crl`'s signature: named as the CRL's issuer
 * (canonically), with a subject key id equal to the CRL's authority key id when both carry one,
 * allowed to sign CRLs. Throws CrlError when there is none.
 */
function verifyingCa(
  crl: CrlEnvelope & { readonly authorityKeyId?: Uint8Array | undefined },
  cas: readonly CaCandidate[],
): CaCandidate {
  const scheme = signatureScheme(crl.signatureAlgorithmOid, crl.signatureAlgorithmParams);
  const issuerKey = canonicalNameKey(crl.issuerDer);
  const named = cas.filter((ca) => ca.subjectKey === issuerKey);
  if (named.length === 0)
    throw new CrlError('CRL_UNKNOWN_ISSUER', `no CA in the bundle is named ${crl.issuer}`);
  const aki = crl.authorityKeyId;
  const keyed = named.filter(
    (ca) => !aki || !ca.parsed.subjectKeyId || bytesEqual(aki, ca.parsed.subjectKeyId),
  );
  if (keyed.length === 0) {
    throw new CrlError('CRL_UNKNOWN_ISSUER', `the CRL's authority key id matches no CA named ${crl.issuer}`);
  }
  const signers = keyed.filter((ca) => ca.mayIssueCrls);
  if (signers.length === 0) {
    throw new CrlError(
      'CRL_UNKNOWN_ISSUER',
      `the CA named ${crl.issuer} may not sign CRLs (not a CA, or no cRLSign)`,
    );
  }
  for (const ca of signers) if (verifyWith(crl, scheme, ca.cert.publicKey)) return ca;
  throw new CrlError('CRL_BAD_SIGNATURE', `signature does not verify with the key of ${crl.issuer}`);
}

/** Verifies one parsed CRL against the bundle; throws CrlError when it cannot be accepted. */
export function verifyParsedCrl(crl: ParsedCrl, cas: readonly CaCandidate[]): VerifiedCrl {
  const ca = verifyingCa(crl, cas);
  const { tbsDer: _t, signature: _s, signatureAlgorithmOid: _o, signatureAlgorithmParams: _p, ...info } = crl;
  // issuerDer is copied so that a verified CRL never pins the (possibly huge) input buffer: not with
  // slice(), which on a Buffer (what the sources read) is a view.
  return { ...info, issuerDer: new Uint8Array(crl.issuerDer), signedBy: signerOf(ca) };
}

/** Parse failures that, on a CRL its CA did sign, make that CA's CRL unusable (not just absent). */
const UNUSABLE_CODES: ReadonlySet<string> = new Set(['CRL_MALFORMED', 'CRL_UNKNOWN_CRITICAL_EXTENSION']);

/**
 * A CRL that `parseCrl` refused, whose signature nonetheless verifies with a CA of the bundle:
 * the CA did publish it, so it is unusable revocation data, not noise. Undefined otherwise.
 */
function unusableCrl(der: Uint8Array, err: CrlError, cas: readonly CaCandidate[]): UnusableCrl | undefined {
  if (!UNUSABLE_CODES.has(err.code)) return undefined;
  try {
    const envelope = parseCrlEnvelope(der);
    const ca = verifyingCa(envelope, cas);
    return { issuer: envelope.issuer, code: err.code, reason: err.message, signedBy: signerOf(ca) };
  } catch {
    return undefined; // not signed by a CA of ours: an ordinary rejection
  }
}

const PEM_BLOCK = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

/** Splits input into DER CRLs; unreadable parts become rejections. */
function splitInput(input: Uint8Array): { ders: Uint8Array[]; rejected: RejectedCrl[] } {
  let i = 0;
  while (
    i < input.length &&
    (input[i] === 0x20 || input[i] === 0x09 || input[i] === 0x0a || input[i] === 0x0d)
  )
    i++;
  if (i === input.length) {
    return { ders: [], rejected: [{ code: 'CRL_MALFORMED', reason: 'no CRL in the input (empty)' }] };
  }
  if (input[i] === Tag.SEQUENCE) {
    try {
      return { ders: splitDer(input.subarray(i)), rejected: [] };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return { ders: [], rejected: [{ code: 'CRL_MALFORMED', reason: `DER input: ${reason}` }] };
    }
  }
  const text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
  const ders: Uint8Array[] = [];
  const rejected: RejectedCrl[] = [];
  let blocks = 0;
  for (const m of text.matchAll(PEM_BLOCK)) {
    blocks++;
    const body = m[1] ?? '';
    if (!BASE64_BODY.test(body)) {
      rejected.push({ code: 'CRL_MALFORMED', reason: `PEM block ${blocks}: not base64` });
      continue;
    }
    ders.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  const begins = text.split('-----BEGIN X509 CRL-----').length - 1;
  if (begins > blocks) {
    rejected.push({ code: 'CRL_MALFORMED', reason: `${begins - blocks} PEM block(s) without an END line` });
  }
  if (begins === 0) rejected.push({ code: 'CRL_MALFORMED', reason: 'no X509 CRL PEM block and not DER' });
  return { ders, rejected };
}

/**
 * Every CRL in `input` (PEM: every `X509 CRL` block; DER: each concatenated CRL), verified against
 * the CA among `cas` whose subject is the CRL's issuer. Never throws for bad input.
 */
export function verifiedCrlsFrom(input: Uint8Array, cas: readonly X509Certificate[]): CrlLoadResult {
  const candidates = caCandidates(cas);
  const { ders, rejected } = splitInput(input);
  const accepted: VerifiedCrl[] = [];
  const unusable: UnusableCrl[] = [];
  for (const der of ders) {
    let parsed: ParsedCrl | undefined;
    try {
      parsed = parseCrl(der);
      accepted.push(verifyParsedCrl(parsed, candidates));
    } catch (err) {
      const code = err instanceof CrlError ? err.code : 'CRL_INTERNAL';
      const reason = err instanceof Error ? err.message : String(err);
      const bad = !parsed && err instanceof CrlError ? unusableCrl(der, err, candidates) : undefined;
      if (bad) unusable.push(bad);
      const issuer = parsed?.issuer ?? bad?.issuer;
      rejected.push(issuer ? { code, reason, issuer } : { code, reason });
    }
  }
  return { accepted, rejected, unusable };
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates of one or more PEM bundles (unparsable blocks are skipped: they vouch for nothing). */
export function certificatesFromPem(pems: readonly string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    for (const m of pem.matchAll(CERT_BLOCK)) {
      try {
        out.push(new X509Certificate(m[0]));
      } catch {
        // skipped
      }
    }
  }
  return out;
}
