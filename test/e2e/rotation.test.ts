/**
 * Trust rotation end to end: a real gateway reads its CA bundle and server certificate from the
 * local Secrets Manager server through the real AWS SDK, polls every second, and must follow
 * rotations without dropping a request, never install broken material, and hold back a bundle
 * that would lock out most recently active partners unless it is marked as forced.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Issued, issue, makeCrl } from '../../src/dev/pki.js';
import { FORCE_STAGE_LABEL } from '../../src/trust/rotation-guard.js';
import { setHttpsSourceDispatcher } from '../../src/trust/sources/index.js';
import type { TrustStatus } from '../../src/trust/trust-status.js';
import {
  clientAgent,
  get,
  type LogLine,
  metricValue,
  refusal,
  startTestGateway,
  type TestGateway,
  trustOf,
} from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';

let pki: TestPki;
let sm: SecretsManagerServer;
let root2: Issued;
/** The dev intermediate + root: trusts partner-a, partner-b. */
let devBundle: string;
const savedEnv = { ...process.env };
let gw: TestGateway | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  Object.assign(process.env, sm.env());
  root2 = await issue(undefined, { subject: 'O=Partner Two, CN=partner two root CA', ca: true });
  await pki.addClient('newco', await issue(root2, { subject: 'O=NewCo, CN=newco' }));
  devBundle = pki.pki.files['ca-bundle.pem']!;
});
afterAll(async () => {
  process.env = savedEnv;
  await sm?.close();
  await pki?.cleanup();
});
afterEach(async () => {
  sm.clearFault();
  await gw?.close();
  gw = undefined;
});

/** A gateway whose CA bundle and server credentials live in Secrets Manager (secrets `<prefix>-…`). */
async function startSmGateway(
  prefix: string,
  bundle: string,
  env: Record<string, string> = {},
): Promise<TestGateway> {
  sm.put(`${prefix}-ca`, bundle);
  sm.put(`${prefix}-cert`, pki.pki.files['server.pem']!);
  sm.put(`${prefix}-key`, pki.pki.files['server-key.pem']!);
  gw = await startTestGateway(pki, {
    GATEWAY_CA_BUNDLE: `secretsmanager:${prefix}-ca`,
    GATEWAY_SERVER_CERT: `secretsmanager:${prefix}-cert`,
    GATEWAY_SERVER_KEY: `secretsmanager:${prefix}-key`,
    GATEWAY_TRUST_REFRESH_SECONDS: '1',
    GATEWAY_LOG_LEVEL: 'info',
    ...env,
  });
  return gw;
}

const installed = (version: string) => (l: LogLine) =>
  l.msg === 'trust snapshot installed' && l.ca_bundle_version === version;

/** Status of one request on a fresh connection; a refusal (its one answer) as `status error`. */
async function freshStatus(g: TestGateway, client: string): Promise<number | string> {
  const agent = clientAgent(pki, client);
  try {
    const r = await refusal(`${g.url}/x`, agent);
    return r.status === 200 ? 200 : `${r.status} ${r.error}`;
  } finally {
    await agent.destroy();
  }
}

const trustStatus = (g: TestGateway): Promise<TrustStatus> => trustOf(g.adminUrl);

async function readyStatus(g: TestGateway): Promise<number> {
  return (await fetch(`${g.adminUrl}/readyz`)).status;
}

