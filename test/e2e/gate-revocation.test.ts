/**
 * Issue 13, the revocation/chain half, through the whole gateway (real TLS, real upstream, PKI made
 * with the openssl CLI, OpenSSL's own `verify -crl_check_all -purpose sslclient` as the reference):
 * finding 2 (same-name CAs keep both CRLs), finding 3 (issuer encoded differently is still
 * checked), finding 4 (a handshake in flight across a trust swap is judged by the snapshot that
 * verified it, then re-judged against the current one) and finding 6 (CRL date rules).
 * Each test failed on b21b34e.
 */

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { type CertFile, opensslVerdict, ScenarioCa, writeText } from '../differential/scenario-pki.js';
import {
  get,
  metricValue,
  presentingAgent,
  startTestGateway,
  type TestGateway,
  trustOf,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { akiExt, buildCrl, crlNumberExt } from '../trust/crl-builder.js';
import { removeTempDirs, tempDir } from '../trust/openssl-pki.js';

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = tempDir('gate-revocation-');
});

afterAll(async () => {
  await pki?.cleanup();
  removeTempDirs();
});

/** `openssl ca` date form, `days` from now. */
function inDays(days: number): string {
  return `${new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** One request as `client` (leaf only, or leaf + `chain`): status and the explain-mode reason. */
async function ask(
  gw: TestGateway,
  client: CertFile,
  chain = '',
): Promise<{ status: number; reason: string }> {
  const agent = presentingAgent(pki, { cert: client.pem + chain, key: readFileSync(client.keyPath) });
  try {
    const res = await get(`${gw.url}/f`, agent);
    const reason = res.status === 200 ? 'accepted' : (res.json<{ error: string }>().error ?? '?');
    return { status: res.status, reason };
  } finally {
    await agent.close();
  }
}

async function gatewayFor(
  bundle: string,
  crls: string,
  env: Record<string, string> = {},
): Promise<TestGateway> {
  return startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CRLS: crls,
    GATEWAY_VERIFY_MODE: 'explain',
    GATEWAY_CRL_REQUIRED: 'true',
    ...env,
  });
}

describe('finding 2: two trusted CAs with the same name keep both CRLs in force', () => {
  it('refuses the revoked client of each twin and serves the good ones (CRL numbers of different keys never compete)', async () => {
    const root = ScenarioCa.root(join(dir, 'f2-root'), '/CN=F2 Root');
    const a = root.intermediate(join(dir, 'f2-a'), '/O=Partners/CN=Issuing CA');
    const b = root.intermediate(join(dir, 'f2-b'), '/O=Partners/CN=Issuing CA');
    const leaves = {
      goodA: a.leaf('good-a', 'good-a'),
      revokedA: a.leaf('revoked-a', 'revoked-a'),
      goodB: b.leaf('good-b', 'good-b'),
      revokedB: b.leaf('revoked-b', 'revoked-b'),
    };
    a.revoke(leaves.revokedA);
    b.revoke(leaves.revokedB);
    // A's CRL number is far above B's: compared across keys, A's would "win" and drop B's.
    const bundle = writeText(join(dir, 'f2-bundle.pem'), root.cert.pem + a.cert.pem + b.cert.pem);
    const crls = writeText(
      join(dir, 'f2-crls.pem'),
      root.crl() + b.crl({ crlNumber: 1, nextUpdate: inDays(2) }) + a.crl({ crlNumber: 90 }),
    );
    const expected = { goodA: 'ok', revokedA: 'CERT_REVOKED', goodB: 'ok', revokedB: 'CERT_REVOKED' };
    for (const [k, c] of Object.entries(leaves)) {
      expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: c.pemPath }), k).toBe(
        expected[k as keyof typeof expected],
      );
    }
    const gw = await gatewayFor(bundle, crls);
    try {
      expect(await ask(gw, leaves.goodA)).toEqual({ status: 200, reason: 'accepted' });
      expect(await ask(gw, leaves.goodB)).toEqual({ status: 200, reason: 'accepted' });
      expect(await ask(gw, leaves.revokedA)).toEqual({ status: 403, reason: 'revoked' });
      expect(await ask(gw, leaves.revokedB)).toEqual({ status: 403, reason: 'revoked' });
      const trust = await trustOf(gw.adminUrl);
      expect(trust.crls).toHaveLength(3);
      // The twins share the issuer label: the gauge shows the earlier nextUpdate (B's, 2 days).
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      const next = metricValue(metrics, 'mtls_gateway_crl_next_update_timestamp_seconds', {
        issuer: 'CN=Issuing CA,O=Partners',
      });
      expect(next).toBeLessThan(Date.now() / 1000 + 3 * 86_400);
    } finally {
      await gw.close();
    }
  });
});

describe('finding 3: names compared canonically', () => {
  it('a PrintableString (or re-cased, re-spaced) issuer chains to its UTF8String CA, and its CRL applies', async () => {
    const root = ScenarioCa.root(join(dir, 'f3-root'), '/CN=F3 Root');
    const ca = root.intermediate(join(dir, 'f3-ca'), '/O=Partner Three/CN=Issuing CA');
    const printable = ca.alias('/O=Partner Three/CN=Issuing CA', true);
    const recased = ca.alias('/O=PARTNER three/CN=issuing   CA', false);
    const revoked = ca.leaf('revoked', 'f3-revoked', { via: printable });
    const good = ca.leaf('good', 'f3-good', { via: printable });
    const recasedRevoked = ca.leaf('recased-revoked', 'f3-recased', { via: recased });
    ca.revoke(revoked);
    ca.revoke(recasedRevoked);
    expect(parseCertificate(revoked.x509.raw).issuerDer).not.toEqual(
      parseCertificate(ca.cert.x509.raw).subjectDer,
    );
    const bundle = writeText(join(dir, 'f3-bundle.pem'), root.cert.pem + ca.cert.pem);
    const crls = writeText(join(dir, 'f3-crls.pem'), root.crl() + ca.crl());
    expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: revoked.pemPath })).toBe('CERT_REVOKED');
    expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: recasedRevoked.pemPath })).toBe(
      'CERT_REVOKED',
    );
    expect(opensslVerdict({ caFile: bundle, crlFile: crls, cert: good.pemPath })).toBe('ok');
    const gw = await gatewayFor(bundle, crls);
    try {
      expect(await ask(gw, revoked)).toEqual({ status: 403, reason: 'revoked' });
      expect(await ask(gw, recasedRevoked)).toEqual({ status: 403, reason: 'revoked' });
      expect(await ask(gw, good)).toEqual({ status: 200, reason: 'accepted' });
    } finally {
      await gw.close();
    }
  });
});

/**
 * A TCP relay that forwards the client's first flight (ClientHello) at once and holds the rest
 * until `release()`: the gateway creates the TLS socket (with the then-current secure context) on
 * the ClientHello and verifies the client certificate only when the held flight arrives.
 */
function slowRelay(target: number): Promise<{
  port: number;
  serverFlightSeen: Promise<void>;
  release(): void;
  close(): void;
}> {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let seen!: () => void;
  const serverFlightSeen = new Promise<void>((r) => {
    seen = r;
  });
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = netConnect(target, '127.0.0.1');
    sockets.push(client, upstream);
    upstream.on('data', (d) => {
      seen();
      client.write(d);
    });
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('end', () => upstream.end());
    let first = true;
    client.on('data', (d) => {
      if (first) {
        first = false;
        upstream.write(d);
      } else void released.then(() => upstream.write(d));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port,
        serverFlightSeen,
        release,
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      });
    });
  });
}

describe('finding 4: a handshake in flight across a trust swap', () => {
  it('a client of a CA removed between ClientHello and Finished never gets 200', async () => {
    const root = ScenarioCa.root(join(dir, 'f4-root'), '/CN=F4 Root');
    const ca = root.intermediate(join(dir, 'f4-ca'), '/CN=F4 Issuing CA');
    const client = ca.leaf('client', 'f4-client');
    const other = ScenarioCa.root(join(dir, 'f4-other'), '/CN=F4 Other Root');
    const bundlePath = join(dir, 'f4-bundle.pem');
    writeText(bundlePath, root.cert.pem + ca.cert.pem);
    const crls = writeText(join(dir, 'f4-crls.pem'), root.crl() + ca.crl() + other.crl());
    const gw = await gatewayFor(bundlePath, crls, { GATEWAY_CRL_REQUIRED: 'false' });
    const relay = await slowRelay(gw.port);
    try {
      expect(await ask(gw, client)).toEqual({ status: 200, reason: 'accepted' });
      const answer = new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({
          port: relay.port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: readFileSync(pki.path('root-ca.pem')),
          cert: client.pem,
          key: readFileSync(client.keyPath),
        });
        let out = '';
        socket.setEncoding('utf8');
        socket.on('secureConnect', () =>
          socket.write('GET /f HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
        );
        socket.on('data', (d: string) => {
          out += d;
        });
        socket.on('error', (err) => (out ? resolve(out) : reject(err)));
        socket.on('close', () => resolve(out));
      });
      // The gateway answered the ClientHello: its TLS socket exists, with the old context.
      await relay.serverFlightSeen;
      writeText(bundlePath, other.cert.pem);
      await gw.gateway.trust.refresh();
      expect(gw.gateway.trust.current?.caBundle.cas.map((c) => c.subject)).toEqual(['CN=F4 Other Root']);
      relay.release();
      const text = await answer;
      expect(text).not.toMatch(/^HTTP\/1\.1 200/);
      expect(text).toMatch(/^HTTP\/1\.1 401/);
      expect(text).toContain('"error":"unknown_ca"');
      const line = await gw.logs.waitFor(
        (l) => l.event === 'handshake' && l.result === 'failure' && l.subject === 'CN=f4-client',
      );
      expect(line.reason).toBe('unknown_ca');
      // A fresh connection is refused by OpenSSL under the new context.
      expect((await ask(gw, client)).status).toBe(401);
    } finally {
      relay.close();
      await gw.close();
    }
  });
});

describe('finding 6: CRL dates', () => {
  it('a CRL without nextUpdate applies and never expires; a thisUpdate beyond 5 min ahead is refused and the previous CRL stays', async () => {
    const root = ScenarioCa.root(join(dir, 'f6-root'), '/CN=F6 Root');
    const ca = root.intermediate(join(dir, 'f6-ca'), '/CN=F6 Issuing CA');
    const revoked = ca.leaf('revoked', 'f6-revoked');
    const good = ca.leaf('good', 'f6-good');
    const bundle = writeText(join(dir, 'f6-bundle.pem'), root.cert.pem + ca.cert.pem);
    // No nextUpdate (built directly: `openssl ca` always writes one), CRL number 1, lists `revoked`.
    const parsedCa = parseCertificate(ca.cert.x509.raw);
    const noNext = buildCrl({
      issuerDer: parsedCa.subjectDer,
      alg: 'ecdsa-sha256',
      key: createPrivateKey(readFileSync(ca.cert.keyPath)),
      thisUpdate: Date.now() - 3_600_000,
      nextUpdate: null,
      entries: [{ serialHex: revoked.serialHex }],
      extensions: [akiExt(parsedCa.subjectKeyId!), crlNumberExt(1)],
    });
    const pem = (der: Uint8Array): string =>
      `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
    const crlPath = writeText(join(dir, 'f6-crls.pem'), root.crl() + pem(noNext));
    expect(opensslVerdict({ caFile: bundle, crlFile: crlPath, cert: revoked.pemPath })).toBe('CERT_REVOKED');
    expect(opensslVerdict({ caFile: bundle, crlFile: crlPath, cert: good.pemPath })).toBe('ok');
    const gw = await gatewayFor(bundle, crlPath, { GATEWAY_CRL_GRACE_SECONDS: '0' });
    try {
      expect(await ask(gw, revoked)).toEqual({ status: 403, reason: 'revoked' });
      expect(await ask(gw, good)).toEqual({ status: 200, reason: 'accepted' });

      // A newer CRL (number 2, not listing `revoked`) dated a day ahead: not-yet-valid material.
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const future = ca.crl({ crlNumber: 2, lastUpdate: `${tomorrow}Z` });
      writeText(crlPath, root.crl() + future);
      await gw.gateway.trust.refresh();
      expect(await ask(gw, revoked)).toEqual({ status: 403, reason: 'revoked' });
      const trust = await trustOf(gw.adminUrl);
      expect(trust.crls.map((c) => c.crl_number).sort()).toEqual(['1', '2']);
      expect(JSON.stringify(trust.last_rejected)).toContain('not yet valid');

      // Two minutes ahead is within the clock-skew allowance: it replaces the one in force.
      const soon = new Date(Date.now() + 120_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      writeText(crlPath, root.crl() + ca.crl({ crlNumber: 3, lastUpdate: `${soon}Z` }));
      await gw.gateway.trust.refresh();
      expect(await ask(gw, revoked)).toEqual({ status: 200, reason: 'accepted' });
    } finally {
      await gw.close();
    }
  });
});
