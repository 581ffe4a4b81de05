/**
 * What a service reads about the caller is unambiguous (issue 14, findings 4 and 7):
 * - partner-b declared by its key and another trusted certificate with CN=partner-b are told apart
 *   by X-Client-Id alone (`partner-b` / `cn:partner-b`) and by X-Client-Declared;
 * - XFCC `Subject` is byte for byte what Envoy writes: the RFC 2253 DN as openssl prints it,
 *   between quotes, for a DN that uses every RFC 2253 escape and non-ASCII.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, openssl, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayEnv, makeTestPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let gw: TestGateway;

/** Every RFC 2253 escape (`,+"\<>;`, a leading `#`, leading and trailing spaces) and non-ASCII. */
const HOSTILE_SUBJECT = 'OU=日本, O=\\ space, CN=\\#lead\\, a\\+b \\"q\\" \\\\ \\<x\\> \\; Åsa José\\ ';

const spkiPin = (pem: string): string =>
  createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');

beforeAll(async () => {
  pki = await makeTestPki();
  // Another trusted certificate (same bundle) whose CN is a declared partner's id.
  await pki.addClient(
    'impostor',
    await issue(pki.pki.intermediate, { subject: 'O=Elsewhere, CN=partner-b' }),
  );
  await pki.addClient('hostile-dn', await issue(pki.pki.intermediate, { subject: HOSTILE_SUBJECT }));
  const policy = {
    partners: [{ id: 'partner-b', match: { spkiSha256: spkiPin(pki.pki.clients['partner-b'].certPem) } }],
    routes: [{ name: 'all', prefix: '/', allow: ['*'] }],
  };
  gw = await startTestGateway(pki, {
    GATEWAY_CONFIG: await pki.write('ids.json', JSON.stringify(policy)),
    GATEWAY_IDENTITY_HEADERS: 'gateway,xfcc',
  });
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

async function upstreamHeadersFor(name: string): Promise<Record<string, string>> {
  const agent = clientAgent(pki, name);
  try {
    const res = await get(`${gw.url}/who`, agent, {
      headers: { 'X-Client-Id': 'partner-b', 'X-Client-Declared': 'true' },
    });
    expect(res.status).toBe(200);
    return res.json<{ headers: Record<string, string> }>().headers;
  } finally {
    await agent.close();
  }
}

describe('X-Client-Id namespace', () => {
  it('tells partner-b declared by its key from another trusted certificate with CN=partner-b', async () => {
    const declared = await upstreamHeadersFor('partner-b');
    expect(declared['x-client-id']).toBe('partner-b');
    expect(declared['x-client-declared']).toBe('true');
    const impostor = await upstreamHeadersFor('impostor');
    expect(impostor['x-client-id']).toBe('cn:partner-b');
    expect(impostor['x-client-declared']).toBe('false');
    expect(impostor['x-client-subject']).toBe('CN=partner-b,O=Elsewhere');
  });

  it('refuses a declared partner id that could be an undeclared certificate name', async () => {
    for (const id of ['cn:partner-b', 'CN:x', 'subject:CN=x']) {
      const file = await pki.write(
        'bad-id.json',
        JSON.stringify({ partners: [{ id, match: { commonName: 'x' } }] }),
      );
      expect(() => loadConfig({ ...gatewayEnv(pki, 1), GATEWAY_CONFIG: file })).toThrow(
        /^GATEWAY_CONFIG: partners\[0\]\.id: .*not starting with 'cn:' or 'subject:'/,
      );
    }
  });
});

describe('XFCC Subject as Envoy writes it', () => {
  it('is the RFC 2253 DN verbatim between quotes, for every escape and non-ASCII', async () => {
    const printed = (
      await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', pki.path('hostile-dn.pem')])
    )
      .trim()
      .replace(/^subject=/, '');
    // The DN really uses every escape, so the comparison below covers them.
    for (const rfc2253Escape of [
      '\\#',
      '\\,',
      '\\+',
      '\\"',
      '\\\\',
      '\\<',
      '\\>',
      '\\;',
      '\\C3\\85',
      '\\ ,',
      '\\E6\\97\\A5',
    ]) {
      expect(printed).toContain(rfc2253Escape);
    }
    const h = await upstreamHeadersFor('hostile-dn');
    expect(h['x-client-subject']).toBe(printed);
    const xfcc = h['x-forwarded-client-cert']!;
    const subject = /;Subject="(.*)";URI=/.exec(xfcc)?.[1];
    expect(subject).toBe(printed);
    expect(xfcc).not.toContain('\\\\C3');
  });
});
