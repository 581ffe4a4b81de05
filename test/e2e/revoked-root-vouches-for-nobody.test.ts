import { join } from 'node:path';
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';

const files = useScenarioFiles('revoked-root-');

it('a root its own CRL revokes vouches for no client', async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Withdrawn Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Withdrawn Issuing CA');
  const leaf = inter.leaf('client', 'self-crl-client');
  root.revoke(root.cert);
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + inter.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leaf.pemPath })).toBe('CERT_REVOKED');

  const env = { GATEWAY_CRL_REQUIRED: 'true' };
  const { answers, forwarded } = await askOnceEach(pki, { bundle, crls, env }, [leaf]);
  expect(answers.map((a) => [a.status, a.error])).toEqual([[403, 'revoked']]);
  expect(forwarded).toBe(0);
});
