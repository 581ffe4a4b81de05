/**
 * A trusted root that lists its own serial in its own CRL (a CA withdrawing a root) vouches for no
 * client: the anchor is checked against the CRLs signed by its own key, as
 * `openssl verify -crl_check_all -purpose sslclient` checks it (CERT_REVOKED at depth 1). Before,
 * the anchor was skipped and its clients were served.
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
  dir = tempDir('revoked-root-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

it('a root its own CRL revokes vouches for no client', async () => {
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Withdrawn Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Withdrawn Issuing CA');
  const leaf = inter.leaf('client', 'self-crl-client');
  root.revoke(root.cert);
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leaf.pemPath })).toBe('CERT_REVOKED');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
    GATEWAY_CRL_REQUIRED: 'true',
  });
  const agent = presentingAgent(pki, { cert: leaf.pem, key: readFileSync(leaf.keyPath) });
  try {
    const res = await get(`${gw.url}/f`, agent);
    expect(res.status, res.text).toBe(403);
    expect(gw.upstream.seen).toHaveLength(0);
  } finally {
    await agent.close();
    await gw.close();
  }
});
