/**
 * CRL load benchmark (a script, not a test): for 10, 100k and 1M entries prints the DER size,
 * parse time, parse + signature verification time, RSS, and the longest event-loop stall while
 * the same CRL loads through the off-thread API. The CRLs are built as DER directly.
 *
 * Run (compiled, so the worker is real JavaScript):
 *   npx tsc --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck \
 *     --outDir bench/results/build --rootDir . bench/crl-parse.ts && node --expose-gc bench/results/build/bench/crl-parse.js
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseAndVerifyCrlsOffThread, workerAvailable } from '../src/trust/crl/crl-worker.js';
import { parseCrl } from '../src/trust/crl/parse-crl.js';
import { verifiedCrlsFrom } from '../src/trust/crl/verify-crl.js';
import { RevocationIndex } from '../src/trust/revocation-index.js';
import { akiExt, buildCrl, bulkRevokedContent, bulkSerial, crlNumberExt } from '../test/trust/crl-builder.js';
import { OpensslCa, removeTempDirs, tempDir } from '../test/trust/openssl-pki.js';

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function maxStallDuring<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  const result = await work();
  clearInterval(timer);
  stallMs = Math.max(stallMs, performance.now() - last);
  return { result, stallMs };
}

async function main(): Promise<void> {
  const ca = OpensslCa.root(join(tempDir('crl-bench-'), 'ca'), '/O=Bench/CN=Bench CA', 'ec');
  console.log(`node ${process.version}, worker available: ${workerAvailable}`);
  for (const n of [10, 100_000, 1_000_000]) {
    const der = buildCrl({
      issuerDer: ca.cert.parsed.subjectDer,
      alg: 'ecdsa-sha256',
      key: ca.key,
      revokedContent: bulkRevokedContent(n),
      extensions: [akiExt(ca.cert.parsed.subjectKeyId!), crlNumberExt(1)],
    });
    gc?.();
    const rssBefore = process.memoryUsage().rss;
    let t = performance.now();
    const parsed = parseCrl(der);
    const parseMs = performance.now() - t;
    t = performance.now();
    const loaded = verifiedCrlsFrom(der, [ca.cert.x509]);
    const verifyMs = performance.now() - t;
    if (loaded.accepted.length !== 1 || parsed.revoked.count !== n) throw new Error('load failed');
    const index = RevocationIndex.build(loaded.accepted).index;
    t = performance.now();
    const lookups = 100_000;
    let hits = 0;
    for (let i = 0; i < lookups; i++)
      if (index.crls[0]!.revoked.has(bulkSerial((i * 7919) % (n * 2)))) hits++;
    const lookupNs = ((performance.now() - t) * 1e6) / lookups;
    gc?.();
    const rssAfter = process.memoryUsage().rss;
    const off = await maxStallDuring(() => parseAndVerifyCrlsOffThread(der, [ca.cert.pem]));
    if (off.result.accepted[0]?.revoked.count !== n) throw new Error('off-thread load failed');
    console.log(
      [
        `entries ${n.toLocaleString('en')}`,
        `DER ${mb(der.byteLength)}`,
        `parse ${parseMs.toFixed(1)} ms`,
        `parse+verify ${verifyMs.toFixed(1)} ms`,
        `lookup ${lookupNs.toFixed(0)} ns (${hits} hits)`,
        `RSS ${mb(rssAfter)} (+${mb(rssAfter - rssBefore)})`,
        `off-thread max event-loop stall ${off.stallMs.toFixed(1)} ms`,
      ].join(' | '),
    );
  }
  removeTempDirs();
}

await main();
