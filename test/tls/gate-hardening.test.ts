/**
 * The gate against a hostile client, over real TLS with real clients:
 * - finding 1: a certificate signed by the trusted CA whose subject OpenSSL loads but DER forbids
 *   is refused as bad_certificate (explain mode shows the serial, never the broken name), and the
 *   process keeps serving;
 * - the last-resort catch: a bug that throws in the per-connection path closes only that socket,
 *   is logged as `event: "internal_error"` and counted in internal_errors_total{where};
 * - finding 5: a TLS 1.2 renegotiation asked for with `openssl s_client` (`R`) fails and costs the
 *   client its connection, and the gateway keeps serving.
 */

import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { createLogger, createMetrics, type Metrics } from '../../src/observability/index.js';
import { TlsListener } from '../../src/tls/listener.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { parseServerCredentials } from '../../src/trust/server-credentials.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { atv, cnRdn, craftCertificate, keyFromPem, name, OID, rdn, tlv } from '../helpers/der-craft.js';
import {
  clientAgent,
  get,
  LogCapture,
  metricValue,
  presentingAgent,
  type TestGateway,
  useTestGateway,
} from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

useTestGateway({ GATEWAY_VERIFY_MODE: 'explain' }, (started) => ({ pki, gw } = started));

/** A client certificate the trusted intermediate signed, over exactly `subject`. */
function signedByIntermediate(subject: Buffer, serialHex: string): ReturnType<typeof craftCertificate> {
  const intermediate = pki.pki.intermediate;
  return craftCertificate({
    subject,
    serialHex,
    issuer: parseCertificate(new X509Certificate(intermediate.certPem).raw).subjectDer,
    signingKey: keyFromPem(intermediate.keyPem),
  });
}

function agentFor(cert: { pem: string; keyPem: string }): Agent {
  return presentingAgent(pki, { cert: cert.pem, key: cert.keyPem });
}

describe('finding 1: a malformed name from a trusted CA', () => {
  it.each([
    [
      'a SET with a non-minimal length (31 81 ..)',
      name(rdn([atv(OID.O, 0x0c, 'Hostile')], 1), cnRdn('x')),
      '7F01',
    ],
    ['an empty RDN (31 00) before a normal one', name(tlv(0x31, Buffer.alloc(0)), cnRdn('x')), '7F02'],
  ])('%s is refused as bad_certificate and the gateway keeps serving', async (_label, subject, serial) => {
    const cert = signedByIntermediate(subject, serial);
    const agent = agentFor(cert);
    const res = await get(`${gw.url}/hostile`, agent);
    await agent.close();
    expect(res.status).toBe(403);
    const body = res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ error: 'bad_certificate', serial });
    expect(body.subject).toBeUndefined();
    const fingerprint = createHash('sha256').update(cert.der).digest('hex');
    const line = await gw.logs.waitFor((l) => l.event === 'handshake' && l.fingerprint256 === fingerprint);
    expect(line).toMatchObject({ result: 'failure', reason: 'bad_certificate', serial });
    expect(line.subject).toBeUndefined();
    expect(gw.upstream.seen.some((r) => r.path === '/hostile')).toBe(false);

    const good = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/after`, good)).status).toBe(200);
    await good.close();
  });
});

describe('finding 5: TLS 1.2 renegotiation', () => {
  it('fails for openssl s_client (R), the connection is closed, and a good client is served', async () => {
    const child = spawn('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${gw.port}`,
      '-tls1_2',
      '-servername',
      'localhost',
      '-CAfile',
      pki.path('root-ca.pem'),
      '-cert',
      pki.path('partner-a.pem'),
      '-key',
      pki.path('partner-a-key.pem'),
    ]);
    let stdout = '';
    let stderr = '';
    let asked = false;
    let requested = false;
    child.stdin.on('error', () => undefined); // the gateway may close before the request is written
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // The session block ends with the verify result: the handshake is done, ask to renegotiate.
      if (!asked && stdout.includes('Verify return code')) {
        asked = true;
        child.stdin.write('R\n');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Then a request, answered (and the connection closed after it) only if the connection survived.
      if (!requested && stderr.includes('RENEGOTIATING')) {
        requested = true;
        child.stdin.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      }
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(stdout).toContain('Protocol  : TLSv1.2');
    // The gateway closes the connection on the renegotiation's ClientHello: no second handshake
    // (s_client would verify the server again), no answer to the request.
    const afterRenegotiation = stderr.slice(stderr.indexOf('RENEGOTIATING'));
    expect(afterRenegotiation).toContain('RENEGOTIATING');
    expect(afterRenegotiation).not.toContain('verify return');
    expect(stdout).not.toContain('HTTP/1.1 200');
    await gw.logs.waitFor((l) => l.event === 'connection' && l.reason === 'renegotiation');

    const good = clientAgent(pki, 'partner-a', { maxVersion: 'TLSv1.2' });
    expect((await get(`${gw.url}/after-renegotiation`, good)).status).toBe(200);
    await good.close();
  });
});

