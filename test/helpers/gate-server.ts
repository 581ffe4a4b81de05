/**
 * The connection gate on a real TLS server over loopback, for scenario PKIs built with the
 * openssl CLI (differential/scenario-pki.ts): one trust snapshot (a bundle, its CRLs, a server
 * certificate), a server whose secure context verifies with it, and real client handshakes whose
 * server-side sockets the test judges with verifyNewConnection at any `now`.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { secureContextOptions } from '../../src/tls/secure-context.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { parseAndVerifyCrlsInline } from '../../src/trust/crl/crl-worker.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { parseServerCredentials } from '../../src/trust/server-credentials.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import type { CertFile } from '../differential/scenario-pki.js';

export interface GateServer {
  readonly snapshot: TrustSnapshot;
  /** When the material was loaded: after the PKI was written (openssl stamps whole seconds). */
  readonly loadedAt: number;
  /** A client handshake presenting `certPem` (leaf, then what it sends) with `keyPath`; the server-side socket. */
  handshake(certPem: string, keyPath: string): Promise<TLSSocket>;
  /** Destroys every socket and stops listening. */
  close(): void;
}

/** Listens on an ephemeral loopback port; every CRL of `crlPem` must verify against `bundlePem`. */
export async function startGateServer(opts: {
  readonly bundlePem: string;
  readonly crlPem: string;
  /** A serverAuth certificate for `localhost` chaining to the bundle. */
  readonly server: CertFile;
}): Promise<GateServer> {
  const loadedAt = Date.now();
  const load = { now: loadedAt, production: false };
  const caBundle = parseCaBundle(Buffer.from(opts.bundlePem), load);
  const server = parseServerCredentials(
    Buffer.from(opts.server.pem),
    readFileSync(opts.server.keyPath),
    load,
  );
  const crls = parseAndVerifyCrlsInline(Buffer.from(opts.crlPem), [opts.bundlePem]);
  if (crls.rejected.length > 0) throw new Error(`CRL rejected: ${JSON.stringify(crls.rejected)}`);
  const info = { source: 'test', version: '1', loadedAt };
  const snapshot: TrustSnapshot = {
    generation: 1,
    caBundle,
    caBundleInfo: info,
    server,
    serverInfo: info,
    revocation: RevocationIndex.build(crls.accepted).index,
  };
  const live = createServer({
    ...secureContextOptions(caBundle, server),
    requestCert: true,
    rejectUnauthorized: false,
  });
  live.listen(0, '127.0.0.1');
  await once(live, 'listening');
  const port = (live.address() as { port: number }).port;
  const sockets: TLSSocket[] = [];
  return {
    snapshot,
    loadedAt,
    async handshake(certPem, keyPath) {
      const next = once(live, 'secureConnection') as Promise<[TLSSocket]>;
      const client = connect({
        port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: opts.bundlePem,
        cert: certPem,
        key: readFileSync(keyPath),
      });
      client.on('error', () => undefined);
      sockets.push(client);
      const [socket] = await next;
      sockets.push(socket);
      return socket;
    },
    close() {
      for (const s of sockets) s.destroy();
      live.close();
    },
  };
}
