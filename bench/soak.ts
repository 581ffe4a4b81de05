/**
 * Soak benchmark (a script, not a test): the real `mtls-gateway serve` process (dist/) on loopback
 * under sustained load (keep-alive clients plus clients opening a new TLS connection per request),
 * with a trust rotation (new CA bundle and CRL file versions + SIGHUP) every few seconds. Samples
 * the gateway's own RSS and event-loop lag p99 from its /metrics, and its open file descriptors
 * from /proc/PID/fd; prints RSS after warm-up against RSS at the end, and fd growth.
 *
 * Build and run (npm run build first, so dist/ is current):
 *   npx tsc --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck \
 *     --outDir bench/results/build --rootDir . bench/soak.ts && node bench/results/build/bench/soak.js
 * Environment: SOAK_SECONDS (120), SOAK_KEEPALIVE_CLIENTS (24), SOAK_FRESH_CLIENTS (8),
 *   SOAK_ROTATE_SECONDS (3), SOAK_SAMPLE_SECONDS (2), SOAK_WARMUP_SECONDS (20). Loopback only.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { gatewayEnv, makeTestPki } from '../test/helpers/pki.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const SECONDS = env('SOAK_SECONDS', 120);
const KEEPALIVE_CLIENTS = env('SOAK_KEEPALIVE_CLIENTS', 24);
const FRESH_CLIENTS = env('SOAK_FRESH_CLIENTS', 8);
const ROTATE_SECONDS = env('SOAK_ROTATE_SECONDS', 3);
const SAMPLE_SECONDS = env('SOAK_SAMPLE_SECONDS', 2);
const WARMUP_SECONDS = Math.min(env('SOAK_WARMUP_SECONDS', 20), SECONDS / 2);
/** Run from the repository root. */
const CLI = resolve(process.cwd(), 'dist/cli/main.js');

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
const metric = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
};

interface Sample {
  readonly at: number;
  readonly rss: number;
  readonly lagP99: number;
  readonly fds: number;
  readonly active: number;
}

