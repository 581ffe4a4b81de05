/**
 * source-reads.ts: the read cache, the versions held back, fleet holds and fleet labels. Real file
 * sources in a temporary folder; where a test needs what only Secrets Manager answers (staging
 * labels, a fleet hold), the store's own `fetch` seam (what cluster workers use) supplies it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Source } from '../../src/config/config.js';
import { createLogger } from '../../src/observability/index.js';
import { SourceReads, type SourceReadsOptions } from '../../src/trust/source-reads.js';
import { type FetchResult, fetchSource, SourceError } from '../../src/trust/sources/index.js';
import type { FetchOptions } from '../../src/trust/sources/types.js';
import { LogCapture } from '../helpers/gateway.js';

let dir: string;
let logs: LogCapture;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mtls-gw-reads-'));
  logs = new LogCapture();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const fileSource = async (name: string, text: string): Promise<Source> => {
  await writeFile(join(dir, name), text);
  return { kind: 'file', path: join(dir, name) };
};

function reads(extra: Partial<SourceReadsOptions> = {}): SourceReads {
  return new SourceReads({ logger: createLogger('debug', logs), timeoutMs: 2_000, ...extra });
}

describe('SourceReads.read', () => {
  it('reads fresh bytes once, then answers from the cache while the source is unchanged', async () => {
    const source = await fileSource('ca.pem', 'first');
    let asked: (string | undefined)[] = [];
    const r = reads({
      fetch: (s: Source, o: FetchOptions) => {
        asked.push(o.knownVersion);
        return fetchSource(s, o);
      },
    });
    const first = await r.read(source, false);
    expect(first).toMatchObject({ fresh: true, labels: '' });
    expect(first.bytes.toString()).toBe('first');
    const second = await r.read(source, false);
    expect(second.fresh).toBe(false);
    expect(second.bytes.toString()).toBe('first');
    expect(second.version).toBe(first.version);
    expect(asked).toEqual([undefined, first.version]);
    expect(r.lastVersionRead(join(dir, 'ca.pem'))).toBe(first.version);

    asked = [];
    const explicit = await r.read(source, true);
    expect(explicit.fresh).toBe(true);
    expect(asked).toEqual([undefined]); // a refresh asks for the bytes whatever is cached

    await writeFile(join(dir, 'ca.pem'), 'second');
    const changed = await r.read(source, false);
    expect(changed.fresh).toBe(true);
    expect(changed.bytes.toString()).toBe('second');
    expect(changed.version).not.toBe(first.version);
  });

  it('refuses an "unchanged" answer for a version it never read', async () => {
    const source = await fileSource('ca.pem', 'x');
    const r = reads({
      fetch: async (): Promise<FetchResult> => ({ unchanged: true, version: 'v9', labels: [] }),
    });
    await expect(r.read(source, false)).rejects.toThrow(SourceError);
    await expect(r.read(source, false)).rejects.toThrow(/unchanged answer without a prior read/);
  });

  it('reads the CRL sources that answer and reports the others', async () => {
    const ok = await fileSource('crl-a.pem', 'a');
    const missing: Source = { kind: 'file', path: join(dir, 'crl-missing.pem') };
    const failed: [string, Error][] = [];
    const got = await reads().readCrls([missing, ok], false, (name, err) => failed.push([name, err]));
    expect(got.map((c) => [c.name, c.bytes.toString(), c.labels])).toEqual([
      [join(dir, 'crl-a.pem'), 'a', []],
    ]);
    expect(failed.map(([name, err]) => [name, err instanceof SourceError && err.code])).toEqual([
      [join(dir, 'crl-missing.pem'), 'ENOENT'],
    ]);
  });
});

describe('versions held back', () => {
  it('an invalid version stays held until its bytes change or a refresh asks', () => {
    const r = reads();
    r.hold('ca_bundle', { version: 'v1', labels: 'AWSCURRENT', why: 'invalid' });
    expect(r.stillHeld('ca_bundle', 'v1', 'AWSCURRENT,MTLS_GATEWAY_FORCE', false)).toBe(true);
    expect(r.stillHeld('ca_bundle', 'v2', '', false)).toBe(false);
    expect(r.stillHeld('ca_bundle', 'v1', 'AWSCURRENT', true)).toBe(false);
    expect(r.heldVersion('ca_bundle')).toBe('v1');
    r.release('ca_bundle');
    expect(r.stillHeld('ca_bundle', 'v1', 'AWSCURRENT', false)).toBe(false);
    expect(r.heldVersion('ca_bundle')).toBeUndefined();
  });

  it('a guard hold is decided again when its labels change (the force label added)', () => {
    const r = reads();
    r.hold('crl.pem', { version: 'v1', labels: 'AWSCURRENT', why: 'guard' });
    expect(r.stillHeld('crl.pem', 'v1', 'AWSCURRENT', false)).toBe(true);
    expect(r.stillHeld('crl.pem', 'v1', 'AWSCURRENT,MTLS_GATEWAY_FORCE', false)).toBe(false);
  });

  it('a hold for time only is decided again on every poll', () => {
    const r = reads();
    r.hold('ca_bundle', { version: 'v1', labels: '', why: 'guard_time' });
    expect(r.stillHeld('ca_bundle', 'v1', '', false)).toBe(false);
  });

  it('lists the guard holds (not the refusals) by source name for the cluster relay', () => {
    const r = reads();
    r.hold('ca_bundle', { version: 'ca2', labels: '', why: 'guard' });
    r.hold('/crl/a.pem', { version: 'a2', labels: '', why: 'guard_time' });
    r.hold('server_cert', { version: 's2', labels: '', why: 'invalid' });
    expect(r.guardHeldVersions('/trust/ca.pem')).toEqual(
      new Map([
        ['/trust/ca.pem', 'ca2'],
        ['/crl/a.pem', 'a2'],
      ]),
    );
  });
});

describe('fleet holds and labels', () => {
  it('says once per held AWSCURRENT that the fleet holds it back, and forgets it when lifted', async () => {
    const source = await fileSource('ca.pem', 'good');
    let skippedHeld: string | undefined = 'v-new';
    const r = reads({
      fetch: async (s, o) => {
        const got = await fetchSource(s, o);
        return { ...got, labels: ['MTLSGW_LAST_GOOD'], ...(skippedHeld !== undefined && { skippedHeld }) };
      },
    });
    const first = await r.read(source, false);
    await r.read(source, false);
    expect(r.fleetHolds()).toEqual([
      { source: join(dir, 'ca.pem'), held_version: 'v-new', serving_version: first.version },
    ]);
    expect(first.labels).toBe('MTLSGW_LAST_GOOD');
    expect(logs.lines.filter((l) => l.result === 'fleet_held')).toMatchObject([
      { event: 'trust', held_version: 'v-new', version: first.version },
    ]);
    skippedHeld = undefined;
    await r.read(source, false);
    expect(r.fleetHolds()).toEqual([]);
  });

  it('writes each label once per version, and again after a failed write', async () => {
    const source: Source = { kind: 'secretsmanager', secretId: 'ca' };
    const written: string[] = [];
    let fail = true;
    const r = reads({
      label: async (_s, decision, version) => {
        written.push(`${decision}:${version}`);
        if (fail) throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
        return true;
      },
    });
    r.label(source, 'installed', 'v1');
    await logs.waitFor((l) => l.result === 'label_failed');
    expect(logs.lines.find((l) => l.result === 'label_failed')).toMatchObject({
      source: 'secretsmanager:ca',
      decision: 'installed',
      version: 'v1',
      error_code: 'AccessDeniedException',
      reason: 'denied',
    });
    fail = false;
    r.label(source, 'installed', 'v1');
    await logs.waitFor((l) => l.result === 'labelled_last_good');
    r.label(source, 'installed', 'v1'); // written already: nothing to do
    r.label(source, 'held', ''); // no version, no label
    r.label(source, 'held', 'v2');
    await logs.waitFor((l) => l.result === 'labelled_held');
    expect(written).toEqual(['installed:v1', 'installed:v1', 'held:v2']);
  });
});
