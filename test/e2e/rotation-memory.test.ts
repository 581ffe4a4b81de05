/**
 * Memory across swaps: every swap builds a new trust snapshot and a new secure context, and an old
 * one lives only as long as the connections that use it. After 100 swaps with a connection held
 * open across each, and those connections closed, a forced GC must collect every replaced snapshot
 * (WeakRefs to each) and every replaced secure context (a count of live SecureContext objects on
 * the heap, against a baseline taken in the same run). One snapshot or context kept per swap, the
 * leak the issue describes, leaves 100 behind.
 */
import { createSecureContext } from 'node:tls';
import { queryObjects } from 'node:v8';
import type { Agent } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { clientAgent, get, startTestGateway, type TestGateway, waitForMetric } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';

let pki: TestPki;
let sm: SecretsManagerServer;
let gw: TestGateway;
const savedEnv = { ...process.env };

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  Object.assign(process.env, sm.env());
});
afterAll(async () => {
  await gw?.close();
  process.env = savedEnv;
  await sm?.close();
  await pki?.cleanup();
});

/** Node's (unexported) SecureContext class: what tls.createSecureContext and setSecureContext build. */
const SecureContext = createSecureContext().constructor;
/** Live SecureContext objects on the heap (queryObjects runs a full GC first). */
const liveContexts = (): number => queryObjects(SecureContext, { format: 'count' });

/** Full GCs with a turn of the event loop before each: a WeakRef target is kept for its whole job. */
async function collect(): Promise<void> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('run with --expose-gc (vitest.config.ts execArgv)');
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

it('100 swaps with open connections: every replaced snapshot and secure context is collected', async () => {
  // A bundle of a dozen CAs, as a real partner bundle would be.
  const extra: string[] = [];
  for (let i = 0; i < 10; i++)
    extra.push((await issue(undefined, { subject: `CN=filler CA ${i}`, ca: true })).certPem);
  const bundles = [
    pki.pki.files['ca-bundle.pem']! + extra.join(''),
    extra.join('') + pki.pki.files['ca-bundle.pem']!,
  ];
  sm.put('mem-ca', bundles[0]!);
  gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: 'secretsmanager:mem-ca',
    GATEWAY_TRUST_REFRESH_SECONDS: '3600',
    GATEWAY_LOG_LEVEL: 'warn',
  });
  const agents: Agent[] = [];
  const swap = async (i: number): Promise<WeakRef<TrustSnapshot>> => {
    const before = gw.gateway.trust.current;
    sm.put('mem-ca', bundles[i % 2]!);
    await gw.gateway.trust.refresh();
    const installed = gw.gateway.trust.current!;
    expect(installed).not.toBe(before);
    // One new connection per swap stays open: it pins the snapshot and context of that generation.
    const agent = clientAgent(pki, i % 2 ? 'partner-a' : 'partner-b');
    expect((await get(`${gw.url}/m/${i}`, agent)).status).toBe(200);
    agents.push(agent);
    return new WeakRef(installed);
  };
  const closeAll = async (): Promise<void> => {
    for (const a of agents.splice(0)) await a.destroy();
    await waitForMetric(gw, 'mtls_gateway_active_connections', {}, (v) => v === 0);
  };

  for (let i = 0; i < 10; i++) await swap(i); // warm-up
  await closeAll();
  await collect();
  const baseline = liveContexts();

  const snapshots: WeakRef<TrustSnapshot>[] = [];
  for (let i = 10; i < 110; i++) snapshots.push(await swap(i));
  expect(gw.gateway.trust.current?.generation).toBeGreaterThanOrEqual(110);
  const current = gw.gateway.trust.current;
  await closeAll();
  await collect();

  const replaced = snapshots.slice(0, -1);
  expect(snapshots.at(-1)?.deref()).toBe(current);
  expect(replaced.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  // The same contexts live as after the warm-up: the server's current one, whatever the process
  // itself keeps; none per swap.
  expect(liveContexts()).toBe(baseline);
}, 120_000);
