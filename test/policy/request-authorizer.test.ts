/**
 * The per-request decision (policy/request-authorizer.ts) over real TLS on loopback: a TLS server
 * with the gateway's secure context runs the real connection gate on each connection, tells the
 * authorizer (`decorate`) and attaches the connection state, as the listener does; the HTTP
 * server on it asks `decide` for every request and records the answer. Real clients with the
 * per-run dev PKI, real policy files read by readGatewayConfigFile, a real logger and metrics.
 * Each decision is pinned field by field: status, error, sentence, details, route, partner,
 * forwarded target, closeAfter, close; then clientKey, whoami, and the policy reload.
 */
import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  Agent,
  createServer as createHttpsServer,
  type Server as HttpsServer,
  request as httpsRequest,
} from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { readGatewayConfigFile } from '../../src/config/gateway-config-file.js';
import { type DevPki, EKU_CLIENT_AUTH, generateDevPki, type Issued, issue } from '../../src/dev/pki.js';
import { type ClientIdentity, identityHeaders } from '../../src/identity/index.js';
import { createLogger, createMetrics, type Metrics } from '../../src/observability/index.js';
import {
  type ConnectionDecision,
  RequestAuthorizer,
  type RequestAuthorizerOptions,
} from '../../src/policy/request-authorizer.js';
import { WHOAMI_PATH } from '../../src/policy/whoami.js';
import { type Verdict, verifyNewConnection } from '../../src/tls/connection-gate.js';
import { attachState, ConnectionState } from '../../src/tls/connection-state.js';
import { REFUSAL_MESSAGES, REFUSAL_TITLES, refusalMessage } from '../../src/tls/refusal.js';
import { secureContextOptions } from '../../src/tls/secure-context.js';
import { parseCaBundle } from '../../src/trust/ca-bundle.js';
import { parseAndVerifyCrlsInline } from '../../src/trust/crl/crl-worker.js';
import { RevocationIndex } from '../../src/trust/revocation-index.js';
import type { VerifiedClient } from '../../src/trust/rotation-guard.js';
import { parseServerCredentials, type ServerCredentials } from '../../src/trust/server-credentials.js';
import type { TrustSnapshot } from '../../src/trust/snapshot.js';
import { LogCapture } from '../helpers/gateway.js';

const UPSTREAM = 'http://127.0.0.1:8081';
const NO_CRL = { graceSeconds: 0, crlRequired: false };
const DEV = 'O=mtls-gateway development';
const INTERMEDIATE = `CN=mtls-gateway dev intermediate CA,${DEV}`;

/** A policy file: `acme` is partner-a; admin (GET only) and billing are acme's, receipts anyone's. */
const POLICY = {
  partners: [{ id: 'acme', match: [{ commonName: ['partner-a'] }] }],
  routes: [
    { name: 'admin', prefix: '/admin', methods: ['GET'], allow: ['acme'] },
    { name: 'billing', prefix: '/billing', allow: ['acme'] },
    { name: 'receipts', prefix: '/receipts', upstream: 'http://127.0.0.1:9002', allow: ['*'] },
  ],
};

let pki: DevPki;
let credentials: ServerCredentials;
/** A second leaf with partner-b's name from the same CA (a rotated certificate of one client). */
let partnerBAgain: Issued;
/** A leaf of another undeclared client from the same CA. */
let partnerC: Issued;
/** A self-signed client certificate (CA:TRUE, clientAuth) trusted as itself, in the CA bundle: a chain of one. */
let selfTrusted: { certPem: string; keyPem: string };
/** The dev PKI's bundle and the self-trusted certificate. */
let bundlePem: string;
let server: HttpsServer;
let plain: HttpServer;
let port = 0;
let plainPort = 0;
let dir: string;

/** What the connection gate decided for each connection, in order (the server side). */
const verdicts: Verdict[] = [];
/** What `decide` answered for each request, in order. */
const decisions: ConnectionDecision[] = [];
const agents: Agent[] = [];
/** What the gate or `decide` threw (answered as the listener and request handler would). */
const failures: unknown[] = [];