/** Clients sending requests back to back until stopped; counts successes and failures. */
function load(g: TestGateway, clients: readonly string[]) {
  let running = true;
  const result = { ok: 0, failed: [] as string[] };
  const loops = clients.map(async (name, i) => {
    // The last client opens a new connection for every request: it sees every new context.
    const fresh = i === clients.length - 1;
    let agent = clientAgent(pki, name);
    while (running) {
      try {
        const res = await get(`${g.url}/load/${name}`, agent);
        if (res.status === 200) result.ok++;
        else result.failed.push(`${name}: ${res.status}`);
      } catch (err) {
        result.failed.push(`${name}: ${(err as Error).message}`);
      }
      if (fresh) {
        await agent.destroy();
        agent = clientAgent(pki, name);
      }
    }
    await agent.destroy();
  });
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

describe('rotation to a new CA', () => {
  it('accepts the new CA and refuses the removed one, new and open connections, within refresh + 1 s', async () => {
    const g = await startSmGateway('rot', devBundle, { GATEWAY_ROTATION_MAX_REFUSED_PERCENT: '100' });
    expect(await freshStatus(g, 'newco')).toBe('401 unknown_ca');
    const open = clientAgent(pki, 'partner-a');
    expect((await get(`${g.url}/before`, open)).status).toBe(200);

    const version = sm.put('rot-ca', root2.certPem);
    await g.logs.waitFor(installed(version));

    expect(await freshStatus(g, 'newco')).toBe(200);
    expect(await freshStatus(g, 'partner-a')).toBe('401 unknown_ca');
    // The open keep-alive connection of the removed CA's client: its next request gets the one
    // answer that names the reason, then the connection closes.
    expect(await refusal(`${g.url}/after`, open)).toEqual({
      status: 401,
      error: 'unknown_ca',
      connection: 'close',
    });
    expect(g.upstream.seen.some((s) => s.path === '/after')).toBe(false);
    await open.destroy();
    const status = await trustStatus(g);
    expect(status.ca_bundle?.version).toBe(version);
    expect(status.ca_bundle?.cas.map((c) => c.subject)).toEqual(['CN=partner two root CA,O=Partner Two']);
  });
});

describe('broken bundles are rejected and the old one kept', () => {
  it.each([
    ['garbage', async () => 'this is not PEM at all'],
    ['empty', async () => ''],
    ['a truncated block', async () => devBundle.slice(0, devBundle.length - 40)],
    [
      'an expired CA',
      async () =>
        (await issue(undefined, { subject: 'CN=old CA', ca: true, notBeforeDays: -30, notAfterDays: -1 }))
          .certPem + devBundle,
    ],
    ['a non-CA certificate', async () => pki.pki.files['partner-a.pem']! + devBundle],
  ])('%s', async (_name, make) => {
    const g = await startSmGateway('bad', devBundle);
    const good = sm.currentVersion('bad-ca')!;
    const bad = sm.put('bad-ca', await make());
    await g.gateway.trust.refresh();
    const status = await trustStatus(g);
    expect(status.ca_bundle?.version).toBe(good);
    expect(status.last_rejected[0]).toMatchObject({ kind: 'ca_bundle', source: 'secretsmanager:bad-ca' });
    expect(status.ca_bundle?.last_rejected?.kind).toBe('ca_bundle');
    expect(await readyStatus(g)).toBe(200);
    expect(await freshStatus(g, 'partner-a')).toBe(200);
    const log = await g.logs.waitFor((l) => l.event === 'trust' && l.result === 'rejected');
    expect(log).toMatchObject({ kind: 'ca_bundle', kept: good });
    expect(bad).not.toBe(good);
    const metrics = await (await fetch(`${g.adminUrl}/metrics`)).text();
    expect(
      metricValue(metrics, 'mtls_gateway_trust_reloads_total', { kind: 'ca_bundle', result: 'failure' }),
    ).toBe(1);
  });
});

describe('the lock-out guard', () => {
  it('holds back a bundle that would cut off most active partners, until it is marked forced', async () => {
    const g = await startSmGateway('guard', devBundle + root2.certPem);
    for (const name of ['partner-a', 'partner-b', 'newco']) expect(await freshStatus(g, name)).toBe(200);

    // Only root2: partner-a and partner-b (2 of 3 active partners, 67% > 50%) would be cut off.
    const risky = sm.put('guard-ca', root2.certPem);
    await g.gateway.trust.refresh();
    const status = await trustStatus(g);
    expect(status.ca_bundle?.version).toEqual(expect.any(String)); // the bundle in force stays
    expect(status.ca_bundle?.version).not.toBe(risky);
    expect(status.guard.ca_bundle?.blocked_version).toBe(risky);
    expect(status.guard.ca_bundle?.would_refuse.map((w) => w.partner).sort()).toEqual([
      'cn:partner-a',
      'cn:partner-b',
    ]);
    const log = await g.logs.waitFor((l) => l.result === 'guard_blocked');
    expect(log).toMatchObject({ event: 'trust', kind: 'ca_bundle', active_partners: 3 });
    const metrics = await (await fetch(`${g.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'mtls_gateway_trust_guard_blocked_total', { kind: 'ca_bundle' })).toBe(1);
    expect(await freshStatus(g, 'partner-a')).toBe(200);

    // The operator means it: the force label on that version lets the next poll activate it.
    sm.label('guard-ca', FORCE_STAGE_LABEL, risky);
    await g.logs.waitFor(installed(risky));
    expect((await trustStatus(g)).guard.ca_bundle).toBeNull();
    expect(await freshStatus(g, 'partner-a')).toBe('401 unknown_ca');
    expect(await freshStatus(g, 'newco')).toBe(200);
  });

  it('is bypassed by a "# mtls-gateway: force" first line in the PEM', async () => {
    const g = await startSmGateway('guard2', devBundle + root2.certPem);
    for (const name of ['partner-a', 'partner-b', 'newco']) expect(await freshStatus(g, name)).toBe(200);
    const plain = sm.put('guard2-ca', root2.certPem);
    await g.gateway.trust.refresh();
    expect((await trustStatus(g)).guard.ca_bundle?.blocked_version).toBe(plain);
    expect(await freshStatus(g, 'partner-a')).toBe(200);
    const forced = sm.put('guard2-ca', `# mtls-gateway: force\n${root2.certPem}`);
    await g.gateway.trust.refresh();
    expect((await trustStatus(g)).ca_bundle?.version).toBe(forced);
    await g.logs.waitFor((l) => l.result === 'guard_bypassed');
    expect(await freshStatus(g, 'partner-a')).toBe('401 unknown_ca');
    expect(await freshStatus(g, 'newco')).toBe(200);
  });

  it('never holds back the revocation of a single partner, even the only active one', async () => {
    const crlFile = await pki.write('crl-guard3.pem', pki.pki.files['crl.pem']!);
    const g = await startSmGateway('guard3', devBundle, { GATEWAY_CRLS: crlFile });
    expect(await freshStatus(g, 'partner-b')).toBe(200);
    const crl = await makeCrl(pki.pki.intermediate, {
      crlNumber: 9,
      revoked: [{ serialHex: pki.pki.clients['partner-b'].serialHex }],
    });
    await pki.write('crl-guard3.pem', (await makeCrl(pki.pki.root)) + crl);
    await g.gateway.trust.refresh();
    expect(await freshStatus(g, 'partner-b')).toBe('403 revoked');
    const refused = await g.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'revoked');
    expect(refused.serial).toBe(pki.pki.clients['partner-b'].serialHex);
    // The refresh refuses partner-b alone: partner-a, under the same intermediate, is still served.
    expect(await freshStatus(g, 'partner-a')).toBe(200);
    expect(g.upstream.seen.at(-1)?.headers['x-client-subject']).toBe('CN=partner-a,O=Partner A');
    expect((await trustStatus(g)).guard.ca_bundle).toBeNull();
    await g.logs.waitFor((l) => l.kind === 'crl' && l.result === 'guard_passed');
  });
});

describe('source outages', () => {
  it.each([
    ['500s', 'internal', 'InternalServiceError'],
    ['AccessDenied', 'access_denied', 'AccessDeniedException'],
    ['a hang', 'hang', 'TIMEOUT'],
  ] as const)(
    '%s: the snapshot stays, zero failed requests, logged with the AWS error name',
    async (_n, fault, code) => {
      const g = await startSmGateway(`out-${fault}`, devBundle);
      const traffic = load(g, ['partner-a', 'partner-b']);
      try {
        sm.injectFault(fault);
        await g.gateway.trust.refresh();
        const log = await g.logs.waitFor((l) => l.event === 'trust' && l.result === 'rejected');
        expect(log.error_code).toBe(code);
        expect(String(log.reason)).toContain(code);
        expect(await readyStatus(g)).toBe(200);
        sm.clearFault();
        const next = sm.put(`out-${fault}-ca`, devBundle + root2.certPem);
        await g.gateway.trust.refresh();
        expect((await trustStatus(g)).ca_bundle?.version).toBe(next);
      } finally {
        await traffic.stop();
      }
      const result = traffic.result;
      expect(result.failed).toEqual([]);
      expect(result.ok).toBeGreaterThan(0);
    },
  );
});

describe('rotation under load', () => {
  it('20 rotations between two bundles that both trust the clients: zero failed requests', async () => {
    const bundles = [devBundle + root2.certPem, root2.certPem + devBundle + pki.pki.rogue.certPem];
    const g = await startSmGateway('load', bundles[0]!);
    const traffic = load(g, ['partner-a', 'partner-b', 'newco', 'partner-a']);
    const versions: string[] = [];
    try {
      for (let i = 1; i <= 20; i++) {
        versions.push(sm.put('load-ca', bundles[i % 2]!));
        await g.gateway.trust.refresh();
      }
    } finally {
      await traffic.stop();
    }
    const result = traffic.result;
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThan(40);
    for (const v of versions) expect(g.logs.lines.some(installed(v))).toBe(true);
  });
});

describe('server certificate rotation', () => {
  it('new handshakes see the new certificate; a mismatched key is never installed', async () => {
    const g = await startSmGateway('srv', devBundle);
    const servedSerial = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({
          port: g.port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: pki.pki.root.certPem,
          cert: pki.pki.files['partner-a.pem'],
          key: pki.pki.files['partner-a-key.pem'],
        });
        s.once('secureConnect', () => {
          resolve(s.getPeerX509Certificate()!.serialNumber);
          s.destroy();
        });
        s.once('error', reject);
      });
    expect(await servedSerial()).toBe(pki.pki.server.serialHex);
    const next = await issue(pki.pki.intermediate, {
      subject: 'O=mtls-gateway development, CN=localhost',
      eku: ['1.3.6.1.5.5.7.3.1'],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    // The certificate first, alone: it does not match the key in force, so it is refused.
    sm.put('srv-cert', next.certPem + pki.pki.intermediate.certPem);
    await g.gateway.trust.refresh();
    expect(await servedSerial()).toBe(pki.pki.server.serialHex);
    expect((await trustStatus(g)).last_rejected[0]).toMatchObject({ kind: 'server_cert' });
    sm.put('srv-key', next.keyPem);
    await g.gateway.trust.refresh();
    expect(await servedSerial()).toBe(next.serialHex);
    expect(await freshStatus(g, 'partner-a')).toBe(200);
  });
});

describe('CRLs from an https source', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('revocations published at the URL take effect; unchanged CRLs cost a 304', async () => {
    const intermediate = pki.pki.intermediate;
    let crl = await makeCrl(intermediate, { crlNumber: 5 });
    const counts = { full: 0, notModified: 0 };
    let onNotModified = (): void => undefined;
    server = createHttpsServer(
      { cert: pki.pki.files['server.pem'], key: pki.pki.files['server-key.pem'] },
      (req, res) => {
        const etag = `"${crl.length}-${crl.slice(-20, -12)}"`;
        if (req.headers['if-none-match'] === etag) {
          counts.notModified++;
          onNotModified();
          res.writeHead(304, { etag }).end();
          return;
        }
        counts.full++;
        res.writeHead(200, { etag }).end(crl);
      },
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    setHttpsSourceDispatcher(new Agent({ connect: { ca: pki.pki.root.certPem } }));
    const g = await startSmGateway('crl', devBundle, {
      GATEWAY_CRLS: `https://localhost:${port}/intermediate.crl`,
      GATEWAY_ROTATION_MAX_REFUSED_PERCENT: '100',
    });
    expect(await freshStatus(g, 'partner-b')).toBe(200);
    // Scheduled polls ask with If-None-Match: an unchanged CRL is answered 304.
    await new Promise<void>((resolve) => {
      onNotModified = resolve;
    });
    const fullBefore = counts.full;

    crl = await makeCrl(intermediate, {
      crlNumber: 6,
      revoked: [{ serialHex: pki.pki.clients['partner-b'].serialHex }],
    });
    // Scheduled polls send If-None-Match and receive the new body once it changed.
    await g.logs.waitFor((l) => l.kind === 'crl' && l.result === 'in_force' && l.crl_number === '6');
    expect(counts.full).toBe(fullBefore + 1);
    expect(await freshStatus(g, 'partner-b')).toBe('403 revoked');
    expect(await freshStatus(g, 'partner-a')).toBe(200);
  });
});
