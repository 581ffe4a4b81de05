/**
 * Every CloudWatch Logs metric filter of cloudformation/gateway.yaml, evaluated against the log
 * lines a real gateway writes (not against string literals in src/): a revoked client, a route whose
 * upstream is down, a CRL close to and one past its nextUpdate, a lock-out bundle held back by the
 * guard, a malformed bundle rejected, the server certificate's expiry line. Each filter must match
 * the lines of its event and no line of an unrelated one, and each alarm must read a metric that
 * one of the filters produces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, makeCrl } from '../../src/dev/pki.js';
import { clientAgent, get, type LogLine, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { parseTemplate } from './cfn.js';

const template = parseTemplate(join(import.meta.dirname, '../../cloudformation/gateway.yaml'));
const resources = Object.entries(template.Resources);
const filters = resources
  .filter(([, r]) => r.Type === 'AWS::Logs::MetricFilter')
  .map(([name, r]) => {
    const p = r.Properties as { FilterPattern: string; MetricTransformations: { MetricName: string }[] };
    return { name, pattern: p.FilterPattern, metric: p.MetricTransformations[0]!.MetricName };
  });

type Condition = { field: string; op: string; value: string | number };

/** The subset of CloudWatch's JSON filter syntax the template uses: `{ ($.a = "x") && ($.n >= 5) }`. */
function parsePattern(pattern: string): Condition[] {
  const body = /^\{\s*(.*)\s*\}$/.exec(pattern.trim());
  if (!body) throw new Error(`not a JSON filter pattern: ${pattern}`);
  return body[1]!.split('&&').map((part) => {
    const m = /^\(?\s*\$\.(\w+)\s*(=|!=|>=|<=|>|<)\s*("([^"]*)"|-?\d+(?:\.\d+)?)\s*\)?$/.exec(part.trim());
    if (!m) throw new Error(`unsupported condition '${part}' in ${pattern}`);
    return { field: m[1]!, op: m[2]!, value: m[4] !== undefined ? m[4] : Number(m[3]) };
  });
}

function matches(pattern: string, line: LogLine): boolean {
  return parsePattern(pattern).every(({ field, op, value }) => {
    const v = line[field];
    if (v === undefined) return false;
    if (typeof value === 'string') return op === '=' ? v === value : op === '!=' ? v !== value : false;
    if (typeof v !== 'number') return false;
    return op === '>='
      ? v >= value
      : op === '<='
        ? v <= value
        : op === '>'
          ? v > value
          : op === '<'
            ? v < value
            : op === '='
              ? v === value
              : v !== value;
  });
}

let pki: TestPki;
let gw: TestGateway;
const HOUR = 1 / 24;

beforeAll(async () => {
  pki = await makeTestPki();
  const { root, intermediate, clients } = pki.pki;
  // The root's CRL is past its nextUpdate (within the grace, so nobody is refused for it); the
  // intermediate's is in the last quarter of its window.
  const crls = await pki.write(
    'crls-near.pem',
    (await makeCrl(root, { thisUpdateDays: -2, nextUpdateDays: -HOUR })) +
      (await makeCrl(intermediate, {
        thisUpdateDays: -3,
        nextUpdateDays: HOUR,
        revoked: [{ serialHex: clients.revoked.serialHex }],
      })),
  );
  const bundle = await pki.write('bundle-live.pem', pki.pki.files['ca-bundle.pem']!);
  const config = await pki.write(
    'gateway.json',
    JSON.stringify({
      routes: [{ name: 'dead', prefix: '/dead', upstream: 'http://127.0.0.1:9', allow: ['*'] }],
    }),
  );
  gw = await startTestGateway(pki, {
    GATEWAY_CRLS: crls,
    GATEWAY_CA_BUNDLE: bundle,
    GATEWAY_CONFIG: config,
    GATEWAY_CRL_GRACE_SECONDS: '86400',
    GATEWAY_LOG_LEVEL: 'info',
  });
  // Two active partners, a refused one, a request that works and one whose upstream is down.
  for (const name of ['partner-a', 'partner-b']) {
    const agent = clientAgent(pki, name);
    expect((await get(`${gw.url}/receipts`, agent)).status).toBe(200);
    await agent.destroy();
  }
  const dead = clientAgent(pki, 'partner-a');
  expect((await get(`${gw.url}/dead`, dead)).status).toBe(502);
  await dead.destroy();
  await get(`${gw.url}/`, clientAgent(pki, 'revoked')).catch(() => undefined);
  await gw.logs.waitFor((l) => l.event === 'handshake' && l.result === 'failure');
  // A lock-out bundle (neither partner's CA) is held back; then a malformed one is rejected.
  const other = await issue(undefined, { subject: 'O=Partner Two, CN=partner two root CA', ca: true });
  writeFileSync(bundle, other.certPem);
  await gw.gateway.trust.refresh();
  await gw.logs.waitFor((l) => l.result === 'guard_blocked');
  writeFileSync(bundle, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
  await gw.gateway.trust.refresh();
  await gw.logs.waitFor((l) => l.event === 'trust' && l.result === 'rejected' && l.kind === 'ca_bundle');
  expect(readFileSync(bundle, 'utf8')).toContain('not base64');
});
afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
});

