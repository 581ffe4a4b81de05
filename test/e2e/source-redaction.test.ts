/**
 * Secrets in source URLs (issue 14, finding 6): a CRL source `https://user:token@host/crl?X-Amz-
 * Signature=…` (a presigned URL) is read as given, but neither the log nor `/trust` (`source`,
 * `last_rejected`) nor a configuration error ever shows its userinfo or query.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { redactUrl, redactUrlsIn, setHttpsSourceDispatcher } from '../../src/trust/sources/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayEnv, makeTestPki, type TestPki } from '../helpers/pki.js';

const PASSWORD = 'tok3n-s3cret-pw';
const SIGNATURE = 'f00dfacecafe0123456789signature';

let pki: TestPki;
let gw: TestGateway;
let server: Server;
let port: number;
const asked: string[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  server = createHttpsServer(
    { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
    (req, res) => {
      asked.push(req.url ?? '');
      if (req.url?.startsWith('/crl?')) res.writeHead(200).end(pki.pki.files['crl.pem']);
      else res.writeHead(200).end('not a CRL at all');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
  const url = (path: string): string =>
    `https://reader:${PASSWORD}@localhost:${port}${path}?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=${SIGNATURE}`;
  gw = await startTestGateway(pki, { GATEWAY_CRLS: `${url('/crl')},${url('/broken')}` });
});
afterAll(async () => {
  await gw?.close();
  server?.closeAllConnections();
  server?.close();
  await pki?.cleanup();
});

describe('source URLs are shown without userinfo or query', () => {
  it('reads the presigned URL as given, and logs and /trust never show the password or signature', async () => {
    await gw.logs.waitFor((l) => l.event === 'trust' && l.result === 'rejected' && l.kind === 'crl');
    // The source was really read with its query (the signature is what S3 checks).
    expect(asked.some((u) => u.includes(SIGNATURE))).toBe(true);
    const res = await fetch(`${gw.adminUrl}/trust`);
    const text = await res.text();
    const status = JSON.parse(text) as {
      crls: { source: string | null }[];
      last_rejected: { source: string; reason: string }[];
    };
    expect(status.crls.map((c) => c.source)).toContain(`https://[redacted]@localhost:${port}/crl?[redacted]`);
    expect(status.last_rejected.map((r) => r.source)).toContain(
      `https://[redacted]@localhost:${port}/broken?[redacted]`,
    );
    const logged = gw.logs.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(logged).toContain(`localhost:${port}/broken?[redacted]`);
    for (const secret of [PASSWORD, SIGNATURE, 'AKIAEXAMPLE']) {
      expect(text).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
  });

  it('keeps secrets out of configuration errors', () => {
    let message = '';
    try {
      loadConfig({
        ...gatewayEnv(pki, 1),
        GATEWAY_CRLS: `https://u:${PASSWORD}@x/a?sig=${SIGNATURE},https://v:other@x/a?sig=2`,
      });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^GATEWAY_CRLS: /);
    expect(message).not.toContain(PASSWORD);
    expect(message).not.toContain(SIGNATURE);
    try {
      loadConfig({ ...gatewayEnv(pki, 1), GATEWAY_CA_BUNDLE: `https://u:${PASSWORD}@x/b?sig=${SIGNATURE}` });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^GATEWAY_CA_BUNDLE: 'https:\/\/\[redacted\]@x\/b\?\[redacted\]'/);
  });

  it('redactUrl keeps scheme, host, port and path; redactUrlsIn finds URLs in free text', () => {
    expect(redactUrl('https://host/crl')).toBe('https://host/crl');
    expect(redactUrl('https://a:b@host:8443/p/q?x=1#f')).toBe('https://[redacted]@host:8443/p/q?[redacted]');
    expect(redactUrl('https://a@b@host/p')).toBe('https://[redacted]@host/p');
    expect(redactUrl('https://host?sig=1')).toBe('https://host?[redacted]');
    expect(redactUrlsIn(`connect to https://u:${PASSWORD}@h/x?s=${SIGNATURE} failed`)).toBe(
      'connect to https://[redacted]@h/x?[redacted] failed',
    );
  });
});
