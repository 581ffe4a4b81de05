/**
 * The gate's verified-chain cache over real TLS: which of two same-key twins OpenSSL verifies
 * through depends on which is valid now, so a chain cached while one twin was valid must not keep
 * deciding revocation once that twin has expired and OpenSSL would take the other, revoked, one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { expect, it } from 'vitest';
import { verifyNewConnection } from '../../src/tls/connection-gate.js';
import { ScenarioCa, writeText } from '../differential/scenario-pki.js';
import { type GateServer, startGateServer } from '../helpers/gate-server.js';

const day = 86_400_000;
const stamp = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

it('a cached chain through a since-expired twin does not hide the revoked twin OpenSSL now uses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chain-clock-'));
  let gate: GateServer;
  try {
    const now = Date.now();
    const root = ScenarioCa.root(join(dir, 'root'), '/CN=Clock Root');
    const inter = root.intermediate(join(dir, 'inter'), '/CN=Clock Issuing CA');
    // Same subject and key, valid now, expiring tomorrow, never revoked; the long-lived one is.
    const expiring = root.crossSign(inter, '/CN=Clock Issuing CA', {
      startDate: stamp(now - day),
      endDate: stamp(now + day),
    });
    const leaf = inter.leaf('client', 'clock-client');
    const serverCert = root.leaf('server', 'localhost', { eku: 'serverAuth' });
    root.revoke(inter.cert);
    // Only the root's CRL can load: the intermediate is not in the bundle.
    const crlPem = root.crl();
    const bundlePath = writeText(join(dir, 'bundle.pem'), root.cert.pem);
    // -crl_check_all wants a CRL at every level, so the oracle gets the intermediate's too.
    const crlPath = writeText(join(dir, 'crls.pem'), crlPem + inter.crl());
    const sentPath = writeText(join(dir, 'sent.pem'), expiring.pem + inter.cert.pem);
    const later = now + 2 * day;
    // The oracle, today and the day after tomorrow: OpenSSL takes the first valid twin.
    const oracle = (at: number): string => {
      const args = ['verify', '-crl_check_all', '-attime', String(Math.floor(at / 1000))];
      const r = spawnSync(
        'openssl',
        [...args, '-CAfile', bundlePath, '-CRLfile', crlPath, '-untrusted', sentPath, leaf.pemPath],
        { encoding: 'utf8' },
      );
      return r.status === 0 ? 'ok' : (/error (\d+) at/.exec(r.stdout + r.stderr)?.[1] ?? r.stderr);
    };
    // A minute ahead: -attime counts whole seconds, and `now` floored can fall before the CRL's
    // lastUpdate (written this same second), which OpenSSL reads as CRL_NOT_YET_VALID.
    expect([oracle(now + 60_000), oracle(later)]).toEqual(['ok', '23']); // 23: X509_V_ERR_CERT_REVOKED

    // Loaded after the PKI is written: openssl stamps notBefore with the second it wrote each
    // file, which can be a second after `now` was taken.
    gate = await startGateServer({ bundlePem: root.cert.pem, crlPem, server: serverCert });
    const handshake = (): Promise<TLSSocket> =>
      gate.handshake(leaf.pem + expiring.pem + inter.cert.pem, leaf.keyPath);
    try {
      const policy = { graceSeconds: 0, crlRequired: false };
      const today = verifyNewConnection(await handshake(), gate.snapshot, policy, now);
      expect(today.ok).toBe(true);
      const afterExpiry = verifyNewConnection(await handshake(), gate.snapshot, policy, later);
      expect(afterExpiry.ok ? 'ok' : afterExpiry.reason).toBe('revoked');
    } finally {
      gate.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
