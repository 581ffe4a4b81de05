/**
 * Test PKI, generated per run in a temporary folder: the development PKI plus the odd cases
 * (not yet valid, server-only purpose, a second intermediate's worth of CRLs). Nothing is committed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DevPki, EKU_SERVER_AUTH, generateDevPki, type Issued, issue } from '../../src/dev/pki.js';

export interface TestPki {
  readonly dir: string;
  readonly pki: DevPki;
  /** Absolute path of a file in the folder. */
  path(name: string): string;
  /** Writes (or replaces) a file in the folder and returns its path. */
  write(name: string, text: string): Promise<string>;
  /** Writes cert/key/combined files for an extra client. */
  addClient(name: string, issued: Issued): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'mtls-gw-test-'));
  const pki = await generateDevPki();
  const path = (name: string): string => join(dir, name);
  const write = async (name: string, text: string): Promise<string> => {
    await writeFile(path(name), text);
    return path(name);
  };
  for (const [name, text] of Object.entries(pki.files)) await write(name, text);
  const addClient = async (name: string, c: Issued): Promise<void> => {
    await write(`${name}.pem`, c.certPem);
    await write(`${name}-key.pem`, c.keyPem);
    await write(`${name}-combined.pem`, c.certPem + c.keyPem);
  };
  await addClient(
    'not-yet-valid',
    await issue(pki.intermediate, {
      subject: 'O=Partner F, CN=not-yet-valid',
      notBeforeDays: 2,
      notAfterDays: 30,
    }),
  );
  await addClient(
    'server-only',
    await issue(pki.intermediate, { subject: 'O=Partner S, CN=server-only', eku: [EKU_SERVER_AUTH] }),
  );
  return { dir, pki, path, write, addClient, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The configuration every gateway under test starts from: ephemeral loopback ports, this PKI's
 * server certificate, CA bundle and CRLs (file sources), and `upstreamPort` as the upstream.
 */
export function gatewayEnv(pki: TestPki, upstreamPort: number): Record<string, string> {
  return {
    GATEWAY_LISTEN: '127.0.0.1:0',
    GATEWAY_ADMIN_LISTEN: '127.0.0.1:0',
    GATEWAY_SERVER_CERT: pki.path('server.pem'),
    GATEWAY_SERVER_KEY: pki.path('server-key.pem'),
    GATEWAY_CA_BUNDLE: pki.path('ca-bundle.pem'),
    GATEWAY_CRLS: pki.path('crl.pem'),
    GATEWAY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
  };
}
