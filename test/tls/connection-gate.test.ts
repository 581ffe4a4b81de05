/**
 * The connection gate's verdicts, over real TLS on loopback with real client certificates: a TLS
 * server with the gateway's secure context (requestCert, rejectUnauthorized off, as the listener
 * runs it) hands each server-side socket to verifyNewConnection, and the test reads the verdict.
 * Every refusal is pinned field by field (reason, presented names, detail, message, fingerprint),
 * as are the chain cache, the recheck after a trust change, and the name-length limits.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { type ConnectionOptions, connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/asn1/certificate.js';
import { type DevPki, generateDevPki, type Issued, issue, makeCrl } from '../../src/dev/pki.js';
import {
  MAX_NAME_CHARS,
  recheckConnection,
  type Verdict,
  verifyNewConnection,
} from '../../src/tls/connection-gate.js';
import { refusalMessage } from '../../src/tls/refusal.js';
import { secureContextOptions } from '../../src/tls/secure-context.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { parseAndVerifyCrlsInline } from '../../src/trust/crl/crl-worker.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import { parseServerCredentials, type ServerCredentials } from '../../src/trust/server-credentials.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { atv, cnRdn, craftCertificate, keyFromPem, name, OID, rdn } from '../helpers/der-craft.js';

const NO_CRL = { graceSeconds: 0, crlRequired: false };
const DEV_O = 'O=mtls-gateway development';

let pki: DevPki;
let server: Server;
let credentials: ServerCredentials;
let port = 0;
const accepted: TLSSocket[] = [];
const clients: TLSSocket[] = [];

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const fpOf = (issued: Issued): string => sha256(new X509Certificate(issued.certPem).raw);
const serialOf = (issued: Issued): string => new X509Certificate(issued.certPem).serialNumber;

/** A snapshot of `cas` (PEM) with `revocation`; every call is a new snapshot object. */
function snapshotOf(cas: string, revocation: RevocationIndex = RevocationIndex.EMPTY): TrustSnapshot {
  const now = Date.now();
  const loaded = { source: 'test', version: '1', loadedAt: now };
  return {
    generation: 1,
    caBundle: parseCaBundle(Buffer.from(cas), { now, production: false }),
    caBundleInfo: loaded,
    server: credentials,
    serverInfo: loaded,
    revocation,
  };
}

const fullBundle = (): string => pki.files['ca-bundle.pem']!;
/** The dev PKI's CRLs (the intermediate's lists `revoked`), verified and indexed. */
function devCrlIndex(): RevocationIndex {
  const loaded = parseAndVerifyCrlsInline(Buffer.from(pki.files['crl.pem']!), [fullBundle()]);
  expect(loaded.rejected).toEqual([]);
  return RevocationIndex.build(loaded.accepted).index;
}

/** Connects a real client presenting `cert`/`key` (or none) and returns the server-side socket. */
async function presented(options: ConnectionOptions = {}): Promise<TLSSocket> {
  const next = once(server, 'secureConnection') as Promise<[TLSSocket]>;
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: pki.root.certPem,
    ...options,
  });
  client.on('error', () => undefined);
  clients.push(client);
  const [socket] = await next;
  accepted.push(socket);
  return socket;
}

const as = (issued: Issued, ...sent: Issued[]): ConnectionOptions => ({
  cert: [issued.certPem, ...sent.map((s) => s.certPem)].join(''),
  key: issued.keyPem,
});

async function verdictFor(
  options: ConnectionOptions,
  snapshot: TrustSnapshot | undefined,
  policy = NO_CRL,
): Promise<Verdict> {
  return verifyNewConnection(await presented(options), snapshot, policy);
}

function accept(verdict: Verdict): Verdict & { ok: true } {
  if (!verdict.ok) throw new Error(`expected ok, got ${verdict.reason}: ${verdict.detail}`);
  return verdict;
}