async function main(): Promise<void> {
  const pki = await makeTestPki();
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;

  let stop = false;
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      ...gatewayEnv(pki, upstreamPort),
      // Production's level: a request line per request is part of what is being soaked.
      GATEWAY_LOG_LEVEL: 'info',
      GATEWAY_TRUST_REFRESH_SECONDS: '3600',
      GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '100000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (!stop) console.error(`gateway exited early: code ${code}, signal ${signal}`);
  });
  const ports = new Map<string, number>();
  const listening = new Promise<void>((done, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      if (!text.includes('listening')) return;
      const line = JSON.parse(text) as { msg?: string; address?: AddressInfo };
      if (line.msg && line.address) ports.set(line.msg, line.address.port);
      if (ports.size === 2) done();
    });
  });
  await listening;
  const url = `https://localhost:${ports.get('TLS listening')}`;
  const admin = `http://127.0.0.1:${ports.get('admin listening')}`;
  const tls = {
    ca: readFileSync(pki.path('root-ca.pem')),
    cert: readFileSync(pki.path('partner-a.pem')),
    key: readFileSync(pki.path('partner-a-key.pem')),
    servername: 'localhost',
  };

  let requests = 0;
  let connections = 0;
  const failures = new Map<string, number>();
  const fail = (what: string): void => {
    failures.set(what, (failures.get(what) ?? 0) + 1);
  };
  const client = async (fresh: boolean): Promise<void> => {
    let agent = new Agent({ connect: tls });
    connections++;
    while (!stop) {
      try {
        const res = await request(`${url}/soak`, { dispatcher: agent });
        await res.body.text();
        if (res.statusCode === 200) requests++;
        else fail(`status ${res.statusCode}`);
      } catch (err) {
        fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
      if (fresh) {
        await agent.close();
        agent = new Agent({ connect: tls });
        connections++;
      }
    }
    await agent.close();
  };

  // Rotation: alternate the bundle's CA order and the CRL file's bytes (new versions, same trust).
  const bundle = readFileSync(pki.path('ca-bundle.pem'), 'utf8');
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [bundle];
  const crl = readFileSync(pki.path('crl.pem'), 'utf8');
  let rotations = 0;
  const rotate = setInterval(() => {
    rotations++;
    writeFileSync(pki.path('ca-bundle.pem'), rotations % 2 ? [...blocks].reverse().join('') : bundle);
    writeFileSync(pki.path('crl.pem'), rotations % 2 ? `${crl}\n` : crl);
    child.kill('SIGHUP');
  }, ROTATE_SECONDS * 1000);

  const samples: Sample[] = [];
  const started = performance.now();
  const sampler = new Agent();
  const sample = async (): Promise<void> => {
    const text = await (await request(`${admin}/metrics`, { dispatcher: sampler })).body.text();
    samples.push({
      at: (performance.now() - started) / 1000,
      rss: metric(text, 'mtls_gateway_process_resident_memory_bytes'),
      lagP99: metric(text, 'mtls_gateway_nodejs_eventloop_lag_p99_seconds'),
      fds: readdirSync(`/proc/${child.pid}/fd`).length,
      active: metric(text, 'mtls_gateway_active_connections'),
    });
  };
  const sampling = setInterval(() => {
    void sample().catch(() => fail('sample'));
  }, SAMPLE_SECONDS * 1000);

  const clients = [
    ...Array.from({ length: KEEPALIVE_CLIENTS }, () => client(false)),
    ...Array.from({ length: FRESH_CLIENTS }, () => client(true)),
  ];
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  stop = true;
  clearInterval(rotate);
  clearInterval(sampling);
  await Promise.all(clients);
  await sample(); // with every client gone
  const reloads = await (await request(`${admin}/metrics`, { dispatcher: sampler })).body.text();
  await sampler.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  upstream.close();
  await pki.cleanup();

  const warm = samples.find((s) => s.at >= WARMUP_SECONDS) ?? samples[0]!;
  const loaded = samples.filter((s) => s.at >= WARMUP_SECONDS).slice(0, -1);
  const last = loaded.at(-1) ?? warm;
  const idle = samples.at(-1)!;
  const elapsed = (performance.now() - started) / 1000;
  const successReloads = reloads
    .split('\n')
    .filter((l) => l.startsWith('mtls_gateway_trust_reloads_total{') && l.includes('result="success"'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  console.log(
    `soak: ${elapsed.toFixed(0)} s, ${KEEPALIVE_CLIENTS} keep-alive + ${FRESH_CLIENTS} fresh-connection clients`,
  );
  console.log(`requests ok: ${requests} (${(requests / elapsed).toFixed(0)}/s), connections: ${connections}`);
  console.log(`failures: ${failures.size === 0 ? 'none' : JSON.stringify(Object.fromEntries(failures))}`);
  console.log(`rotations: ${rotations} (SIGHUP), trust reloads succeeded: ${successReloads}`);
  console.log(
    `RSS after warm-up (${warm.at.toFixed(0)} s): ${mb(warm.rss)}; at the end under load: ${mb(last.rss)} ` +
      `(${(((last.rss - warm.rss) / warm.rss) * 100).toFixed(1)}%); idle after: ${mb(idle.rss)}`,
  );
  console.log(
    `fds after warm-up: ${warm.fds}; end under load: ${last.fds}; idle after: ${idle.fds} ` +
      `(active connections ${idle.active})`,
  );
  console.log(
    `event-loop lag p99: max ${(Math.max(...samples.map((s) => s.lagP99)) * 1000).toFixed(1)} ms, ` +
      `last ${(last.lagP99 * 1000).toFixed(1)} ms`,
  );
  console.log(
    `samples (s, RSS MB, lag p99 ms, fds): ${samples
      .map(
        (s) => `${s.at.toFixed(0)}:${(s.rss / 1048576).toFixed(0)}/${(s.lagP99 * 1000).toFixed(1)}/${s.fds}`,
      )
      .join(' ')}`,
  );
}

await main();
