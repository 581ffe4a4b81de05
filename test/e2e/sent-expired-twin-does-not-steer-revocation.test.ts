import { join } from 'node:path';
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';

const files = useScenarioFiles('sent-twin-');

const day = 86_400_000;
const stamp = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

it('a revoked intermediate is not bypassed by sending an expired twin of it first', async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Attack Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Attack Issuing CA');
  // Same subject, same key, signed by the root, expired a day ago, never revoked.
  const expiredTwin = root.crossSign(inter, '/CN=Attack Issuing CA', {
    startDate: stamp(Date.now() - 30 * day),
    endDate: stamp(Date.now() - day),
  });
  const leaf = inter.leaf('client', 'attacker');
  root.revoke(inter.cert); // the current intermediate is revoked by the root
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl());
  const sent = writeText(join(dir, 'sent.pem'), expiredTwin.pem + inter.cert.pem);
  // The oracle: the path OpenSSL builds from what the client sends is revoked.
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leaf.pemPath, untrusted: sent })).toBe(
    'CERT_REVOKED',
  );

  const env = { GATEWAY_CRL_REQUIRED: 'false' };
  const client = { pem: leaf.pem + expiredTwin.pem + inter.cert.pem, keyPath: leaf.keyPath };
  const { answers, forwarded } = await askOnceEach(pki, { bundle, crls, env }, [client]);
  expect(answers.map((a) => [a.status, a.error])).toEqual([[403, 'revoked']]);
  expect(forwarded).toBe(0);
});
