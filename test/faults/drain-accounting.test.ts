/**
 * The drain counts right (issue 20, defect 2): upstream responses cut mid-body never lower the
 * in-flight count twice, so a later SIGTERM waits for every slow request still in flight, reports
 * `clean: true, cut_requests: 0` and exits 0; a drain shorter than a request cuts it, says how many
 * it cut and exits 1. Against the real `serve` process and a raw TCP upstream.
 */
import { type Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let upstream: ScriptedUpstream;
let upstreamPort: number;
/** Called with each request path the upstream receives. */
let onArrival: (path: string) => void = () => undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  // `/reset-mid`: headers and part of the body, then a TCP reset. `/slow/<ms>`: answers after ms.
  upstream = await startScriptedUpstream((socket, path) => {
    onArrival(path);
    if (path === '/reset-mid') {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(5000)}`);
      setImmediate(() => socket.resetAndDestroy());
    } else {
      const body = `done ${path}`;
      setTimeout(
        () => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`),
        Number(path.split('/').pop()),
      );
    }
  });
  upstreamPort = upstream.port;
});
afterAll(async () => {
  await upstream?.close();
  await pki.cleanup();
});

/** Starts one slow request per delay; resolves once the upstream has received all of them. */
async function slowRequests(
  url: string,
  delays: readonly number[],
): Promise<{ agents: Agent[]; results: Promise<{ status: number; text: string } | { error: string }>[] }> {
  const paths = new Set(delays.map((ms) => `/slow/${ms}`));
  const arrived = new Promise<void>((resolve) => {
    onArrival = (path) => {
      paths.delete(path);
      if (paths.size === 0) resolve();
    };
  });
  const agents = delays.map(() => clientAgent(pki, 'partner-a'));
  const results = delays.map((ms, i) =>
    request(`${url}/slow/${ms}`, { dispatcher: agents[i]! }).then(
      async (res) => ({ status: res.statusCode, text: await res.body.text() }),
      (err: Error) => ({ error: (err as NodeJS.ErrnoException).code ?? err.message }),
    ),
  );
  await arrived;
  return { agents, results };
}

describe('drain accounting', { timeout: 30_000 }, () => {
  it('after three mid-body resets, SIGTERM waits for every slow request: 0 cut, clean, exit 0', async () => {
    const gw = await startServe(pki, upstreamPort, { GATEWAY_DRAIN_SECONDS: '20' });
    const url = `https://localhost:${gw.tlsPort}`;
    const agent = clientAgent(pki, 'partner-a');
    for (let i = 0; i < 3; i++) {
      const res = await request(`${url}/reset-mid`, { dispatcher: agent });
      await expect(res.body.text()).rejects.toThrow();
    }
    await agent.close();
    const from = gw.lines.length;
    const { agents, results } = await slowRequests(url, [2_000, 4_000, 6_000]);
    gw.child.kill('SIGTERM');
    const draining = await gw.waitLog((l) => l.msg === 'draining', from);
    expect(draining.in_flight).toBe(3);
    expect(await Promise.all(results)).toEqual([
      { status: 200, text: 'done /slow/2000' },
      { status: 200, text: 'done /slow/4000' },
      { status: 200, text: 'done /slow/6000' },
    ]);
    expect(await gw.exited).toBe(0);
    const stopped = gw.lines.find((l) => l.msg === 'stopped');
    expect({ clean: stopped?.clean, cut: stopped?.cut_requests }).toEqual({ clean: true, cut: 0 });
    await Promise.all(agents.map((a) => a.destroy()));
  });

  it('a drain shorter than a request cuts it, reports cut_requests and exits 1', async () => {
    const gw = await startServe(pki, upstreamPort, { GATEWAY_DRAIN_SECONDS: '1' });
    const url = `https://localhost:${gw.tlsPort}`;
    const { agents, results } = await slowRequests(url, [5_000]);
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(1);
    const [outcome] = await Promise.all(results);
    expect(outcome).toHaveProperty('error');
    const stopped = gw.lines.find((l) => l.msg === 'stopped');
    expect(stopped?.clean).toBe(false);
    expect(Number(stopped?.cut_requests)).toBeGreaterThanOrEqual(1);
    expect(gw.lines.find((l) => l.msg?.toString().startsWith('drain deadline'))?.cut_requests).toBe(1);
    await Promise.all(agents.map((a) => a.destroy()));
  });
});