/** The state of one test: the authorizer in force and what its callbacks were told. */
interface Harness {
  readonly authorizer: RequestAuthorizer;
  readonly trust: { current: TrustSnapshot | undefined };
  readonly observed: { cert: ClientIdentity; partnerId: string; partnerLabel: string }[];
  readonly reported: VerifiedClient[];
  readonly synced: string[][];
  readonly logs: LogCapture;
  readonly metrics: Metrics;
}
let current: Harness | undefined;

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');
const fpOf = (issued: Issued): string => sha256(new X509Certificate(issued.certPem).raw);
const serialOf = (issued: Issued): string => new X509Certificate(issued.certPem).serialNumber;

function snapshotOf(revocation: RevocationIndex = RevocationIndex.EMPTY): TrustSnapshot {
  const now = Date.now();
  const loaded = { source: 'test', version: '1', loadedAt: now };
  return {
    generation: 1,
    caBundle: parseCaBundle(Buffer.from(bundlePem), { now, production: false }),
    caBundleInfo: loaded,
    server: credentials,
    serverInfo: loaded,
    revocation,
  };
}

/** The dev PKI's CRLs (the root's lists nothing, the intermediate's lists `revoked`), indexed. */
function devCrlIndex(): RevocationIndex {
  const loaded = parseAndVerifyCrlsInline(Buffer.from(pki.files['crl.pem']!), [pki.files['ca-bundle.pem']!]);
  expect(loaded.rejected).toEqual([]);
  return RevocationIndex.build(loaded.accepted).index;
}

/** Writes a policy file into the run's folder and returns its path. */
function policyFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

interface Setup {
  readonly policy?: unknown;
  readonly devMode?: boolean;
  readonly verifyMode?: Config['verifyMode'];
  readonly maxConnectionAgeSeconds?: number;
  readonly trust?: TrustSnapshot;
}

/** A RequestAuthorizer with real parts and recording callbacks; the server decides with it from now on. */
function setUp(setup: Setup = {}): Harness {
  const configFile = setup.policy === undefined ? undefined : policyFile('gateway.json', setup.policy);
  const config: RequestAuthorizerOptions['config'] = {
    upstream: new URL(UPSTREAM),
    configFile,
    policyFile: configFile === undefined ? undefined : readGatewayConfigFile(configFile),
    identityHeaders: ['gateway'],
    devMode: setup.devMode ?? false,
    verifyMode: setup.verifyMode ?? 'strict',
  };
  const logs = new LogCapture();
  const metrics = createMetrics({ defaultMetrics: false });
  const h: Omit<Harness, 'authorizer'> = {
    trust: { current: setup.trust ?? snapshotOf() },
    observed: [],
    reported: [],
    synced: [],
    logs,
    metrics,
  };
  const authorizer = new RequestAuthorizer({
    config,
    limits: { maxConnectionAgeSeconds: setup.maxConnectionAgeSeconds ?? 3600 },
    readPolicyFile: readGatewayConfigFile,
    revocationPolicy: NO_CRL,
    trust: h.trust,
    radar: { observe: (cert, partnerId, partnerLabel) => h.observed.push({ cert, partnerId, partnerLabel }) },
    upstreams: { sync: (origins) => h.synced.push([...origins]) },
    reportClient: (client) => h.reported.push(client),
    logger: createLogger('info', logs),
    metrics,
  });
  current = { ...h, authorizer };
  return current;
}

/** The gate and the connection state, as the listener runs them after each handshake. */
function gate(socket: TLSSocket): void {
  try {
    const h = harness();
    const snapshot = h.trust.current;
    const verdict = verifyNewConnection(socket, snapshot, NO_CRL);
    verdicts.push(verdict);
    const partnerId = verdict.ok ? h.authorizer.decorate(verdict).partnerId : undefined;
    attachState(socket, new ConnectionState(verdict, snapshot, socket.remoteAddress ?? '', partnerId));
  } catch (err) {
    // As the listener does (internal_error): the connection is closed, and the test fails at once.
    failures.push(err);
    socket.destroy();
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  try {
    decisions.push(harness().authorizer.decide(req));
  } catch (err) {
    failures.push(err);
    res.statusCode = 500;
  }
  res.end();
}

function harness(): Harness {
  if (!current) throw new Error('no authorizer set up');
  return current;
}

/** One client connection (keep-alive, one socket) presenting `who` (or no certificate). */
function client(who?: { readonly certPem: string; readonly keyPem: string }): Agent {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: pki.root.certPem,
    servername: 'localhost',
    ...(who ? { cert: who.certPem, key: who.keyPem } : {}),
  });
  agents.push(agent);
  return agent;
}

