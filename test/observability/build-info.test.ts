/**
 * What /metrics says about the build and about successful handshakes: `build_info` names the
 * package, Node.js and OpenSSL versions that really run, and a successful handshake is counted
 * with no empty `reason` label (reasons belong to failures only).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clientAgent, get, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('metrics about the build and successful handshakes', () => {
  let pki: TestPki;
  let gw: TestGateway;
  useTestGateway({}, (started) => {
    ({ pki, gw } = started);
  });

  it('reports build_info with the running versions, and success without a reason label', async () => {
    const agent = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/receipts`, agent)).status).toBe(200);
    await agent.close();
    const text = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    expect(text).toContain(
      `mtls_gateway_build_info{version="${version}",node="${process.versions.node}",openssl="${process.versions.openssl}"} 1\n`,
    );
    const success = text
      .split('\n')
      .filter((l) => l.startsWith('mtls_gateway_handshakes_total{result="success"'));
    expect(success).toEqual([
      expect.stringMatching(/^mtls_gateway_handshakes_total\{result="success"\} [1-9]\d*$/),
    ]);
    expect(text).not.toContain('reason=""');
  });
});
