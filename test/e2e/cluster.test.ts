import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { clientAgent, get, metricValue } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { rawTlsConnect } from '../helpers/raw-client.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { type ServeProcess, startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let sm: SecretsManagerServer;
let upstream: EchoUpstream;
let gw: ServeProcess;
let tlsPort = 0;
let adminUrl = '';

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
  gw = await startServe(pki, upstream.port, {
    ...sm.env(),
    GATEWAY_WORKERS: '2',
    GATEWAY_CA_BUNDLE: 'secretsmanager:cluster-ca',
    GATEWAY_TRUST_REFRESH_SECONDS: '1',
  });
  tlsPort = gw.tlsPort;
  adminUrl = `http://127.0.0.1:${gw.adminPort}`;
  await untilReady();
}, 60_000);

afterAll(async () => {
  gw?.kill();
  await upstream?.close();
  await sm?.close();
  await pki?.cleanup();
});

function handshake(session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const s = rawTlsConnect(pki, tlsPort, 'partner-a', session ? { session } : {});
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
    const workers = new Set(gw.lines.filter((l) => l.event === 'request').map((l) => l.worker));
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
    const from = gw.lines.length;
    sm.put('cluster-ca', pki.pki.intermediate.certPem + pki.pki.root.certPem + pki.pki.rogue.certPem);
    await gw.waitLog((l) => l.worker === 1 && l.msg === 'trust snapshot installed', from);
    await gw.waitLog((l) => l.worker === 2 && l.msg === 'trust snapshot installed', from);
    expect(sm.callCount('GetSecretValue')).toBe(2);
    for (let i = 0; i < 4; i++) {
      expect((await get(`https://localhost:${tlsPort}/u${i}`, clientAgent(pki, 'untrusted'))).status).toBe(
        200,
      );
    }
  });

  it('replaces a worker that dies', async () => {
    const from = gw.lines.length;
    const victim = gw.lines.find((l) => l.worker === 1 && typeof l.pid === 'number')?.pid;
    const pids = new Set(gw.lines.filter((l) => l.worker !== undefined).map((l) => l.pid));
    const pid = victim ?? [...pids][0];
    process.kill(Number(pid), 'SIGKILL');
    await gw.waitLog((l) => l.msg === 'worker died; starting a replacement', from);
    await gw.waitLog((l) => l.msg === 'TLS listening' && l.worker === 3, from);
    await untilReady();
    expect((await get(`https://localhost:${tlsPort}/after`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.lines.some((l) => l.msg === 'stopped' && l.clean === true && l.worker === undefined)).toBe(
      true,
    );
  });
});
