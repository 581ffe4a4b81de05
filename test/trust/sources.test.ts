/**
 * Sources against real protocol peers: the real AWS SDK against the local Secrets Manager server
 * and a local S3-speaking server, undici against a local https server. Checks cheap polling
 * (DescribeSecret only, 304s), AWS error names in the SourceError code, and timeouts.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Fetched,
  fetchSource,
  isUnchanged,
  SourceError,
  setHttpsSourceDispatcher,
} from '../../src/trust/sources/index.js';
import { etagHandler } from '../helpers/object-server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';

let sm: SecretsManagerServer;
let pki: TestPki;
const savedEnv = { ...process.env };

beforeAll(async () => {
  sm = await SecretsManagerServer.start();
  Object.assign(process.env, sm.env());
  pki = await makeTestPki();
});
afterAll(async () => {
  process.env = savedEnv;
  await sm?.close();
  await pki?.cleanup();
});

const secret = (id: string) => ({ kind: 'secretsmanager' as const, secretId: id });

async function sourceError(p: Promise<unknown>): Promise<SourceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceError);
  return err as SourceError;
}

describe('Secrets Manager source', () => {
  it('reads PEM from SecretString and reports the AWSCURRENT version id', async () => {
    const id = sm.put('bundle-a', 'PEM TEXT');
    const r = (await fetchSource(secret('bundle-a'))) as Fetched;
    expect(r.version).toBe(id);
    expect(r.bytes.toString()).toBe('PEM TEXT');
    expect(r.labels).toContain('AWSCURRENT');
  });

  it('reads DER from SecretBinary', async () => {
    const der = Buffer.from([0x30, 0x82, 0x01, 0x00, 0xff]);
    sm.put('binary', der);
    const r = (await fetchSource(secret('binary'))) as Fetched;
    expect(Buffer.compare(r.bytes, der)).toBe(0);
  });

  it('polls with DescribeSecret only while the version is unchanged', async () => {
    const id = sm.put('cheap', 'v1');
    sm.resetCounts();
    const r = await fetchSource(secret('cheap'), { knownVersion: id });
    expect(isUnchanged(r)).toBe(true);
    expect(sm.callCount('DescribeSecret')).toBe(1);
    expect(sm.callCount('GetSecretValue')).toBe(0);
    const id2 = sm.put('cheap', 'v2');
    const r2 = (await fetchSource(secret('cheap'), { knownVersion: id })) as Fetched;
    expect(r2.version).toBe(id2);
    expect(r2.bytes.toString()).toBe('v2');
    expect(sm.callCount('GetSecretValue')).toBe(1);
  });

  it.each([
    ['not_found', 'ResourceNotFoundException'],
    ['access_denied', 'AccessDeniedException'],
    ['throttling', 'ThrottlingException'],
  ] as const)('names the AWS error (%s → %s)', async (fault, code) => {
    sm.put('faulty', 'x');
    sm.injectFault(fault);
    try {
      const err = await sourceError(fetchSource(secret('faulty')));
      expect(err.code).toBe(code);
      expect(err.message).toContain('secretsmanager:faulty');
    } finally {
      sm.clearFault();
    }
  });

  it('reports an unknown secret as ResourceNotFoundException', async () => {
    const err = await sourceError(fetchSource(secret('does-not-exist')));
    expect(err.code).toBe('ResourceNotFoundException');
  });

  it('gives up on a hung endpoint at the timeout', async () => {
    sm.put('hung', 'x');
    sm.injectFault('hang');
    try {
      const err = await sourceError(fetchSource(secret('hung'), { timeoutMs: 500 }));
      expect(err.code).toBe('TIMEOUT');
    } finally {
      sm.clearFault();
    }
  });
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('https source', () => {
  it('honours ETag with If-None-Match and reads a new body when it changes', async () => {
    let content = Buffer.from('CRL ONE');
    const counts = { full: 0, notModified: 0 };
    const server = createHttpsServer(
      { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
      etagHandler(() => content, counts),
    );
    const port = await listen(server);
    setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
    const source = { kind: 'https' as const, url: `https://localhost:${port}/crl.pem` };
    try {
      const first = (await fetchSource(source)) as Fetched;
      expect(first.bytes.toString()).toBe('CRL ONE');
      expect(isUnchanged(await fetchSource(source, { knownVersion: first.version }))).toBe(true);
      expect(counts).toEqual({ full: 1, notModified: 1 });
      content = Buffer.from('CRL TWO!');
      const second = (await fetchSource(source, { knownVersion: first.version })) as Fetched;
      expect(second.bytes.toString()).toBe('CRL TWO!');
      expect(second.version).not.toBe(first.version);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('turns an HTTP error status into a SourceError', async () => {
    const server = createHttpsServer(
      { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
      (_req, res) => {
        res.writeHead(503);
        res.end('busy');
      },
    );
    const port = await listen(server);
    setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
    try {
      const err = await sourceError(fetchSource({ kind: 'https', url: `https://localhost:${port}/crl` }));
      expect(err.code).toBe('HTTP_503');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('S3 source', () => {
  it('GetObject with IfNoneMatch: 304 is "unchanged"', async () => {
    const counts = { full: 0, notModified: 0 };
    const paths: string[] = [];
    const handler = etagHandler(() => Buffer.from('S3 CRL'), counts);
    const server = createHttpServer((req, res) => {
      paths.push(req.url ?? '');
      handler(req, res);
    });
    const port = await listen(server);
    process.env.AWS_ENDPOINT_URL_S3 = `http://127.0.0.1:${port}`;
    try {
      const source = { kind: 's3' as const, bucket: 'crls', key: 'intermediate.crl' };
      const first = (await fetchSource(source)) as Fetched;
      expect(first.bytes.toString()).toBe('S3 CRL');
      expect(paths[0]).toMatch(/^\/crls\/intermediate\.crl/);
      expect(isUnchanged(await fetchSource(source, { knownVersion: first.version }))).toBe(true);
      expect(counts).toEqual({ full: 1, notModified: 1 });
    } finally {
      delete process.env.AWS_ENDPOINT_URL_S3;
      server.closeAllConnections();
      server.close();
    }
  });
});
