/**
 * The strict-mode refusal table of docs/partners.md, produced by the clients partners use: for each
 * reason and TLS 1.2 / 1.3, curl, `openssl s_client` (a request piped in), Python urllib, Node
 * undici and Java's HttpClient (one JVM for all cases; a visible note when javac is missing) run
 * against a real strict-mode gateway. Each must read the refusal (status and `error`), the gate
 * must log every one with what was presented, and the document's table must be exactly what the
 * clients printed. `UPDATE_PARTNER_TABLE=1` rewrites the table instead of comparing.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusalStatus } from '../../src/tls/refusal.js';
import { clientAgent, get, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const DOC = new URL('../../docs/partners.md', import.meta.url);
const BEGIN = '<!-- refusal-table:begin (written by test/e2e/partner-table.test.ts) -->';
const END = '<!-- refusal-table:end -->';

/** Each reason and the test PKI's client that earns it (undefined: no certificate at all). */
const REASONS = [
  ['no_certificate', undefined],
  ['unknown_ca', 'untrusted'],
  ['expired', 'expired'],
  ['revoked', 'revoked'],
  ['bad_certificate', 'server-only'],
] as const;
const VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
type Reason = (typeof REASONS)[number][0];
type Version = (typeof VERSIONS)[number];

interface Case {
  readonly id: string;
  readonly reason: Reason;
  readonly client: string | undefined;
  readonly tls: Version;
}

const CASES: Case[] = REASONS.flatMap(([reason, client]) =>
  VERSIONS.map((tls) => ({ id: `${reason}/${tls}`, reason, client, tls })),
);
const COLUMNS = ['curl', 'openssl s_client', 'Python urllib', 'Node undici', 'Java HttpClient'] as const;
type Column = (typeof COLUMNS)[number];
type Row = Record<Column, string>;

const PATH = '/receipts';
const errorOf = (body: string): string | undefined => /"error"\s*:\s*"([^"]*)"/.exec(body)?.[1];
/** Ports, request ids and paths of this run's temp folder vary; the table must not. */
const stable = (text: string, pki: TestPki): string =>
  text
    .replaceAll(pki.dir, '<pki>')
    .replace(/(localhost|127\.0\.0\.1):\d+/g, '$1:PORT')
    .replace(/\s+/g, ' ')
    .replaceAll('|', '\\|')
    .trim();

async function curlCase(c: Case, pki: TestPki, port: number): Promise<string> {
  const args = [
    '-sS',
    '--max-time',
    '10',
    '--resolve',
    `localhost:${port}:127.0.0.1`,
    '--cacert',
    pki.path('root-ca.pem'),
    ...(c.client ? ['--cert', pki.path(`${c.client}.pem`), '--key', pki.path(`${c.client}-key.pem`)] : []),
    ...(c.tls === 'TLSv1.2' ? ['--tlsv1.2', '--tls-max', '1.2'] : ['--tlsv1.3']),
    '-w',
    '\n%{http_code}',
    `https://localhost:${port}${PATH}`,
  ];
  try {
    const { stdout } = await run('curl', args);
    const lines = stdout.trimEnd().split('\n');
    const code = lines.pop();
    const error = errorOf(lines.join('\n'));
    return `HTTP ${code}${error ? ` · ${error}` : ''}`;
  } catch (err) {
    return (err as { stderr?: string }).stderr?.split('\n')[0] ?? String(err);
  }
}

