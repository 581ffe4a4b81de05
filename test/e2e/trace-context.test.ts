/**
 * Every request line carries a W3C trace id and the total duration, and the upstream sees the same
 * trace: a client's valid `traceparent` is forwarded as sent (with its `tracestate`), a missing or
 * malformed one is replaced by a new trace whose id is the one logged.
 */
import { describe, expect, it } from 'vitest';
import { clientAgent, get, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

describe('trace context', () => {
  let pki: TestPki;
  let gw: TestGateway;
  useTestGateway({}, (started) => {
    ({ pki, gw } = started);
  });

  const send = async (path: string, headers: Record<string, string>) => {
    const before = gw.upstream.seen.length;
    expect((await get(`${gw.url}${path}`, clientAgent(pki, 'partner-a'), { headers })).status).toBe(200);
    const upstream = gw.upstream.seen[before]!.headers;
    const line = await gw.logs.waitFor((l) => l.event === 'request' && l.path === path);
    return { upstream, line };
  };

  it("keeps a client's valid traceparent and tracestate, and logs its trace id and the total duration", async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { upstream, line } = await send('/trace/valid', { traceparent: tp, tracestate: 'vendor=1' });
    expect(upstream.traceparent).toBe(tp);
    expect(upstream.tracestate).toBe('vendor=1');
    expect(line.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(line.duration_ms).toEqual(expect.any(Number));
    expect(line.duration_ms as number).toBeGreaterThanOrEqual((line.upstream_ms as number) ?? 0);
  });

  it.each([
    ['missing', {}],
    ['all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, tracestate: 'x=1' }],
    ['upper-case hex', { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01' }],
    ['version ff', { traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }],
  ])('replaces a %s traceparent with a new trace, logged and forwarded', async (name, headers) => {
    const { upstream, line } = await send(
      `/trace/${name.replaceAll(' ', '-')}`,
      headers as Record<string, string>,
    );
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(upstream.traceparent));
    expect(m, String(upstream.traceparent)).not.toBeNull();
    expect(line.trace_id).toBe(m![1]);
    expect(upstream.tracestate).toBeUndefined();
  });
});
