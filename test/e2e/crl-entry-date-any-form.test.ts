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
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';

const files = useScenarioFiles('crl-entry-offset-');

it('a revocation date with a zone offset does not lock out the good clients of its CA', async () => {
  const { pki, dir } = files;
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

  const { answers, forwarded } = await askOnceEach(pki, { bundle, crls }, [revoked, good]);
  expect(answers.map((a) => [a.status, a.error])).toEqual([
    [403, 'revoked'],
    [200, undefined],
  ]);
  expect(forwarded).toBe(1);
});
