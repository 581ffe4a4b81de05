/**
 * The ECS mapping table (src/observability/ecs-format.ts): its conversions, that it can hold every
 * field together (no ECS field written twice, none both a value and an object, none in the
 * namespaces pino's bindings write), that every field of the native lines a real gateway writes
 * has a row (a field added to a log call without one fails here), and that docs/logging.md lists
 * exactly the table's rows (`UPDATE_LOGGING_DOC=1` rewrites that list from the table).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, makeCrl } from '../../src/dev/pki.js';
import {
  BINDING_FIELDS,
  bindingsToEcs,
  EVENT_FIELDS,
  type FieldMapping,
  LINE_FIELDS,
  LOG_EVENTS,
  toEcs,
  unmappedFields,
} from '../../src/observability/ecs-format.js';
import { createLogger } from '../../src/observability/logger.js';
import { clientAgent, get, type LogLine, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

/** Namespaces written by pino's bindings as top-level dotted names: the line must not use them. */
const BINDING_NAMESPACES = ['service', 'process', 'labels', 'log', 'ecs'];

const eventRows = LOG_EVENTS.flatMap((event) =>
  Object.entries(EVENT_FIELDS[event]).map(([name, m]) => ({ event, name, m })),
);

describe('the mapping table', () => {
  it('never writes two fields of one event to the same ECS field', () => {
    for (const event of LOG_EVENTS) {
      const targets = Object.values({
        ...EVENT_FIELDS[event],
        msg: LINE_FIELDS.msg!,
        event: LINE_FIELDS.event!,
      })
        .flatMap((m) => m.to)
        .concat(['event.kind', 'event.module', 'event.category', 'event.type', 'tls.established']);
      const repeated = targets.filter((t, i) => targets.indexOf(t) !== i);
      // event.outcome and event.action may come from both the table and the categorization: same meaning.
      expect(
        repeated.filter((t) => t !== 'event.outcome' && t !== 'event.action'),
        event,
      ).toEqual([]);
    }
  });

  it('never makes one ECS field both a value and an object, nor writes into the bindings namespaces', () => {
    const targets = new Set(eventRows.flatMap((r) => r.m.to));
    for (const t of targets) {
      expect(BINDING_NAMESPACES, t).not.toContain(t.split('.')[0]);
      for (const other of targets) expect(other.startsWith(`${t}.`), `${t} / ${other}`).toBe(false);
    }
  });

  it('converts durations to nanoseconds, the TLS version, the request target and hashes', () => {
    const line = toEcs({
      event: 'request',
      path: '/receipts/1?page=2&q=a?b',
      duration_ms: 12.345,
      upstream_ms: 0.001,
      status: 403,
    });
    expect(line.event).toMatchObject({
      duration: 12_345_000,
      outcome: 'failure',
      dataset: 'mtls_gateway.request',
    });
    expect(line.url).toEqual({
      original: '/receipts/1?page=2&q=a?b',
      path: '/receipts/1',
      query: 'page=2&q=a?b',
    });
    expect(line.mtls_gateway).toEqual({ request: { upstream_duration: 1000 } });
    expect(line.http).toEqual({ response: { status_code: 403 } });

    const hs = toEcs({
      event: 'handshake',
      tls_version: 'TLSv1.2',
      fingerprint256: 'ab01',
      result: 'failure',
    });
    expect(hs.tls).toEqual({
      version: '1.2',
      version_protocol: 'tls',
      client: { hash: { sha256: 'AB01' } },
      established: true,
    });
    expect(toEcs({ event: 'handshake', reason: 'timeout', result: 'failure' }).tls).toEqual({
      established: false,
    });
  });

  it('tells a CA list from a CA count, and a number from a keyword', () => {
    const listed = toEcs({ event: 'trust', cas: [{ subject: 'CN=a', fingerprint256: 'ff' }] });
    expect(listed.mtls_gateway).toEqual({ trust: { cas: [{ subject: 'CN=a', fingerprint256: 'ff' }] } });
    expect(toEcs({ event: 'trust', cas: 3 }).mtls_gateway).toEqual({ trust: { ca_count: 3 } });
    expect(toEcs({ event: 'lifecycle', code: 1 }).error).toEqual({ code: '1' });
    expect(toEcs({ event: 'internal_error', client: '', where: 'gate' })).not.toHaveProperty('client');
    expect(
      toEcs({ event: 'lifecycle', address: { address: '::', family: 'IPv6', port: 8443 } }).server,
    ).toEqual({
      ip: '::',
      port: 8443,
    });
  });

  it('keeps a field it has no row for, under mtls_gateway.<event>', () => {
    const line = toEcs({ event: 'request', status: 200, brand_new: { a: 1 } });
    expect(line.mtls_gateway).toEqual({ request: { brand_new: { a: 1 } } });
    expect(toEcs({ event: 'mystery', x: 1 }).mtls_gateway).toEqual({ mystery: { x: 1 } });
    expect(bindingsToEcs({ service: 'mtls-gateway', worker: 3, pid: 7, zone: 'a' })).toEqual({
      'service.name': 'mtls-gateway',
      'service.node.name': '3',
      'process.pid': 7,
      'labels.zone': 'a',
    });
  });

  it('says success or failure as the native result, status or level does', () => {
    const outcome = (line: Record<string, unknown>, level = 'info') =>
      (toEcs(line, level).event as { outcome?: string }).outcome;
    expect(outcome({ event: 'trust', result: 'loaded' })).toBe('success');
    expect(outcome({ event: 'trust', result: 'guard_blocked' }, 'error')).toBe('failure');
    expect(outcome({ event: 'trust', msg: 'CRL is close to its nextUpdate' }, 'warn')).toBeUndefined();
    expect(outcome({ event: 'trust', msg: 'trust refresh failed' }, 'error')).toBe('failure');
    expect(outcome({ event: 'connection', result: 'refused' }, 'warn')).toBe('failure');
    expect(outcome({ event: 'request', status: 0 })).toBe('failure');
    expect(outcome({ event: 'request', status: 304 })).toBe('success');
    expect(outcome({ event: 'policy', msg: 'GATEWAY_CONFIG reloaded' })).toBe('success');
    expect(outcome({ event: 'policy', msg: 'rejected' }, 'error')).toBe('failure');
  });
});

