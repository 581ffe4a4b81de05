/**
 * Memory across swaps: every swap builds a new secure context, and an old one lives as long as the
 * connections that use it. 100 swaps with connections held open across them must keep RSS bounded
 * (contexts hold only the CA bundle and server chain; CRLs never enter them).
 */
import type { Agent } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, startTestGateway, type TestGateway } from '../helpers/gateway.js';
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

it('100 swaps with open connections keep RSS bounded', async () => {
  // A bundle of a dozen CAs, so that a leaked context per swap would show.
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
  const swap = async (i: number): Promise<void> => {
    sm.put('mem-ca', bundles[i % 2]!);
    await gw.gateway.trust.refresh();
    // One new connection per swap stays open: it pins the context of that generation.
    const agent = clientAgent(pki, i % 2 ? 'partner-a' : 'partner-b');
    expect((await get(`${gw.url}/m/${i}`, agent)).status).toBe(200);
    agents.push(agent);
  };
  for (let i = 0; i < 10; i++) await swap(i); // warm-up
  const before = process.memoryUsage().rss;
  for (let i = 10; i < 110; i++) await swap(i);
  const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
  expect(gw.gateway.trust.current?.generation).toBeGreaterThanOrEqual(110);
  // Measured ~45 MB here (100 live connections and their contexts); the leak the issue describes
  // grew to hundreds of MB.
  expect(grown).toBeLessThan(150);
  for (const a of agents) await a.destroy();
});
