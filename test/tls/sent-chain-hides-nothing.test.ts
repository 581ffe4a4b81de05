import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { verifyNewConnection } from '../../src/tls/connection-gate.js';
import { ScenarioCa } from '../differential/scenario-pki.js';
import { type GateServer, startGateServer } from '../helpers/gate-server.js';

const day = 86_400_000;
const stamp = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

it('a revoked twin hidden from the gate behind a repeated or 11th sent certificate is still found', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chain-hidden-'));
  let gate: GateServer;
  try {
    const now = Date.now();
    const root = ScenarioCa.root(join(dir, 'root'), '/CN=Hide Root');
    const inter = root.intermediate(join(dir, 'inter'), '/CN=Hide Issuing CA');
    // An unrevoked twin (same subject and key) that expired long ago; the valid one is revoked.
    const expired = root.crossSign(inter, '/CN=Hide Issuing CA', {
      startDate: stamp(now - 30 * day),
      endDate: stamp(now - 20 * day),
    });
    const filler = ScenarioCa.root(join(dir, 'filler'), '/CN=Filler').cert.pem;
    const leaf = inter.leaf('client', 'hide-client');
    const serverCert = root.leaf('server', 'localhost', { eku: 'serverAuth' });
    root.revoke(inter.cert);
    const crlPem = root.crl();
    // Judged at the load time, after the PKI is written: openssl stamps notBefore and the CRL's
    // thisUpdate with the second it wrote them, which can be a second after `now` was taken.
    gate = await startGateServer({ bundlePem: root.cert.pem, crlPem, server: serverCert });
    try {
      const policy = { graceSeconds: 0, crlRequired: false };
      const results: string[] = [];
      for (const chain of [
        inter.cert.pem,
        expired.pem + expired.pem + inter.cert.pem,
        expired.pem + filler.repeat(9) + inter.cert.pem,
      ]) {
        const socket = await gate.handshake(leaf.pem + chain, leaf.keyPath);
        const v = verifyNewConnection(socket, gate.snapshot, policy, gate.loadedAt);
        results.push(`${socket.authorized}:${v.ok ? 'ok' : v.reason}`);
      }
      // OpenSSL verified every one of them through the revoked intermediate.
      expect(results).toEqual(['true:revoked', 'true:revoked', 'true:revoked']);
    } finally {
      gate.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
