/**
 * Revocation memory in cluster mode (a script, not a test): starts the real `serve` with a
 * 1M-entry intermediate CRL (41 MB DER) for each GATEWAY_WORKERS value asked for, waits until it
 * is ready, and prints the resident memory (VmRSS) and peak (VmHWM) of the primary and of each
 * worker, and their sum. Every process holds its own revocation index today; the README's sizing
 * rule comes from these numbers.
 *
 * Run from the repository root (compiled, like bench/crl-parse.ts; `npm run build` first for dist/):
 *   npm run build && npx tsc --module nodenext --moduleResolution nodenext --target es2022 --types node \
 *     --skipLibCheck --outDir bench/results/build --rootDir . bench/cluster-memory.ts && \
 *     node bench/results/build/bench/cluster-memory.js [--entries 1000000] [--workers 1,2]
 */
import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCertificate } from '../src/asn1/certificate.js';
import { akiExt, buildCrl, bulkRevokedContent, crlNumberExt } from '../test/trust/crl-builder.js';

/** Run from the repository root: the gateway is its built dist/. */
const cli = resolve('dist/cli/main.js');
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const entries = Number(arg('entries', '1000000'));
const workerCounts = arg('workers', '1,2').split(',').map(Number);
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

function status(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function waitReady(adminPort: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (performance.now() > deadline) throw new Error('gateway not ready in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-mem-'));
  try {
    execFileSync(process.execPath, [cli, 'dev-pki', '--out', dir], { stdio: 'ignore' });
    const intermediate = parseCertificate(
      Buffer.from(
        readFileSync(join(dir, 'ca-bundle.pem'), 'utf8')
          .split('-----END CERTIFICATE-----')[0]!
          .replace(/-----BEGIN CERTIFICATE-----|\s/g, ''),
        'base64',
      ),
    );
    const der = buildCrl({
      issuerDer: intermediate.subjectDer,
      alg: 'ecdsa-sha256',
      key: createPrivateKey(readFileSync(join(dir, 'intermediate-ca-key.pem'))),
      revokedContent: bulkRevokedContent(entries),
      extensions: [akiExt(intermediate.subjectKeyId!), crlNumberExt(2)],
    });
    writeFileSync(join(dir, 'big.crl'), der);
    console.log(
      `node ${process.version}; intermediate CRL: ${entries} entries, ${(der.length / 1e6).toFixed(1)} MB DER`,
    );
    console.log('| GATEWAY_WORKERS | process | RSS | peak (VmHWM) |');
    console.log('| --- | --- | --- | --- |');
    for (const [i, workers] of workerCounts.entries()) {
      const adminPort = 19_700 + i;
      const child = spawn(process.execPath, [cli, 'serve'], {
        env: {
          PATH: process.env.PATH,
          GATEWAY_LISTEN: `127.0.0.1:${18_700 + i}`,
          GATEWAY_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
          GATEWAY_SERVER_CERT: join(dir, 'server.pem'),
          GATEWAY_SERVER_KEY: join(dir, 'server-key.pem'),
          GATEWAY_CA_BUNDLE: join(dir, 'ca-bundle.pem'),
          GATEWAY_CRLS: join(dir, 'big.crl'),
          GATEWAY_UPSTREAM: 'http://127.0.0.1:9',
          GATEWAY_WORKERS: String(workers),
          GATEWAY_LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      });
      try {
        await waitReady(adminPort, 120_000);
        // Every worker reports ready through the primary; give the last index build a moment.
        await new Promise((r) => setTimeout(r, 2_000));
        const pids = [child.pid!, ...children(child.pid!)];
        let total = { rss: 0, hwm: 0 };
        for (const [j, pid] of pids.entries()) {
          const s = status(pid);
          total = { rss: total.rss + s.rss, hwm: total.hwm + s.hwm };
          console.log(
            `| ${workers} | ${j === 0 ? 'primary' : `worker ${j}`} | ${mb(s.rss)} | ${mb(s.hwm)} |`,
          );
        }
        console.log(`| ${workers} | **all** | **${mb(total.rss)}** | **${mb(total.hwm)}** |`);
      } finally {
        child.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
