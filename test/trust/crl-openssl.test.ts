/**
 * CRLs made by the real `openssl ca -gencrl`: our parser, verifier and index must reach the same
 * verdict as `openssl verify -crl_check` for real client certificates of that CA.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintHex } from '../../src/trust/ca-bundle.js';
import { parseCrl } from '../../src/trust/crl/parse-crl.js';
import { type VerifiedCrl, verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { type Cert, OpensslCa, opensslVerifies, removeTempDirs, tempDir, toDer } from './openssl-pki.js';

afterAll(removeTempDirs);

const STRICT = { graceSeconds: 0, crlRequired: true };
const BULK = 10_000;
const bulkSerial = (i: number): string => `7F${i.toString(16).toUpperCase().padStart(6, '0')}`;

let dir: string;
let root: OpensslCa;
let inter: OpensslCa;
let good: Cert;
let good2: Cert;
let revokedLeaf: Cert;
let supersededLeaf: Cert;
let caFile: string;
const crls: Record<string, string> = {};

function load(path: string): { accepted: VerifiedCrl[]; rejected: { code: string }[] } {
  return verifiedCrlsFrom(readFileSync(path), [root.cert.x509, inter.cert.x509]);
}

beforeAll(() => {
  dir = tempDir('crl-openssl-');
  root = OpensslCa.root(join(dir, 'root'), '/O=CRL Test/CN=Test Root CA', 'rsa');
  inter = root.intermediate(join(dir, 'inter'), '/O=CRL Test/CN=Test Intermediate CA', 'ec');
  good = inter.leaf('good-client');
  good2 = inter.leaf('good-client-2');
  revokedLeaf = inter.leaf('revoked-client');
  supersededLeaf = inter.leaf('superseded-client');
  caFile = join(dir, 'cas.pem');
  writeFileSync(caFile, root.cert.pem + inter.cert.pem);

  crls.empty = inter.gencrl('empty.pem');
  crls.emptyRoot = root.gencrl('root-empty.pem', { exts: true });
  inter.revoke(revokedLeaf, 'keyCompromise');
  inter.revoke(supersededLeaf, 'superseded');
  crls.reasons = inter.gencrl('reasons.pem', { exts: true });
  inter.revokeBulk(Array.from({ length: BULK }, (_, i) => bulkSerial(i)));
  crls.bulk = inter.gencrl('bulk.pem', { exts: true });
  crls.bulkDer = toDer(crls.bulk, join(inter.dir, 'bulk.der'));
  crls.expired = inter.gencrl('expired.pem', {
    exts: true,
    lastUpdate: '20200101000000Z',
    nextUpdate: '20200108000000Z',
  });
  crls.two = join(dir, 'two.pem');
  writeFileSync(crls.two, readFileSync(crls.emptyRoot, 'utf8') + readFileSync(crls.reasons, 'utf8'));
});

describe('CRLs from openssl ca -gencrl', () => {
  it('parses the empty CRL', () => {
    const { accepted, rejected } = load(crls.empty!);
    expect(rejected).toEqual([]);
    expect(accepted).toHaveLength(1);
    const crl = accepted[0]!;
    expect(crl.issuer).toBe('O=CRL Test,CN=Test Intermediate CA');
    expect(crl.revoked.count).toBe(0);
    expect(crl.nextUpdate! - crl.thisUpdate).toBe(7 * 86_400_000);
    expect(crl.crlNumber).toBe(1n);
  });

  it('reads reason codes, CRL number and authority key id', () => {
    const { accepted, rejected } = load(crls.reasons!);
    expect(rejected).toEqual([]);
    const crl = accepted[0]!;
    expect(crl.version).toBe(2);
    expect(crl.revoked.count).toBe(2);
    expect(crl.crlNumber).toBe(2n);
    expect(Buffer.from(crl.authorityKeyId!)).toEqual(Buffer.from(inter.cert.parsed.subjectKeyId!));
    const i = crl.revoked.indexOf(revokedLeaf.parsed.serialHex);
    const j = crl.revoked.indexOf(supersededLeaf.parsed.serialHex);
    expect(crl.revoked.reasonAt(i)).toBe(1);
    expect(crl.revoked.reasonAt(j)).toBe(4);
    expect(crl.revoked.serialAt(i)).toBe(revokedLeaf.parsed.serialHex);
    // X509Certificate.serialNumber form is accepted too.
    expect(crl.revoked.has(revokedLeaf.x509.serialNumber)).toBe(true);
    expect(crl.revoked.has(good.parsed.serialHex)).toBe(false);
  });

  it('reads the 10k-entry CRL in PEM and DER alike', () => {
    const pem = load(crls.bulk!);
    const der = load(crls.bulkDer!);
    expect(pem.rejected).toEqual([]);
    expect(der.rejected).toEqual([]);
    expect(pem.accepted[0]!.revoked.count).toBe(BULK + 2);
    expect(der.accepted[0]!.revoked.count).toBe(BULK + 2);
    for (let i = 0; i < BULK; i += 997) {
      expect(pem.accepted[0]!.revoked.has(bulkSerial(i))).toBe(true);
      expect(der.accepted[0]!.revoked.has(bulkSerial(i))).toBe(true);
    }
    expect(der.accepted[0]!.revoked.has(bulkSerial(BULK))).toBe(false);
    const parsed = parseCrl(readFileSync(crls.bulkDer!));
    expect(parsed.revoked.reasonAt(parsed.revoked.indexOf(bulkSerial(5)))).toBe(1);
    expect(parsed.revoked.revocationDateAt(parsed.revoked.indexOf(bulkSerial(5)))).toBe(
      Date.UTC(2024, 0, 2, 3, 4, 5),
    );
  });

  it('reads every CRL of a PEM file holding two', () => {
    const { accepted, rejected } = load(crls.two!);
    expect(rejected).toEqual([]);
    expect(accepted.map((c) => c.issuer).sort()).toEqual([
      'CN=Test Root CA,O=CRL Test',
      'O=CRL Test,CN=Test Intermediate CA',
    ]);
    // The RSA-signed root CRL verified too (sha256WithRSAEncryption).
    expect(accepted.find((c) => c.issuer.startsWith('CN=Test Root'))!.signedBy.fingerprint256).toBe(
      fingerprintHex(root.cert.x509),
    );
  });

  it('gives the same verdict as openssl verify -crl_check for each client and CRL', () => {
    const cases: string[] = [];
    for (const name of ['empty', 'reasons', 'bulk', 'bulkDer', 'expired', 'two'] as const) {
      const file = crls[name]!;
      const { index } = RevocationIndex.build(load(file).accepted);
      for (const leaf of [good, good2, revokedLeaf, supersededLeaf]) {
        const ours = index.check([leaf.parsed, inter.cert.parsed, root.cert.parsed], Date.now(), STRICT).ok;
        const theirs = opensslVerifies({ caFile, crlFile: file, cert: leaf.pemPath });
        cases.push(`${name}/${leaf.parsed.serialHex}: ours=${ours} openssl=${theirs}`);
        expect(ours, cases.at(-1)).toBe(theirs);
      }
    }
    // The matrix is not trivially all-accept or all-refuse.
    expect(cases.filter((c) => c.includes('ours=true')).length).toBeGreaterThan(4);
    expect(cases.filter((c) => c.includes('ours=false')).length).toBeGreaterThan(4);
  });

  it('expired CRL: refused without grace (like openssl), accepted within the grace', () => {
    const { index } = RevocationIndex.build(load(crls.expired!).accepted);
    const chain = [good.parsed, inter.cert.parsed, root.cert.parsed];
    expect(index.check(chain, Date.now(), STRICT)).toMatchObject({ ok: false, reason: 'crl_expired' });
    const crl = index.crls[0]!;
    const justAfter = crl.nextUpdate! + 60_000;
    expect(index.check(chain, justAfter, { graceSeconds: 3600, crlRequired: true }).ok).toBe(true);
    expect(index.check(chain, justAfter, { graceSeconds: 30, crlRequired: true })).toMatchObject({
      ok: false,
      reason: 'crl_expired',
      serial: good.parsed.serialHex,
      issuer: 'O=CRL Test,CN=Test Intermediate CA',
    });
    expect(opensslVerifies({ caFile, crlFile: crls.expired!, cert: good.pemPath })).toBe(false);
  });
});

describe('chains against openssl -crl_check_all', () => {
  it('a revoked intermediate refuses its good clients; only the intermediate CRL loaded accepts them', () => {
    const d = tempDir('crl-chain-');
    const r = OpensslCa.root(join(d, 'root'), '/CN=Chain Root', 'ec');
    const i1 = r.intermediate(join(d, 'i1'), '/CN=Chain Intermediate', 'ec');
    const leaf = i1.leaf('chain-client');
    const cas = [r.cert.x509, i1.cert.x509];
    const interCrl = i1.gencrl('i1.pem', { exts: true });
    const chain = [leaf.parsed, i1.cert.parsed, r.cert.parsed];
    const casFile = join(d, 'cas.pem');
    writeFileSync(casFile, r.cert.pem + i1.cert.pem);

    // Only the intermediate's CRL: good client accepted (openssl -crl_check agrees; it only wants the leaf's).
    const onlyInter = RevocationIndex.build(verifiedCrlsFrom(readFileSync(interCrl), cas).accepted).index;
    expect(onlyInter.check(chain, Date.now(), STRICT).ok).toBe(true);
    expect(opensslVerifies({ caFile: casFile, crlFile: interCrl, cert: leaf.pemPath })).toBe(true);

    // The root revokes the intermediate.
    r.revoke(i1.cert, 'cACompromise');
    const rootCrl = r.gencrl('root.pem', { exts: true });
    const both = join(d, 'both.pem');
    writeFileSync(both, readFileSync(rootCrl, 'utf8') + readFileSync(interCrl, 'utf8'));
    const { accepted, rejected } = verifiedCrlsFrom(readFileSync(both), cas);
    expect(rejected).toEqual([]);
    const index = RevocationIndex.build(accepted).index;
    expect(index.check(chain, Date.now(), STRICT)).toEqual({
      ok: false,
      reason: 'revoked',
      serial: i1.cert.parsed.serialHex,
      issuer: 'CN=Chain Root',
    });
    expect(opensslVerifies({ caFile: casFile, crlFile: both, cert: leaf.pemPath, all: true })).toBe(false);
    // With the root CRL alone and crlRequired, the leaf's issuer has no CRL: crl_missing.
    const rootOnly = RevocationIndex.build(verifiedCrlsFrom(readFileSync(rootCrl), cas).accepted).index;
    expect(rootOnly.check(chain, Date.now(), STRICT)).toMatchObject({ ok: false, reason: 'crl_missing' });
    expect(rootOnly.check(chain, Date.now(), { graceSeconds: 0, crlRequired: false })).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
  });

  it('verifies RSA-PSS CRLs made by openssl', () => {
    const d = tempDir('crl-pss-');
    const r = OpensslCa.root(join(d, 'root'), '/CN=PSS Root', 'rsa');
    const leaf = r.leaf('pss-client');
    r.revoke(leaf);
    const file = r.gencrl('pss.pem', {
      exts: true,
      extra: ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
    });
    const { accepted, rejected } = verifiedCrlsFrom(readFileSync(file), [r.cert.x509]);
    expect(rejected).toEqual([]);
    expect(accepted[0]!.revoked.has(leaf.parsed.serialHex)).toBe(true);
    expect(parseCrl(toDerBytes(file)).signatureAlgorithmOid).toBe('1.2.840.113549.1.1.10');
  });
});

function toDerBytes(pemFile: string): Uint8Array {
  const out = `${pemFile}.der`;
  toDer(pemFile, out);
  return readFileSync(out);
}
