/**
 * Attack on SIGHUP coalescing (issue 20): "100 signals meant about 600 AWS calls". The trust
 * reload is coalesced (ReloadRequests: one in flight, one queued, 1 s apart), but with
 * GATEWAY_CONFIG=ssm:<name> every SIGHUP also starts an SSM GetParameter of its own
 * (ParameterPolicy.start registers `process.on('SIGHUP', once)`, "one poll at a time" only): a
 * signal every few milliseconds is one AWS call each, against the real SDK and a local SSM server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve-process.js';
import { SsmServer } from '../helpers/ssm-server.js';

const NAME = '/mtls-gateway/policy';
const SIGNALS = 50;

let pki: TestPki;
let upstream: EchoUpstream;
let ssm: SsmServer;
beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startEchoUpstream('127.0.0.1', 0);
  ssm = await SsmServer.start();
  ssm.put(
    NAME,
    JSON.stringify({
      partners: [{ id: 'acme', match: { commonName: 'partner-a' } }],
      routes: [{ name: 'all', prefix: '/', allow: ['acme'] }],
    }),
  );
});
afterAll(async () => {
  await ssm?.close();
  await upstream?.close();
  await pki?.cleanup();
});

describe('attack: SIGHUP storm with the policy in SSM', { timeout: 30_000 }, () => {
  it(`${SIGNALS} signals make at most two policy reads`, async () => {
    const gw = await startServe(pki, upstream.port, {
      ...ssm.env(),
      GATEWAY_CONFIG: `ssm:${NAME}`,
      // No scheduled poll during the test: every call counted is a SIGHUP's.
      GATEWAY_TRUST_REFRESH_SECONDS: '300',
    });
    try {
      const before = ssm.calls.filter((c) => c.operation === 'GetParameter').length;
      const from = gw.lines.length;
      for (let i = 0; i < SIGNALS; i++) {
        const seen = gw.lines.slice(from).filter((l) => l.msg === 'SIGHUP: reloading trust material').length;
        gw.child.kill('SIGHUP');
        // One signal at a time, each handled before the next (none merged by the kernel).
        await gw.waitLog(
          () =>
            gw.lines.slice(from).filter((l) => l.msg === 'SIGHUP: reloading trust material').length > seen,
          from,
        );
      }
      await gw.waitLog((l) => l.msg === 'SIGHUP reload finished' && l.queued === false, from);
      const reads = ssm.calls.filter((c) => c.operation === 'GetParameter').length - before;
      expect(reads, `${SIGNALS} SIGHUPs cost ${reads} SSM GetParameter calls`).toBeLessThanOrEqual(2);
    } finally {
      gw.child.kill('SIGKILL');
      await gw.exited;
    }
  });
});
