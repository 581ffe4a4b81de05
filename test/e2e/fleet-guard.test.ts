/**
 * The lock-out guard holds for the whole fleet (issue 15): real `serve` processes read their CA
 * bundle from the local Secrets Manager server through the real SDK. Two partners are active on a
 * task with two workers; a bundle trusting neither is put as a new version. The primary alone
 * decides (with the clients of both workers), holds it back and labels it MTLSGW_HELD on the
 * secret; a second task started afterwards reads the MTLSGW_LAST_GOOD version instead of the held
 * one; a forced push lifts the hold everywhere. Every active partner is served throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { type Issued, issue } from '../../src/dev/pki.js';
import { FORCE_STAGE_LABEL } from '../../src/trust/rotation-guard.js';
import type { TrustStatus } from '../../src/trust/trust-status.js';
import { clientAgent, type LogLine, metricValue, refusal, trustOf } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { SecretsManagerServer } from '../helpers/secrets-manager-server.js';
import { type ServeProcess, startServe } from '../helpers/serve-process.js';

let pki: TestPki;
let sm: SecretsManagerServer;
let upstream: EchoUpstream;
let root2: Issued;
const tasks: ServeProcess[] = [];
const SECRET = 'fleet-ca';

beforeAll(async () => {
  pki = await makeTestPki();
  sm = await SecretsManagerServer.start();
  upstream = await startEchoUpstream('127.0.0.1', 0);
  root2 = await issue(undefined, { subject: 'O=Partner Two, CN=partner two root CA', ca: true });
  await pki.addClient('newco', await issue(root2, { subject: 'O=NewCo, CN=newco' }));
});
afterAll(async () => {
  for (const t of tasks) t.kill();
  await upstream?.close();
  await sm?.close();
  await pki?.cleanup();
});

async function startTask(workers: number): Promise<ServeProcess> {
  const t = await startServe(pki, upstream.port, {
    ...sm.env(),
    GATEWAY_WORKERS: String(workers),
    GATEWAY_CA_BUNDLE: `secretsmanager:${SECRET}`,
    GATEWAY_TRUST_REFRESH_SECONDS: '1',
  });
  tasks.push(t);
  const admin = `http://127.0.0.1:${t.adminPort}`;
  for (let i = 0; i < 500; i++) {
    const r = await fetch(`${admin}/readyz`).catch(() => undefined);
    if (r?.status === 200) return t;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error('task never ready');
}

/** Status of one request on a fresh connection (any worker may take it); a refusal as `status error`. */
async function fresh(t: ServeProcess, client: string): Promise<number | string> {
  const agent = clientAgent(pki, client);
  try {
    const r = await refusal(`https://localhost:${t.tlsPort}/receipts`, agent);
    return r.status === 200 ? 200 : `${r.status} ${r.error}`;
  } finally {
    await agent.destroy();
  }
}

/** Several fresh connections per partner, so that both workers of a task serve each. */
async function statuses(
  t: ServeProcess,
  clients: readonly string[],
): Promise<Record<string, (number | string)[]>> {
  const out: Record<string, (number | string)[]> = {};
  for (const c of clients) out[c] = await Promise.all(Array.from({ length: 4 }, () => fresh(t, c)));
  return out;
}

const trustOfServe = (t: ServeProcess): Promise<TrustStatus> => trustOf(`http://127.0.0.1:${t.adminPort}`);

/** The secret's versions with their labels, as `aws secretsmanager list-secret-version-ids` lists them. */
const labels = (...versions: string[]): Record<string, readonly string[]> =>
  Object.fromEntries(versions.map((v) => [v, sm.stagesOf(SECRET, v)]));

const installed = (version: string) => (l: LogLine) =>
  l.msg === 'trust snapshot installed' && l.ca_bundle_version === version;

describe('the lock-out guard across workers and tasks (Secrets Manager labels)', () => {
  it('holds a lock-out bundle back once per task, for every task, until a forced push', async () => {
    const good = sm.put(SECRET, pki.pki.files['ca-bundle.pem']!);
    const a = await startTask(2);
    await a.waitLog((l) => l.result === 'labelled_last_good' && l.version === good);
    const afterInstall = labels(good);
    expect(afterInstall[good]).toEqual(expect.arrayContaining(['AWSCURRENT', 'MTLSGW_LAST_GOOD']));
    const served = { 'partner-a': [200, 200, 200, 200], 'partner-b': [200, 200, 200, 200] };
    expect(await statuses(a, ['partner-a', 'partner-b'])).toEqual(served);

    // A bundle that trusts neither active partner: held back by the task's primary, labelled.
    const lockout = sm.put(SECRET, root2.certPem);
    const from = a.lines.length;
    const blocked = await a.waitLog((l) => l.result === 'guard_blocked', from);
    expect(blocked).toMatchObject({
      role: 'primary',
      kind: 'ca_bundle',
      version: lockout,
      active_partners: 2,
    });
    await a.waitLog((l) => l.result === 'labelled_held' && l.version === lockout, from);
    const afterHold = labels(good, lockout);
    expect(afterHold[lockout]).toEqual(expect.arrayContaining(['AWSCURRENT', 'MTLSGW_HELD']));
    expect(afterHold[good]).toEqual(expect.arrayContaining(['AWSPREVIOUS', 'MTLSGW_LAST_GOOD']));
    expect(await statuses(a, ['partner-a', 'partner-b'])).toEqual(served);
    expect((await trustOfServe(a)).guard.ca_bundle?.blocked_version).toBe(lockout);
    const metrics = await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text();
    expect(metricValue(metrics, 'mtls_gateway_trust_guard_blocked_total', { kind: 'ca_bundle' })).toBe(1);
    // No worker ever installed the held version.
    expect(a.lines.some(installed(lockout))).toBe(false);

    // A task started after the hold (scale-out, replacement) serves the last good version.
    const b = await startTask(1);
    const held = await b.waitLog((l) => l.result === 'fleet_held');
    expect(held).toMatchObject({ held_version: lockout, version: good });
    expect((await trustOfServe(b)).ca_bundle?.version).toBe(good);
    expect((await trustOfServe(b)).fleet_held).toEqual([
      { source: `secretsmanager:${SECRET}`, held_version: lockout, serving_version: good },
    ]);
    expect(await statuses(b, ['partner-a', 'partner-b'])).toEqual(served);

    // The operator means it: a forced push lifts the hold on every task.
    const forced = sm.put(SECRET, root2.certPem);
    sm.label(SECRET, FORCE_STAGE_LABEL, forced);
    await Promise.all([a.waitLog(installed(forced), from), b.waitLog(installed(forced))]);
    for (const t of [a, b]) {
      expect(await fresh(t, 'newco')).toBe(200);
      expect(await fresh(t, 'partner-a')).toBe('401 unknown_ca');
    }
    await a.waitLog((l) => l.result === 'labelled_last_good' && l.version === forced, from);
    const lifted = labels(good, lockout, forced);
    expect(lifted[forced]).toEqual(
      expect.arrayContaining(['AWSCURRENT', FORCE_STAGE_LABEL, 'MTLSGW_LAST_GOOD']),
    );
    expect(lifted[good]).not.toContain('MTLSGW_LAST_GOOD');
    // The staging labels at each step, as list-secret-version-ids would show them.
    console.log(JSON.stringify({ installed: afterInstall, held: afterHold, lifted }, null, 1));
  }, 90_000);
});
