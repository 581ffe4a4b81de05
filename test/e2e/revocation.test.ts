/**
 * Revocation through the whole gateway: CRLs checked in our code on every connection (resumed
 * ones too) and again on a keep-alive connection's next request after the CRLs changed; bad CRLs
 * rejected while the good one stays in force; expiry with and without grace; CRL_REQUIRED.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { issue, makeCrl } from '../../src/dev/pki.js';
import {
  clientAgent,
  get,
  metricValue,
  refusal,
  startTestGateway,
  type TestGateway,
  trustOf,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { nextResponse, rawTlsConnect } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;

afterEach(async () => {
  await gw?.close();
  await pki?.cleanup();
});

async function setup(env: Record<string, string> = {}): Promise<void> {
  pki = await makeTestPki();
  gw = await startTestGateway(pki, env);
}

/** Replaces crl.pem: root CRL + an intermediate CRL revoking `serials`, with CRL number `n`. */
async function writeCrls(
  serials: string[],
  n: number,
  extra: { nextUpdateDays?: number } = {},
): Promise<void> {
  const root = await makeCrl(pki.pki.root, { crlNumber: n });
  const intermediate = await makeCrl(pki.pki.intermediate, {
    crlNumber: n,
    revoked: serials.map((serialHex) => ({ serialHex })),
    ...extra,
  });
  await pki.write('crl.pem', root + intermediate);
}

/** One raw keep-alive TLS connection sending HTTP/1.1 requests in sequence. */
function keepAliveConnection(
  name: string,
  session?: Buffer,
): Promise<{
  socket: TLSSocket;
  send(path: string): Promise<string>;
  session: Promise<Buffer>;
}> {
  return new Promise((resolve, reject) => {
    const socket = rawTlsConnect(pki, gw.port, name, session ? { session } : {});
    const ticket = new Promise<Buffer>((r) => socket.once('session', r));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const send = (path: string): Promise<string> => {
        const answer = nextResponse(socket);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        return answer;
      };
      resolve({ socket, send, session: ticket });
    });
  });
}

describe('a certificate revoked while its connection is open', () => {
  it('gets one JSON 403 on its next request, then loses the connection (strict)', async () => {
    await setup();
    const conn = await keepAliveConnection('partner-b');
    expect(await conn.send('/first')).toMatch(/^HTTP\/1\.1 200 /);
    const seen = gw.upstream.seen.length;
    await writeCrls([pki.pki.clients.revoked.serialHex, pki.pki.clients['partner-b'].serialHex], 2);
    await gw.gateway.reloadTrust();
    const closed = new Promise((r) => conn.socket.once('close', r));
    const answer = await conn.send('/second');
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toContain('"error":"revoked"');
    expect(answer).toContain(`"serial":"${pki.pki.clients['partner-b'].serialHex}"`);
    await closed;
    expect(gw.upstream.seen.length).toBe(seen);
    const log = await gw.logs.waitFor((l) => l.event === 'request' && l.path === '/second');
    expect(log.reason).toBe('revoked');
  });

  it('gets a JSON 403 from its next request on (explain)', async () => {
    await setup({ GATEWAY_VERIFY_MODE: 'explain' });
    const conn = await keepAliveConnection('partner-b');
    expect(await conn.send('/first')).toMatch(/^HTTP\/1\.1 200 /);
    await writeCrls([pki.pki.clients['partner-b'].serialHex], 2);
    await gw.gateway.reloadTrust();
    const answer = await conn.send('/second');
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toContain('"error":"revoked"');
    expect(answer).toContain(`"serial":"${pki.pki.clients['partner-b'].serialHex}"`);
    conn.socket.destroy();
  });
});

describe('resumed TLS sessions', () => {
  it('are checked against revocation like a full handshake', async () => {
    await setup({ GATEWAY_VERIFY_MODE: 'explain' });
    const first = await keepAliveConnection('revoked');
    expect(await first.send('/x')).toMatch(/^HTTP\/1\.1 403 /);
    const session = await first.session;
    first.socket.destroy();
    const second = await keepAliveConnection('revoked', session);
    expect(second.socket.isSessionReused()).toBe(true);
    expect(await second.send('/y')).toMatch(/^HTTP\/1\.1 403 /);
    second.socket.destroy();
    const resumed = gw.logs.events('handshake').filter((l) => l.resumed === true);
    expect(resumed.at(-1)?.reason).toBe('revoked');
  });

  it('let a good client resume, and are not resumable across a trust change', async () => {
    await setup();
    const first = await keepAliveConnection('partner-a');
    expect(await first.send('/x')).toMatch(/^HTTP\/1\.1 200 /);
    const session = await first.session;
    first.socket.destroy();
    const again = await keepAliveConnection('partner-a', session);
    expect(again.socket.isSessionReused()).toBe(true);
    expect(await again.send('/y')).toMatch(/^HTTP\/1\.1 200 /);
    again.socket.destroy();
    await writeCrls([pki.pki.clients.revoked.serialHex], 2);
    await gw.gateway.reloadTrust();
    const afterChange = await keepAliveConnection('partner-a', session);
    expect(afterChange.socket.isSessionReused()).toBe(false);
    afterChange.socket.destroy();
  });
});