/** Which lines each filter is meant for: the event the gateway really writes for that signal. */
const meantFor: Record<string, (l: LogLine) => boolean> = {
  HandshakeFailures: (l) => l.event === 'handshake' && l.result === 'failure' && l.reason === 'revoked',
  CrlNearNextUpdate: (l) => l.msg === 'CRL is close to its nextUpdate',
  CrlPastNextUpdate: (l) => l.msg === 'CRL is past its nextUpdate',
  RotationHeldBack: (l) => l.result === 'guard_blocked',
  TrustReloadFailures: (l) => l.event === 'trust' && l.result === 'rejected',
  ServerCertDaysLeft: (l) => l.msg === 'server certificate expiry' && typeof l.days_left === 'number',
  Requests: (l) => l.event === 'request',
  Responses5xx: (l) => l.event === 'request' && l.status === 502,
};

describe('cloudformation/gateway.yaml metric filters, against the lines a gateway wrote', () => {
  it('has a filter for every signal the alarms need', () => {
    expect(filters.map((f) => f.metric).sort()).toEqual(Object.keys(meantFor).sort());
  });

  it.each(filters.map((f) => [f.metric, f] as const))('%s matches its own lines', (_metric, f) => {
    const lines = gw.logs.lines;
    const meant = lines.filter(meantFor[f.metric]!);
    expect(meant.length, `no line for ${f.metric} was written`).toBeGreaterThan(0);
    for (const l of meant) expect(matches(f.pattern, l), JSON.stringify(l)).toBe(true);
    // And nothing it should not count: every line it matches is one of its event's.
    const family = (l: LogLine): boolean =>
      f.metric === 'Requests' || f.metric === 'Responses5xx'
        ? l.event === 'request' && (f.metric === 'Requests' || (l.status as number) >= 500)
        : f.metric === 'HandshakeFailures'
          ? l.event === 'handshake' && l.result === 'failure'
          : meantFor[f.metric]!(l);
    expect(lines.filter((l) => matches(f.pattern, l) && !family(l))).toEqual([]);
  });

  it('the server certificate line carries the days left that the expiry alarm compares with 14', () => {
    const line = gw.logs.lines.find(meantFor.ServerCertDaysLeft!)!;
    const days = Math.floor((Date.parse(line.not_after as string) - Date.now()) / 86_400_000);
    expect(Math.abs((line.days_left as number) - days)).toBeLessThanOrEqual(1);
  });

  it('every alarm reads a metric a filter produces (or the NLB health metric)', () => {
    const produced = new Set([...filters.map((f) => f.metric), 'UnHealthyHostCount']);
    const alarms = resources.filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(10);
    for (const [name, r] of alarms) {
      const p = r.Properties as {
        MetricName?: string;
        Metrics?: { MetricStat?: { Metric: { MetricName: string } } }[];
      };
      const read = p.MetricName
        ? [p.MetricName]
        : (p.Metrics ?? []).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []));
      expect(read.length, name).toBeGreaterThan(0);
      for (const m of read) expect(produced.has(m), `${name} reads ${m}`).toBe(true);
    }
  });
});
