/**
 * A CRL that `openssl ca -gencrl` itself wrote, one of whose entries has a revocationDate UTCTime
 * without seconds (`2401020304Z`, from an index.txt line; X.680 allows it, RFC 5280 says SHOULD
 * include seconds). OpenSSL loads it and `openssl verify -crl_check_all` says CERT_REVOKED for
 * every listed client; the gateway reads entry dates leniently (thisUpdate/nextUpdate stay strict)
 * and refuses them too. Before, the one odd date rejected the whole CRL and un-revoked every entry.
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
  dir = tempDir('crl-entry-date-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

it('a revocation date without seconds does not un-revoke the CRL it is in', async () => {
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Time Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Time Issuing CA');
  const revoked = inter.leaf('revoked', 'revoked-client');
  const other = inter.leaf('other', 'other-revoked');
  inter.revoke(revoked);
  inter.revoke(other);
  // The other entry's revocation time written without seconds, as `openssl ca` accepts it.
  const db = join(inter.dir, 'index.txt');
  const lines = readFileSync(db, 'utf8').split('\n');
  writeFileSync(
    db,
    lines
      .map((l) => (l.split('\t')[3] === other.serialHex ? l.replace('240102030405Z', '2401020304Z') : l))
      .join('\n'),
  );
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).toBe('CERT_REVOKED');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
  });
  const agent = presentingAgent(pki, { cert: revoked.pem, key: readFileSync(revoked.keyPath) });
  try {
    const res = await get(`${gw.url}/f`, agent);
    expect(res.status, res.text).toBe(403);
    expect(gw.upstream.seen).toHaveLength(0);
  } finally {
    await agent.close();
    await gw.close();
  }
});
