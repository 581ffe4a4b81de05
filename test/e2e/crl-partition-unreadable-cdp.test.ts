/**
 * A client certificate whose CRLDistributionPoints cannot be read under our DER rule (a non-minimal
 * length, which OpenSSL's decoder accepts) gets every partitioned CRL of its issuer's key (fail
 * closed), so the partition that lists it still refuses it, as `openssl verify -crl_check_all`
 * does (before: an unreadable CDP matched no partition and the revoked client was served).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { cnRdn, craftCertificate, keyFromPem, name, oid, seq, tlv } from '../helpers/der-craft.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';
import { openssl } from '../trust/openssl-pki.js';

const files = useScenarioFiles('crl-unreadable-cdp-');

const URI = 'http://crl.example/part9.crl';

it('a revoked client whose CDP uses a non-minimal length is still refused', async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=CDP Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=CDP Issuing CA');
  // DistributionPoint { distributionPoint [0] { fullName [0] { URI } } }, the URI with `81 len`.
  const uri = tlv(0x86, Buffer.from(URI, 'latin1'), 1);
  const cdpValue = seq(seq(tlv(0xa0, tlv(0xa0, uri))));
  const cdp = seq(oid('2.5.29.31'), tlv(0x04, cdpValue));
  const crafted = craftCertificate({
    subject: name(cnRdn('cdp-client')),
    issuer: parseCertificate(inter.cert.x509.raw).subjectDer,
    signingKey: keyFromPem(readFileSync(join(inter.dir, 'ca-key.pem'), 'utf8')),
    serialHex: '3b01',
    extensions: [cdp],
  });
  const leafPem = writeText(join(dir, 'leaf.pem'), crafted.pem);
  const leafKey = writeText(join(dir, 'leaf-key.pem'), crafted.keyPem);
  appendFileSync(
    join(inter.dir, 'index.txt'),
    'R\t350101000000Z\t240102030405Z,keyCompromise\t3B01\tunknown\t/CN=x\n',
  );
  appendFileSync(
    inter.config,
    `\n[ idp_ext ]\nauthorityKeyIdentifier = keyid:always\nissuingDistributionPoint = critical, @idp\n[ idp ]\nfullname = URI:${URI}\n`,
  );
  const crlPem = join(dir, 'part9.crl.pem');
  openssl(['ca', '-config', inter.config, '-gencrl', '-crlexts', 'idp_ext', '-out', crlPem]);
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + readFileSync(crlPem, 'utf8'));
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leafPem })).toBe('CERT_REVOKED');

  const leaf = { pem: crafted.pem, keyPath: leafKey };
  const { answers, crlsInForce, forwarded } = await askOnceEach(pki, { bundle, crls }, [leaf]);
  expect(crlsInForce).toBe(2);
  expect(answers.map((a) => [a.status, a.error])).toEqual([[403, 'revoked']]);
  expect(forwarded).toBe(0);
});