/** A client certificate over exactly `subject` (DER), signed by the dev intermediate. */
function craftedLeaf(subject: Buffer, serialHex: string): { pem: string; keyPem: string; der: Buffer } {
  return craftCertificate({
    subject,
    serialHex,
    issuer: parseCertificate(new X509Certificate(pki.intermediate.certPem).raw).subjectDer,
    signingKey: keyFromPem(pki.intermediate.keyPem),
  });
}

beforeAll(async () => {
  pki = await generateDevPki();
  credentials = parseServerCredentials(
    Buffer.from(pki.files['server.pem']!),
    Buffer.from(pki.files['server-key.pem']!),
    { now: Date.now(), production: false },
  );
  const bundle = parseCaBundle(Buffer.from(fullBundle()), { now: Date.now(), production: false });
  server = createServer({
    ...secureContextOptions(bundle, credentials),
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const s of accepted) s.destroy();
  server.close();
});

const partnerAPresented = () => ({
  subject: 'CN=partner-a,O=Partner A',
  serial: serialOf(pki.clients['partner-a']),
  issuer: `CN=mtls-gateway dev intermediate CA,${DEV_O}`,
});

describe('verifyNewConnection', () => {
  it('accepts a verified client: identity, and the chain rebuilt leaf first up to the root', async () => {
    const verdict = accept(await verdictFor(as(pki.clients['partner-a']), snapshotOf(fullBundle())));
    expect(verdict.identity.commonName).toBe('partner-a');
    expect(verdict.identity.chainDer).toEqual([]);
    expect(verdict.chainFingerprints).toEqual([
      fpOf(pki.clients['partner-a']),
      fpOf(pki.intermediate),
      fpOf(pki.root),
    ]);
    expect(verdict.chain.map((c) => c.serialHex)).toEqual(
      [pki.clients['partner-a'], pki.intermediate, pki.root].map((c) => serialOf(c)),
    );
    expect('fingerprint256' in verdict).toBe(false);
  });

  it('reuses the verified chain of a reconnecting client under the same snapshot only', async () => {
    const snapshot = snapshotOf(fullBundle());
    const first = await verdictFor(as(pki.clients['partner-a']), snapshot);
    const again = await verdictFor(as(pki.clients['partner-a']), snapshot);
    expect(again).toBe(first);
    const other = await verdictFor(as(pki.clients['partner-a']), snapshotOf(fullBundle()));
    expect(other).not.toBe(first);
    expect(accept(other).chainFingerprints).toEqual(accept(first).chainFingerprints);
  });

  it('refuses a client without a certificate', async () => {
    expect(await verdictFor({}, snapshotOf(fullBundle()))).toEqual({
      ok: false,
      reason: 'no_certificate',
      presented: {},
      detail: 'no client certificate',
    });
  });

  it('refuses every client while no trust material is loaded, showing what it presented', async () => {
    const verdict = await verdictFor(as(pki.clients['partner-a']), undefined);
    expect(Object.keys(verdict).sort()).toEqual(['detail', 'fingerprint256', 'ok', 'presented', 'reason']);
    expect(verdict).toEqual({
      ok: false,
      reason: 'other',
      presented: partnerAPresented(),
      detail: 'trust material not loaded',
      fingerprint256: fpOf(pki.clients['partner-a']),
    });
  });

  it('refuses a certificate OpenSSL did not verify, with its error code and a sentence naming the issuer', async () => {
    const socket = await presented(as(pki.clients.untrusted));
    const code = String(socket.authorizationError);
    const verdict = verifyNewConnection(socket, snapshotOf(fullBundle()), NO_CRL);
    expect(verdict).toEqual({
      ok: false,
      reason: 'unknown_ca',
      presented: {
        subject: 'CN=untrusted,O=Not Trusted',
        serial: serialOf(pki.clients.untrusted),
        issuer: 'CN=untrusted CA,O=Not Trusted',
      },
      detail: code,
      message: refusalMessage('unknown_ca', { issuer: 'CN=untrusted CA,O=Not Trusted' }),
      fingerprint256: fpOf(pki.clients.untrusted),
    });
    expect(code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('names the expired certificate of the chain, the leaf or a CA the client sent', async () => {
    const leaf = pki.clients.expired;
    const expired = await verdictFor(as(leaf), snapshotOf(fullBundle()));
    expect(expired).toMatchObject({
      ok: false,
      reason: 'expired',
      detail: 'CERT_HAS_EXPIRED',
      message: `The client certificate expired at ${new Date(leaf.cert.notAfter).toISOString().replace(/\.\d{3}Z$/, 'Z')}; renew it.`,
    });

    const oldCa = await issue(pki.root, {
      subject: `${DEV_O}, CN=expired intermediate CA`,
      ca: true,
      notBeforeDays: -30,
      notAfterDays: -2,
    });
    const underOldCa = await issue(oldCa, { subject: 'O=Partner X, CN=under-old-ca' });
    const viaSent = await verdictFor(as(underOldCa, oldCa), snapshotOf(fullBundle()));
    expect(viaSent).toMatchObject({
      ok: false,
      reason: 'expired',
      message: `The CA certificate CN=expired intermediate CA,${DEV_O} in the client's chain expired at ${new Date(oldCa.cert.notAfter).toISOString().replace(/\.\d{3}Z$/, 'Z')}; renew it.`,
    });
  });

  it('refuses a revoked client from the CRL of its issuer, on every connection', async () => {
    const snapshot = snapshotOf(fullBundle(), devCrlIndex());
    const revoked = pki.clients.revoked;
    const issuer = `CN=mtls-gateway dev intermediate CA,${DEV_O}`;
    const expected = {
      ok: false,
      reason: 'revoked',
      presented: { subject: 'CN=revoked,O=Partner R', serial: serialOf(revoked), issuer },
      detail: `revoked: serial ${serialOf(revoked)} issued by ${issuer}`,
      message: refusalMessage('revoked', { serial: serialOf(revoked), issuer }),
      fingerprint256: fpOf(revoked),
    };
    expect(await verdictFor(as(revoked), snapshot)).toEqual(expected);
    expect(await verdictFor(as(revoked), snapshot)).toEqual(expected);
    expect((await verdictFor(as(pki.clients['partner-a']), snapshot)).ok).toBe(true);
  });

  it('refuses a client whose issuer has no CRL when one is required', async () => {
    const verdict = await verdictFor(as(pki.clients['partner-a']), snapshotOf(fullBundle()), {
      graceSeconds: 0,
      crlRequired: true,
    });
    expect(verdict).toMatchObject({ ok: false, reason: 'crl_missing', presented: partnerAPresented() });
  });

  it('accepts a client that sends its intermediate when the snapshot holds only the root', async () => {
    // The intermediate comes from the client (Node's issuerCertificate links), not the bundle: the
    // chain is rebuilt through it to the root, and the identity carries what was sent.
    const verdict = accept(
      await verdictFor(as(pki.clients['partner-a'], pki.intermediate), snapshotOf(pki.root.certPem)),
    );
    expect(verdict.chainFingerprints).toEqual([
      fpOf(pki.clients['partner-a']),
      fpOf(pki.intermediate),
      fpOf(pki.root),
    ]);
    expect(verdict.identity.chainDer.map((d) => sha256(d))).toEqual([fpOf(pki.intermediate)]);
  });

  it('revokes a sent intermediate from the CRL of the root in the snapshot', async () => {
    const root = snapshotOf(pki.root.certPem);
    const rootCrl = await makeCrl(pki.root, { revoked: [{ serialHex: serialOf(pki.intermediate) }] });
    const loaded = parseAndVerifyCrlsInline(Buffer.from(rootCrl), [pki.root.certPem]);
    expect(loaded.rejected).toEqual([]);
    const snapshot = { ...root, revocation: RevocationIndex.build(loaded.accepted).index };
    const verdict = await verdictFor(as(pki.clients['partner-a'], pki.intermediate), snapshot);
    expect(verdict).toMatchObject({ ok: false, reason: 'revoked', presented: partnerAPresented() });
  });

  it('keeps each certificate the client sent once, the self-signed root it may send included', async () => {
    const verdict = accept(
      await verdictFor(
        as(pki.clients['partner-a'], pki.intermediate, pki.root),
        snapshotOf(pki.root.certPem),
      ),
    );
    expect(verdict.identity.chainDer.map((d) => sha256(d))).toEqual([fpOf(pki.intermediate), fpOf(pki.root)]);
  });

  it('refuses a chain through a sent CA whose DER we cannot read, naming the leaf', async () => {
    // The CA's subject has a non-minimal length (OpenSSL reads it); the leaf names it minimally,
    // which OpenSSL matches canonically: the handshake verifies, and the gate cannot read the CA.
    const rootKey = keyFromPem(pki.root.keyPem);
    const rootName = parseCertificate(new X509Certificate(pki.root.certPem).raw).subjectDer;
    const odd = craftCertificate({
      subject: name(rdn([atv(OID.CN, 0x0c, 'odd sent CA')], 1)),
      issuer: rootName,
      signingKey: rootKey,
      serialHex: '7F10',
      ca: true,
    });
    const leaf = craftCertificate({
      subject: name(cnRdn('odd-child')),
      issuer: name(cnRdn('odd sent CA')),
      signingKey: keyFromPem(odd.keyPem),
      serialHex: '7F11',
    });
    const verdict = await verdictFor(
      { cert: leaf.pem + odd.pem, key: leaf.keyPem },
      snapshotOf(pki.root.certPem),
    );
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'bad_certificate',
      presented: { subject: 'CN=odd-child', serial: '7F11', issuer: 'CN=odd sent CA' },
      fingerprint256: sha256(leaf.der),
    });
    expect(verdict.ok ? '' : verdict.detail).toMatch(/^unparsable certificate in chain: ./);
  });

  it('refuses a verified chain that does not end at a CA of the snapshot it is judged by', async () => {
    // Verified by the server's context (whole bundle), judged by a snapshot holding only the root:
    // the rebuilt chain cannot reach it without the intermediate.
    const verdict = await verdictFor(as(pki.clients['partner-a']), snapshotOf(pki.root.certPem));
    expect(verdict).toEqual({
      ok: false,
      reason: 'unknown_ca',
      presented: partnerAPresented(),
      detail: 'the rebuilt chain does not end at a CA of the trust snapshot that verified the handshake',
      fingerprint256: fpOf(pki.clients['partner-a']),
    });
  });

  it('refuses a trusted certificate whose name DER forbids, showing only the serial', async () => {
    const cert = craftedLeaf(name(rdn([atv(OID.O, 0x0c, 'Hostile')], 1), cnRdn('x')), '7F01');
    const verdict = await verdictFor({ cert: cert.pem, key: cert.keyPem }, snapshotOf(fullBundle()));
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'bad_certificate',
      presented: { serial: '7F01' },
      fingerprint256: sha256(cert.der),
    });
    expect(verdict.ok ? '' : verdict.detail).toMatch(/^unparsable certificate: ./);
    expect(verdict.ok ? {} : Object.keys(verdict.presented)).toEqual(['serial']);
    // The same before any trust is loaded: the broken name is never formatted.
    const untrusted = await verdictFor({ cert: cert.pem, key: cert.keyPem }, undefined);
    expect(untrusted).toMatchObject({ ok: false, reason: 'bad_certificate', presented: { serial: '7F01' } });
    expect(untrusted.ok ? {} : Object.keys(untrusted.presented)).toEqual(['serial']);
  });

  it(`accepts a subject of exactly ${MAX_NAME_CHARS} characters and refuses a longer one`, async () => {
    const subjectOf = (chars: number) => name(cnRdn('a'.repeat(chars - 'CN='.length)));
    const fits = craftedLeaf(subjectOf(MAX_NAME_CHARS), '7F10');
    const fitting = accept(await verdictFor({ cert: fits.pem, key: fits.keyPem }, snapshotOf(fullBundle())));
    expect(fitting.identity.subject).toHaveLength(MAX_NAME_CHARS);

    const long = craftedLeaf(subjectOf(MAX_NAME_CHARS + 1), '7F11');
    const refused = await verdictFor({ cert: long.pem, key: long.keyPem }, snapshotOf(fullBundle()));
    expect(refused).toMatchObject({
      ok: false,
      reason: 'bad_certificate',
      detail: `subject or issuer name longer than ${MAX_NAME_CHARS} characters`,
      presented: { serial: '7F11', issuer: `CN=mtls-gateway dev intermediate CA,${DEV_O}` },
    });
    // Presented names are cut for the log: 1024 characters at most, marked with `...`.
    const shown = refused.ok ? '' : (refused.presented.subject ?? '');
    expect(shown).toBe(`CN=${'a'.repeat(1024 - 3 - 3)}...`);
  });

  it('shows a presented name of 1024 characters whole and cuts one of 1025', async () => {
    const subjectOf = (chars: number) => name(cnRdn('b'.repeat(chars - 'CN='.length)));
    const whole = craftedLeaf(subjectOf(1024), '7F20');
    const cut = craftedLeaf(subjectOf(1025), '7F21');
    const shown = async (c: { pem: string; keyPem: string }) => {
      const v = await verdictFor({ cert: c.pem, key: c.keyPem }, undefined);
      return v.ok ? '' : (v.presented.subject ?? '');
    };
    expect(await shown(whole)).toBe(`CN=${'b'.repeat(1021)}`);
    expect(await shown(cut)).toBe(`CN=${'b'.repeat(1018)}...`);
  });
});

