/**
 * A handshake flood: a few hundred concurrent full TLS handshakes (valid partners, untrusted and
 * missing certificates, TLS 1.1) while a legitimate keep-alive client keeps being served. Each
 * handshake is decided and counted once, and no connection is left open afterwards.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  clientAgent,
  get,
  metricValue,
  type TestGateway,
  useTestGateway,
  waitForMetric,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

const VALID = 160;
const UNTRUSTED = 60;
const NO_CERT = 60;
const OLD_TLS = 40;

let pki: TestPki;
let gw: TestGateway;

useTestGateway(
  { GATEWAY_LOG_LEVEL: 'info', GATEWAY_HANDSHAKE_TIMEOUT_SECONDS: '5' },
  (started) => ({ pki, gw } = started),
);

/** `served` (a 200), `<status> <error>` (a readable refusal) or `closed` (no HTTP answer). */
type Outcome = string;
interface FloodClient {
  readonly cert?: string;
  readonly key?: string;
  readonly oldTls?: boolean;
}

/**
 * The flood's client side runs in a worker thread, so its TLS work does not share an event loop
 * with the gateway and the legitimate client measured here. Each entry: one fresh full handshake
 * (no session reuse) and one request; `served` if it got a 200, else the refusal it read.
 */
const FLOOD_WORKER = `
const { connect } = require('node:tls');
const { parentPort, workerData } = require('node:worker_threads');
const { port, ca, clients } = workerData;
const one = (c) => new Promise((resolve) => {
  const s = connect({ port, host: '127.0.0.1', servername: 'localhost', ca, cert: c.cert, key: c.key,
    ...(c.oldTls ? { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' } : {}) });
  let text = '';
  s.setEncoding('utf8');
  s.on('secureConnect', () => s.write('GET /flood HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n'));
  s.on('data', (d) => { text += d; });
  s.on('error', () => undefined);
  s.on('close', () => {
    const status = text.startsWith('HTTP/1.1 ') ? text.slice(9, 12) : '';
    const at = text.indexOf('"error":"');
    const error = at < 0 ? '' : text.slice(at + 9, text.indexOf('"', at + 9));
    resolve(!status ? 'closed' : status === '200' ? 'served' : status + ' ' + error);
  });
});
Promise.all(clients.map(one)).then((outcomes) => parentPort.postMessage(outcomes));
`;

function flood(clients: readonly FloodClient[]): Promise<Outcome[]> {
  const worker = new Worker(FLOOD_WORKER, {
    eval: true,
    workerData: { port: gw.port, ca: readFileSync(pki.path('root-ca.pem'), 'utf8'), clients },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (outcomes: Outcome[]) => {
      resolve(outcomes);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

const partner = (name: string, oldTls = false): FloodClient => ({
  cert: readFileSync(pki.path(`${name}.pem`), 'utf8'),
  key: readFileSync(pki.path(`${name}-key.pem`), 'utf8'),
  ...(oldTls ? { oldTls } : {}),
});

describe('handshake flood', () => {
  it('decides every handshake of a flood while a keep-alive client keeps being served', async () => {
    const before = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const count = (text: string, result: string, reason: string): number =>
      metricValue(text, 'mtls_gateway_handshakes_total', { result, reason }) ?? 0;

    const keepAlive = clientAgent(pki, 'partner-b');
    expect((await get(`${gw.url}/warm`, keepAlive)).status).toBe(200);
    let flooding = true;
    const served: number[] = [];
    const legit = (async () => {
      while (flooding) {
        const res = await get(`${gw.url}/legit`, keepAlive);
        expect(res.status).toBe(200);
        served.push(res.status);
      }
    })();

    const clients = [
      ...Array.from({ length: VALID }, () => partner('partner-a')),
      ...Array.from({ length: UNTRUSTED }, () => partner('untrusted')),
      ...Array.from({ length: NO_CERT }, () => ({})),
      ...Array.from({ length: OLD_TLS }, () => partner('partner-a', true)),
    ];
    const outcomes = await flood(clients).finally(() => {
      flooding = false;
    });
    await legit;

    expect(outcomes.slice(0, VALID).every((o) => o === 'served')).toBe(true);
    // Strict mode: every refused certificate reads its one answer; TLS 1.1 never gets a handshake.
    const refusedAs = (from: number, n: number): Set<string> => new Set(outcomes.slice(from, from + n));
    expect(refusedAs(VALID, UNTRUSTED)).toEqual(new Set(['401 unknown_ca']));
    expect(refusedAs(VALID + UNTRUSTED, NO_CERT)).toEqual(new Set(['401 no_certificate']));
    expect(refusedAs(VALID + UNTRUSTED + NO_CERT, OLD_TLS)).toEqual(new Set(['closed']));
    // The keep-alive client was served during the flood, every answer a 200 (how fast is a
    // benchmark's question: bench/, not here).
    expect(served.length).toBeGreaterThanOrEqual(1);

    // A refused client can see its alert before the gateway has counted the refusal: wait for the
    // counts to settle (bounded), then compare them exactly.
    const settled = async (reason: string, expected: number): Promise<void> => {
      const base = count(before, 'failure', reason);
      await waitForMetric(
        gw,
        'mtls_gateway_handshakes_total',
        { result: 'failure', reason },
        (v) => v >= base + expected,
      );
    };
    await settled('unknown_ca', UNTRUSTED);
    await settled('no_certificate', NO_CERT);
    await settled('protocol', OLD_TLS);
    const after = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const delta = (result: string, reason: string): number =>
      count(after, result, reason) - count(before, result, reason);
    // Every flood handshake decided once (the keep-alive client's own, partner-b, are not counted).
    const handshakes = gw.logs.events('handshake').filter((l) => l.result === 'success');
    expect(handshakes.filter((l) => l.partner_id === 'cn:partner-a')).toHaveLength(VALID);
    expect(delta('failure', 'unknown_ca')).toBe(UNTRUSTED);
    expect(delta('failure', 'no_certificate')).toBe(NO_CERT);
    expect(delta('failure', 'protocol')).toBe(OLD_TLS);
    expect(gw.upstream.seen.filter((r) => r.path === '/flood')).toHaveLength(VALID);

    await keepAlive.close();
    await waitForMetric(gw, 'mtls_gateway_active_connections', {}, (v) => v === 0);
  });
});
