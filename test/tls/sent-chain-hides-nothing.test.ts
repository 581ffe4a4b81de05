import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { expect, it } from 'vitest';
import { verifyNewConnection } from '../../src/tls/connection-gate.js';
import { secureContextOptions } from '../../src/tls/secure-context.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { parseAndVerifyCrlsInline } from '../../src/trust/crl/crl-worker.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { parseServerCredentials } from '../../src/trust/server-credentials.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { ScenarioCa } from '../differential/scenario-pki.js';

const day = 86_400_000;
const stamp = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

it('a revoked twin hidden from the gate behind a repeated or 11th sent certificate is still found', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chain-hidden-'));
  const clients: TLSSocket[] = [];
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
    // Loaded and judged after the PKI is written: openssl stamps notBefore and the CRL's thisUpdate
    // with the second it wrote them, which can be a second after `now` was taken.
    const loadedAt = { now: Date.now(), production: false };
    const bundle = parseCaBundle(Buffer.from(root.cert.pem), loadedAt);
    const credentials = parseServerCredentials(
      Buffer.from(serverCert.pem),
      readFileSync(serverCert.keyPath),
      loadedAt,
    );
    const loaded = parseAndVerifyCrlsInline(Buffer.from(crlPem), [root.cert.pem]);
    const snapshot: TrustSnapshot = {
      generation: 1,
      caBundle: bundle,
      caBundleInfo: { source: 'test', version: '1', loadedAt: now },
      server: credentials,
      serverInfo: { source: 'test', version: '1', loadedAt: now },
      revocation: RevocationIndex.build(loaded.accepted).index,
    };
    const live = createServer({
      ...secureContextOptions(bundle, credentials),
      requestCert: true,
      rejectUnauthorized: false,
    });
    live.listen(0, '127.0.0.1');
    await once(live, 'listening');
    const port = (live.address() as { port: number }).port;
    const handshake = async (chain: string): Promise<TLSSocket> => {
      const next = once(live, 'secureConnection') as Promise<[TLSSocket]>;
      const client = connect({
        port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: root.cert.pem,
        cert: leaf.pem + chain,
        key: readFileSync(leaf.keyPath),
      });
      client.on('error', () => undefined);
      clients.push(client);
      const [socket] = await next;
      clients.push(socket);
      return socket;
    };
    try {
      const policy = { graceSeconds: 0, crlRequired: false };
      const results: string[] = [];
      for (const chain of [
        inter.cert.pem,
        expired.pem + expired.pem + inter.cert.pem,
        expired.pem + filler.repeat(9) + inter.cert.pem,
      ]) {
        const socket = await handshake(chain);
        const v = verifyNewConnection(socket, snapshot, policy, loadedAt.now);
        results.push(`${socket.authorized}:${v.ok ? 'ok' : v.reason}`);
      }
      // OpenSSL verified every one of them through the revoked intermediate.
      expect(results).toEqual(['true:revoked', 'true:revoked', 'true:revoked']);
    } finally {
      live.close();
    }
  } finally {
    for (const c of clients) c.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
