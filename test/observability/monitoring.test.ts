/**
 * The monitoring that ships in monitoring/ must work against the gateway that ships: every metric
 * the alert rules and the Grafana dashboard query exists on a live gateway's /metrics, promtool
 * accepts the rules and every dashboard query, the rules' unit tests pass (the alerts fire on the
 * series they are meant for), and the exposition itself passes `promtool check metrics`.
 * promtool comes from Debian's `prometheus` package, which .ci/run installs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, type TestGateway, useTestGateway } from '../helpers/gateway.js';
import type { TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const MONITORING = resolve(import.meta.dirname, '../../monitoring');
const alerts = readFileSync(join(MONITORING, 'alerts.yml'), 'utf8');
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
};
const dashboardExprs = dashboard.panels.flatMap((p) =>
  p.targets.map((t) => ({ panel: p.title, expr: t.expr })),
);

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** The metric families a PromQL text names (a histogram's _bucket/_sum/_count is its family). */
function familiesIn(text: string): string[] {
  const names = [...text.matchAll(/\bmtls_gateway_[a-z0-9_]+/g)].map((m) =>
    m[0].replace(/_(bucket|sum|count)$/, ''),
  );
  return [...new Set(names)].sort();
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mtlsgw-monitoring-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('monitoring/ (alert rules and Grafana dashboard)', () => {
  let pki: TestPki;
  let gw: TestGateway;
  useTestGateway({}, (started) => {
    ({ pki, gw } = started);
  });

  it('promtool is installed (.ci/run installs Debian package prometheus)', () => {
    expect(hasPromtool, 'promtool not found: apt-get install prometheus').toBe(true);
  });

  it('queries only metrics the gateway exports', async () => {
    const agent = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/receipts`, agent)).status).toBe(200);
    await agent.close();
    const exposed = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const families = new Set([...exposed.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const used = familiesIn(`${alerts}\n${dashboardExprs.map((e) => e.expr).join('\n')}`);
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !families.has(name))).toEqual([]);
  });

  it('promtool accepts the rules and their unit tests pass', async () => {
    const check = await run('promtool', ['check', 'rules', join(MONITORING, 'alerts.yml')]);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const unit = await run('promtool', ['test', 'rules', join(MONITORING, 'alerts.test.yml')]);
    expect(unit.stdout).toContain('SUCCESS');
  });

  it('every dashboard query is valid PromQL', async () => {
    // promtool parses expressions only inside rule files: one recording rule per panel query.
    const rules = `groups:\n  - name: dashboard\n    rules:\n${dashboardExprs
      .map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e.expr)}\n`)
      .join('')}`;
    const file = join(tmp, 'dashboard-rules.yml');
    await writeFile(file, rules);
    const check = await run('promtool', ['check', 'rules', file]);
    expect(check.stdout).toContain(`SUCCESS: ${dashboardExprs.length} rules found`);
  });

  it('the /metrics exposition passes promtool check metrics', async () => {
    const exposed = (await get(`${gw.adminUrl}/metrics`, clientAgent(pki, undefined))).text;
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: exposed, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    expect(lint.status).toBe(0);
  });
});
