/**
 * verify-crl.ts over in-memory inputs: which signature algorithms and parameters we accept, which
 * CA of the bundle may sign a CRL and which one did (`signedBy`), the exact code and reason of
 * every refusal, how CRLs its CA signed but we cannot use are told from noise, and how PEM and DER
 * input is split. CA certificates and CRLs are built in memory (cert-builder.ts, crl-builder.ts)
 * with keys made per run; `openssl verify -crl_check` is the oracle for the CA-side refusals.
 */
import { spawnSync } from 'node:child_process';
import {
  constants,
  createHash,
  generateKeyPairSync,
  type KeyObject,
  type RSAPSSKeyPairKeyObjectOptions,
  sign,
  X509Certificate,
} from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalNameKey } from '../../src/asn1/canonical-name.js';
import { DerReader, Tag } from '../../src/asn1/der.js';
import { CrlError, parseCrl, splitDer } from '../../src/trust/crl/parse-crl.js';
import {
  type CrlLoadResult,
  caCandidates,
  certificatesFromPem,
  mayIssueCrls,
  signatureScheme,
  verifiedCrlsFrom,
  verifyParsedCrl,
} from '../../src/trust/crl/verify-crl.js';
import {
  type BuiltCert,
  buildCert,
  buildCertDer,
  keyIdOf,
  keyPair,
  type TestCa,
  testCa,
} from './cert-builder.js';
import {
  akiExt,
  algorithmIdentifier,
  buildCrl,
  type CrlSpec,
  crlNumberExt,
  extension,
  int,
  name,
  nul,
  octet,
  oid,
  seq,
  tlv,
} from './crl-builder.js';
import { removeTempDirs, tempDir } from './openssl-pki.js';

afterAll(removeTempDirs);

const ec = testCa(name('EC CA', 'Verify'));
const rsa = testCa(name('RSA CA', 'Verify'), 'rsa');
const pss = testCa(name('PSS CA', 'Verify'), 'rsa-pss');
const ed = testCa(name('Ed25519 CA', 'Verify'), 'ed25519');
const bundle = [ec, rsa, pss, ed].map((c) => c.cert.x509);

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11',
  rsaSha384: '1.2.840.113549.1.1.12',
  rsaSha512: '1.2.840.113549.1.1.13',
  rsaSha1: '1.2.840.113549.1.1.5',
  pss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  ed25519: '1.3.101.112',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

function specOf(ca: TestCa, extra: Partial<CrlSpec> = {}): CrlSpec {
  return {
    issuerDer: ca.cert.parsed.subjectDer,
    alg: ca.alg,
    key: ca.key,
    entries: [{ serialHex: '0A1B', reason: 1 }],
    extensions: [akiExt(ca.keyId), crlNumberExt(1)],
    ...extra,
  };
}

/** The CertificateList `der` with its TBS re-signed: `algorithm` claimed, `signature` over the TBS. */
function resigned(
  der: Uint8Array,
  algorithm: Uint8Array,
  signTbs: (tbs: Uint8Array) => Uint8Array,
): Uint8Array {
  const top = DerReader.of(der);
  const list = top.inside(top.expect(Tag.SEQUENCE, 'CertificateList'));
  const tbsTlv = list.expect(Tag.SEQUENCE, 'TBSCertList');
  const tbs = der.subarray(tbsTlv.start, tbsTlv.end);
  // Replace the TBS's own AlgorithmIdentifier (its second element, after the version) too.
  const inner = DerReader.of(tbs).inside(DerReader.of(tbs).expect(Tag.SEQUENCE, 'TBSCertList'));
  const version = inner.expect(Tag.INTEGER, 'version');
  const oldAlg = inner.expect(Tag.SEQUENCE, 'signature');
  const rest = tbs.subarray(oldAlg.end);
  const newTbs = seq(tbs.subarray(version.start, version.end), algorithm, rest);
  return seq(newTbs, algorithm, tlv(0x03, Buffer.from([0]), signTbs(newTbs)));
}

