/**
 * Cluster mode through the real CLI (GATEWAY_WORKERS=2): the primary alone reads Secrets Manager
 * and relays to the workers, both workers serve, a session resumes on whichever worker takes the
 * reconnection (shared ticket keys), /metrics aggregates the workers, a killed worker is replaced,
 * and SIGTERM drains everything with exit code 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { clientAgent, get, type LogLine, metricValue } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

let pki: TestPki;
let sm: SecretsManagerServer;
let upstream: EchoUpstream;
let child: ChildProcess;
let exited: Promise<number | null>;
const lines: LogLine[] = [];
const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
let tlsPort = 0;
let adminUrl = '';

function waitLog(match: (l: LogLine) => boolean, from = 0): Promise<LogLine> {
  const found = lines.slice(from).find(match);
  return found ? Promise.resolve(found) : new Promise((r) => waiters.push({ match, resolve: r }));
}

/** Polls /readyz until it answers 200 (readiness is reported over IPC, after the workers' logs). */
async function untilReady(): Promise<void> {
  let last = '';
  for (let i = 0; i < 500; i++) {
    const r = await get(`${adminUrl}/readyz`, clientAgent(pki, undefined)).catch(() => undefined);
    if (r?.status === 200) return;
    last = r?.text ?? 'no answer';
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`never ready: ${last}`);
}

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  sm.put('cluster-ca', pki.pki.files['ca-bundle.pem']!);
  upstream = await startEchoUpstream('127.0.0.1', 0);
  child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      ...sm.env(),
      GATEWAY_WORKERS: '2',
      GATEWAY_LISTEN: '127.0.0.1:0',
      GATEWAY_ADMIN_LISTEN: '127.0.0.1:0',
      GATEWAY_SERVER_CERT: pki.path('server.pem'),
      GATEWAY_SERVER_KEY: pki.path('server-key.pem'),
      GATEWAY_CA_BUNDLE: 'secretsmanager:cluster-ca',
      GATEWAY_CRLS: pki.path('crl.pem'),
      GATEWAY_UPSTREAM: `http://127.0.0.1:${upstream.port}`,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  exited = new Promise((r) => child.once('exit', (code) => r(code)));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.match(line)) w.resolve(line);
      else waiters.push(w);
    }
  });
  const admin = await waitLog((l) => l.msg === 'admin listening');
  adminUrl = `http://127.0.0.1:${(admin.address as AddressInfo).port}`;
  const tls = await waitLog((l) => l.msg === 'TLS listening');
  tlsPort = (tls.address as AddressInfo).port;
  await untilReady();
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await upstream?.close();
  await sm?.close();
  await pki?.cleanup();
});

function handshake(session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const s = connect({
      port: tlsPort,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      cert: readFileSync(pki.path('partner-a.pem')),
      key: readFileSync(pki.path('partner-a-key.pem')),
      ...(session ? { session } : {}),
    });
    s.once('error', reject);
    const done = (ticket: Buffer): void => {
      resolvePromise({ reused: s.isSessionReused(), session: ticket });
      s.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    };
    // A fresh handshake is useful once its ticket arrives; a resumed one as soon as it is up.
    if (session) s.once('secureConnect', () => done(session));
    else s.once('session', done);
  });
}

describe('GATEWAY_WORKERS=2', { timeout: 60_000 }, () => {
  it('serves from both workers, and only the primary reads Secrets Manager', async () => {
    for (let i = 0; i < 12; i++) {
      expect((await get(`https://localhost:${tlsPort}/c${i}`, clientAgent(pki, 'partner-a'))).status).toBe(
        200,
      );
    }
    const workers = new Set(lines.filter((l) => l.event === 'request').map((l) => l.worker));
    expect([...workers].sort()).toEqual([1, 2]);
    expect(sm.callCount('GetSecretValue')).toBe(1);
    const metrics = (await get(`${adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    expect(metricValue(metrics, 'mtls_gateway_requests_total', { route: 'default', code: '200' })).toBe(12);
    expect(
      metricValue(metrics, 'mtls_gateway_trust_reloads_total', { kind: 'ca_bundle', result: 'success' }),
    ).toBe(1);
  });

  it('resumes a session on any worker (shared ticket keys)', async () => {
    const first = await handshake();
    let resumed = 0;
    for (let i = 0; i < 6; i++) if ((await handshake(first.session)).reused) resumed++;
    expect(resumed).toBe(6);
  });

  it('relays a rotated CA bundle to every worker', async () => {
    const from = lines.length;
    sm.put('cluster-ca', pki.pki.intermediate.certPem + pki.pki.root.certPem + pki.pki.rogue.certPem);
    await waitLog((l) => l.worker === 1 && l.msg === 'trust snapshot installed', from);
    await waitLog((l) => l.worker === 2 && l.msg === 'trust snapshot installed', from);
    expect(sm.callCount('GetSecretValue')).toBe(2);
    for (let i = 0; i < 4; i++) {
      expect((await get(`https://localhost:${tlsPort}/u${i}`, clientAgent(pki, 'untrusted'))).status).toBe(
        200,
      );
    }
  });

  it('replaces a worker that dies', async () => {
    const from = lines.length;
    const victim = lines.find((l) => l.worker === 1 && typeof l.pid === 'number')?.pid;
    const pids = new Set(lines.filter((l) => l.worker !== undefined).map((l) => l.pid));
    const pid = victim ?? [...pids][0];
    process.kill(Number(pid), 'SIGKILL');
    await waitLog((l) => l.msg === 'worker died; starting a replacement', from);
    await waitLog((l) => l.msg === 'TLS listening' && l.worker === 3, from);
    await untilReady();
    expect((await get(`https://localhost:${tlsPort}/after`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.some((l) => l.msg === 'stopped' && l.clean === true && l.worker === undefined)).toBe(true);
  });
});