describe('the last-resort catch around the per-connection path', () => {
  let listener: TlsListener;
  let metrics: Metrics;
  const logs = new LogCapture();
  let port = 0;

  beforeAll(async () => {
    const now = Date.now();
    const loaded = { source: 'test', version: '1', loadedAt: now };
    const snapshot: TrustSnapshot = {
      generation: 1,
      caBundle: parseCaBundle(readFileSync(pki.path('ca-bundle.pem')), { now, production: false }),
      caBundleInfo: loaded,
      server: parseServerCredentials(
        readFileSync(pki.path('server.pem')),
        readFileSync(pki.path('server-key.pem')),
        {
          now,
          production: false,
        },
      ),
      serverInfo: loaded,
      revocation: RevocationIndex.EMPTY,
    };
    metrics = createMetrics({ defaultMetrics: false });
    listener = new TlsListener(snapshot, {
      verifyMode: 'strict',
      proxyProtocol: 'off',
      revocationPolicy: { graceSeconds: 0, crlRequired: false },
      handshakeTimeoutSeconds: 5,
      limits: { maxConnections: 100, maxConnectionsPerClient: 100, maxHandshakingConnections: 100 },
      requestLimits: {
        maxHeaders: 100,
        maxHeaderBytes: 16_384,
        maxUrlBytes: 8192,
        maxBodyBytes: 1024,
        requestTimeoutSeconds: 30,
        keepAliveTimeoutSeconds: 5,
        maxRequestsPerConnection: 0,
        maxConnectionAgeSeconds: 3600,
      },
      logger: createLogger('info', logs),
      metrics,
      // A stand-in for a bug downstream of the verdict: it throws for one partner only.
      decorator: {
        decorate: (verdict) => {
          if (verdict.identity.commonName === 'partner-b') throw new TypeError('a bug in decorate');
          return { partnerId: verdict.identity.commonName ?? '' };
        },
      },
      onRequest: (_req, res) => res.end('served'),
    });
    port = (await listener.listen('127.0.0.1', 0)).port;
  });

  afterAll(() => {
    listener.stopAccepting();
    listener.server.closeAllConnections();
    listener.server.close();
  });

  it('closes only that connection, logs internal_error and counts it; the listener keeps serving', async () => {
    const closed = await new Promise<string>((resolve) => {
      const s = connect({
        port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: readFileSync(pki.path('root-ca.pem')),
        cert: readFileSync(pki.path('partner-b.pem')),
        key: readFileSync(pki.path('partner-b-key.pem')),
      });
      let answer = '';
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      s.on('data', (d: Buffer) => {
        answer += d.toString();
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve(answer));
    });
    expect(closed).toBe('');
    const line = await logs.waitFor((l) => l.event === 'internal_error');
    expect(line).toMatchObject({
      level: 'error',
      where: 'decorate',
      client: '127.0.0.1',
      error: 'TypeError',
    });
    expect(JSON.stringify(line)).not.toContain('BEGIN CERTIFICATE');
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'mtls_gateway_internal_errors_total', { where: 'decorate' })).toBe(1);

    const good = clientAgent(pki, 'partner-a');
    const res = await get(`https://localhost:${port}/`, good);
    expect(res.status).toBe(200);
    expect(res.text).toBe('served');
    await good.close();
  });
});
