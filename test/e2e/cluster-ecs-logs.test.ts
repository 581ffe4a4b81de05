/**
 * GATEWAY_LOG_FORMAT=ecs in cluster mode, through the real CLI (GATEWAY_WORKERS=2): the primary
 * and both workers write ECS lines, a worker's with its id as `service.node.name` and its
 * `process.pid`, the primary's trust store with `labels.role: "primary"`; nothing native.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { ECS_VERSION } from '../../src/observability/ecs-format.js';
import { clientAgent, get, type LogLine } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { type ServeProcess, startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let upstream: EchoUpstream;
let gw: ServeProcess;

const dataset = (l: LogLine): unknown => (l.event as { dataset?: string } | undefined)?.dataset;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startEchoUpstream('127.0.0.1', 0);
  gw = await startServe(pki, upstream.port, { GATEWAY_WORKERS: '2', GATEWAY_LOG_FORMAT: 'ecs' });
}, 60_000);

afterAll(async () => {
  gw?.kill();
  await upstream?.close();
  await pki?.cleanup();
});

describe('GATEWAY_WORKERS=2 with GATEWAY_LOG_FORMAT=ecs', { timeout: 60_000 }, () => {
  it("logs a worker's request with the worker's id and pid", async () => {
    // Readiness follows every worker's start: retry until a worker answers.
    let status = 0;
    for (let i = 0; i < 200 && status !== 200; i++) {
      status =
        (
          await get(`https://localhost:${gw.tlsPort}/ecs`, clientAgent(pki, 'partner-a')).catch(
            () => undefined,
          )
        )?.status ?? 0;
      if (status !== 200) await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toBe(200);
    const line = await gw.waitLog((l) => dataset(l) === 'mtls_gateway.request');
    expect(line['service.node.name']).toMatch(/^\d+$/);
    expect(line['process.pid']).toEqual(expect.any(Number));
    expect(line['process.pid']).not.toBe(gw.child.pid);
    expect(line.http).toMatchObject({ response: { status_code: 200 } });
  });

  it("logs the primary's trust store with labels.role and without a worker id", async () => {
    const line = await gw.waitLog(
      (l) => dataset(l) === 'mtls_gateway.trust' && l['labels.role'] === 'primary',
    );
    expect(line['service.node.name']).toBeUndefined();
  });

  it('drains on SIGTERM and says so in ECS lines only', async () => {
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    const stopped = gw.lines.filter((l) => l.message === 'stopped');
    expect(stopped.some((l) => l['service.node.name'] === undefined)).toBe(true);
    for (const l of gw.lines) {
      expect(l['ecs.version'], JSON.stringify(l)).toBe(ECS_VERSION);
      expect(l['service.name']).toBe('mtls-gateway');
      expect([l.msg, l.level, l.time, l.worker, l.pid, l.role]).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    }
  });
});