describe('GATEWAY_LOG_FORMAT=native (the default)', () => {
  it('writes the lines as before: level, time, service, bindings, then the fields as logged', () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info({ event: 'request', status: 200, duration_ms: 1.5, msg: 'm' });
    logger.child({ worker: 2, pid: 7 }).warn({ event: 'trust', result: 'rejected' });
    const iso = '"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"';
    expect(text).toMatch(
      new RegExp(
        `^\\{"level":"info","time":${iso},"service":"mtls-gateway","event":"request","status":200,"duration_ms":1.5,"msg":"m"\\}\\n` +
          `\\{"level":"warn","time":${iso},"service":"mtls-gateway","worker":2,"pid":7,"event":"trust","result":"rejected"\\}\\n$`,
      ),
    );
  });
});

describe('every field of the native lines a real gateway writes', () => {
  let pki: TestPki;
  let gw: TestGateway;
  let configPath: string;
  const policy = (extra = '') =>
    JSON.stringify({
      partners: [
        { id: 'acme', match: { commonName: 'partner-a' } },
        { id: 'soon', match: { commonName: 'soon' } },
      ],
      routes: [{ name: `receipts${extra}`, prefix: '/receipts', allow: ['acme', 'soon'] }],
    });

  beforeAll(async () => {
    pki = await makeTestPki();
    configPath = await pki.write('gateway.json', policy());
    await pki.addClient(
      'soon',
      await issue(pki.pki.intermediate, { subject: 'O=Soon, CN=soon', notAfterDays: 10 }),
    );
    gw = await startTestGateway(pki, {
      GATEWAY_CONFIG: configPath,
      GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '1',
      GATEWAY_CA_BUNDLE: await pki.write('bundle-live.pem', pki.pki.files['ca-bundle.pem']!),
    });
    // Accepted (keeping its connection), a second connection of the same partner (over its limit),
    // refusals in the gate (unknown CA, revoked, no certificate) and before it (not TLS at all).
    const kept = clientAgent(pki, 'partner-a');
    expect((await get(`${gw.url}/receipts/1?x=1`, kept)).status).toBe(200);
    await get(`${gw.url}/receipts/2`, clientAgent(pki, 'partner-a')).catch(() => undefined);
    await gw.logs.waitFor((l) => l.event === 'connection');
    await kept.destroy();
    expect((await get(`${gw.url}/receipts/soon`, clientAgent(pki, 'soon'))).status).toBe(200);
    gw.gateway.radar.sweep();
    for (const name of ['untrusted', 'revoked', undefined]) await get(`${gw.url}/x`, clientAgent(pki, name));
    await new Promise<void>((resolve) => {
      const s = connect(gw.port, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => undefined);
    });
    await gw.logs.waitFor((l) => l.event === 'handshake' && l.reason === 'protocol');
    // Trust: a new CRL set, a lock-out bundle held back, a malformed bundle rejected.
    await pki.write(
      'crl.pem',
      (await makeCrl(pki.pki.root)) + (await makeCrl(pki.pki.intermediate, { crlNumber: 5 })),
    );
    await gw.gateway.trust.refresh();
    const other = await issue(undefined, { subject: 'O=Other, CN=other root CA', ca: true });
    writeFileSync(pki.path('bundle-live.pem'), other.certPem);
    await gw.gateway.trust.refresh();
    writeFileSync(
      pki.path('bundle-live.pem'),
      '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n',
    );
    await gw.gateway.trust.refresh();
    await gw.logs.waitFor((l) => l.event === 'trust' && l.result === 'rejected');
    // Policy: a changed file, then a broken one.
    writeFileSync(configPath, policy('-v2'));
    expect(gw.gateway.reloadPolicy()).toBe('success');
    writeFileSync(configPath, '{ not json');
    expect(gw.gateway.reloadPolicy()).toBe('failure');
    expect(await gw.gateway.drain()).toBe(true);
  });
  afterAll(async () => {
    await gw?.close();
    await pki?.cleanup();
  });

  it('covers every event the gateway can be made to log here', () => {
    const seen = new Set(gw.logs.lines.map((l) => l.event));
    // internal_error is a bug's line: the gate's own tests (test/tls/gate-hardening) provoke it.
    for (const event of LOG_EVENTS.filter((e) => e !== 'internal_error'))
      expect(seen, event).toContain(event);
  });

  it('has a row in the mapping table', () => {
    const missing = new Set<string>();
    for (const line of gw.logs.lines as LogLine[])
      for (const name of unmappedFields(line)) missing.add(`${line.event}.${name}`);
    expect([...missing]).toEqual([]);
  });

  it('comes out of the ECS rewrite with each field written somewhere', () => {
    const valueAt = (obj: Record<string, unknown>, path: string): unknown =>
      path.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], obj);
    for (const line of gw.logs.lines) {
      const { level, time: _time, service: _service, ...fields } = line;
      const ecs = toEcs(fields, String(level));
      for (const [name, value] of Object.entries(fields)) {
        if (value === undefined || value === '' || name === 'event') continue;
        const m =
          name === 'msg'
            ? { to: ['message'] }
            : EVENT_FIELDS[line.event as (typeof LOG_EVENTS)[number]]![name]!;
        const written = m.to.map((t) => valueAt(ecs, t)).filter((v) => v !== undefined);
        expect(written.length, `${line.event}.${name} in ${JSON.stringify(ecs)}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('docs/logging.md', () => {
  const docPath = join(import.meta.dirname, '../../docs/logging.md');
  const START = '<!-- ecs-mapping:start (UPDATE_LOGGING_DOC=1 rewrites this table) -->';
  const END = '<!-- ecs-mapping:end -->';
  const row = (event: string, name: string, m: FieldMapping) =>
    `| ${event} | \`${name}\` | ${m.to.map((t) => `\`${t}\``).join(', ')} | ${m.type} |`;
  const rows = [
    ...Object.entries(LINE_FIELDS).map(([name, m]) => row('every line', name, m)),
    ...Object.entries(BINDING_FIELDS).map(([name, m]) => row('every line (binding)', name, m)),
    ...eventRows.map((r) => row(`\`${r.event}\``, r.name, r.m)),
  ];

  it('lists every row of the mapping table, and no other', () => {
    let text = readFileSync(docPath, 'utf8');
    const start = text.indexOf(START);
    const end = text.indexOf(END);
    expect(start, 'the table markers').toBeGreaterThan(0);
    if (process.env.UPDATE_LOGGING_DOC === '1') {
      const table = [
        '| event | native field | ECS field(s) | ECS type, unit |',
        '| --- | --- | --- | --- |',
        ...rows,
      ];
      text = `${text.slice(0, start + START.length)}\n${table.join('\n')}\n${text.slice(end)}`;
      writeFileSync(docPath, text);
    }
    // Compared cell by cell: the formatter pads the columns.
    const cells = (l: string) =>
      l
        .split('|')
        .map((c) => c.trim())
        .join('|');
    const table = rows.map(cells);
    const documented = text
      .slice(text.indexOf(START), text.indexOf(END))
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map(cells)
      .filter((l) => !l.startsWith('|event|') && !/^\|-/.test(l));
    expect(
      documented.filter((l) => !table.includes(l)),
      'documented, not in the table',
    ).toEqual([]);
    expect(
      table.filter((r) => !documented.includes(r)),
      'in the table, not documented',
    ).toEqual([]);
  });
});
