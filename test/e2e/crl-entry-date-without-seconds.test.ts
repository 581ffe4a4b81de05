/**
 * A CRL that `openssl ca -gencrl` itself wrote, one of whose entries has a revocationDate UTCTime
 * without seconds (`2401020304Z`, from an index.txt line; X.680 allows it, RFC 5280 says SHOULD
 * include seconds). OpenSSL loads it and `openssl verify -crl_check_all` says CERT_REVOKED for
 * every listed client; the gateway reads entry dates leniently (thisUpdate/nextUpdate stay strict)
 * and refuses them too. Before, the one odd date rejected the whole CRL and un-revoked every entry.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';

const files = useScenarioFiles('crl-entry-date-');

it('a revocation date without seconds does not un-revoke the CRL it is in', async () => {
  const { pki, dir } = files;
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

  const { answers, forwarded } = await askOnceEach(pki, { bundle, crls }, [revoked]);
  expect(answers.map((a) => [a.status, a.error])).toEqual([[403, 'revoked']]);
  expect(forwarded).toBe(0);
});
