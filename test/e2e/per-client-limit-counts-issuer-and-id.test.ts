/**
 * Per-client connection limits count the identity the upstream is told (issue 14 follow-up).
 * GATEWAY_MAX_CONNECTIONS_PER_CLIENT counted an undeclared client per leaf certificate, while the
 * upstream is told one identity for all of them (`X-Client-Id: cn:partner-a`); a partner whose CA
 * is in the bundle could mint a fresh leaf per connection and never be limited, up to
 * GATEWAY_MAX_CONNECTIONS, which then kept every other partner out. Now an undeclared client is
 * counted by issuer DN and X-Client-Id together: here the limit is 2, four leaves of one subject
 * from one CA get two connections, and the same CN from another CA in the bundle is its own client.
 * Real TLS connections with real certificates.
 */
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, startTestGateway, type TestGateway, waitForMetric } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { servedOnNewConnection } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;
const open: TLSSocket[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  for (let i = 0; i < 4; i++) {
    await pki.addClient(
      `minted-${i}`,
      await issue(pki.pki.intermediate, { subject: 'O=Partner A, CN=partner-a' }),
    );
  }
  // The same subject from the root (also in the bundle): another issuer, so another client.
  await pki.addClient('root-minted', await issue(pki.pki.root, { subject: 'O=Partner A, CN=partner-a' }));
  gw = await startTestGateway(pki, { GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '2', GATEWAY_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  for (const s of open) s.destroy();
  await gw?.close();
  await pki?.cleanup();
});

const connectAs = (name: string): Promise<boolean> => servedOnNewConnection(pki, gw.port, name, open);

describe('per-client connection limits count the identity the upstream is told', () => {
  it('one leaf gets at most 2 connections (control)', async () => {
    const kept: boolean[] = [];
    for (let i = 0; i < 3; i++) kept.push(await connectAs('partner-b'));
    expect(kept.filter(Boolean).length).toBe(2);
    for (const s of open.splice(0)) s.destroy();
  });

  it('four leaves of one subject (one X-Client-Id) do not get four connections under a limit of 2', async () => {
    const agent = clientAgent(pki, 'minted-0');
    const who = (await get(`${gw.url}/who`, agent)).json<{ headers: Record<string, string> }>().headers;
    await agent.close();
    expect(who['x-client-id']).toBe('cn:partner-a');
    await waitForMetric(gw, 'mtls_gateway_active_connections', {}, (v) => v === 0);
    const refusedBefore = await waitForMetric(
      gw,
      'mtls_gateway_connections_refused_total',
      { reason: 'max_connections_per_client' },
      () => true,
    );
    const kept: boolean[] = [];
    for (let i = 0; i < 4; i++) kept.push(await connectAs(`minted-${i}`));
    expect(kept).toEqual([true, true, false, false]);
    // Both refusals are counted under their reason (the control test's refusal, if it ran, before).
    await waitForMetric(
      gw,
      'mtls_gateway_connections_refused_total',
      { reason: 'max_connections_per_client' },
      (v) => v === refusedBefore + 2,
    );
  });

  it('the same CN from another trusted issuer is another client', async () => {
    expect(await connectAs('root-minted')).toBe(true);
  });
});
