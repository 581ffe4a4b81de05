/**
 * `serve | head`, after head has stopped reading: stdout is a pipe nobody reads. Once it is full,
 * the final synchronous log flush blocks the main thread for good, and the process used to stay
 * alive long after SIGTERM (17 minutes in the field). The hard-exit watchdog (src/hard-exit.ts)
 * ends it within GATEWAY_DRAIN_SECONDS plus its margin: this test waits for the exit event, and the
 * test's own timeout is the bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { clientAgent } from '../helpers/gateway.js';
import { gatewayEnv, makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI } from '../helpers/serve-process.js';

const DRAIN_SECONDS = 1;

/** A free loopback port: the logs that would name the ephemeral one are never read here. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let pki: TestPki;
let upstream: EchoUpstream;
/** The process under test: killed after the file even when the test timed out (the bug's symptom). */
let child: ChildProcess | undefined;
beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startEchoUpstream('127.0.0.1', 0);
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await upstream.close();
  await pki.cleanup();
});

describe('SIGTERM with stdout blocked (a pipe nobody reads)', () => {
  it('still ends the process within GATEWAY_DRAIN_SECONDS plus the margin', async () => {
    const [tls, admin] = [await freePort(), await freePort()];
    const gateway = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH,
        ...gatewayEnv(pki, upstream.port),
        GATEWAY_LISTEN: `127.0.0.1:${tls}`,
        GATEWAY_ADMIN_LISTEN: `127.0.0.1:${admin}`,
        GATEWAY_DRAIN_SECONDS: String(DRAIN_SECONDS),
      },
      // stdout: a pipe this test never reads (its buffer and the kernel's fill up, then it blocks).
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child = gateway;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      gateway.once('exit', (code, signal) => r({ code, signal })),
    );
    for (;;) {
      const ready = await request(`http://127.0.0.1:${admin}/readyz`).then(
        async (r) => {
          await r.body.text();
          return r.statusCode;
        },
        () => 0,
      );
      if (ready === 200) break;
      await new Promise((r) => setTimeout(r, 50)); // polled, as a load balancer polls
    }
    // Fill the pipe: each request logs its (long) path; 60 × 6 KB is far beyond 64 KB + 16 KB.
    const agent = clientAgent(pki, 'partner-a');
    const path = `/fill/${'x'.repeat(6000)}`;
    for (let i = 0; i < 60; i++) {
      const res = await request(`https://localhost:${tls}${path}?${i}`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    await agent.close();
    gateway.kill('SIGTERM');
    const { code, signal } = await exited;
    // Ended: normally (the flush got through) or by the watchdog's SIGKILL, never left running.
    expect(code !== null || signal === 'SIGKILL', `code ${code}, signal ${signal}`).toBe(true);
  }, 20_000);
});
