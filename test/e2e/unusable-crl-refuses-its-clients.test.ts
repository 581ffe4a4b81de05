/**
 * A CRL its CA signed but that OpenSSL refuses to use (an unknown critical entry extension:
 * UNHANDLED_CRITICAL_CRL_EXTENSION) makes that CA key's CRL unusable: its clients are refused
 * (`crl_missing`) with GATEWAY_CRL_REQUIRED=false, as OpenSSL refuses them. Before, the CRL was
 * rejected as if absent and the CA's revoked client was served. A bad CRL never replaces a good
 * one: when the CA's good CRL is in force, it keeps deciding.
 */

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { get, presentingAgent, startTestGateway, trustOf } from '../helpers/gateway.js';
import { askOnceEach, useScenarioFiles } from '../helpers/scenario-gateway.js';
import { akiExt, buildCrl, crlNumberExt, extension, octet } from '../trust/crl-builder.js';

const files = useScenarioFiles('unusable-crl-');

function critCrl(ca: ScenarioCa, serials: readonly string[], crlNumber: number): string {
  const parsedCa = parseCertificate(ca.cert.x509.raw);
  const der = buildCrl({
    issuerDer: parsedCa.subjectDer,
    alg: 'ecdsa-sha256',
    key: createPrivateKey(readFileSync(ca.cert.keyPath)),
    thisUpdate: Date.now() - 3_600_000,
    nextUpdate: Date.now() + 86_400_000,
    entries: [
      ...serials.map((serialHex) => ({ serialHex })),
      { serialHex: '7F7F', extensions: [extension('1.3.6.1.4.1.99999.1', true, octet(Buffer.from([5, 0])))] },
    ],
    extensions: [akiExt(parsedCa.subjectKeyId!), crlNumberExt(crlNumber)],
  });
  return `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
}

function agentFor(client: { pem: string; keyPath: string }): Agent {
  return presentingAgent(files.pki, { cert: client.pem, key: readFileSync(client.keyPath) });
}

it("a CRL its CA signed that OpenSSL refuses to use refuses that CA's clients (crl_missing)", async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'crit-root'), '/CN=Crit Root');
  const ca = root.intermediate(join(dir, 'crit-ca'), '/CN=Crit Issuing CA');
  const revoked = ca.leaf('crit-revoked', 'crit-revoked');
  const other = ca.leaf('crit-other', 'crit-other');
  const bundle = writeText(join(dir, 'crit-bundle.pem'), root.cert.pem + ca.cert.pem);
  const crls = writeText(join(dir, 'crit-crls.pem'), root.crl() + critCrl(ca, [revoked.serialHex], 1));
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).not.toBe('ok');
  expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: other.pemPath })).not.toBe('ok');

  const { answers, forwarded } = await askOnceEach(pki, { bundle, crls }, [revoked, other]);
  expect(answers.map((a) => [a.status, a.error])).toEqual([
    [403, 'crl_missing'],
    [403, 'crl_missing'],
  ]);
  expect(forwarded).toBe(0);
});

it('a bad CRL never replaces a good one: the good CRL of that key keeps deciding', async () => {
  const { pki, dir } = files;
  const root = ScenarioCa.root(join(dir, 'keep-root'), '/CN=Keep Root');
  const ca = root.intermediate(join(dir, 'keep-ca'), '/CN=Keep Issuing CA');
  const revoked = ca.leaf('keep-revoked', 'keep-revoked');
  const good = ca.leaf('keep-good', 'keep-good');
  ca.revoke(revoked);
  const bundle = writeText(join(dir, 'keep-bundle.pem'), root.cert.pem + ca.cert.pem);
  const crlFile = join(dir, 'keep-crls.pem');
  writeText(crlFile, root.crl() + ca.crl());

  const gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crlFile,
    GATEWAY_VERIFY_MODE: 'explain',
  });
  try {
    // The CA then publishes a CRL we cannot use (newer number), listing nobody we know of.
    writeText(crlFile, root.crl() + critCrl(ca, [], 99));
    await gw.gateway.reloadTrust();
    const trust = await trustOf(gw.adminUrl);
    expect(trust.crls.some((c) => c.entries === 1)).toBe(true); // the good CRL is still in force
    const revokedAgent = agentFor(revoked);
    const goodAgent = agentFor(good);
    try {
      const refused = await get(`${gw.url}/f`, revokedAgent);
      expect(refused.status, refused.text).toBe(403);
      expect(refused.json<{ error: string }>().error).toBe('revoked');
      const served = await get(`${gw.url}/f`, goodAgent);
      expect(served.status, served.text).toBe(200);
    } finally {
      await revokedAgent.close();
      await goodAgent.close();
    }
  } finally {
    await gw.close();
  }
});
