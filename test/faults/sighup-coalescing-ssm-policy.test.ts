/**
 * SIGHUP coalescing covers the policy too (issue 20: "100 signals meant about 600 AWS calls").
 * With GATEWAY_CONFIG=ssm:<name> the policy parameter used to be read by a SIGHUP handler of its
 * own, outside the coalesced reload (one read per signal). Now it is read inside each coalesced
 * reload (ReloadRequests: one in flight, one queued, 1 s apart): a signal every few milliseconds
 * costs one GetParameter per reload, never one per signal. Real SDK, local SSM server.
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

describe('SIGHUP storm with the policy in SSM', { timeout: 30_000 }, () => {
  it(`${SIGNALS} signals read the policy once per coalesced reload, not once per signal`, async () => {
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
      const handled = gw.lines.slice(from).filter((l) => l.msg === 'SIGHUP: reloading trust material').length;
      const answered = (): number =>
        gw.lines
          .slice(from)
          .filter((l) => l.msg === 'SIGHUP reload finished')
          .reduce((n, l) => n + Number(l.signals), 0);
      // Every signal handled is answered by one of the coalesced reloads ...
      await gw.waitLog(
        (l) => l.msg === 'SIGHUP reload finished' && l.queued === false && answered() === handled,
        from,
      );
      const reads = ssm.calls.filter((c) => c.operation === 'GetParameter').length - before;
      const reloads = gw.lines.slice(from).filter((l) => l.msg === 'SIGHUP reload finished');
      // ... which are far fewer than the signals (reloads start at least 1 s apart) ...
      expect(reloads.length).toBeLessThan(SIGNALS / 2);
      // ... and the policy is read by those reloads only: at least once, never once per signal.
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads, `${SIGNALS} SIGHUPs cost ${reads} SSM GetParameter calls`).toBeLessThanOrEqual(
        reloads.length,
      );
    } finally {
      gw.kill();
      await gw.exited;
    }
  });
});
