/**
 * The expiry radar: earliest notAfter per partner label, a bounded memory (retention and size),
 * one warn a day per certificate inside the window, and the /trust/expiring report.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExpiryRadar } from '../../src/admin/expiry-radar.js';
import { createLogger, createMetrics } from '../../src/observability/index.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

function setup(maxEntries = 100) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const t of chunk.toString().split('\n')) if (t.trim()) lines.push(JSON.parse(t));
      done();
    },
  });
  const metrics = createMetrics({ defaultMetrics: false });
  let now = T0;
  const radar = new ExpiryRadar({ logger: createLogger('info', sink), metrics, maxEntries, now: () => now });
  const gauge = async (partner: string): Promise<number | undefined> =>
    (await metrics.clientCertNotAfter.get()).values.find((v) => v.labels.partner === partner)?.value;
  return { radar, lines, gauge, advance: (ms: number) => (now += ms) };
}

const cert = (n: number, notAfter: number) => ({
  fingerprint256: n.toString(16).padStart(64, '0'),
  subject: `CN=c${n}`,
  issuer: 'CN=ca',
  serial: n.toString(16).toUpperCase().padStart(2, '0'),
  notAfter,
});

describe('expiry radar', () => {
  it('exports the earliest notAfter per partner and lists certificates inside 30 days', async () => {
    const { radar, gauge } = setup();
    radar.observe(cert(1, T0 + 90 * DAY), 'partner-a', 'partner-a');
    radar.observe(cert(2, T0 + 10 * DAY), 'partner-a', 'partner-a');
    radar.observe(cert(3, T0 + 200 * DAY), 'partner-a', 'partner-a');
    radar.observe(cert(4, T0 + 20 * DAY), 'cn-x', 'undeclared');
    expect(await gauge('partner-a')).toBe((T0 + 10 * DAY) / 1000);
    expect(await gauge('undeclared')).toBe((T0 + 20 * DAY) / 1000);
    const report = radar.report() as { expiring: { partner: string; serial: string; days_left: number }[] };
    expect(report.expiring.map((e) => [e.partner, e.serial, e.days_left])).toEqual([
      ['partner-a', '02', 10],
      ['cn-x', '04', 20],
    ]);
  });

  it('warns once a day per expiring certificate, not for distant ones', () => {
    const { radar, lines, advance } = setup();
    const warns = () => lines.filter((l) => l.level === 'warn' && String(l.msg).includes('expires at'));
    radar.observe(cert(1, T0 + 5 * DAY), 'partner-a', 'partner-a');
    radar.observe(cert(1, T0 + 5 * DAY), 'partner-a', 'partner-a');
    radar.observe(cert(2, T0 + 300 * DAY), 'partner-a', 'partner-a');
    expect(warns()).toHaveLength(1);
    expect(warns()[0]).toMatchObject({ partner_id: 'partner-a', serial: '01', days_left: 5 });
    advance(DAY / 2);
    radar.sweep();
    expect(warns()).toHaveLength(1);
    advance(DAY / 2);
    radar.sweep(); // a day later, even without traffic
    expect(warns()).toHaveLength(2);
  });

  it('forgets certificates not seen for 7 days and drops their partner from the gauge', async () => {
    const { radar, gauge, advance } = setup();
    radar.observe(cert(1, T0 + 40 * DAY), 'old', 'old');
    advance(3 * DAY);
    radar.observe(cert(2, T0 + 50 * DAY), 'recent', 'recent');
    advance(5 * DAY);
    radar.sweep();
    expect(radar.size).toBe(1);
    expect(await gauge('old')).toBeUndefined();
    expect(await gauge('recent')).toBe((T0 + 50 * DAY) / 1000);
  });

  it('keeps at most maxEntries certificates, evicting the least recently seen', () => {
    const { radar } = setup(3);
    for (let i = 1; i <= 3; i++) radar.observe(cert(i, T0 + DAY), 'p', 'p');
    radar.observe(cert(1, T0 + DAY), 'p', 'p'); // 1 is now the most recent
    radar.observe(cert(4, T0 + DAY), 'p', 'p'); // evicts 2
    expect(radar.size).toBe(3);
    const serials = (radar.report() as { expiring: { serial: string }[] }).expiring
      .map((e) => e.serial)
      .sort();
    expect(serials).toEqual(['01', '03', '04']);
  });
});