/** Sends one request on `agent` and returns what `decide` answered for it. */
async function ask(agent: Agent, path: string, method = 'GET'): Promise<ConnectionDecision> {
  const before = decisions.length;
  const req = httpsRequest({ host: '127.0.0.1', port, path, method, agent });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  res.resume();
  await once(res, 'end');
  expect(failures).toEqual([]);
  expect(decisions.length).toBe(before + 1);
  return decisions[before]!;
}

/** The verdict the gate reached for the last connection. */
function lastVerdict(): Verdict & { ok: true } {
  const v = verdicts.at(-1);
  if (!v?.ok) throw new Error(`expected a verified connection, got ${JSON.stringify(v)}`);
  return v;
}

const headerOf = (d: ConnectionDecision, name: string): string | undefined =>
  d.ok ? d.identityHeaders.find(([k]) => k === name)?.[1] : undefined;

async function reloads(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.policyReloads.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.result), v.value]));
}

/** A self-signed CA certificate that may also sign (digitalSignature) and authenticate a client. */
async function selfSignedClient(subject: string): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '51f7',
    name: subject,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 30 * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([EKU_CLIENT_AUTH]),
    ],
  });
  const key = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certPem: cert.toString('pem'),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${key.toString('base64')}\n-----END PRIVATE KEY-----\n`,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'request-authorizer-'));
  pki = await generateDevPki();
  partnerBAgain = await issue(pki.intermediate, { subject: 'O=Partner B, CN=partner-b' });
  partnerC = await issue(pki.intermediate, { subject: 'O=Partner C, CN=partner-c' });
  selfTrusted = await selfSignedClient('O=Self, CN=self-trusted');
  bundlePem = pki.files['ca-bundle.pem']! + selfTrusted.certPem;
  credentials = parseServerCredentials(
    Buffer.from(pki.files['server.pem']!),
    Buffer.from(pki.files['server-key.pem']!),
    { now: Date.now(), production: false },
  );
  const bundle = parseCaBundle(Buffer.from(bundlePem), { now: Date.now(), production: false });
  server = createHttpsServer(
    { ...secureContextOptions(bundle, credentials), requestCert: true, rejectUnauthorized: false },
    handle,
  );
  // Before the HTTP server's own listener: the state is attached before any request is parsed.
  server.prependListener('secureConnection', gate);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  plain = createHttpServer(handle);
  plain.listen(0, '127.0.0.1');
  await once(plain, 'listening');
  plainPort = (plain.address() as { port: number }).port;
});

afterEach(() => {
  for (const a of agents.splice(0)) a.destroy();
  failures.splice(0);
  current = undefined;
});

afterAll(async () => {
  server.closeAllConnections();
  plain.closeAllConnections();
  server.close();
  plain.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a verified connection without GATEWAY_CONFIG', () => {
  it('goes to the default route with the normalized target and the query, as an undeclared client', async () => {
    const h = setUp();
    expect(h.synced).toEqual([[UPSTREAM]]);
    const d = await ask(client(pki.clients['partner-b']), '/x/./%61pi/../v1;p?q=1&r');
    const v = lastVerdict();
    expect(d).toStrictEqual({
      ok: true,
      identityHeaders: identityHeaders(v.identity, 'cn:partner-b', ['gateway'], false),
      clientAddress: '127.0.0.1',
      route: 'default',
      target: '/x/v1;p?q=1&r',
      partnerId: 'cn:partner-b',
      partnerLabel: 'undeclared',
      upstream: UPSTREAM,
    });
    expect(headerOf(d, 'x-client-id')).toBe('cn:partner-b');
    expect(headerOf(d, 'x-client-declared')).toBe('false');
  });

  it('passes a request target that is not origin-form on unrouted, for the request handler to refuse', async () => {
    setUp();
    const agent = client(pki.clients['partner-b']);
    const d = await ask(agent, 'http://localhost/admin');
    expect(d).toStrictEqual({
      ok: true,
      identityHeaders: identityHeaders(lastVerdict().identity, 'cn:partner-b', ['gateway'], false),
      clientAddress: '127.0.0.1',
      partnerId: 'cn:partner-b',
      partnerLabel: 'undeclared',
    });
  });

  it('refuses a malformed path with 400 bad_request, the problem named, and no route', async () => {
    setUp();
    const d = await ask(client(pki.clients['partner-b']), '/a%2fb');
    expect(d).toStrictEqual({
      ok: false,
      close: false,
      status: 400,
      error: 'bad_request',
      message: 'The request path has an encoded / or \\, which this gateway refuses.',
      details: {},
      partnerId: 'cn:partner-b',
      partnerLabel: 'undeclared',
    });
  });

  it('tells the expiry radar and the rotation guard of each verified connection, once, with its partner', async () => {
    const h = setUp();
    const agent = client(pki.clients['partner-a']);
    await ask(agent, '/one');
    await ask(agent, '/two');
    const v = lastVerdict();
    expect(h.observed).toEqual([{ cert: v.identity, partnerId: 'cn:partner-a', partnerLabel: 'undeclared' }]);
    expect(h.observed[0]!.cert).toBe(v.identity);
    expect(h.reported).toStrictEqual([
      {
        partnerId: 'cn:partner-a',
        fingerprint256: fpOf(pki.clients['partner-a']),
        leafDer: v.identity.leafDer,
        sentDer: [],
      },
    ]);
  });
});

describe('a verified connection under a policy file', () => {
  it('routes a declared partner to its route and upstream, labelled by its id', async () => {
    const h = setUp({ policy: POLICY });
    expect(h.synced).toEqual([[UPSTREAM, UPSTREAM, 'http://127.0.0.1:9002', UPSTREAM]]);
    const agent = client(pki.clients['partner-a']);
    const d = await ask(agent, '/ADMIN/users?all');
    expect(d).toStrictEqual({
      ok: true,
      identityHeaders: identityHeaders(lastVerdict().identity, 'acme', ['gateway'], true),
      clientAddress: '127.0.0.1',
      route: 'admin',
      target: '/ADMIN/users?all',
      partnerId: 'acme',
      partnerLabel: 'acme',
      upstream: UPSTREAM,
    });
    expect(headerOf(d, 'x-client-id')).toBe('acme');
    const receipts = await ask(agent, '/receipts/7');
    expect(receipts.ok && [receipts.route, receipts.upstream, receipts.target]).toEqual([
      'receipts',
      'http://127.0.0.1:9002',
      '/receipts/7',
    ]);
    // The same connection's identity headers, computed once.
    expect(receipts.ok && receipts.identityHeaders).toBe(d.ok && d.identityHeaders);
  });

  it('refuses a method the route does not accept, naming the route and the rule, and keeps the connection', async () => {
    setUp({ policy: POLICY });
    const d = await ask(client(pki.clients['partner-a']), '/admin', 'POST');
    expect(d).toStrictEqual({
      ok: false,
      close: false,
      status: 403,
      error: 'not_authorized',
      message: "Route 'admin' does not accept POST requests (refused by routes[0].methods).",
      details: { route: 'admin', rule: 'routes[0].methods' },
      partnerId: 'acme',
      partnerLabel: 'acme',
      route: 'admin',
    });
  });

  it('refuses a partner the route does not allow, with the policy sentence', async () => {
    setUp({ policy: POLICY });
    const d = await ask(client(pki.clients['partner-b']), '/billing/x');
    expect(d).toStrictEqual({
      ok: false,
      close: false,
      status: 403,
      error: 'not_authorized',
      message:
        "The undeclared client 'cn:partner-b' may not call route 'billing' (refused by routes[1].allow).",
      details: { route: 'billing', rule: 'routes[1].allow' },
      partnerId: 'cn:partner-b',
      partnerLabel: 'undeclared',
      route: 'billing',
    });
  });

  it('refuses every route to an undeclared client when partners must be declared', async () => {
    setUp({ policy: { ...POLICY, requireDeclaredPartners: true } });
    const d = await ask(client(pki.clients['partner-b']), '/receipts');
    expect(d).toStrictEqual({
      ok: false,
      close: false,
      status: 403,
      error: 'not_authorized',
      message:
        'The client certificate CN=partner-b,O=Partner B matches no partner declared on this gateway, and only declared partners may call it.',
      details: { route: 'receipts', rule: 'requireDeclaredPartners' },
      partnerId: 'cn:partner-b',
      partnerLabel: 'undeclared',
      route: 'receipts',
    });
  });

  it('refuses a path parameter only under a policy file (it may hide a route prefix)', async () => {
    setUp({ policy: POLICY });
    const d = await ask(client(pki.clients['partner-a']), '/admin;x=1');
    expect(d).toStrictEqual({
      ok: false,
      close: false,
      status: 400,
      error: 'bad_request',
      message: 'The request path has a ; (path parameter), which this gateway refuses.',
      details: {},
      partnerId: 'acme',
      partnerLabel: 'acme',
    });
  });
});

describe('the maximum connection age', () => {
  it('marks an allowed answer past it Connection: close, never a refused one, and none before it', async () => {
    // A negative age: every connection is past it, whatever the clock did since the handshake.
    setUp({ policy: POLICY, maxConnectionAgeSeconds: -1 });
    const old = client(pki.clients['partner-a']);
    const allowed = await ask(old, '/billing');
    expect(allowed.ok && [allowed.route, allowed.closeAfter]).toEqual(['billing', true]);
    const refused = await ask(old, '/admin', 'DELETE');
    expect(refused.ok).toBe(false);
    expect('closeAfter' in refused).toBe(false);
    setUp({ policy: POLICY, maxConnectionAgeSeconds: 3600 });
    const young = await ask(client(pki.clients['partner-a']), '/billing');
    expect(young.ok && young.route).toBe('billing');
    expect('closeAfter' in young).toBe(false);
  });
});

describe('a refused connection', () => {
  const untrusted = () => ({
    status: 401,
    error: 'unknown_ca',
    title: REFUSAL_TITLES.unknown_ca,
    message: refusalMessage('unknown_ca', { issuer: 'CN=untrusted CA,O=Not Trusted' }),
    details: {
      subject: 'CN=untrusted,O=Not Trusted',
      serial: serialOf(pki.clients.untrusted),
      issuer: 'CN=untrusted CA,O=Not Trusted',
    },
  });

  it('gets its refusal on every request, as the last answer in strict mode, counted under the route its path selects', async () => {
    const h = setUp({ policy: POLICY });
    const agent = client(pki.clients.untrusted);
    expect(await ask(agent, '/receipts/1')).toStrictEqual({
      ok: false,
      route: 'receipts',
      close: true,
      ...untrusted(),
    });
    // No route for a malformed path or a target that is not origin-form.
    expect(await ask(agent, '/a%2fb')).toStrictEqual({ ok: false, close: true, ...untrusted() });
    expect(await ask(agent, 'http://localhost/receipts')).toStrictEqual({
      ok: false,
      close: true,
      ...untrusted(),
    });
    expect(h.observed).toEqual([]);
    expect(h.reported).toEqual([]);
  });

  it('is counted under the route its method selects when two routes share a prefix', async () => {
    setUp({
      policy: {
        routes: [
          { name: 'reports-read', prefix: '/reports', methods: ['GET'], allow: ['*'] },
          { name: 'reports-write', prefix: '/reports', methods: ['POST'], allow: ['*'] },
        ],
      },
    });
    const agent = client(pki.clients.untrusted);
    const post = await ask(agent, '/reports/1', 'POST');
    expect(post.ok === false && [post.error, post.route]).toEqual(['unknown_ca', 'reports-write']);
    const get = await ask(agent, '/reports/1');
    expect(get.ok === false && [get.error, get.route]).toEqual(['unknown_ca', 'reports-read']);
  });

  it('stays open in explain mode', async () => {
    setUp({ verifyMode: 'explain' });
    expect(await ask(client(pki.clients.untrusted), '/x')).toStrictEqual({
      ok: false,
      route: 'default',
      close: false,
      ...untrusted(),
    });
  });

  it('is refused with its partner id once trust is unloaded after the handshake', async () => {
    const h = setUp({ policy: POLICY });
    const agent = client(pki.clients['partner-a']);
    expect((await ask(agent, '/billing')).ok).toBe(true);
    h.trust.current = undefined;
    expect(await ask(agent, '/billing')).toStrictEqual({
      ok: false,
      route: 'billing',
      close: true,
      status: 403,
      error: 'other',
      title: REFUSAL_TITLES.other,
      message: REFUSAL_MESSAGES.other,
      details: {},
      partnerId: 'acme',
    });
  });

  it('is refused as revoked once a CRL listing it is loaded, under the revocation rules in force', async () => {
    const h = setUp();
    const agent = client(pki.clients.revoked);
    expect((await ask(agent, '/')).ok).toBe(true);
    h.trust.current = snapshotOf(devCrlIndex());
    const d = await ask(agent, '/');
    expect(d.ok === false && [d.error, d.status, d.close, d.partnerId, d.route, d.details]).toEqual([
      'revoked',
      403,
      true,
      'cn:revoked',
      'default',
      { subject: 'CN=revoked,O=Partner R', serial: serialOf(pki.clients.revoked), issuer: INTERMEDIATE },
    ]);
  });

  it('is refused when the request comes on a socket the gate never decided', async () => {
    setUp();
    const before = decisions.length;
    const req = httpRequest({ host: '127.0.0.1', port: plainPort, path: '/x' });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    res.resume();
    await once(res, 'end');
    expect(decisions.slice(before)).toStrictEqual([
      {
        ok: false,
        close: true,
        status: 403,
        error: 'other',
        title: REFUSAL_TITLES.other,
        message: REFUSAL_MESSAGES.other,
        details: {},
      },
    ]);
  });
});

describe('clientKey (the per-client connection limit)', () => {
  it('is the partner id for a declared partner, whatever its certificate', async () => {
    const h = setUp({
      policy: { ...POLICY, partners: [{ id: 'acme', match: [{ organization: ['Partner A'] }] }] },
    });
    await ask(client(pki.clients['partner-a']), '/');
    expect(h.authorizer.clientKey(lastVerdict())).toBe('partner:acme');
  });

  it('is the issuing CA and X-Client-Id for an undeclared client: two leaves of one CA and name share it', async () => {
    const h = setUp({ policy: POLICY });
    await ask(client(pki.clients['partner-b']), '/');
    const first = h.authorizer.clientKey(lastVerdict());
    expect(first).toBe(`undeclared:${JSON.stringify([fpOf(pki.intermediate), 'cn:partner-b'])}`);
    await ask(client(partnerBAgain), '/');
    expect(lastVerdict().identity.fingerprint256).toBe(fpOf(partnerBAgain));
    expect(h.authorizer.clientKey(lastVerdict())).toBe(first);
    await ask(client(partnerC), '/');
    expect(h.authorizer.clientKey(lastVerdict())).toBe(
      `undeclared:${JSON.stringify([fpOf(pki.intermediate), 'cn:partner-c'])}`,
    );
  });
});

describe('a chain of one certificate (a self-signed client certificate in the CA bundle)', () => {
  it('is its own trust anchor in whoami, and its issuer name keys the connection limit', async () => {
    const h = setUp({ devMode: true });
    const d = await ask(client(selfTrusted), WHOAMI_PATH);
    const v = lastVerdict();
    expect(v.chainFingerprints).toEqual([sha256(new X509Certificate(selfTrusted.certPem).raw)]);
    const body = (d.ok && d.local?.('rid-3')) as Record<string, unknown>;
    expect(body.chain).toMatchObject([{ subject: 'CN=self-trusted,O=Self', revocation: 'no_crl' }]);
    expect(h.authorizer.clientKey(v)).toBe(
      `undeclared:${JSON.stringify(['CN=self-trusted,O=Self', 'cn:self-trusted'])}`,
    );
  });
});

describe('whoami', () => {
  const chainOf = (revocation: readonly string[]) =>
    [pki.clients['partner-a'], pki.intermediate, pki.root].map((c, i) => {
      const x = new X509Certificate(c.certPem);
      return {
        subject: ['CN=partner-a,O=Partner A', INTERMEDIATE, `CN=mtls-gateway dev root CA,${DEV}`][i],
        issuer: [INTERMEDIATE, `CN=mtls-gateway dev root CA,${DEV}`, `CN=mtls-gateway dev root CA,${DEV}`][i],
        serial: x.serialNumber,
        fingerprint256: fpOf(c),
        not_after: `${new Date(x.validTo).toISOString().slice(0, 19)}Z`,
        revocation: revocation[i],
      };
    });

  it('is answered by the gateway when the policy enables it, with the chain and its CRL coverage', async () => {
    setUp({ policy: { ...POLICY, whoami: true }, trust: snapshotOf(devCrlIndex()) });
    const agent = client(pki.clients['partner-a']);
    const d = await ask(agent, `${WHOAMI_PATH}?x=1`);
    expect(d).toStrictEqual({
      ok: true,
      identityHeaders: [],
      clientAddress: '127.0.0.1',
      route: 'whoami',
      partnerId: 'acme',
      partnerLabel: 'acme',
      local: expect.any(Function),
    });
    const body = (d.ok && d.local?.('rid-1')) as Record<string, unknown>;
    expect(body.request_id).toBe('rid-1');
    expect(body.partner).toEqual({ id: 'acme', declared: true, matched_by: 'partners[0].match[0]' });
    expect(body.chain).toEqual(chainOf(['checked', 'checked', 'trust_anchor']));
    // Only its own path: everything else is routed as before.
    for (const path of ['/receipts', `${WHOAMI_PATH}/x`]) {
      const other = await ask(agent, path);
      expect(other.ok && [other.route, other.target, 'local' in other]).toEqual([
        path === '/receipts' ? 'receipts' : 'default',
        path,
        false,
      ]);
    }
    expect(body.routes).toEqual([
      { name: 'admin', prefix: '/admin', methods: ['GET'] },
      { name: 'billing', prefix: '/billing', methods: 'any' },
      { name: 'receipts', prefix: '/receipts', methods: 'any' },
      { name: 'default', prefix: '/', methods: 'any' },
    ]);
  });

  it("says 'no_crl' for an element whose issuer has no CRL loaded", async () => {
    setUp({ devMode: true });
    const d = await ask(client(pki.clients['partner-a']), WHOAMI_PATH);
    const body = (d.ok && d.local?.('rid-2')) as Record<string, unknown>;
    expect(d.ok && d.route).toBe('whoami');
    expect(body.chain).toEqual(chainOf(['no_crl', 'no_crl', 'trust_anchor']));
  });

  it('follows dev mode when the policy does not say, and is forwarded when either turns it off', async () => {
    const forwarded = (partnerId: string, label: string) => ({
      ok: true,
      route: 'default',
      target: WHOAMI_PATH,
      upstream: UPSTREAM,
      partnerId,
      partnerLabel: label,
    });
    setUp({ policy: POLICY, devMode: true });
    const local = await ask(client(pki.clients['partner-a']), WHOAMI_PATH);
    expect(local.ok && [local.route, typeof local.local]).toEqual(['whoami', 'function']);
    setUp({ policy: { ...POLICY, whoami: false }, devMode: true });
    expect(await ask(client(pki.clients['partner-a']), WHOAMI_PATH)).toMatchObject(forwarded('acme', 'acme'));
    setUp({ devMode: false });
    expect(await ask(client(pki.clients['partner-a']), WHOAMI_PATH)).toMatchObject(
      forwarded('cn:partner-a', 'undeclared'),
    );
  });
});

describe('reload', () => {
  it("is 'unchanged', and not counted, without GATEWAY_CONFIG", async () => {
    const h = setUp();
    expect(h.authorizer.reload()).toBe('unchanged');
    expect(await reloads(h.metrics)).toEqual({});
    expect(h.synced).toEqual([[UPSTREAM]]);
  });

  it("is 'unchanged' for the same text, 'success' for a new one that decides the next request", async () => {
    const h = setUp({ policy: POLICY });
    const agent = client(pki.clients['partner-b']);
    const before = await ask(agent, '/billing');
    expect(before.ok).toBe(false);
    expect(h.authorizer.reload()).toBe('unchanged');
    expect(h.synced).toHaveLength(1);
    const next = {
      ...POLICY,
      routes: [{ name: 'billing', prefix: '/billing', upstream: 'http://127.0.0.1:9003', allow: ['*'] }],
    };
    policyFile('gateway.json', next);
    expect(h.authorizer.reload()).toBe('success');
    expect(h.synced.at(-1)).toEqual(['http://127.0.0.1:9003', UPSTREAM]);
    expect(h.logs.events('policy')).toMatchObject([
      { level: 'info', msg: 'GATEWAY_CONFIG reloaded', file: join(dir, 'gateway.json') },
    ]);
    const after = await ask(agent, '/billing');
    expect(after.ok && [after.route, after.upstream]).toEqual(['billing', 'http://127.0.0.1:9003']);
    expect(await reloads(h.metrics)).toEqual({ unchanged: 1, success: 1 });
  });

  it("is a 'failure' for a file that fails validation, logged, and the policy in force keeps deciding", async () => {
    const h = setUp({ policy: POLICY });
    const agent = client(pki.clients['partner-b']);
    policyFile('gateway.json', { routes: [{ name: 'x', prefix: '/x', allow: ['nobody'] }] });
    expect(h.authorizer.reload()).toBe('failure');
    expect(h.synced).toHaveLength(1);
    expect(h.logs.events('policy')).toMatchObject([
      {
        level: 'error',
        msg: 'GATEWAY_CONFIG reload rejected; the policy in force is kept',
        file: join(dir, 'gateway.json'),
        error: "routes[0].allow[0]: 'nobody' is not a partner id declared in partners",
      },
    ]);
    const d = await ask(agent, '/billing');
    expect(d.ok === false && d.message).toBe(
      "The undeclared client 'cn:partner-b' may not call route 'billing' (refused by routes[1].allow).",
    );
    // The text that failed is not remembered: the same bad file fails again.
    expect(h.authorizer.reload()).toBe('failure');
    // The text in force is still the first file's: writing it back changes nothing.
    policyFile('gateway.json', POLICY);
    expect(h.authorizer.reload()).toBe('unchanged');
    expect(await reloads(h.metrics)).toEqual({ failure: 2, unchanged: 1 });
  });

  it('keeps the identity headers of a connection whose partner id stays, and rebuilds them when it changes', async () => {
    const h = setUp({ policy: POLICY });
    const agent = client(pki.clients['partner-a']);
    const first = await ask(agent, '/billing');
    policyFile('gateway.json', { ...POLICY, routes: [] });
    expect(h.authorizer.reload()).toBe('success');
    const same = await ask(agent, '/billing');
    expect(same.ok && [same.route, same.partnerId]).toEqual(['default', 'acme']);
    expect(same.ok && same.identityHeaders).toBe(first.ok && first.identityHeaders);
    policyFile('gateway.json', {
      partners: [{ id: 'globex', match: [{ commonName: ['partner-a'] }] }],
      routes: [],
    });
    expect(h.authorizer.reload()).toBe('success');
    const renamed = await ask(agent, '/billing');
    expect(renamed.ok && [renamed.partnerId, renamed.partnerLabel]).toEqual(['globex', 'globex']);
    expect(headerOf(renamed, 'x-client-id')).toBe('globex');
    expect(renamed.ok && renamed.identityHeaders).toEqual(
      identityHeaders(lastVerdict().identity, 'globex', ['gateway'], true),
    );
    policyFile('gateway.json', { routes: [] });
    expect(h.authorizer.reload()).toBe('success');
    const undeclared = await ask(agent, '/billing');
    expect(headerOf(undeclared, 'x-client-id')).toBe('cn:partner-a');
    expect(headerOf(undeclared, 'x-client-declared')).toBe('false');
  });
});
