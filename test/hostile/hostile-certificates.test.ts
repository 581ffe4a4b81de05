/**
 * Hostile client certificates over real TLS against the real `serve` process in cluster mode
 * (GATEWAY_WORKERS=2): names OpenSSL loads but DER forbids (non-minimal lengths, an empty RDN), a
 * 60 KB name, deep nesting and odd string types, each self-signed and signed by the trusted
 * intermediate (so that OpenSSL verifies it and only our parser decides). No worker dies (the same
 * PIDs serve before and after, none is replaced), every malformed or oversized one is refused and
 * logged as bad_certificate with its serial and fingerprint, the odd-but-valid ones signed by the
 * CA are served, and a good client is served afterwards.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import {
  type Crafted,
  craftCertificate,
  hostileNames,
  keyFromPem,
  unloadableNames,
} from '../helpers/der-craft.js';
import { clientAgent, get, type LogLine, presentingAgent } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { type ServeProcess, startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let upstream: EchoUpstream;
let gw: ServeProcess;

/** OpenSSL's default limit on the certificate list a peer may send. */
const MAX_CERT_LIST = 100 * 1024;

interface Case {
  readonly label: string;
  readonly kind: 'malformed' | 'oversized' | 'odd';
  readonly signedBy: 'self' | 'intermediate';
  readonly cert: Crafted;
  readonly serial: string;
}

function cases(): Case[] {
  const intermediate = pki.pki.intermediate;
  const issuer = parseCertificate(new X509Certificate(intermediate.certPem).raw).subjectDer;
  const signingKey = keyFromPem(intermediate.keyPem);
  const out: Case[] = [];
  let n = 0;
  for (const c of hostileNames()) {
    for (const signedBy of ['self', 'intermediate'] as const) {
      const serial = `7E${(++n).toString(16).toUpperCase().padStart(4, '0')}`;
      const cert = craftCertificate({
        subject: c.der,
        serialHex: serial,
        ...(signedBy === 'intermediate' ? { issuer, signingKey } : {}),
      });
      out.push({ label: c.label, kind: c.kind, signedBy, cert, serial });
    }
  }
  return out;
}

/** One TLS connection presenting `cert`; resolves when the gateway has closed it. */
function present(port: number, cert: Crafted): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      cert: cert.pem,
      key: cert.keyPem,
    });
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

const workerPids = (lines: readonly LogLine[]): Map<number, number> =>
  new Map(
    lines
      .filter((l) => l.msg === 'TLS listening' && typeof l.worker === 'number')
      .map((l) => [l.worker as number, l.pid as number]),
  );

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startEchoUpstream('127.0.0.1', 0);
  gw = await startServe(pki, upstream.port, { GATEWAY_WORKERS: '2' });
  await gw.waitLog((l) => l.msg === 'TLS listening' && l.worker === 1);
  await gw.waitLog((l) => l.msg === 'TLS listening' && l.worker === 2);
}, 60_000);

afterAll(async () => {
  gw?.kill();
  await upstream?.close();
  await pki?.cleanup();
});

describe('hostile client certificates, cluster mode', { timeout: 60_000 }, () => {
  it('OpenSSL refuses to load some names at all, so no client can present them', () => {
    for (const c of unloadableNames()) {
      expect(() => new X509Certificate(craftCertificate({ subject: c.der }).der), c.label).toThrow();
    }
  });

  it('refuses the malformed ones as bad_certificate, kills no worker, and serves a good client', async () => {
    const good = clientAgent(pki, 'partner-a');
    expect((await get(`https://localhost:${gw.tlsPort}/before`, good)).status).toBe(200);
    const pidsBefore = workerPids(gw.lines);
    expect([...pidsBefore.keys()].sort()).toEqual([1, 2]);

    // Only what this Node's OpenSSL loads can be presented (OpenSSL 3.0 loads every case; a later
    // one may refuse some at load, which protects us just as well). The two of finding 1 must load.
    const loads = (der: Buffer): boolean => {
      try {
        new X509Certificate(der);
        return true;
      } catch {
        return false;
      }
    };
    const all = cases().filter((c) => loads(c.cert.der));
    for (const label of [
      'SET with a non-minimal length (31 81 ..)',
      'an empty RDN (31 00) before a normal one',
    ]) {
      expect(
        all.filter((c) => c.label === label),
        label,
      ).toHaveLength(2);
    }
    const from = gw.lines.length;
    // Twice each, so that both workers (round-robin) see every certificate.
    for (let round = 0; round < 2; round++) await Promise.all(all.map((c) => present(gw.tlsPort, c.cert)));

    // The odd-but-valid names a trusted CA signed are served like any other client.
    for (const c of all.filter((x) => x.kind === 'odd' && x.signedBy === 'intermediate')) {
      const agent = presentingAgent(pki, { cert: c.cert.pem, key: c.cert.keyPem });
      const res = await get(`https://localhost:${gw.tlsPort}/odd`, agent);
      expect(res.status, c.label).toBe(200);
      await agent.close();
    }

    const handshakes = (): LogLine[] => gw.lines.slice(from).filter((l) => l.event === 'handshake');
    for (const c of all.filter((x) => x.kind !== 'odd')) {
      if (c.cert.der.length > MAX_CERT_LIST) {
        // Self-signed, the 60 KB name is there twice: OpenSSL refuses the message before we see it.
        await gw.waitLog(
          (l) => l.event === 'handshake' && l.detail === 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE',
          from,
        );
        continue;
      }
      const fingerprint = createHash('sha256').update(c.cert.der).digest('hex');
      const seen = await gw.waitLog((l) => l.event === 'handshake' && l.fingerprint256 === fingerprint, from);
      expect(seen, `${c.label} (${c.signedBy})`).toMatchObject({
        result: 'failure',
        reason: 'bad_certificate',
        serial: c.serial,
      });
      if (c.kind === 'malformed') expect(seen.subject, c.label).toBeUndefined();
    }
    // Both workers met hostile certificates and refused them.
    const refusedBy = new Set(
      handshakes()
        .filter((l) => l.reason === 'bad_certificate')
        .map((l) => l.worker),
    );
    expect([...refusedBy].sort()).toEqual([1, 2]);
    for (const c of all.filter((x) => x.kind === 'odd' && x.signedBy === 'self')) {
      const fingerprint = createHash('sha256').update(c.cert.der).digest('hex');
      const seen = await gw.waitLog((l) => l.event === 'handshake' && l.fingerprint256 === fingerprint, from);
      expect(seen, c.label).toMatchObject({ result: 'failure', reason: 'unknown_ca' });
    }

    // No log line is longer than a few KB: a 60 KB name is never written out per handshake.
    for (const l of gw.lines.slice(from)) expect(JSON.stringify(l).length).toBeLessThan(8_192);

    const fresh = clientAgent(pki, 'partner-a');
    for (let i = 0; i < 4; i++)
      expect((await get(`https://localhost:${gw.tlsPort}/after${i}`, fresh)).status).toBe(200);
    await Promise.all([good.close(), fresh.close()]);

    expect(gw.lines.some((l) => l.msg === 'worker died; starting a replacement')).toBe(false);
    expect(gw.lines.some((l) => l.event === 'internal_error')).toBe(false);
    expect(workerPids(gw.lines)).toEqual(pidsBefore);
    for (const pid of pidsBefore.values()) expect(() => process.kill(pid, 0)).not.toThrow();
    expect(gw.child.exitCode).toBeNull();
  });
});
