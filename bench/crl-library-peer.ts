/**
 * Why the CRL parser is ours (a script, not a test): the same CRLs of 1k, 10k and 100k entries
 * parsed by our parser and by @peculiar/x509 (the library the dev PKI uses, and the one
 * `selfsigned` is built on), side by side: time to parse and read every serial, and heap growth.
 *
 * Run (compiled, as bench/crl-parse.ts):
 *   npx tsc --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck \
 *     --outDir bench/results/build --rootDir . bench/crl-library-peer.ts && node --expose-gc bench/results/build/bench/crl-library-peer.js
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as x509 from '@peculiar/x509';
import { parseCrl } from '../src/trust/crl/parse-crl.js';
import { akiExt, buildCrl, bulkRevokedContent, crlNumberExt } from '../test/trust/crl-builder.js';
import { OpensslCa, removeTempDirs, tempDir } from '../test/trust/openssl-pki.js';

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

function measure(label: string, work: () => number): string {
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  let count: number;
  try {
    count = work();
  } catch (err) {
    return `${label} FAILS: ${(err as Error).message}`;
  }
  const ms = performance.now() - t;
  const heap = process.memoryUsage().heapUsed - heapBefore;
  return `${label} ${ms.toFixed(1)} ms, heap +${mb(heap)} (${count} serials)`;
}

function main(): void {
  const ca = OpensslCa.root(join(tempDir('crl-peer-'), 'ca'), '/O=Bench/CN=Bench CA', 'ec');
  console.log(`node ${process.version}`);
  for (const n of [1_000, 10_000, 100_000]) {
    const der = buildCrl({
      issuerDer: ca.cert.parsed.subjectDer,
      alg: 'ecdsa-sha256',
      key: ca.key,
      revokedContent: bulkRevokedContent(n),
      extensions: [akiExt(ca.cert.parsed.subjectKeyId!), crlNumberExt(1)],
    });
    const ours = measure('ours', () => parseCrl(der).revoked.count);
    const peer = measure('@peculiar/x509', () => {
      const crl = new x509.X509Crl(Buffer.from(der));
      let k = 0;
      for (const e of crl.entries) if (e.serialNumber.length > 0) k++;
      return k;
    });
    console.log(`entries ${n.toLocaleString('en')} | DER ${mb(der.byteLength)} | ${ours} | ${peer}`);
  }
  removeTempDirs();
}

main();