function pssSigner(key: KeyObject, digest: string, saltLength: number) {
  return (tbs: Uint8Array) =>
    sign(digest, tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
}

const hashId = (dotted: string, withNull = true) => seq(oid(dotted), ...(withNull ? [nul()] : []));

/** RSASSA-PSS-params: each field given as its DER, or omitted. */
function pssParams(
  fields: {
    hash?: Uint8Array;
    mgf?: Uint8Array;
    salt?: Uint8Array;
    trailer?: Uint8Array;
    extra?: Uint8Array;
  } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  if (fields.hash) parts.push(tlv(0xa0, fields.hash));
  if (fields.mgf) parts.push(tlv(0xa1, fields.mgf));
  if (fields.salt) parts.push(tlv(0xa2, fields.salt));
  if (fields.trailer) parts.push(tlv(0xa3, fields.trailer));
  if (fields.extra) parts.push(fields.extra);
  return seq(...parts);
}

const mgf1 = (hash: string) => seq(oid(OID.mgf1), hashId(hash));
const pssFull = (hash: string, salt: number) =>
  pssParams({ hash: hashId(hash), mgf: mgf1(hash), salt: int(salt.toString(16)) });
const pssAlgorithm = (params: Uint8Array) => seq(oid(OID.pss), params);

function schemeError(dotted: string, params: Uint8Array | undefined): [string, string] | 'ok' {
  try {
    signatureScheme(dotted, params);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(CrlError);
    return [(err as CrlError).code, (err as CrlError).message];
  }
}

function parseError(der: Uint8Array): CrlError {
  try {
    parseCrl(der);
  } catch (err) {
    if (err instanceof CrlError) return err;
  }
  throw new Error('expected parseCrl to refuse');
}

function signerOf(ca: TestCa | BuiltCert) {
  const cert = 'cert' in ca ? ca.cert : ca;
  return {
    subject: cert.x509.subject.split('\n').reverse().join(','),
    fingerprint256: cert.x509.fingerprint256.replaceAll(':', '').toLowerCase(),
    keySha256: createHash('sha256')
      .update(cert.x509.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex'),
  };
}

const codes = (r: CrlLoadResult) => r.rejected.map((x) => x.code);

describe('signatureScheme', () => {
  it('maps each ECDSA, RSA PKCS#1 and Ed25519 OID to its digest and key types', () => {
    expect(signatureScheme(OID.ecdsaSha256, undefined)).toStrictEqual({ digest: 'sha256', keyTypes: ['ec'] });
    expect(signatureScheme(OID.ecdsaSha384, undefined)).toStrictEqual({ digest: 'sha384', keyTypes: ['ec'] });
    expect(signatureScheme(OID.ecdsaSha512, undefined)).toStrictEqual({ digest: 'sha512', keyTypes: ['ec'] });
    expect(signatureScheme(OID.rsaSha256, nul())).toStrictEqual({ digest: 'sha256', keyTypes: ['rsa'] });
    expect(signatureScheme(OID.rsaSha384, nul())).toStrictEqual({ digest: 'sha384', keyTypes: ['rsa'] });
    expect(signatureScheme(OID.rsaSha512, undefined)).toStrictEqual({ digest: 'sha512', keyTypes: ['rsa'] });
    expect(signatureScheme(OID.ed25519, undefined)).toStrictEqual({ digest: null, keyTypes: ['ed25519'] });
  });

  it('refuses parameters where the algorithm has none (RSA: anything but NULL)', () => {
    const malformed = (what: string) => ['CRL_MALFORMED', `${what} signature algorithm with parameters`];
    expect(schemeError(OID.ecdsaSha256, nul())).toEqual(malformed('ECDSA'));
    expect(schemeError(OID.ecdsaSha384, new Uint8Array(0))).toEqual(malformed('ECDSA'));
    expect(schemeError(OID.ed25519, nul())).toEqual(malformed('Ed25519'));
    for (const params of [
      Buffer.from([0x04, 0x00]), // OCTET STRING, not NULL
      Buffer.from([0x05, 0x01, 0x00]), // NULL with content
      Buffer.from([0x05, 0x00, 0x00]), // NULL and more
      Buffer.from([0x05, 0x01]), // a NULL tag with a non-zero length
      Buffer.from([0x05]),
      new Uint8Array(0),
    ]) {
      expect(schemeError(OID.rsaSha256, params), Buffer.from(params).toString('hex')).toEqual(
        malformed('RSA'),
      );
    }
  });

  it('refuses SHA-1 and unknown algorithms, naming the OID', () => {
    expect(schemeError(OID.rsaSha1, nul())).toEqual([
      'CRL_UNSUPPORTED_ALGORITHM',
      `unsupported signature algorithm ${OID.rsaSha1}`,
    ]);
    expect(schemeError('1.2.3.4', undefined)).toEqual([
      'CRL_UNSUPPORTED_ALGORITHM',
      'unsupported signature algorithm 1.2.3.4',
    ]);
  });

  it('RSASSA-PSS: the hash, MGF1 hash and salt length of its parameters', () => {
    for (const [hash, digest] of [
      [OID.sha256, 'sha256'],
      [OID.sha384, 'sha384'],
      [OID.sha512, 'sha512'],
    ] as const) {
      expect(signatureScheme(OID.pss, pssFull(hash, 0x40))).toStrictEqual({
        digest,
        keyTypes: ['rsa', 'rsa-pss'],
        pssSaltLength: 0x40,
      });
    }
    // No saltLength: the default, 20.
    expect(
      signatureScheme(OID.pss, pssParams({ hash: hashId(OID.sha256), mgf: mgf1(OID.sha256) })),
    ).toStrictEqual({
      digest: 'sha256',
      keyTypes: ['rsa', 'rsa-pss'],
      pssSaltLength: 20,
    });
    // Hash parameters absent instead of NULL; trailerField 1 spelt out.
    const noNull = pssParams({
      hash: hashId(OID.sha384, false),
      mgf: seq(oid(OID.mgf1), hashId(OID.sha384, false)),
      salt: int('30'),
      trailer: int('01'),
    });
    expect(signatureScheme(OID.pss, noNull)).toStrictEqual({
      digest: 'sha384',
      keyTypes: ['rsa', 'rsa-pss'],
      pssSaltLength: 48,
    });
  });

  it('RSASSA-PSS: refuses SHA-1 defaults, other mask functions, mixed hashes and other trailers', () => {
    const unsupported = (reason: string) => ['CRL_UNSUPPORTED_ALGORITHM', reason];
    const mgf = mgf1(OID.sha256);
    const hash = hashId(OID.sha256);
    expect(schemeError(OID.pss, undefined)).toEqual(
      unsupported('RSASSA-PSS without parameters (SHA-1) is not accepted'),
    );
    expect(schemeError(OID.pss, pssParams({ mgf }))).toEqual(
      unsupported('RSASSA-PSS with SHA-1 is not accepted'),
    );
    expect(schemeError(OID.pss, pssParams({ hash }))).toEqual(
      unsupported('RSASSA-PSS with MGF1-SHA-1 is not accepted'),
    );
    expect(schemeError(OID.pss, pssParams({ hash: hashId(OID.sha1), mgf }))).toEqual(
      unsupported(`unsupported hash ${OID.sha1} in RSASSA-PSS parameters`),
    );
    expect(schemeError(OID.pss, pssParams({ hash, mgf: mgf1(OID.sha1) }))).toEqual(
      unsupported(`unsupported hash ${OID.sha1} in RSASSA-PSS parameters`),
    );
    expect(schemeError(OID.pss, pssParams({ hash, mgf: seq(oid('1.2.3.4'), hash) }))).toEqual(
      unsupported('unsupported mask generation 1.2.3.4'),
    );
    expect(schemeError(OID.pss, pssParams({ hash, mgf: mgf1(OID.sha384) }))).toEqual(
      unsupported('RSASSA-PSS with an MGF1 hash unlike the message hash'),
    );
    expect(schemeError(OID.pss, pssParams({ hash, mgf, trailer: int('02') }))).toEqual(
      unsupported('RSASSA-PSS trailerField other than 1'),
    );
  });

  it('RSASSA-PSS: parameters that are not well-formed DER are CRL_MALFORMED, with where', () => {
    const hash = hashId(OID.sha256);
    const mgf = mgf1(OID.sha256);
    const malformed = (reason: string) => ['CRL_MALFORMED', `RSASSA-PSS parameters: ${reason}`];
    const cases: [Uint8Array, string][] = [
      [nul(), 'RSASSA-PSS-params: expected tag 0x30, found tag 0x5'],
      [Buffer.concat([pssFull(OID.sha256, 32), nul()]), 'RSASSA-PSS-params: unexpected trailing data'],
      [pssParams({ hash, mgf, extra: tlv(0xa4, nul()) }), 'RSASSA-PSS-params: unexpected trailing data'],
      [pssParams({ hash: nul(), mgf }), 'hashAlgorithm: expected tag 0x30, found tag 0x5'],
      [pssParams({ hash: seq(nul()), mgf }), 'hashAlgorithm: expected tag 0x6, found tag 0x5'],
      [
        pssParams({ hash: seq(oid(OID.sha256), octet(Buffer.from([1]))), mgf }),
        'hashAlgorithm parameters: expected tag 0x5, found tag 0x4',
      ],
      [
        pssParams({ hash: seq(oid(OID.sha256), nul(), nul()), mgf }),
        'hashAlgorithm: unexpected trailing data',
      ],
      [pssParams({ hash: Buffer.concat([hash, nul()]), mgf }), 'hashAlgorithm: unexpected trailing data'],
      [pssParams({ hash, mgf: nul() }), 'maskGenAlgorithm: expected tag 0x30, found tag 0x5'],
      [pssParams({ hash, mgf: Buffer.concat([mgf, nul()]) }), 'maskGenAlgorithm: unexpected trailing data'],
      [pssParams({ hash, mgf: seq(hash) }), 'maskGenAlgorithm: expected tag 0x6, found tag 0x30'],
      [pssParams({ hash, mgf: seq(oid(OID.mgf1)) }), 'MGF1 hash: expected tag 0x30, found end of data'],
      [
        pssParams({ hash, mgf: seq(oid(OID.mgf1), hash, nul()) }),
        'maskGenAlgorithm: unexpected trailing data',
      ],
      [pssParams({ hash, mgf, salt: nul() }), 'saltLength: expected tag 0x2, found tag 0x5'],
      [
        pssParams({ hash, mgf, salt: Buffer.concat([int('20'), nul()]) }),
        'saltLength: unexpected trailing data',
      ],
      [pssParams({ hash, mgf, salt: int('01000000000000') }), 'INTEGER out of range'],
      [pssParams({ hash, mgf, trailer: nul() }), 'trailerField: expected tag 0x2, found tag 0x5'],
      [
        pssParams({ hash, mgf, trailer: Buffer.concat([int('01'), nul()]) }),
        'trailerField: unexpected trailing data',
      ],
    ];
    for (const [params, reason] of cases) {
      expect(schemeError(OID.pss, params), reason).toEqual(malformed(reason));
    }
  });
});

describe('mayIssueCrls and caCandidates', () => {
  const { publicKey } = keyPair('ec');
  const cert = (spec: { ca?: boolean; keyUsage?: number }) =>
    buildCert({ subjectDer: name('Usage'), publicKey, ...spec });
  const may = (c: BuiltCert) => mayIssueCrls(c.x509, c.parsed);

  it('a CA whose keyUsage is absent or includes cRLSign; nothing else', () => {
    expect(may(cert({ ca: true }))).toBe(true);
    expect(may(cert({ ca: true, keyUsage: 0x06 }))).toBe(true);
    // Node's `ca` (OpenSSL's X509_check_ca) says a keyUsage without keyCertSign is no CA.
    expect(may(cert({ ca: true, keyUsage: 0x02 }))).toBe(false);
    expect(may(cert({ ca: true, keyUsage: 0x86 }))).toBe(true);
    expect(may(cert({ ca: true, keyUsage: 0x04 }))).toBe(false);
    expect(may(cert({ ca: true, keyUsage: 0x84 }))).toBe(false);
    expect(may(cert({ ca: true, keyUsage: 0 }))).toBe(false);
    expect(may(cert({ ca: false }))).toBe(false);
    expect(may(cert({ ca: false, keyUsage: 0x06 }))).toBe(false);
    expect(may(cert({ keyUsage: 0x02 }))).toBe(false);
    expect(may(cert({}))).toBe(false);
  });

  it('reads each CA once, in bundle order, and skips a certificate our DER reader refuses', () => {
    const leafish = cert({ ca: false });
    // A duplicate extension: Node reads the certificate, parseCertificate refuses it.
    const ski = extension('2.5.29.14', false, octet(Buffer.from('01', 'hex')));
    const unreadable = new X509Certificate(
      buildCertDer({ subjectDer: name('Dup'), publicKey, ca: true, extraExtensions: [ski, ski] }),
    );
    const out = caCandidates([ec.cert.x509, unreadable, leafish.x509, ed.cert.x509]);
    expect(out.map((c) => c.cert)).toEqual([ec.cert.x509, leafish.x509, ed.cert.x509]);
    const [first, second] = out;
    expect(first).toStrictEqual({
      cert: ec.cert.x509,
      parsed: ec.cert.parsed,
      subjectKey: canonicalNameKey(ec.cert.parsed.subjectDer),
      mayIssueCrls: true,
      fingerprint256: signerOf(ec).fingerprint256,
      subject: 'CN=EC CA,O=Verify',
    });
    expect(second!.mayIssueCrls).toBe(false);
    expect(second!.subject).toBe('CN=Usage');
    expect(caCandidates([])).toEqual([]);
  });
});

describe('verifiedCrlsFrom: the CA that signed', () => {
  it('accepts each algorithm from the CA it names, and says which CA signed', () => {
    const cases: [TestCa, Partial<CrlSpec>][] = [
      [ec, {}],
      [ec, { alg: 'ecdsa-sha384' }],
      [rsa, {}],
      [rsa, { alg: 'rsa-sha512' }],
      [rsa, { alg: 'rsa-pss-sha256' }],
      [pss, {}],
      [ed, {}],
    ];
    for (const [ca, extra] of cases) {
      const r = verifiedCrlsFrom(buildCrl(specOf(ca, extra)), bundle);
      expect(r.rejected, `${ca.cert.x509.subject} ${extra.alg ?? ca.alg}`).toEqual([]);
      expect(r.accepted.map((c) => c.signedBy)).toStrictEqual([signerOf(ca)]);
    }
  });

  it('accepts RSASSA-PSS with SHA-384/512 and the default salt length, from an rsa or rsa-pss key', () => {
    const base = buildCrl(specOf(rsa));
    const pss512 = resigned(base, pssAlgorithm(pssFull(OID.sha512, 64)), pssSigner(rsa.key, 'sha512', 64));
    expect(codes(verifiedCrlsFrom(pss512, bundle))).toEqual([]);
    const defaultSalt = pssAlgorithm(pssParams({ hash: hashId(OID.sha384), mgf: mgf1(OID.sha384) }));
    const pss384 = resigned(buildCrl(specOf(pss)), defaultSalt, pssSigner(pss.key, 'sha384', 20));
    expect(verifiedCrlsFrom(pss384, bundle).accepted.map((c) => c.signedBy)).toStrictEqual([signerOf(pss)]);
    // The salt length claimed is the one checked.
    const wrongSalt = resigned(base, pssAlgorithm(pssFull(OID.sha256, 20)), pssSigner(rsa.key, 'sha256', 32));
    expect(codes(verifiedCrlsFrom(wrongSalt, bundle))).toEqual(['CRL_BAD_SIGNATURE']);
    const ecdsa512 = resigned(buildCrl(specOf(ec)), seq(oid(OID.ecdsaSha512)), (tbs) =>
      sign('sha512', tbs, ec.key),
    );
    expect(codes(verifiedCrlsFrom(ecdsa512, bundle))).toEqual([]);
    const rsa384 = resigned(base, seq(oid(OID.rsaSha384), nul()), (tbs) => sign('sha384', tbs, rsa.key));
    expect(codes(verifiedCrlsFrom(rsa384, bundle))).toEqual([]);
  });

  it('refuses a signature under an algorithm its key type does not make', () => {
    const reason = (ca: TestCa) => `signature does not verify with the key of ${signerOf(ca).subject}`;
    const rejectedAs = (der: Uint8Array, ca: TestCa) =>
      expect(verifiedCrlsFrom(der, bundle).rejected).toStrictEqual([
        { code: 'CRL_BAD_SIGNATURE', reason: reason(ca), issuer: signerOf(ca).subject },
      ]);
    // PKCS#1 v1.5 from an rsa-pss key: OpenSSL refuses that key for it, and so do we.
    rejectedAs(
      resigned(buildCrl(specOf(pss)), algorithmIdentifier('rsa-sha256'), (tbs) =>
        sign('sha256', tbs, pss.key),
      ),
      pss,
    );
    // An ECDSA signature claimed as RSA under the RSA CA's name.
    rejectedAs(
      buildCrl({
        ...specOf(ec),
        issuerDer: rsa.cert.parsed.subjectDer,
        extensions: [],
        algorithm: algorithmIdentifier('rsa-sha256'),
      }),
      rsa,
    );
    // RSASSA-PSS claimed by an EC CA; Ed25519 claimed by an EC CA.
    rejectedAs(buildCrl({ ...specOf(ec), algorithm: algorithmIdentifier('rsa-pss-sha256') }), ec);
    rejectedAs(buildCrl({ ...specOf(ec), algorithm: algorithmIdentifier('ed25519') }), ec);
  });

  it('a signature the key cannot even be asked to check (restricted rsa-pss key) is a bad signature', () => {
    // @types/node types saltLength as a string; Node wants the number.
    const restricted = {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
      saltLength: 32,
    };
    const { publicKey, privateKey } = generateKeyPairSync(
      'rsa-pss',
      restricted as unknown as RSAPSSKeyPairKeyObjectOptions,
    );
    const subjectDer = name('Restricted PSS CA', 'Verify');
    const cert = buildCert({
      subjectDer,
      publicKey,
      ca: true,
      keyUsage: 0x06,
      signer: { key: privateKey, alg: 'rsa-pss-sha256' },
    });
    const base = buildCrl({ issuerDer: subjectDer, alg: 'rsa-pss-sha256', key: privateKey, extensions: [] });
    expect(codes(verifiedCrlsFrom(base, [cert.x509]))).toEqual([]);
    // SHA-512 is not allowed for this key: crypto.verify throws, which is a signature that does not verify.
    const sha512 = resigned(base, pssAlgorithm(pssFull(OID.sha512, 64)), () => Buffer.alloc(256, 1));
    expect(verifiedCrlsFrom(sha512, [cert.x509]).rejected).toStrictEqual([
      {
        code: 'CRL_BAD_SIGNATURE',
        reason: 'signature does not verify with the key of CN=Restricted PSS CA,O=Verify',
        issuer: 'CN=Restricted PSS CA,O=Verify',
      },
    ]);
  });

  it('refuses a CRL no CA of the bundle is named as, and one signed by another CA of the bundle', () => {
    const nobody = buildCrl({ ...specOf(ec), issuerDer: name('Nobody'), extensions: [] });
    expect(verifiedCrlsFrom(nobody, bundle)).toStrictEqual({
      accepted: [],
      rejected: [
        { code: 'CRL_UNKNOWN_ISSUER', reason: 'no CA in the bundle is named CN=Nobody', issuer: 'CN=Nobody' },
      ],
      unusable: [],
    });
    // Named as the EC CA, signed by the Ed25519 CA (also in the bundle).
    const forged = buildCrl({ ...specOf(ed), issuerDer: ec.cert.parsed.subjectDer, extensions: [] });
    expect(verifiedCrlsFrom(forged, bundle).rejected).toStrictEqual([
      {
        code: 'CRL_BAD_SIGNATURE',
        reason: 'signature does not verify with the key of CN=EC CA,O=Verify',
        issuer: 'CN=EC CA,O=Verify',
      },
    ]);
    expect(codes(verifiedCrlsFrom(buildCrl(specOf(ec)), []))).toEqual(['CRL_UNKNOWN_ISSUER']);
  });

  it('the authority key id must name the CA (when both carry one), byte for byte', () => {
    const noAkiMatch = (aki: Uint8Array) =>
      verifiedCrlsFrom(buildCrl(specOf(ec, { extensions: [akiExt(aki)] })), bundle);
    const mismatch = {
      code: 'CRL_UNKNOWN_ISSUER',
      reason: "the CRL's authority key id matches no CA named CN=EC CA,O=Verify",
      issuer: 'CN=EC CA,O=Verify',
    };
    const lastByte = Buffer.from(ec.keyId);
    lastByte[lastByte.length - 1]! ^= 1;
    expect(noAkiMatch(lastByte).rejected).toStrictEqual([mismatch]);
    expect(noAkiMatch(ec.keyId.subarray(0, ec.keyId.length - 1)).rejected).toStrictEqual([mismatch]);
    expect(noAkiMatch(Buffer.concat([ec.keyId, Buffer.from([0])])).rejected).toStrictEqual([mismatch]);
    expect(noAkiMatch(Buffer.from(ec.keyId)).accepted).toHaveLength(1);
    // No AKI in the CRL; no SKI in the CA: nothing to compare, the name and key decide.
    expect(verifiedCrlsFrom(buildCrl(specOf(ec, { extensions: [] })), bundle).accepted).toHaveLength(1);
    const noSki = testCa(name('No SKI CA'), 'ec', { subjectKeyId: undefined });
    expect(noSki.cert.parsed.subjectKeyId).toBeUndefined();
    const withAki = buildCrl(specOf(noSki, { extensions: [akiExt(Buffer.from('0102', 'hex'))] }));
    expect(verifiedCrlsFrom(withAki, [noSki.cert.x509]).accepted.map((c) => c.signedBy)).toStrictEqual([
      signerOf(noSki),
    ]);
  });

  it('a CA that may not sign CRLs is refused, even though its key made the signature', () => {
    const mayNot = (overrides: Parameters<typeof testCa>[2], cn: string) => {
      const ca = testCa(name(cn), 'ec', overrides);
      return verifiedCrlsFrom(buildCrl(specOf(ca)), [ca.cert.x509]).rejected;
    };
    const refused = (cn: string) => [
      {
        code: 'CRL_UNKNOWN_ISSUER',
        reason: `the CA named CN=${cn} may not sign CRLs (not a CA, or no cRLSign)`,
        issuer: `CN=${cn}`,
      },
    ];
    expect(mayNot({ keyUsage: 0x04 }, 'No cRLSign')).toStrictEqual(refused('No cRLSign'));
    expect(mayNot({ ca: false }, 'Not a CA')).toStrictEqual(refused('Not a CA'));
    expect(mayNot({ ca: undefined, keyUsage: 0x02 }, 'No basicConstraints')).toStrictEqual(
      refused('No basicConstraints'),
    );
    expect(mayNot({ keyUsage: undefined }, 'No keyUsage')).toStrictEqual([]);
  });

  it('same-name CAs: the key id picks one; without it each key is tried, and signedBy names the one that verified', () => {
    const subject = name('Twin CA', 'Verify');
    const a = testCa(subject);
    const b = testCa(subject);
    const twins = [a.cert.x509, b.cert.x509];
    const byB = (extensions: Uint8Array[]) => verifiedCrlsFrom(buildCrl(specOf(b, { extensions })), twins);
    expect(byB([]).accepted.map((c) => c.signedBy)).toStrictEqual([signerOf(b)]);
    expect(byB([akiExt(b.keyId)]).accepted.map((c) => c.signedBy)).toStrictEqual([signerOf(b)]);
    expect(signerOf(a).keySha256).not.toBe(signerOf(b).keySha256);
    // Signed by b, claiming a's key id: only a is asked, and its key does not verify.
    expect(codes(byB([akiExt(a.keyId)]))).toEqual(['CRL_BAD_SIGNATURE']);
    // The twin the key id names may not sign CRLs: refused, although the other twin could have.
    const c = testCa(subject, 'ec', { keyUsage: 0x04 });
    const refused = verifiedCrlsFrom(buildCrl(specOf(a, { extensions: [akiExt(c.keyId)] })), [
      a.cert.x509,
      c.cert.x509,
    ]);
    expect(codes(refused)).toEqual(['CRL_UNKNOWN_ISSUER']);
    // A twin that may not sign is passed over for one that may.
    const fine = verifiedCrlsFrom(buildCrl(specOf(a, { extensions: [] })), [c.cert.x509, a.cert.x509]);
    expect(fine.accepted.map((x) => x.signedBy)).toStrictEqual([signerOf(a)]);
  });

  it("expiry is not verify-crl.ts's decision: an expired and a not-yet-valid CRL are accepted as they are", () => {
    const now = Date.now();
    const expired = buildCrl(specOf(ec, { thisUpdate: now - 30 * 86_400_000, nextUpdate: now - 86_400_000 }));
    const early = buildCrl(specOf(ec, { thisUpdate: now + 86_400_000, nextUpdate: now + 8 * 86_400_000 }));
    const r = verifiedCrlsFrom(Buffer.concat([expired, early]), bundle);
    expect(r.rejected).toEqual([]);
    expect(r.accepted.map((c) => [c.thisUpdate, c.nextUpdate])).toEqual([
      [Math.floor((now - 30 * 86_400_000) / 1000) * 1000, Math.floor((now - 86_400_000) / 1000) * 1000],
      [Math.floor((now + 86_400_000) / 1000) * 1000, Math.floor((now + 8 * 86_400_000) / 1000) * 1000],
    ]);
  });
});

describe('verifyParsedCrl', () => {
  it('keeps what the index needs, drops the signature material, copies the issuer out of the input', () => {
    const der = buildCrl(specOf(ec));
    const parsed = parseCrl(der);
    const crl = verifyParsedCrl(parsed, caCandidates(bundle));
    expect(Object.keys(crl).sort()).toEqual([
      'authorityKeyId',
      'crlNumber',
      'issuer',
      'issuerDer',
      'issuingDistributionPoint',
      'nextUpdate',
      'revoked',
      'signedBy',
      'thisUpdate',
      'version',
    ]);
    expect(crl.signedBy).toStrictEqual(signerOf(ec));
    expect(Buffer.from(crl.issuerDer).equals(Buffer.from(ec.cert.parsed.subjectDer))).toBe(true);
    // A copy: not a view that would keep the whole input alive (der is a Buffer, whose slice() is a view).
    expect(crl.issuerDer.buffer).not.toBe(der.buffer);
    expect(crl.issuerDer.buffer.byteLength).toBe(crl.issuerDer.byteLength);
    expect(crl.crlNumber).toBe(1n);
    expect(crl.revoked.has('0A1B')).toBe(true);
    expect(() => verifyParsedCrl(parsed, [])).toThrow('no CA in the bundle is named CN=EC CA,O=Verify');
  });
});

describe('verifiedCrlsFrom: unusable is only what our CA signed', () => {
  const critical = extension('1.3.6.1.4.1.99999.1', true, octet(Buffer.from('x')));

  it('a CRL its CA signed that we cannot read further is unusable, and rejected with its issuer', () => {
    const unknownCritical = buildCrl(specOf(ec, { extensions: [crlNumberExt(2), critical] }));
    // A v1 CRL whose entry carries an extension: malformed past the envelope.
    const v1WithEntryExt = buildCrl(specOf(rsa, { v1: true, extensions: [] }));
    const a = parseError(unknownCritical);
    const b = parseError(v1WithEntryExt);
    expect([a.code, b.code]).toEqual(['CRL_UNKNOWN_CRITICAL_EXTENSION', 'CRL_MALFORMED']);
    const r = verifiedCrlsFrom(Buffer.concat([unknownCritical, v1WithEntryExt]), bundle);
    expect(r.accepted).toEqual([]);
    expect(r.rejected).toStrictEqual([
      { code: a.code, reason: a.message, issuer: 'CN=EC CA,O=Verify' },
      { code: b.code, reason: b.message, issuer: 'CN=RSA CA,O=Verify' },
    ]);
    expect(r.unusable).toStrictEqual([
      { issuer: 'CN=EC CA,O=Verify', code: a.code, reason: a.message, signedBy: signerOf(ec) },
      { issuer: 'CN=RSA CA,O=Verify', code: b.code, reason: b.message, signedBy: signerOf(rsa) },
    ]);
  });

  it('the same refusal under a key or a name not of the bundle is noise: no issuer, not unusable', () => {
    const other = keyPair('ec').privateKey;
    const foreignKey = buildCrl(specOf(ec, { key: other, extensions: [critical] }));
    const foreignName = buildCrl(specOf(ec, { issuerDer: name('Stranger'), extensions: [critical] }));
    const r = verifiedCrlsFrom(Buffer.concat([foreignKey, foreignName]), bundle);
    const e = parseError(foreignKey);
    expect(r.rejected).toStrictEqual([
      { code: 'CRL_UNKNOWN_CRITICAL_EXTENSION', reason: e.message },
      { code: 'CRL_UNKNOWN_CRITICAL_EXTENSION', reason: parseError(foreignName).message },
    ]);
    expect(r.unusable).toEqual([]);
  });

  it('delta and indirect CRLs are unsupported, not unusable: the full CRL of the CA still decides', () => {
    const delta = buildCrl(
      specOf(ec, { extensions: [crlNumberExt(2), extension('2.5.29.27', true, int('01'))] }),
    );
    const indirect = buildCrl(
      specOf(ec, { extensions: [extension('2.5.29.28', true, seq(Buffer.from([0x84, 0x01, 0xff])))] }),
    );
    const certIssuer = buildCrl(
      specOf(ec, { entries: [{ serialHex: '07', extensions: [extension('2.5.29.29', true, seq())] }] }),
    );
    for (const der of [delta, indirect, certIssuer]) {
      const e = parseError(der);
      expect(e.code).toBe('CRL_UNSUPPORTED');
      expect(verifiedCrlsFrom(der, bundle)).toStrictEqual({
        accepted: [],
        rejected: [{ code: 'CRL_UNSUPPORTED', reason: e.message }],
        unusable: [],
      });
    }
  });

  it('bad signatures and unreadable envelopes are plain rejections', () => {
    const garbage = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]);
    const r = verifiedCrlsFrom(garbage, bundle);
    expect(r.accepted).toEqual([]);
    expect(r.unusable).toEqual([]);
    expect(r.rejected).toStrictEqual([{ code: 'CRL_MALFORMED', reason: parseError(garbage).message }]);
    // An ECDSA algorithm with parameters fails in verification, after a complete parse.
    const withParams = buildCrl(specOf(ec, { algorithm: seq(oid(OID.ecdsaSha256), nul()) }));
    expect(verifiedCrlsFrom(withParams, bundle)).toStrictEqual({
      accepted: [],
      rejected: [
        {
          code: 'CRL_MALFORMED',
          reason: 'ECDSA signature algorithm with parameters',
          issuer: 'CN=EC CA,O=Verify',
        },
      ],
      unusable: [],
    });
  });
});

