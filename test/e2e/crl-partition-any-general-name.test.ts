/**
 * A partitioned CRL applies to a client as OpenSSL applies it (crl_crldp_check): its
 * IssuingDistributionPoint names the partition with a URI and a directoryName, and the client's
 * CRLDistributionPoints names it by the directoryName only, or names only a cRLIssuer equal to the
 * CRL's issuer. `openssl verify -crl_check_all` says CERT_REVOKED for both; the gateway refuses
 * the revoked client too (before: partitions matched by URI only, so it was served).
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';
import { openssl } from '../trust/openssl-pki.js';

const files = useScenarioFiles('crl-partition-names-');

async function scenario(tag: string, cdp: readonly string[]): Promise<void> {
  const { pki, dir } = files;
  const base = join(dir, tag);
  const root = ScenarioCa.root(join(base, 'root'), `/CN=DP Root ${tag}`);
  const inter = root.intermediate(join(base, 'inter'), `/CN=DP Issuing CA ${tag}`);
  // The leaf, signed with `openssl ca` by the intermediate, CDP = dirName only.
  const leafKey = join(base, 'leaf-key.pem');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', leafKey]);
  const reqCnf = writeText(
    join(base, 'req.cnf'),
    '[ req ]\ndistinguished_name = dn\nprompt = no\n[ dn ]\nCN = x\n',
  );
  const csr = join(base, 'leaf.csr');
  openssl(['req', '-config', reqCnf, '-new', '-key', leafKey, '-subj', '/CN=dp-client', '-out', csr]);
  const ext = writeText(
    join(base, 'leaf.ext'),
    [
      '[ x ]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = clientAuth',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      ...cdp,
      '',
    ].join('\n'),
  );
  writeFileSync(join(inter.dir, 'serial'), '3A01\n');
  const leafPem = join(base, 'leaf.pem');
  openssl([
    'ca',
    '-config',
    inter.config,
    '-batch',
    '-notext',
    '-extfile',
    ext,
    '-extensions',
    'x',
    '-in',
    csr,
    '-out',
    leafPem,
  ]);
  // Revoke it in the intermediate's database; CRL with IDP = URI + the same dirName.
  openssl(['ca', '-config', inter.config, '-revoke', leafPem, '-crl_reason', 'keyCompromise']);
  appendFileSync(
    inter.config,
    '\n[ idp_ext ]\nauthorityKeyIdentifier = keyid:always\nissuingDistributionPoint = critical, @idp\n[ idp ]\nfullname = URI:http://crl.example/part7.crl, dirName:idp_part\n[ idp_part ]\nCN = Partition 7\n',
  );
  const crlPem = join(base, 'part7.crl.pem');
  openssl(['ca', '-config', inter.config, '-gencrl', '-crlexts', 'idp_ext', '-out', crlPem]);

  const bundle = writeText(join(base, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(base, 'crls.pem'), root.crl() + readFileSync(crlPem, 'utf8'));
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leafPem })).toBe('CERT_REVOKED');

  const leaf = { pem: readFileSync(leafPem, 'utf8'), keyPath: leafKey };
  const { answers, crlsInForce, forwarded } = await askOnceEach(pki, { bundle, crls }, [leaf]);
  expect(crlsInForce).toBe(2); // both CRLs were accepted
  expect(answers.map((a) => [a.status, a.error])).toEqual([[403, 'revoked']]);
  expect(forwarded).toBe(0);
}

it('a CRL partition named by directoryName in the leaf still revokes it', async () => {
  await scenario('dirname', ['crlDistributionPoints = dirName:part', '[ part ]', 'CN = Partition 7']);
});

it('a distribution point naming only the CRL issuer (cRLIssuer, no name) still gets the partitioned CRL', async () => {
  // OpenSSL: crldp_check_crlissuer matches the CRL's issuer, idp_check_dp(NULL, …) is a match.
  await scenario('crlissuer', [
    'crlDistributionPoints = cdp_sect',
    '[ cdp_sect ]',
    'CRLissuer = dirName:crl_issuer',
    '[ crl_issuer ]',
    'CN = DP Issuing CA crlissuer',
  ]);
});
