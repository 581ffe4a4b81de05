/**
 * A partner whose issuing CA is not in our bundle, only its root, sends the intermediate after
 * its leaf (docs/partners.md tells partners to). The gate rebuilds the chain through what the
 * client sent, the root's CRL still decides about the intermediate, and the rfc9440
 * Client-Cert-Chain header carries it. On Node 24.21 the server never saw the sent certificates
 * (nodejs/node#65579) and such a partner was refused as unknown_ca; Node 24.22.3 fixed it.
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCrl } from '../../src/dev/pki.js';
import { get, presentingAgent, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
  await pki.write('root-only.pem', pki.pki.root.certPem);
  await pki.write('root-crl-empty.pem', await makeCrl(pki.pki.root, { crlNumber: 1 }));
  await pki.write(
    'root-crl-revokes-intermediate.pem',
    await makeCrl(pki.pki.root, { crlNumber: 2, revoked: [{ serialHex: pki.pki.intermediate.serialHex }] }),
  );
});
afterAll(async () => {
  await pki?.cleanup();
});

/** A gateway trusting only the dev root, with `crls`; stopped by the caller. */
function rootOnlyGateway(crls: string, env: Record<string, string> = {}): Promise<TestGateway> {
  return startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: pki.path('root-only.pem'),
    GATEWAY_CRLS: pki.path(crls),
    GATEWAY_VERIFY_MODE: 'explain',
    GATEWAY_IDENTITY_HEADERS: 'gateway,rfc9440',
    ...env,
  });
}

/** GET /r as partner-a, sending its intermediate after the leaf or not. */
async function askAsPartnerA(gw: TestGateway, sendIntermediate: boolean) {
  const leaf = readFileSync(pki.path('partner-a.pem'), 'utf8');
  const agent = presentingAgent(pki, {
    cert: sendIntermediate ? leaf + pki.pki.intermediate.certPem : leaf,
    key: readFileSync(pki.path('partner-a-key.pem')),
  });
  try {
    const res = await get(`${gw.url}/r`, agent);
    return {
      status: res.status,
      error: res.status === 200 ? undefined : res.json<{ error: string }>().error,
    };
  } finally {
    await agent.close();
  }
}

describe('a client that sends its intermediate, which the bundle does not hold', () => {
  it('is served, and Client-Cert-Chain carries the intermediate it sent', async () => {
    const gw = await rootOnlyGateway('root-crl-empty.pem');
    try {
      expect(await askAsPartnerA(gw, true)).toEqual({ status: 200, error: undefined });
      const headers = gw.upstream.seen.at(-1)?.headers ?? {};
      expect(headers['x-client-id']).toBe('cn:partner-a');
      const intermediateDer = new X509Certificate(pki.pki.intermediate.certPem).raw;
      expect(headers['client-cert-chain']).toBe(`:${intermediateDer.toString('base64')}:`);
    } finally {
      await gw.close();
    }
  });

  it('is refused unknown_ca when it sends only its leaf', async () => {
    const gw = await rootOnlyGateway('root-crl-empty.pem');
    try {
      expect(await askAsPartnerA(gw, false)).toEqual({ status: 401, error: 'unknown_ca' });
      expect(gw.upstream.seen).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });

  it('is refused revoked once the root CRL in force revokes that intermediate', async () => {
    const gw = await rootOnlyGateway('root-crl-revokes-intermediate.pem');
    try {
      expect(await askAsPartnerA(gw, true)).toEqual({ status: 403, error: 'revoked' });
      expect(gw.upstream.seen).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });

  it('is refused crl_missing when CRLs are required: no CRL of a CA outside the bundle ever loads', async () => {
    const gw = await rootOnlyGateway('root-crl-empty.pem', { GATEWAY_CRL_REQUIRED: 'true' });
    try {
      expect(await askAsPartnerA(gw, true)).toEqual({ status: 403, error: 'crl_missing' });
      expect(gw.upstream.seen).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });
});
