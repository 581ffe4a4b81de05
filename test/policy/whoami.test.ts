/**
 * The whoami body (whoami.ts) field by field, for a declared partner, an undeclared certificate
 * and one refused because partners must be declared. test/e2e/whoami.test.ts asks a real gateway.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issue } from '../../src/dev/pki.js';
import { type ClientIdentity, clientIdentityFromDer } from '../../src/identity/index.js';
import { ConnectionAuthorization, Policy, type PolicyDocument, whoamiBody } from '../../src/policy/index.js';

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function identity(
  subject: string,
  opts: { dns?: string[]; uris?: string[] } = {},
): Promise<ClientIdentity> {
  const ca = await issue(undefined, { subject: 'O=Test, CN=test CA', ca: true });
  const leaf = await issue(ca, { subject, ...opts, emails: ['ops@a.example'] });
  return clientIdentityFromDer(Buffer.from(leaf.cert.rawData), []);
}

const doc: PolicyDocument = {
  partners: [{ id: 'acme', match: [{ commonName: ['partner-a'] }] }],
  routes: [
    { name: 'admin', prefix: '/admin', methods: ['GET', 'HEAD'], allow: ['acme'] },
    { name: 'public', prefix: '/', allow: ['*'] },
  ],
  requireDeclaredPartners: false,
};

const chain = [
  {
    subject: 'CN=partner-a,O=Partner A',
    issuer: 'CN=test CA,O=Test',
    serial: '01',
    fingerprint256: 'ab'.repeat(32),
    notAfter: Date.UTC(2030, 0, 2, 3, 4, 5, 678),
    revocation: 'checked' as const,
  },
  {
    subject: 'CN=test CA,O=Test',
    issuer: 'CN=test CA,O=Test',
    serial: '02',
    fingerprint256: 'cd'.repeat(32),
    notAfter: Date.UTC(2035, 0, 1),
    revocation: 'trust_anchor' as const,
  },
];

describe('whoamiBody', () => {
  it('shows a declared partner, its certificate, the verified chain and the routes it may call', async () => {
    const id = await identity('O=Partner A, OU=Payments, CN=partner-a', {
      dns: ['a.example'],
      uris: ['spiffe://x/a'],
    });
    const auth = new ConnectionAuthorization(Policy.fromDocument(doc, 'http://127.0.0.1:1'), id);
    expect(whoamiBody(id, auth, chain, 'rid-7')).toEqual({
      request_id: 'rid-7',
      partner: { id: 'acme', declared: true, matched_by: 'partners[0].match[0]' },
      certificate: {
        subject: 'CN=partner-a,OU=Payments,O=Partner A',
        issuer: 'CN=test CA,O=Test',
        serial: id.serial,
        fingerprint256: id.fingerprint256,
        spki_sha256: createHash('sha256').update(id.parsed.subjectPublicKeyInfoDer).digest('base64'),
        not_before: iso(id.notBefore),
        not_after: iso(id.notAfter),
        common_name: 'partner-a',
        organization: ['Partner A'],
        organizational_unit: ['Payments'],
        san_dns: ['a.example'],
        san_uri: ['spiffe://x/a'],
        san_email: ['ops@a.example'],
      },
      chain: [
        {
          subject: 'CN=partner-a,O=Partner A',
          issuer: 'CN=test CA,O=Test',
          serial: '01',
          fingerprint256: 'ab'.repeat(32),
          not_after: '2030-01-02T03:04:05Z',
          revocation: 'checked',
        },
        {
          subject: 'CN=test CA,O=Test',
          issuer: 'CN=test CA,O=Test',
          serial: '02',
          fingerprint256: 'cd'.repeat(32),
          not_after: '2035-01-01T00:00:00Z',
          revocation: 'trust_anchor',
        },
      ],
      revocation: { status: 'not_revoked' },
      routes: [
        { name: 'admin', prefix: '/admin', methods: ['GET', 'HEAD'] },
        { name: 'public', prefix: '/', methods: 'any' },
      ],
    });
  });

  it('shows an undeclared certificate without a rule, and only the routes open to anyone', async () => {
    const id = await identity('O=Else, CN=someone');
    const auth = new ConnectionAuthorization(Policy.fromDocument(doc, 'http://127.0.0.1:1'), id);
    const body = whoamiBody(id, auth, [], 'r');
    expect(body.partner).toEqual({ id: 'cn:someone', declared: false });
    expect(body.routes).toEqual([{ name: 'public', prefix: '/', methods: 'any' }]);
    expect(body.chain).toEqual([]);
    expect((body.certificate as { common_name: unknown }).common_name).toBe('someone');
  });

  it('names the rule that refuses an undeclared certificate everything, and a missing CN as null', async () => {
    const id = await identity('O=Else, OU=Nobody');
    const strict = Policy.fromDocument({ ...doc, requireDeclaredPartners: true }, 'http://127.0.0.1:1');
    const body = whoamiBody(id, new ConnectionAuthorization(strict, id), [], 'r');
    expect(body.partner).toEqual({
      id: 'subject:OU=Nobody,O=Else',
      declared: false,
      refused: 'requireDeclaredPartners',
    });
    expect(body.routes).toEqual([]);
    expect((body.certificate as { common_name: unknown }).common_name).toBeNull();
  });
});