describe('a partner seen before (its verified chain reused by the gate)', () => {
  // The gate caches verified chains per trust snapshot (connection-gate.ts), and a CRL reload makes
  // a new snapshot, so a revocation always meets a rebuilt chain. What can change while a cached
  // chain is reused is time: a CRL of the snapshot in force passing its nextUpdate.
  const SHORT_SECONDS = 8; // the two handshakes below must finish before it passes: ample on a busy 2-core machine

  it('is refused crl_expired on a new handshake once its CRL expires, with the same snapshot in force', async () => {
    await setup({ GATEWAY_CRL_GRACE_SECONDS: '0', GATEWAY_TRUST_REFRESH_SECONDS: '1' });
    await writeCrls([], 2, { nextUpdateDays: SHORT_SECONDS / 86_400 });
    await gw.gateway.reloadTrust();
    const snapshot = gw.gateway.trust.current;
    // The first full handshake builds partner-b's chain; the second one reuses it from the cache.
    for (const path of ['/before', '/again']) {
      const conn = await keepAliveConnection('partner-b');
      expect(conn.socket.isSessionReused()).toBe(false);
      expect(await conn.send(path)).toMatch(/^HTTP\/1\.1 200 /);
      conn.socket.destroy();
    }
    // The poll notices the CRL passed its nextUpdate; the file did not change, nothing is reloaded.
    await gw.logs.waitFor((l) => l.event === 'trust' && l.msg === 'CRL is past its nextUpdate');
    expect(await refusal(`${gw.url}/after`, clientAgent(pki, 'partner-b'))).toEqual({
      status: 403,
      error: 'crl_expired',
      connection: 'close',
    });
    expect(gw.gateway.trust.current).toBe(snapshot);
    const log = await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'crl_expired');
    expect(log.serial).toBe(pki.pki.clients['partner-b'].serialHex);
    expect(gw.upstream.seen.some((r) => r.path === '/after')).toBe(false);
  });

  it('is refused once revoked by a CRL reload (a new snapshot: the chain is rebuilt), and its intermediate too', async () => {
    await setup();
    expect((await get(`${gw.url}/before`, clientAgent(pki, 'partner-b'))).status).toBe(200);
    await writeCrls([pki.pki.clients['partner-b'].serialHex], 2);
    await gw.gateway.reloadTrust();
    expect(await refusal(`${gw.url}/after`, clientAgent(pki, 'partner-b'))).toEqual({
      status: 403,
      error: 'revoked',
      connection: 'close',
    });
    const leaf = await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'revoked');
    expect(leaf.serial).toBe(pki.pki.clients['partner-b'].serialHex);
    // A partner-a chain used before the root CRL revokes the intermediate: refused as well.
    expect((await get(`${gw.url}/a`, clientAgent(pki, 'partner-a'))).status).toBe(200);
    const rootCrl = await makeCrl(pki.pki.root, {
      crlNumber: 3,
      revoked: [{ serialHex: pki.pki.intermediate.serialHex }],
    });
    await pki.write('crl.pem', rootCrl + (await makeCrl(pki.pki.intermediate, { crlNumber: 3 })));
    await gw.gateway.reloadTrust();
    expect(await refusal(`${gw.url}/a2`, clientAgent(pki, 'partner-a'))).toEqual({
      status: 403,
      error: 'revoked',
      connection: 'close',
    });
    expect(gw.upstream.seen.some((r) => r.path === '/after' || r.path === '/a2')).toBe(false);
  });
});

describe('the chain above the leaf', () => {
  it('refuses a client whose intermediate CA is revoked, though it sent only its leaf', async () => {
    await setup();
    const rootCrl = await makeCrl(pki.pki.root, {
      crlNumber: 2,
      revoked: [{ serialHex: pki.pki.intermediate.serialHex }],
    });
    await pki.write('crl.pem', rootCrl + (await makeCrl(pki.pki.intermediate, { crlNumber: 2 })));
    await gw.gateway.reloadTrust();
    expect(await refusal(`${gw.url}/`, clientAgent(pki, 'partner-a'))).toEqual({
      status: 403,
      error: 'revoked',
      connection: 'close',
    });
    const log = await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'revoked');
    expect(String(log.detail)).toContain(pki.pki.intermediate.serialHex);
    expect(log.subject).toBe('CN=partner-a,O=Partner A');
  });
});