const pemOf = (der: Uint8Array, eol = '\n') =>
  `-----BEGIN X509 CRL-----${eol}${Buffer.from(der).toString('base64').replace(/.{64}/g, `$&${eol}`)}${eol}-----END X509 CRL-----${eol}`;

describe('verifiedCrlsFrom: splitting the input', () => {
  const a = buildCrl(specOf(ec));
  const b = buildCrl(specOf(ed));
  const issuers = (r: CrlLoadResult) => r.accepted.map((c) => c.issuer);

  it('DER: concatenated CRLs after any ASCII whitespace; anything else in front is not DER', () => {
    for (const ws of [' ', '\t', '\n', '\r', ' \r\n\t ']) {
      const r = verifiedCrlsFrom(Buffer.concat([Buffer.from(ws), a, b]), bundle);
      expect([issuers(r), r.rejected], JSON.stringify(ws)).toEqual([
        ['CN=EC CA,O=Verify', 'CN=Ed25519 CA,O=Verify'],
        [],
      ]);
    }
    for (const lead of ['\v', '\f', 'x', '\0']) {
      expect(
        verifiedCrlsFrom(Buffer.concat([Buffer.from(lead), a]), bundle),
        JSON.stringify(lead),
      ).toStrictEqual({
        accepted: [],
        rejected: [{ code: 'CRL_MALFORMED', reason: 'no X509 CRL PEM block and not DER' }],
        unusable: [],
      });
    }
  });

  it('empty or blank input: one rejection that says so', () => {
    for (const input of ['', ' ', '\r\n\t \n']) {
      expect(verifiedCrlsFrom(Buffer.from(input), bundle)).toStrictEqual({
        accepted: [],
        rejected: [{ code: 'CRL_MALFORMED', reason: 'no CRL in the input (empty)' }],
        unusable: [],
      });
    }
  });

  it('DER with a broken tail: nothing of it is used', () => {
    const input = Buffer.concat([a, Buffer.from([0x30, 0x05, 0x01])]);
    let message = '';
    try {
      splitDer(input);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(`at offset ${a.length}: element at offset ${a.length} overruns its container`);
    expect(verifiedCrlsFrom(input, bundle)).toStrictEqual({
      accepted: [],
      rejected: [{ code: 'CRL_MALFORMED', reason: `DER input: ${message}` }],
      unusable: [],
    });
  });

  it('PEM: every block in order, CRLF and indented text included; bad blocks numbered', () => {
    const text = `junk before\r\n${pemOf(a, '\r\n')}-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n  ${pemOf(b)}`;
    const r = verifiedCrlsFrom(Buffer.from(text), bundle);
    expect(issuers(r)).toEqual(['CN=EC CA,O=Verify', 'CN=Ed25519 CA,O=Verify']);
    expect(r.rejected).toStrictEqual([{ code: 'CRL_MALFORMED', reason: 'PEM block 2: not base64' }]);
    // One character outside base64 at either end of the body is enough.
    const body = Buffer.from(a).toString('base64');
    for (const bad of [`${body}-`, `-${body}`, `${body.slice(0, 10)}*${body.slice(10)}`]) {
      const one = verifiedCrlsFrom(
        Buffer.from(`-----BEGIN X509 CRL-----\n${bad}\n-----END X509 CRL-----\n`),
        bundle,
      );
      expect(one.rejected, bad.slice(0, 12)).toStrictEqual([
        { code: 'CRL_MALFORMED', reason: 'PEM block 1: not base64' },
      ]);
    }
    // A body that is base64 but no CRL: the parser's refusal.
    const notCrl = verifiedCrlsFrom(
      Buffer.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'),
      bundle,
    );
    expect(notCrl.rejected).toStrictEqual([
      { code: 'CRL_MALFORMED', reason: parseError(Buffer.from([0, 0, 0])).message },
    ]);
  });

  it('PEM: blocks without an END line are counted; text without any block is refused', () => {
    const open = '-----BEGIN X509 CRL-----\nAAAA\n';
    expect(verifiedCrlsFrom(Buffer.from(`${pemOf(a)}${open}`), bundle)).toMatchObject({
      rejected: [{ code: 'CRL_MALFORMED', reason: '1 PEM block(s) without an END line' }],
    });
    expect(verifiedCrlsFrom(Buffer.from(`${pemOf(a)}${open}`), bundle).accepted).toHaveLength(1);
    expect(verifiedCrlsFrom(Buffer.from(`${open}${open}`), bundle)).toStrictEqual({
      accepted: [],
      rejected: [{ code: 'CRL_MALFORMED', reason: '2 PEM block(s) without an END line' }],
      unusable: [],
    });
    expect(verifiedCrlsFrom(Buffer.from(`${open}${open}${pemOf(a)}`), bundle)).toMatchObject({
      rejected: [
        { code: 'CRL_MALFORMED', reason: 'PEM block 1: not base64' },
        { code: 'CRL_MALFORMED', reason: '2 PEM block(s) without an END line' },
      ],
    });
    expect(verifiedCrlsFrom(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n'), bundle)).toStrictEqual({
      accepted: [],
      rejected: [{ code: 'CRL_MALFORMED', reason: 'no X509 CRL PEM block and not DER' }],
      unusable: [],
    });
  });

  it('reads only the bytes of the view it is given, not the rest of its buffer', () => {
    const before = Buffer.from('-----BEGIN X509 CRL-----\n');
    const after = Buffer.from('-----BEGIN X509 CRL-----\n');
    const whole = Buffer.concat([before, Buffer.from(pemOf(a)), after]);
    const view = new Uint8Array(
      whole.buffer,
      whole.byteOffset + before.length,
      whole.length - before.length - after.length,
    );
    expect(verifiedCrlsFrom(view, bundle)).toMatchObject({ rejected: [], unusable: [] });
    expect(issuers(verifiedCrlsFrom(view, bundle))).toEqual(['CN=EC CA,O=Verify']);
  });
});

describe('certificatesFromPem', () => {
  it('every readable CERTIFICATE block of every bundle, in order; other blocks and garbage skipped', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const key = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
    const pems = [
      `${ec.cert.pem}text between\n${broken}${rsa.cert.pem}`,
      'no PEM at all',
      `${key}${ed.cert.pem}${pss.cert.pem}`,
    ];
    const out = certificatesFromPem(pems);
    expect(out.map((c) => c.fingerprint256)).toEqual(
      [ec, rsa, ed, pss].map((c) => c.cert.x509.fingerprint256),
    );
    expect(certificatesFromPem([])).toEqual([]);
    expect(certificatesFromPem([broken, ''])).toEqual([]);
  });
});