function opensslCase(c: Case, pki: TestPki, port: number): Promise<string> {
  const args = [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    '-servername',
    'localhost',
    '-CAfile',
    pki.path('root-ca.pem'),
    ...(c.client ? ['-cert', pki.path(`${c.client}.pem`), '-key', pki.path(`${c.client}-key.pem`)] : []),
    c.tls === 'TLSv1.2' ? '-tls1_2' : '-tls1_3',
    '-quiet', // only the server's bytes on stdout; waits for the server to close
  ];
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill(), 15_000);
    child.on('close', () => {
      clearTimeout(timer);
      const status = out.split('\r\n')[0];
      if (status?.startsWith('HTTP/')) {
        const error = errorOf(out);
        resolve(`${status}${error ? ` · ${error}` : ''}`);
        return;
      }
      // No HTTP answer: the line that names what went wrong (an alert, an error), else the last.
      const lines = err
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('depth=') && !l.startsWith('verify'));
      resolve(
        lines.find((l) => /alert|error/i.test(l)) ?? lines.at(-1) ?? '(nothing printed, connection closed)',
      );
    });
    child.stdin.end(`GET ${PATH} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: s_client\r\n\r\n`);
  });
}

async function pythonCases(pki: TestPki, port: number): Promise<Record<string, string>> {
  const script = new URL('./clients/refusal_probe.py', import.meta.url).pathname;
  const input = JSON.stringify(CASES.map((c) => ({ id: c.id, cert: c.client ?? null, tls: c.tls })));
  const child = run('python3', [script, pki.dir, `https://localhost:${port}${PATH}`], { timeout: 90_000 });
  child.child.stdin?.end(input);
  return JSON.parse((await child).stdout) as Record<string, string>;
}

async function nodeCase(c: Case, pki: TestPki, port: number): Promise<string> {
  const agent = clientAgent(pki, c.client, { minVersion: c.tls, maxVersion: c.tls });
  try {
    const res = await get(`https://localhost:${port}${PATH}`, agent);
    const error = errorOf(res.text);
    return `statusCode ${res.status}${error ? ` · ${error}` : ''}`;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `${e.code ?? e.name}: ${e.message.split('\n')[0]}`;
  } finally {
    await agent.close();
  }
}

async function hasJavac(): Promise<boolean> {
  try {
    await run('javac', ['-version']);
    return true;
  } catch {
    return false;
  }
}

/** Compiles RefusalProbe.java once (in a temp folder); undefined when javac is missing. */
async function compileJava(): Promise<string | undefined> {
  if (!(await hasJavac())) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'mtls-gw-java-'));
  const source = new URL('./clients/RefusalProbe.java', import.meta.url).pathname;
  await run('javac', ['-d', dir, source], { timeout: 120_000 });
  return dir;
}

async function javaCases(classes: string, pki: TestPki, port: number): Promise<Record<string, string>> {
  const child = run('java', ['-cp', classes, 'RefusalProbe', pki.dir, `https://localhost:${port}${PATH}`], {
    timeout: 90_000,
  });
  child.child.stdin?.end(CASES.map((c) => `${c.id}\t${c.client ?? '-'}\t${c.tls}\n`).join(''));
  const out: Record<string, string> = {};
  for (const line of (await child).stdout.split('\n')) {
    const [id, text] = line.split('\t');
    if (id && text !== undefined) out[id] = text;
  }
  return out;
}

