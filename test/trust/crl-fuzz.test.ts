/**
 * Fuzzing the CRL parser and loader with a seeded PRNG: random byte mutations, insertions,
 * deletions, length-octet tweaks and truncations of real CRLs. Every outcome must be a ParsedCrl
 * or a CrlError (never another exception, hang or crash), the loader must never throw, and a
 * mutated CRL that is still accepted must say exactly what the original said.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrlError, parseCrl } from '../../src/trust/crl/parse-crl.js';
import { type VerifiedCrl, verifiedCrlsFrom } from '../../src/trust/crl/verify-crl.js';
import { mulberry32 } from '../helpers/prng.js';
import { akiExt, buildCrl, crlNumberExt, extension, idpExt, time } from './crl-builder.js';
import { OpensslCa, openssl, removeTempDirs, tempDir } from './openssl-pki.js';

afterAll(removeTempDirs);

function mutate(base: Uint8Array, rnd: () => number): Uint8Array {
  const pick = (n: number): number => Math.floor(rnd() * n);
  let b = Buffer.from(base);
  const rounds = 1 + pick(3);
  for (let r = 0; r < rounds; r++) {
    switch (pick(6)) {
      case 0: // flip bits in one byte
        if (b.length) {
          const at = pick(b.length);
          b[at] = b[at]! ^ (1 << pick(8));
        }
        break;
      case 1: // random byte
        if (b.length) b[pick(b.length)] = pick(256);
        break;
      case 2: {
        // insert random bytes
        const at = pick(b.length + 1);
        const ins = Buffer.from(Array.from({ length: 1 + pick(4) }, () => pick(256)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 3: {
        // delete a range
        const at = pick(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + pick(8)))]);
        break;
      }
      case 4: // truncate
        b = b.subarray(0, pick(b.length + 1));
        break;
      default: // length-octet style values: long forms, huge lengths, indefinite
        if (b.length) b[pick(b.length)] = [0x80, 0x81, 0x82, 0x84, 0x85, 0xff, 0x00, 0x7f][pick(8)]!;
        break;
    }
  }
  return b;
}

let ca: OpensslCa;
let bases: { label: string; der: Uint8Array; original: VerifiedCrl }[] = [];

beforeAll(() => {
  const dir = tempDir('crl-fuzz-');
  ca = OpensslCa.root(join(dir, 'ca'), '/O=Fuzz/CN=Fuzz CA', 'ec');
  const a = ca.leaf('a');
  const b = ca.leaf('b');
  ca.revoke(a, 'keyCompromise');
  ca.revoke(b, 'affiliationChanged');
  const pem = ca.gencrl('crl.pem', { exts: true });
  openssl(['crl', '-in', pem, '-outform', 'DER', '-out', join(dir, 'crl.der')]);
  const fromOpenssl = readFileSync(join(dir, 'crl.der'));
  const synthetic = buildCrl({
    issuerDer: ca.cert.parsed.subjectDer,
    alg: 'ecdsa-sha256',
    key: ca.key,
    entries: Array.from({ length: 20 }, (_, i) => ({
      serialHex: (0x4000 + i * 7919).toString(16).toUpperCase(),
      reason: i % 11 === 7 ? 0 : i % 11,
      extensions: i % 3 === 0 ? [extension('2.5.29.24', false, time(Date.UTC(2024, 5, 1)))] : [],
    })),
    extensions: [
      akiExt(ca.cert.parsed.subjectKeyId!),
      crlNumberExt(77),
      idpExt(['http://crl.example/a.crl', 'ldap://x'], { user: true }),
    ],
  });
  bases = [
    { label: 'openssl', der: fromOpenssl },
    { label: 'synthetic', der: synthetic },
  ].map((x) => {
    const r = verifiedCrlsFrom(x.der, [ca.cert.x509]);
    expect(r.rejected).toEqual([]);
    return { ...x, original: r.accepted[0]! };
  });
});

function sameMeaning(a: VerifiedCrl, b: VerifiedCrl): boolean {
  if (a.issuer !== b.issuer || a.thisUpdate !== b.thisUpdate || a.nextUpdate !== b.nextUpdate) return false;
  if (a.crlNumber !== b.crlNumber || a.revoked.count !== b.revoked.count) return false;
  for (let i = 0; i < a.revoked.count; i++) {
    if (!b.revoked.has(a.revoked.serialAt(i))) return false;
  }
  return true;
}

describe('CRL fuzzing', () => {
  it('3,000 mutations: only ParsedCrl or CrlError, the loader never throws, no forged acceptance', () => {
    const rnd = mulberry32(0xc0ffee);
    const codes = new Map<string, number>();
    let parsedOk = 0;
    for (let n = 0; n < 3000; n++) {
      const base = bases[n % bases.length]!;
      const input = mutate(base.der, rnd);
      try {
        parseCrl(input);
        parsedOk++;
      } catch (err) {
        if (!(err instanceof CrlError)) {
          throw new Error(
            `mutation ${n} of ${base.label} threw ${String(err)}: ${Buffer.from(input).toString('hex')}`,
          );
        }
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      }
      // Every fourth input goes through the whole loader, some of them as PEM.
      if (n % 4 === 0) {
        const asPem = n % 8 === 0;
        const bytes = asPem
          ? Buffer.from(
              `-----BEGIN X509 CRL-----\n${Buffer.from(input).toString('base64')}\n-----END X509 CRL-----\n`,
            )
          : input;
        const r = verifiedCrlsFrom(bytes, [ca.cert.x509]);
        for (const rej of r.rejected) expect(rej.code, rej.reason).not.toBe('CRL_INTERNAL');
        for (const acc of r.accepted) expect(sameMeaning(acc, base.original), `mutation ${n}`).toBe(true);
      }
    }
    // The fuzzer reached deep enough to hit several distinct failure kinds.
    expect(codes.get('CRL_MALFORMED') ?? 0).toBeGreaterThan(1000);
    expect(codes.size).toBeGreaterThanOrEqual(2);
    expect(parsedOk).toBeGreaterThan(0);
  });
});