describe('the CA-side refusals agree with openssl verify -crl_check', () => {
  const dir = tempDir('verify-crl-');
  function opensslAccepts(ca: TestCa, crl: Uint8Array): boolean {
    const { publicKey } = keyPair('ec');
    const leaf = buildCert({
      subjectDer: name('oracle leaf'),
      issuerDer: ca.cert.parsed.subjectDer,
      publicKey,
      signer: { key: ca.key, alg: ca.alg },
      ca: false,
      keyUsage: 0x80,
      authorityKeyId: ca.keyId,
      subjectKeyId: keyIdOf(publicKey),
    });
    const n = Math.random().toString(16).slice(2);
    const files = {
      ca: join(dir, `${n}-ca.pem`),
      crl: join(dir, `${n}-crl.pem`),
      leaf: join(dir, `${n}-leaf.pem`),
    };
    writeFileSync(files.ca, ca.cert.pem);
    writeFileSync(files.crl, pemOf(crl));
    writeFileSync(files.leaf, leaf.pem);
    const r = spawnSync(
      'openssl',
      ['verify', '-crl_check', '-CAfile', files.ca, '-CRLfile', files.crl, files.leaf],
      {
        encoding: 'utf8',
      },
    );
    return r.status === 0;
  }

  it('a CA with cRLSign and its CRL: both accept; without cRLSign, or signed by another key: both refuse', () => {
    const good = testCa(name('Oracle CA', 'Verify'));
    const goodCrl = buildCrl(specOf(good, { entries: [] }));
    expect([opensslAccepts(good, goodCrl), codes(verifiedCrlsFrom(goodCrl, [good.cert.x509]))]).toEqual([
      true,
      [],
    ]);
    const noSign = testCa(name('Oracle no cRLSign', 'Verify'), 'ec', { keyUsage: 0x04 });
    const noSignCrl = buildCrl(specOf(noSign, { entries: [] }));
    expect([
      opensslAccepts(noSign, noSignCrl),
      codes(verifiedCrlsFrom(noSignCrl, [noSign.cert.x509])),
    ]).toEqual([false, ['CRL_UNKNOWN_ISSUER']]);
    const forged = buildCrl(specOf(good, { key: keyPair('ec').privateKey, entries: [] }));
    expect([opensslAccepts(good, forged), codes(verifiedCrlsFrom(forged, [good.cert.x509]))]).toEqual([
      false,
      ['CRL_BAD_SIGNATURE'],
    ]);
  });
});
