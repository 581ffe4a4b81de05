/**
 * SAN list headers are one-to-one (issue 14 follow-up): `X-Client-San-Uri` (and `-Dns`, `-Email`)
 * writes `%` inside a value as `%25` before writing `,` as `%2C`. Without the first rule a
 * certificate whose URI SAN is `spiffe://partners.example/ops,admin` and one whose URI SAN is the
 * literal text `spiffe://partners.example/ops%2Cadmin` gave the same header, so a service that
 * splits on `,` and percent-decodes (the documented way to read a list) could not tell a minted
 * certificate from another partner's. Two real certificates, a real TLS client, the echo upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

beforeAll(async () => {
  pki = await makeTestPki();
  await pki.addClient(
    'comma',
    await issue(pki.pki.intermediate, { subject: 'CN=comma', uris: ['spiffe://partners.example/ops,admin'] }),
  );
  await pki.addClient(
    'percent',
    await issue(pki.pki.intermediate, {
      subject: 'CN=percent',
      uris: ['spiffe://partners.example/ops%2Cadmin'],
    }),
  );
  gw = await startTestGateway(pki, { GATEWAY_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

async function sanUri(name: string): Promise<string | undefined> {
  const agent = clientAgent(pki, name);
  try {
    return (await get(`${gw.url}/who`, agent)).json<{ headers: Record<string, string> }>().headers[
      'x-client-san-uri'
    ];
  } finally {
    await agent.close();
  }
}

describe('X-Client-San-Uri is one-to-one', () => {
  it('two different URI SANs never give the same header value', async () => {
    const a = await sanUri('comma');
    const b = await sanUri('percent');
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(a).not.toBe(b);
    expect(a).toBe('spiffe://partners.example/ops%2Cadmin');
    expect(b).toBe('spiffe://partners.example/ops%252Cadmin');
    expect(decodeURIComponent(b!)).toBe('spiffe://partners.example/ops%2Cadmin');
  });
});