describe('CRL loading', () => {
  it('rejects a CRL with a bad signature and keeps the good one in force', async () => {
    await setup();
    const impostor = await issue(undefined, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
    });
    // Same issuer name, wrong key, higher CRL number, and it "un-revokes" everyone.
    await pki.write('crl.pem', await makeCrl(impostor, { crlNumber: 99 }));
    await gw.gateway.reloadTrust();
    const trust = await trustOf(gw.adminUrl);
    expect(trust.last_rejected[0]?.kind).toBe('crl');
    const intermediate = trust.crls.find((c) => c.issuer.startsWith('CN=mtls-gateway dev intermediate CA'));
    expect(intermediate?.entries).toBe(1);
    expect(intermediate?.crl_number).toBe('1');
    expect(await refusal(`${gw.url}/`, clientAgent(pki, 'revoked'))).toEqual({
      status: 403,
      error: 'revoked',
      connection: 'close',
    });
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'revoked');
    expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });

  it('rejects a CRL whose issuer is not in the bundle', async () => {
    await setup();
    await pki.write('crl.pem', await makeCrl(pki.pki.rogue, { crlNumber: 5 }));
    await gw.gateway.reloadTrust();
    const trust = await trustOf(gw.adminUrl);
    expect(trust.last_rejected[0]?.reason).toMatch(/issuer|CA/i);
    expect(trust.crls.map((c) => c.issuer).some((i) => i.includes('untrusted'))).toBe(false);
  });

  it('never lets an older CRL replace a newer one', async () => {
    await setup();
    await writeCrls([pki.pki.clients.revoked.serialHex, pki.pki.clients['partner-b'].serialHex], 5);
    await gw.gateway.reloadTrust();
    await writeCrls([], 3);
    await gw.gateway.reloadTrust();
    const trust = await trustOf(gw.adminUrl);
    const intermediate = trust.crls.find((c) => c.issuer.startsWith('CN=mtls-gateway dev intermediate CA'));
    expect(intermediate?.crl_number).toBe('5');
    expect(intermediate?.entries).toBe(2);
    expect(await refusal(`${gw.url}/`, clientAgent(pki, 'partner-b'))).toEqual({
      status: 403,
      error: 'revoked',
      connection: 'close',
    });
  });

  it('lists every CRL of a multi-CRL PEM file in /trust with its source', async () => {
    await setup();
    const trust = await trustOf(gw.adminUrl);
    expect(trust.crls).toHaveLength(2);
    for (const crl of trust.crls) expect(crl.source).toBe(pki.path('crl.pem'));
    const metrics = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    expect(metricValue(metrics, 'mtls_gateway_crl_next_update_timestamp_seconds', {})).toBeGreaterThan(
      Date.now() / 1000,
    );
  });
});

describe('CRL expiry and requirements', () => {
  it('refuses the issuer’s clients once its CRL is past nextUpdate, and stays ready', async () => {
    pki = await makeTestPki();
    const expired = await makeCrl(pki.pki.intermediate, {
      crlNumber: 2,
      thisUpdateDays: -3,
      nextUpdateDays: -1,
    });
    await pki.write('crl.pem', (await makeCrl(pki.pki.root)) + expired);
    gw = await startTestGateway(pki);
    expect((await get(`${gw.adminUrl}/readyz`, clientAgent(pki, undefined))).status).toBe(200);
    expect(await refusal(`${gw.url}/`, clientAgent(pki, 'partner-a'))).toEqual({
      status: 403,
      error: 'crl_expired',
      connection: 'close',
    });
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'crl_expired');
    await gw.logs.waitFor((l) => l.event === 'trust' && l.msg === 'CRL is past its nextUpdate');
  });

  it('accepts them within GATEWAY_CRL_GRACE_SECONDS', async () => {
    pki = await makeTestPki();
    const expired = await makeCrl(pki.pki.intermediate, {
      crlNumber: 2,
      thisUpdateDays: -3,
      nextUpdateDays: -1 / 24,
    });
    await pki.write('crl.pem', (await makeCrl(pki.pki.root)) + expired);
    gw = await startTestGateway(pki, { GATEWAY_CRL_GRACE_SECONDS: '7200' });
    expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });

  it('with GATEWAY_CRL_REQUIRED refuses a client whose issuer has no CRL, not one whose root lacks one', async () => {
    pki = await makeTestPki();
    await pki.write('crl.pem', await makeCrl(pki.pki.root));
    await pki.write('intermediate-only.pem', await makeCrl(pki.pki.intermediate));
    gw = await startTestGateway(pki, { GATEWAY_CRL_REQUIRED: 'true' });
    expect(await refusal(`${gw.url}/`, clientAgent(pki, 'partner-a'))).toEqual({
      status: 403,
      error: 'crl_missing',
      connection: 'close',
    });
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'crl_missing');
    await gw.close();
    gw = await startTestGateway(pki, {
      GATEWAY_CRL_REQUIRED: 'true',
      GATEWAY_CRLS: pki.path('intermediate-only.pem'),
    });
    expect((await get(`${gw.url}/`, clientAgent(pki, 'partner-a'))).status).toBe(200);
  });
});
