import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { get, presentingAgent, startTestGateway } from '../helpers/gateway.js';
import { useScenarioFiles } from '../helpers/scenario-gateway.js';

const files = useScenarioFiles('sent-extra-');

const sfBinary = (pem: string): string => `:${new X509Certificate(pem).raw.toString('base64')}:`;

it('Client-Cert-Chain carries only the sent certificates of the verified chain, in its order', async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'root'), '/CN=Attack Root');
  const inter = root.intermediate(join(dir, 'inter'), '/CN=Attack Issuing CA');
  // Another partner's issuing CA (public, trusted) and a self-signed look-alike of the attacker's CA.
  const otherRoot = ScenarioCa.root(join(dir, 'other'), '/CN=Other Partner Root');
  const otherInter = otherRoot.intermediate(join(dir, 'other-inter'), '/CN=Other Issuing CA');
  const lookAlike = ScenarioCa.root(join(dir, 'look-alike'), '/CN=Attack Issuing CA');
  const leaf = inter.leaf('client', 'attacker');
  const bundle = writeText(join(dir, 'bundle.pem'), root.cert.pem + otherRoot.cert.pem);
  const crls = writeText(join(dir, 'crls.pem'), root.crl() + inter.crl() + otherRoot.crl());
  const extras = otherInter.cert.pem + lookAlike.cert.pem;
  const sent = writeText(join(dir, 'sent.pem'), extras + inter.cert.pem);
  // The oracle accepts: OpenSSL verifies leaf <- Attack Issuing CA <- Attack Root, ignoring the rest.
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: leaf.pemPath, untrusted: sent })).toBe('ok');

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_IDENTITY_HEADERS: 'rfc9440',
  });
  const agent = presentingAgent(pki, {
    cert: leaf.pem + extras + inter.cert.pem,
    key: readFileSync(leaf.keyPath),
  });
  try {
    expect((await get(`${gw.url}/f`, agent)).status).toBe(200);
    // RFC 9440: the first element certifies the leaf, each next one the one before. Certificates
    // that verified nothing (another partner's CA, a same-name look-alike) are not forwarded.
    expect(gw.upstream.seen.at(-1)?.headers['client-cert-chain']).toBe(sfBinary(inter.cert.pem));
  } finally {
    await agent.close();
    await gw.close();
  }
});
