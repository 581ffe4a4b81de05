/**
 * Attack on the issue-13 follow-ups "lenient entry revocation dates" (68c5f53) and "a CRL that
 * verifies but cannot be used marks its key unusable" (9dc88b9), together. lenientTimeAt only adds
 * missing seconds; every other form OpenSSL accepts for a revocation date still throws. A UTCTime
 * with a zone offset (`240102030405+0100`, allowed by ASN1_UTCTIME_check, so `openssl ca -gencrl`
 * writes it from an index.txt line) makes the CRL "malformed past the envelope": its key is
 * marked unusable and EVERY client of that CA is refused (crl_missing), while `openssl verify
 * -crl_check_all` says OK for the CA's good clients (and CERT_REVOKED for the revoked one).
 * One odd entry date thus locks out a whole partner CA. Expected: as OpenSSL, the good client is
 * served and the revoked one refused (revocation dates decide nothing: read any form, or none).
 */
import { readFileSync, writeFileSync } from 'node:fs';
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
  dir = tempDir('crl-entry-offset-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

it('a revocation date with a zone offset does not lock out the good clients of its CA', async () => {
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Offset Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Offset Issuing CA');
  const good = inter.leaf('good', 'good-client');
  const revoked = inter.leaf('revoked', 'revoked-client');
  inter.revoke(revoked);
  const db = join(inter.dir, 'index.txt');
  const lines = readFileSync(db, 'utf8').split('\n');
  writeFileSync(
    db,
    lines
      .map((l) =>
        l.split('\t')[3] === revoked.serialHex ? l.replace('240102030405Z', '240102030405+0100') : l,
      )
      .join('\n'),
  );
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  // OpenSSL loads the CRL: the revoked client is revoked, the good one is fine.
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).toBe('CERT_REVOKED');
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: good.pemPath })).toBe('ok');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
  });
  const agentFor = (leaf: { pem: string; keyPath: string }) =>
    presentingAgent(pki, { cert: leaf.pem, key: readFileSync(leaf.keyPath) });
  const goodAgent = agentFor(good);
  const revokedAgent = agentFor(revoked);
  try {
    const bad = await get(`${gw.url}/f`, revokedAgent);
    expect(bad.status, bad.text).toBe(403);
    const ok = await get(`${gw.url}/f`, goodAgent);
    expect(ok.status, ok.text).toBe(200);
  } finally {
    await goodAgent.close();
    await revokedAgent.close();
    await gw.close();
  }
});
