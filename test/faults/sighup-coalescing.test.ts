/**
 * SIGHUP is coalesced: one reload in flight and at most one queued, however many signals arrive
 * (issue 20). 100 signals cost at most two reloads' worth of Secrets Manager calls, counted on the
 * local Secrets Manager server the real AWS SDK talks to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let sm: SecretsManagerServer;

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  sm.put('gw/ca-bundle', pki.pki.files['ca-bundle.pem']!);
  sm.put('gw/server-cert', pki.pki.files['server.pem']!);
  sm.put('gw/server-key', pki.pki.files['server-key.pem']!);
});
afterAll(async () => {
  await sm?.close();
  await pki?.cleanup();
});

/** Secrets read per reload: the CA bundle, the server certificate and its key. */
const SECRETS = 3;

describe('SIGHUP coalescing', { timeout: 30_000 }, () => {
  it('100 signals make at most two reloads', async () => {
    const gw = await startServe(pki, 9, {
      ...sm.env(),
      GATEWAY_CA_BUNDLE: 'secretsmanager:gw/ca-bundle',
      GATEWAY_SERVER_CERT: 'secretsmanager:gw/server-cert',
      GATEWAY_SERVER_KEY: 'secretsmanager:gw/server-key',
      // The held read gives up after 2 s; scheduled polls read with DescribeSecret only.
      GATEWAY_TRUST_REFRESH_SECONDS: '2',
    });
    try {
      const before = sm.callCount('GetSecretValue');
      // The first reload is held at Secrets Manager (until the source timeout): the other 99
      // signals arrive while it is in flight.
      sm.injectFault('hang', 1, 'GetSecretValue');
      const from = gw.lines.length;
      gw.child.kill('SIGHUP');
      await gw.waitLog((l) => l.msg === 'SIGHUP: reloading trust material', from);
      for (let i = 1; i < 100; i++) gw.child.kill('SIGHUP');
      const finished = await gw.waitLog(
        (l) => l.msg === 'SIGHUP reload finished' && l.queued === false,
        from,
      );
      sm.clearFault();
      const reloads = (sm.callCount('GetSecretValue') - before) / SECRETS;
      expect(reloads).toBeLessThanOrEqual(2);
      // Every signal handled was answered by one of those reloads (the kernel may merge signals
      // that are pending at the same time, so fewer than 100 may be handled).
      const lines = gw.lines.slice(from);
      const done = lines.filter((l) => l.msg === 'SIGHUP reload finished');
      expect(done.length).toBe(reloads);
      expect(done.reduce((n, l) => n + Number(l.signals), 0)).toBe(
        lines.filter((l) => l.msg === 'SIGHUP: reloading trust material').length,
      );
      expect(finished.signals).toBeGreaterThanOrEqual(1);
    } finally {
      gw.kill();
      await gw.exited;
    }
  });
});
