/**
 * Attack on the issue-14 follow-up "per-client limit keyed on issuer + cn: id" (19650f5). The key
 * is the issuer's DN text, not the issuer's key. Issue 13 made two trusted CAs with one name (a key
 * rollover, or two partners' CAs both called the same) distinct everywhere revocation looks; the
 * limit did not follow. Here a second trusted intermediate has the dev intermediate's exact name
 * and its own key; whoever holds it mints `O=Partner B, CN=partner-b` and opens
 * GATEWAY_MAX_CONNECTIONS_PER_CLIENT connections: the real partner-b (undeclared, default policy)
 * is then refused `max_connections_per_client` at every handshake. Expected: the twin's leaves
 * count apart from the real partner's (key the limit by the issuing key, e.g. its SPKI SHA-256).
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { servedOnNewConnection } from '../helpers/raw-client.js';

let pki: TestPki;
let gw: TestGateway;
const open: TLSSocket[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  const twin = await issue(pki.pki.root, {
    subject: `O=mtls-gateway development, CN=mtls-gateway dev intermediate CA`,
    ca: true,
  });
  expect(twin.cert.subject).toBe(pki.pki.intermediate.cert.subject);
  for (let i = 0; i < 2; i++) {
    await pki.addClient(`twin-minted-${i}`, await issue(twin, { subject: 'O=Partner B, CN=partner-b' }));
  }
  const bundle = await pki.write(
    'twin-bundle.pem',
    readFileSync(pki.path('ca-bundle.pem'), 'utf8') + twin.certPem,
  );
  gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '2',
    GATEWAY_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  for (const s of open) s.destroy();
  await gw?.close();
  await pki?.cleanup();
});

const connectAs = (name: string): Promise<boolean> => servedOnNewConnection(pki, gw.port, name, open);

describe('a same-name twin CA cannot use up a partner’s connection limit', () => {
  it('two twin-minted partner-b connections do not keep the real partner-b out', async () => {
    expect(await connectAs('twin-minted-0'), 'twin leaf 0 served').toBe(true);
    expect(await connectAs('twin-minted-1'), 'twin leaf 1 served').toBe(true);
    expect(await connectAs('partner-b'), 'real partner-b kept').toBe(true);
  });
});
