/**
 * Size and off-thread loading: a 100k-entry CRL parses, verifies and answers lookups correctly,
 * both inline and through the worker (the compiled worker is built into a temp dir, since vitest
 * runs our TypeScript sources and the worker needs JavaScript). No timing assertions here: see
 * bench/crl-parse.ts for numbers.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedCertificate } from '../../src/asn1/certificate.js';
import * as inlineApi from '../../src/trust/crl/crl-worker.js';
import { parseCrl } from '../../src/trust/crl/parse-crl.js';
import type { CrlLoadResult } from '../../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { akiExt, buildCrl, bulkRevokedContent, bulkSerial, crlNumberExt } from './crl-builder.js';
import { OpensslCa, removeTempDirs, tempDir } from './openssl-pki.js';

afterAll(removeTempDirs);

const N = 100_000;
let ca: OpensslCa;
let der: Uint8Array;
let compiled: typeof inlineApi;

beforeAll(async () => {
  const dir = tempDir('crl-size-');
  ca = OpensslCa.root(join(dir, 'ca'), '/O=Size/CN=Size CA', 'ec');
  der = buildCrl({
    issuerDer: ca.cert.parsed.subjectDer,
    alg: 'ecdsa-sha256',
    key: ca.key,
    revokedContent: bulkRevokedContent(N),
    extensions: [akiExt(ca.cert.parsed.subjectKeyId!), crlNumberExt(3)],
  });
  const out = join(dir, 'build');
  execFileSync(
    join(process.cwd(), 'node_modules/.bin/tsc'),
    [
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      '--skipLibCheck',
      '--strict',
      '--outDir',
      out,
      '--rootDir',
      'src',
      'src/trust/crl/crl-worker.ts',
    ],
    { stdio: 'pipe' },
  );
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  compiled = (await import(pathToFileURL(join(out, 'trust/crl/crl-worker.js')).href)) as typeof inlineApi;
}, 60_000);

function leaf(serialHex: string): ParsedCertificate {
  return {
    ...ca.cert.parsed,
    serialHex,
    issuerDer: ca.cert.parsed.subjectDer,
    subjectDer: new Uint8Array([0x30, 0]),
  };
}

function expectIndexCorrect(result: CrlLoadResult): void {
  expect(result.rejected).toEqual([]);
  expect(result.accepted).toHaveLength(1);
  const crl = result.accepted[0]!;
  expect(crl.revoked.count).toBe(N);
  expect(crl.crlNumber).toBe(3n);
  const { index } = RevocationIndex.build(result.accepted);
  const opts = { graceSeconds: 0, crlRequired: true };
  for (const i of [0, 1, 255, 256, 65_535, 65_536, N - 1]) {
    expect(crl.revoked.has(bulkSerial(i)), bulkSerial(i)).toBe(true);
    expect(index.check([leaf(bulkSerial(i)), ca.cert.parsed], Date.now(), opts)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
  }
  for (const s of [bulkSerial(N), bulkSerial(N + 1), '20000000000000', '10', '00']) {
    expect(crl.revoked.has(s), s).toBe(false);
    expect(index.check([leaf(s), ca.cert.parsed], Date.now(), opts).ok).toBe(true);
  }
  // Lower case and a leading zero octet are the same serial.
  expect(crl.revoked.has(`00${bulkSerial(42).toLowerCase()}`)).toBe(true);
}

describe('100k-entry CRL', () => {
  it('parses and every sampled lookup is right (inline)', () => {
    const parsed = parseCrl(der);
    expect(parsed.revoked.count).toBe(N);
    expect(parsed.revoked.serialAt(12_345)).toBe(bulkSerial(12_345));
    expect(parsed.revoked.reasonAt(12_345)).toBe(1);
    expectIndexCorrect(inlineApi.parseAndVerifyCrlsInline(der, [ca.cert.pem]));
  });

  it('from TypeScript sources the off-thread API falls back to inline parsing', async () => {
    expect(inlineApi.workerAvailable).toBe(false);
    expectIndexCorrect(await inlineApi.parseAndVerifyCrlsOffThread(der, [ca.cert.pem]));
  });

  it('through the worker: same result, transferred as packed buffers', async () => {
    expect(compiled.workerAvailable).toBe(true);
    const result = await compiled.parseAndVerifyCrlsOffThread(der, [ca.cert.pem]);
    expectIndexCorrect(result);
    // The serial pool arrived as its own (transferred) buffer, not a million strings.
    expect(result.accepted[0]!.revoked.data.pool.byteLength).toBe(N * 8);
    // A copy of the input was sent: the caller's buffer is intact.
    expect(der.byteLength).toBeGreaterThan(N * 41);
  });

  it('through the worker: bad input and unknown issuers are reported, never thrown', async () => {
    const garbage = new Uint8Array(300 * 1024).fill(0x30);
    const bad = await compiled.parseAndVerifyCrlsOffThread(garbage, [ca.cert.pem]);
    expect(bad.accepted).toEqual([]);
    expect(bad.rejected[0]!.code).toBe('CRL_MALFORMED');
    const unknown = await compiled.parseAndVerifyCrlsOffThread(der, [], { transferInput: false });
    expect(unknown.rejected.map((r) => r.code)).toEqual(['CRL_UNKNOWN_ISSUER']);
  });
});