describe('recheckConnection after a trust change', () => {
  it('keeps the verdict while its CAs stay and nothing of it is revoked', async () => {
    const before = snapshotOf(fullBundle());
    const verdict = accept(await verdictFor(as(pki.clients['partner-a']), before));
    expect(recheckConnection(verdict, before, snapshotOf(fullBundle()), NO_CRL)).toBe(verdict);
  });

  it('refuses the connection when the bundle drops its anchor or a CA the old bundle supplied', async () => {
    const before = snapshotOf(fullBundle());
    const verdict = accept(await verdictFor(as(pki.clients['partner-a']), before));
    const refused = {
      ok: false,
      reason: 'unknown_ca',
      presented: partnerAPresented(),
      detail: 'issuing CA removed from the bundle',
    };
    expect(recheckConnection(verdict, before, snapshotOf(pki.root.certPem), NO_CRL)).toEqual(refused);
    expect(recheckConnection(verdict, before, snapshotOf(pki.intermediate.certPem), NO_CRL)).toEqual(refused);
  });

  it('refuses the connection when the new snapshot revokes a certificate of its chain', async () => {
    const before = snapshotOf(fullBundle());
    const verdict = accept(await verdictFor(as(pki.clients.revoked), before));
    const issuer = `CN=mtls-gateway dev intermediate CA,${DEV_O}`;
    const serial = serialOf(pki.clients.revoked);
    expect(recheckConnection(verdict, before, snapshotOf(fullBundle(), devCrlIndex()), NO_CRL)).toEqual({
      ok: false,
      reason: 'revoked',
      presented: { subject: 'CN=revoked,O=Partner R', serial, issuer },
      detail: `revoked: serial ${serial} issued by ${issuer}`,
      message: refusalMessage('revoked', { serial, issuer }),
    });
  });
});
