/**
 * A benchmark, not part of `npm test` (`npm run bench:agreement`): does `mtls-gateway loadtest`
 * report the same numbers as the tools operators already trust, on the same gateway? It prints
 * requests/s and mean latency beside `ab -k`, new connections/s beside `openssl s_time -new`, with
 * the ratios, and fails when they disagree by more than 20%. The upstream answers after a fixed
 * delay (as a real upstream across a network would), so the expected rate is set by that delay
 * rather than by how busy this machine is. Throughput agreement depends on the machine, which is
 * why it lives here and not among the functional tests.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../test/helpers/gateway.js';
import { makeTestPki, type TestPki } from '../test/helpers/pki.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const UPSTREAM_DELAY_MS = 30;
/** For one connection per request: a Node TLS client costs more CPU per handshake than openssl's. */
const SLOW_UPSTREAM_DELAY_MS = 100;

let pki: TestPki;
let gw: TestGateway;
let slow: Server;

beforeAll(async () => {
  pki = await makeTestPki();
  slow = createServer((req, res) => {
    const delay = req.url?.startsWith('/slow') ? SLOW_UPSTREAM_DELAY_MS : UPSTREAM_DELAY_MS;
    setTimeout(() => res.end('ok\n'), delay);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const upstream = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  gw = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'warn', GATEWAY_UPSTREAM: upstream });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((r) => slow?.close(r));
  await pki?.cleanup();
});

interface LoadJson {
  requests: number;
  requests_per_second: number;
  handshakes: number;
  handshakes_per_second: number;
  latency_ms: { mean: number };
  statuses: Record<string, number>;
}

async function loadtest(path: string, args: string[]): Promise<LoadJson> {
  const { stdout } = await run(process.execPath, [
    CLI,
    'loadtest',
    `${gw.url}${path}`,
    '--cert',
    pki.path('partner-a.pem'),
    '--key',
    pki.path('partner-a-key.pem'),
    '--cacert',
    pki.path('root-ca.pem'),
    '--json',
    ...args,
  ]);
  return JSON.parse(stdout) as LoadJson;
}

function field(text: string, pattern: RegExp): number {
  const m = pattern.exec(text);
  if (!m?.[1]) throw new Error(`no ${pattern} in:\n${text}`);
  return Number(m[1]);
}

describe('loadtest agrees with ab and openssl s_time', () => {
  it('keep-alive: requests/s and mean latency within 20% of ab -k', async () => {
    const { stdout } = await run('ab', [
      '-k',
      '-c',
      '4',
      '-n',
      '240',
      '-E',
      pki.path('partner-a-combined.pem'),
      `https://127.0.0.1:${gw.port}/agree`,
    ]);
    expect(field(stdout, /Complete requests:\s+(\d+)/)).toBe(240);
    expect(field(stdout, /Failed requests:\s+(\d+)/)).toBe(0);
    const abRate = field(stdout, /Requests per second:\s+([\d.]+)/);
    const abMeanMs = field(stdout, /Time per request:\s+([\d.]+) \[ms\] \(mean\)/);
    const ours = await loadtest('/agree', ['--connections', '4', '--requests', '240']);
    expect(ours.statuses).toEqual({ 200: 240 });
    const rates = `loadtest ${ours.requests_per_second} req/s, ab ${abRate} req/s (ratio ${(ours.requests_per_second / abRate).toFixed(2)})`;
    const means0 = `loadtest mean ${ours.latency_ms.mean} ms, ab mean ${abMeanMs} ms (ratio ${(ours.latency_ms.mean / abMeanMs).toFixed(2)})`;
    console.log(`keep-alive, 4 connections, 240 requests: ${rates}; ${means0}`);
    expect(ours.requests_per_second / abRate, rates).toBeGreaterThan(0.8);
    expect(ours.requests_per_second / abRate, rates).toBeLessThan(1.2);
    const means = `loadtest mean ${ours.latency_ms.mean} ms, ab mean ${abMeanMs} ms`;
    expect(ours.latency_ms.mean / abMeanMs, means).toBeGreaterThan(0.8);
    expect(ours.latency_ms.mean / abMeanMs, means).toBeLessThan(1.2);
  });

  it('a new TLS connection per request: connections/s within 20% of openssl s_time -new', async () => {
    // Both run at once for the same 3 s, so they see the same machine. s_time prints whole seconds
    // of wall time; its run is timed here instead.
    const sTime = async (): Promise<number> => {
      const began = performance.now();
      const { stdout } = await run('openssl', [
        's_time',
        '-connect',
        `127.0.0.1:${gw.port}`,
        '-new',
        '-www',
        '/slow',
        '-cert',
        pki.path('partner-a.pem'),
        '-key',
        pki.path('partner-a-key.pem'),
        '-CAfile',
        pki.path('root-ca.pem'),
        '-time',
        '3',
      ]);
      const seconds = (performance.now() - began) / 1000;
      return field(stdout, /(\d+) connections in [\d.]+ real seconds/) / seconds;
    };
    const [sTimeRate, ours] = await Promise.all([
      sTime(),
      loadtest('/slow', ['--connections', '1', '--duration', '3', '--new-connection-per-request']),
    ]);
    expect(ours.handshakes).toBe(ours.requests);
    expect(ours.statuses).toEqual({ 200: ours.requests });
    const rates = `loadtest ${ours.handshakes_per_second} conn/s, s_time ${sTimeRate.toFixed(1)} conn/s (ratio ${(ours.handshakes_per_second / sTimeRate).toFixed(2)})`;
    console.log(`new connection per request, 3 s: ${rates}`);
    expect(ours.handshakes_per_second / sTimeRate, rates).toBeGreaterThan(0.8);
    expect(ours.handshakes_per_second / sTimeRate, rates).toBeLessThan(1.2);
  });
});
