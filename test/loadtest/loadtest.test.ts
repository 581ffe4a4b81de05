/**
 * The operators' load generator against a real gateway: counts add up, keep-alive reuses
 * connections, new-connection mode does one handshake per request and --resume resumes them, and
 * the CLI prints JSON or a usage error with exit code 2.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type LoadOptions, runLoad } from '../../src/loadtest/index.js';
import { type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

let pki: TestPki;
let gw: TestGateway;

useTestGateway({ GATEWAY_LOG_LEVEL: 'warn' }, (started) => ({ pki, gw } = started));

function options(over: Partial<LoadOptions>): LoadOptions {
  return {
    url: new URL(`${gw.url}/load`),
    tls: {
      cert: readFileSync(pki.path('partner-a.pem')),
      key: readFileSync(pki.path('partner-a-key.pem')),
      ca: readFileSync(pki.path('root-ca.pem')),
    },
    connections: 4,
    requests: 100,
    newConnectionPerRequest: false,
    resume: false,
    method: 'GET',
    headers: {},
    ...over,
  };
}

describe('runLoad', () => {
  it('sends exactly the requests asked for over keep-alive connections', async () => {
    const before = gw.upstream.seen.length;
    const r = await runLoad(options({}));
    expect(r.requests).toBe(100);
    expect(r.statuses).toEqual({ 200: 100 });
    expect(r.errors).toEqual({});
    expect(r.handshakes).toBe(4);
    expect(gw.upstream.seen.length - before).toBe(100);
    expect(r.latencyMs.p50).toBeGreaterThan(0);
    expect(r.latencyMs.max).toBeGreaterThanOrEqual(r.latencyMs.p99);
  });

  it('does a full handshake per request, and resumes sessions with --resume', async () => {
    const full = await runLoad(options({ requests: 20, connections: 2, newConnectionPerRequest: true }));
    expect(full.handshakes).toBe(20);
    expect(full.resumedHandshakes).toBe(0);
    const resumed = await runLoad(
      options({ requests: 20, connections: 1, newConnectionPerRequest: true, resume: true }),
    );
    expect(resumed.handshakes).toBe(20);
    expect(resumed.resumedHandshakes).toBeGreaterThanOrEqual(18);
    expect(resumed.statuses).toEqual({ 200: 20 });
  });

  it('sends a warm-up first and leaves it out of every number', async () => {
    const before = gw.upstream.seen.length;
    const r = await runLoad(
      options({ requests: undefined, warmupSeconds: 0.4, durationSeconds: 0.4, connections: 2, rate: 100 }),
    );
    expect(r.warmupRequests).toBeGreaterThan(20);
    expect(r.requests).toBeGreaterThan(20);
    expect(r.statuses).toEqual({ 200: r.requests });
    expect(r.durationSeconds).toBeGreaterThanOrEqual(0.4);
    expect(r.handshakes).toBe(0); // both connections were opened during the warm-up
    expect(gw.upstream.seen.length - before).toBe(r.warmupRequests + r.requests);
  });

  it('counts refusals by the status the refused client reads (a revoked client: 403)', async () => {
    const r = await runLoad(
      options({
        requests: 3,
        connections: 1,
        tls: {
          cert: readFileSync(pki.path('revoked.pem')),
          key: readFileSync(pki.path('revoked-key.pem')),
          ca: readFileSync(pki.path('root-ca.pem')),
        },
      }),
    );
    // Strict mode answers each refused connection once (403, Connection: close), then closes it.
    expect(r.statuses).toEqual({ 403: 3 });
    expect(r.errors).toEqual({});
  });
});

describe('mtls-gateway loadtest', () => {
  it('prints a JSON report', async () => {
    const { stdout } = await run(process.execPath, [
      CLI,
      'loadtest',
      `${gw.url}/cli`,
      '--cert',
      pki.path('partner-b.pem'),
      '--key',
      pki.path('partner-b-key.pem'),
      '--cacert',
      pki.path('root-ca.pem'),
      '--requests',
      '30',
      '--connections',
      '3',
      '--json',
    ]);
    const report = JSON.parse(stdout) as { requests: number; statuses: Record<string, number> };
    expect(report.requests).toBe(30);
    expect(report.statuses['200']).toBe(30);
  });

  it('measures a plain http:// upstream directly, as the baseline for added latency', async () => {
    const before = gw.upstream.seen.length;
    const { stdout } = await run(process.execPath, [
      CLI,
      'loadtest',
      `http://127.0.0.1:${gw.upstream.port}/direct`,
      '--requests',
      '20',
      '--connections',
      '2',
      '--json',
    ]);
    const report = JSON.parse(stdout) as {
      requests: number;
      handshakes: number;
      statuses: Record<string, number>;
    };
    expect(report.statuses['200']).toBe(20);
    expect(report.handshakes).toBe(0);
    const seen = gw.upstream.seen.slice(before);
    expect(seen).toHaveLength(20);
    expect(seen.every((r) => r.headers['x-client-subject'] === undefined)).toBe(true);
  });

  it.each([
    ['a scheme it does not speak', 'ftp://x/', 'must be https://'],
    [
      'client certificates for an http:// URL (nothing to present them to)',
      'http://x/',
      'are for https:// URLs',
    ],
  ])('exits 2 with the usage on %s', async (_case, url, message) => {
    const err = await run(process.execPath, [CLI, 'loadtest', url, '--cert', 'a', '--key', 'b']).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain(message);
  });
});