/** The table as markdown, columns padded as the formatter (`npm run format`) writes them. */
function renderTable(rows: Map<string, Row>): string {
  const header = ['reason', 'TLS', ...COLUMNS];
  const body = CASES.map((c) => {
    const row = rows.get(c.id)!;
    return [`\`${c.reason}\``, c.tls.replace('TLSv', ''), ...COLUMNS.map((k) => row[k])];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((t, i) => t.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** A markdown table's cells, trimmed (so alignment and padding never count as drift). */
function cellsOf(table: string): string[][] {
  return table
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s|:-]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

function tableOf(doc: string): string | undefined {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) return undefined;
  return doc.slice(start + BEGIN.length, end).trim();
}

const JAVA_MISSING = '(not run: javac missing)';

let pki: TestPki;
let gw: TestGateway;
let javaClasses: string | undefined;
const rows = new Map<string, Row>();

beforeAll(async () => {
  pki = await makeTestPki();
  [gw, javaClasses] = await Promise.all([startTestGateway(pki), compileJava()]); // strict: the default
  if (!javaClasses) console.warn('partner-table: javac is not on PATH; the Java column is not checked');
  const [python, java, ...perCase] = await Promise.all([
    pythonCases(pki, gw.port),
    javaClasses ? javaCases(javaClasses, pki, gw.port) : Promise.resolve({} as Record<string, string>),
    ...CASES.map(async (c) => ({
      id: c.id,
      curl: await curlCase(c, pki, gw.port),
      openssl: await opensslCase(c, pki, gw.port),
      node: await nodeCase(c, pki, gw.port),
    })),
  ]);
  for (const p of perCase) {
    rows.set(p.id, {
      curl: stable(p.curl, pki),
      'openssl s_client': stable(p.openssl, pki),
      'Python urllib': stable(python[p.id] ?? '(no output)', pki),
      'Node undici': stable(p.node, pki),
      'Java HttpClient': javaClasses ? stable(java[p.id] ?? '(no output)', pki) : JAVA_MISSING,
    });
  }
}, 180_000); // hang guards only: a JVM start on a loaded 2-core machine has taken over 25 s

afterAll(async () => {
  await gw?.close();
  await pki?.cleanup();
  if (javaClasses) await rm(javaClasses, { recursive: true, force: true });
});

describe('strict-mode refusals as partners see them', () => {
  it.each(CASES.map((c) => [c.id, c] as const))(
    '%s: every client reads the status and the reason',
    (_id, c) => {
      const row = rows.get(c.id)!;
      const status = String(refusalStatus(c.reason));
      for (const column of COLUMNS) {
        if (column === 'Java HttpClient' && !javaClasses) continue;
        // Java sends no certificate when its issuer is not among the CAs the gateway asked for.
        const reason =
          column === 'Java HttpClient' && c.reason === 'unknown_ca' ? 'no_certificate' : c.reason;
        expect(row[column], column).toContain(status);
        expect(row[column], column).toMatch(new RegExp(`· ${reason}$`));
      }
    },
  );

  it('logs every refusal once per connection at the gate, with what was presented', async () => {
    const clients = javaClasses ? COLUMNS.length : COLUMNS.length - 1;
    for (const [reason, client] of REASONS) {
      const logged = gw.logs.events('handshake').filter((l) => l.reason === reason);
      const fromJava = javaClasses && reason === 'no_certificate' ? VERSIONS.length : 0;
      const lostByJava = javaClasses && reason === 'unknown_ca' ? VERSIONS.length : 0;
      expect(logged.length).toBe(clients * VERSIONS.length + fromJava - lostByJava);
      if (client)
        expect(logged.every((l) => typeof l.serial === 'string' && typeof l.subject === 'string')).toBe(true);
    }
    // Nothing refused reached the upstream.
    expect(gw.logs.events('request').every((l) => l.status !== 200)).toBe(true);
  });

  it('docs/partners.md carries exactly the table the clients printed', async () => {
    const doc = await readFile(DOC, 'utf8');
    const measured = renderTable(rows);
    if (process.env.UPDATE_PARTNER_TABLE === '1') {
      expect(javaClasses, 'UPDATE_PARTNER_TABLE needs javac to measure the Java column').toBeDefined();
      const start = doc.indexOf(BEGIN);
      const end = doc.indexOf(END);
      expect(start >= 0 && end > start, `docs/partners.md needs ${BEGIN} … ${END}`).toBe(true);
      await writeFile(DOC, `${doc.slice(0, start + BEGIN.length)}\n\n${measured}\n\n${doc.slice(end)}`);
      return;
    }
    const documented = tableOf(doc);
    expect(documented, `docs/partners.md needs ${BEGIN} … ${END}`).toBeDefined();
    const withoutJava = (cells: string[][]): string[][] => cells.map((r) => r.slice(0, -1));
    const want = cellsOf(measured);
    const have = cellsOf(documented!);
    if (javaClasses) expect(have).toEqual(want);
    else expect(withoutJava(have)).toEqual(withoutJava(want));
  });
});
