/**
 * Regression (issue 13 attack review, held): two trusted certificates of the same CA key and name in the bundle, one
 * self-signed (a root in its own right), one issued by another trusted root that revoked it. Which
 * path carries the leaf depends on the issuer search order; the gate's rebuild follows bundle order,
 * OpenSSL follows its store's order. Asserts agreement with `openssl verify -crl_check_all` for
 * both bundle orders.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { get, presentingAgent, startTestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = tempDir('twin-anchor-order-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

it('the gate and OpenSSL agree on a leaf under a revoked-or-self-signed twin, whatever the bundle order', async () => {
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Twin Root');
  const self = ScenarioCa.root(join(dir, 'self'), '/CN=Twin Issuing CA');
  // The same key and name, issued by the root (and revoked by it).
  const cross = root.crossSign(self, '/CN=Twin Issuing CA');
  const leaf = self.leaf('client', 'twin-client');
  root.revoke(cross);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + self.crl());
  const results: string[] = [];
  for (const [name, pem] of [
    ['cross-first', root.cert.pem + cross.pem + self.cert.pem],
    ['self-first', root.cert.pem + self.cert.pem + cross.pem],
  ] as const) {
    const bundle = writeText(join(dir, `${name}.pem`), pem);
    const oracle = opensslVerdict({ caFile: bundle, crlFile: crls, cert: leaf.pemPath });
    const gw = await startTestGateway(pki, {
      GATEWAY_CA_BUNDLE: bundle,
      GATEWAY_CRLS: crls,
      GATEWAY_VERIFY_MODE: 'explain',
    });
    const agent = presentingAgent(pki, { cert: leaf.pem, key: readFileSync(leaf.keyPath) });
    try {
      const res = await get(`${gw.url}/f`, agent);
      const gateway = res.status === 200 ? 'ok' : res.json<{ error: string }>().error;
      results.push(`${name}: openssl=${oracle} gateway=${gateway}`);
    } finally {
      await agent.close();
      await gw.close();
    }
  }
  for (const r of results) {
    const [, o, g] = /openssl=(\S+) gateway=(\S+)/.exec(r)!;
    expect(g === 'ok', r).toBe(o === 'ok');
  }
});
