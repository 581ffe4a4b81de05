/**
 * A guard hold for time only, across a task's workers (issue 20, with the fleet labels of issue
 * 15). A Secrets Manager version whose only intermediate is a renewal not valid yet would refuse
 * every active partner (`not_yet_valid`): the primary holds it back and no worker installs it
 * early. But the reason is the clock, not the material: the version is never labelled MTLSGW_HELD
 * (a fleet-wide hold would outlive the reason and make every new task skip it), and it is decided
 * again until it loads, once the renewal is valid, with every partner served throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { issue } from '../../src/dev/pki.js';
import { clientAgent, get, type LogLine } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { type ServeProcess, startServe } from '../helpers/serve-process.js';

const SECRET = 'fleet-ca-time';
const AHEAD_SECONDS = 3;

let pki: TestPki;
let sm: SecretsManagerServer;
let upstream: EchoUpstream;
let task: ServeProcess | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  upstream = await startEchoUpstream('127.0.0.1', 0);
});
afterAll(async () => {
  task?.kill();
  await upstream?.close();
  await sm?.close();
  await pki?.cleanup();
});

/** Status of one request on a fresh connection (any worker may take it), or 'refused'. */
async function fresh(t: ServeProcess, client: string): Promise<number | 'refused'> {
  const agent = clientAgent(pki, client);
  try {
    return (await get(`https://localhost:${t.tlsPort}/receipts`, agent)).status;
  } catch {
    return 'refused';
  } finally {
    await agent.destroy();
  }
}

async function statuses(t: ServeProcess): Promise<(number | string)[]> {
  return Promise.all(['partner-a', 'partner-b', 'partner-a', 'partner-b'].map((c) => fresh(t, c)));
}

const installed = (version: string) => (l: LogLine) =>
  l.msg === 'trust snapshot installed' && l.ca_bundle_version === version;

describe('a guard hold for time only, with fleet labels', { timeout: 30_000 }, () => {
  it('is never labelled MTLSGW_HELD and loads once the renewal is valid', async () => {
    const good = sm.put(SECRET, pki.pki.files['ca-bundle.pem']!);
    task = await startServe(pki, upstream.port, {
      ...sm.env(),
      GATEWAY_WORKERS: '2',
      GATEWAY_CA_BUNDLE: `secretsmanager:${SECRET}`,
      GATEWAY_TRUST_REFRESH_SECONDS: '1',
    });
    const t = task;
    await t.waitLog((l) => l.result === 'labelled_last_good' && l.version === good);
    for (let i = 0; i < 500; i++) {
      const r = await fetch(`http://127.0.0.1:${t.adminPort}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      await new Promise((done) => setTimeout(done, 20));
    }
    const served = [200, 200, 200, 200];
    expect(await statuses(t)).toEqual(served);

    const renewed = await issue(pki.pki.root, {
      subject: 'O=mtls-gateway development, CN=mtls-gateway dev intermediate CA',
      ca: true,
      keys: pki.pki.intermediate.keys,
      notBeforeDays: AHEAD_SECONDS / 86_400,
    });
    const from = t.lines.length;
    const early = sm.put(SECRET, renewed.certPem + pki.pki.root.certPem);
    const blocked = await t.waitLog((l) => l.result === 'guard_blocked' && l.version === early, from);
    const reasons = new Set((blocked.would_refuse as { reason: string }[]).map((w) => w.reason));
    expect([...reasons]).toEqual(['not_yet_valid']);
    // Held back for now: no worker installed it, and the bundle in force still serves everyone.
    expect(t.lines.some(installed(early))).toBe(false);
    expect(await statuses(t)).toEqual(served);

    // Once the renewal is valid the same version loads (no SIGHUP, no new push) ...
    await t.waitLog(installed(early), from);
    await t.waitLog((l) => l.result === 'labelled_last_good' && l.version === early, from);
    expect(await statuses(t)).toEqual(served);
    // ... and it was never labelled held for the fleet.
    expect(t.lines.slice(from).some((l) => l.result === 'labelled_held')).toBe(false);
    expect(sm.stagesOf(SECRET, early)).not.toContain('MTLSGW_HELD');
    expect(sm.stagesOf(SECRET, early)).toEqual(expect.arrayContaining(['AWSCURRENT', 'MTLSGW_LAST_GOOD']));
  });
});
