/**
 * A real gateway on ephemeral loopback ports with a real echo upstream, a JSON log capture and
 * helpers for real clients (undici with client certificates, curl, openssl s_client).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { Agent, type Dispatcher, request } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { type EchoUpstream, startEchoUpstream } from '../../src/dev/echo-upstream.js';
import { Gateway } from '../../src/gateway.js';
import { createLogger, createMetrics } from '../../src/observability/index.js';
import type { TrustStatus } from '../../src/trust/trust-status.js';
import { gatewayEnv, makeTestPki, type TestPki } from './pki.js';

export const execFileAsync = promisify(execFile);

export type LogLine = Record<string, unknown> & { event?: string };

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as LogLine;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(line)) return true;
        w.resolve(line);
        return false;
      });
    }
    done();
  }

  /** Resolves with the first line (already logged or future) that matches. */
  waitFor(match: (l: LogLine) => boolean): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  events(event: string): LogLine[] {
    return this.lines.filter((l) => l.event === event);
  }
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly upstream: EchoUpstream;
  readonly logs: LogCapture;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

export async function startTestGateway(
  pki: TestPki,
  env: Record<string, string> = {},
  options: { upstream?: EchoUpstream } = {},
): Promise<TestGateway> {
  const upstream = options.upstream ?? (await startEchoUpstream('127.0.0.1', 0));
  const config = loadConfig({
    ...gatewayEnv(pki, upstream.port),
    GATEWAY_LOG_LEVEL: 'debug',
    ...env,
  });
  const logs = new LogCapture();
  const gateway = await Gateway.start(config, {
    logger: createLogger(config.logLevel, logs, { format: config.logFormat }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const address = gateway.tlsAddress ?? (await gateway.whenListening());
  const port = address.port;
  const adminPort = gateway.adminAddress!.port;
  let closing: Promise<void> | undefined;
  return {
    gateway,
    upstream,
    logs,
    port,
    adminPort,
    url: `https://localhost:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    // Idempotent: a test that replaces its file's gateway closes it, and the file's hook may again.
    close: () => {
      closing ??= (async () => {
        await gateway.stop();
        if (!options.upstream) await upstream.close();
      })();
      return closing;
    },
  };
}

/**
 * A fresh PKI and a gateway (with `env`) shared by the tests of one file: started before them,
 * handed to `use`, and stopped (gateway first, then the PKI folder) after them.
 */
export function useTestGateway(
  env: Record<string, string>,
  use: (started: { pki: TestPki; gw: TestGateway }) => void,
): void {
  let pki: TestPki | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
    gw = await startTestGateway(pki, env);
    use({ pki, gw });
  });
  afterAll(async () => {
    await gw?.close();
    await pki?.cleanup();
  });
}

/** An undici Agent presenting client `name` of the test PKI (or no certificate). */
export function clientAgent(
  pki: TestPki,
  name: string | undefined,
  tls: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; minVersion?: 'TLSv1.2' | 'TLSv1.3' } = {},
): Agent {
  return presentingAgent(
    pki,
    name
      ? { cert: readFileSync(pki.path(`${name}.pem`)), key: readFileSync(pki.path(`${name}-key.pem`)) }
      : undefined,
    tls,
  );
}

/**
 * An undici Agent trusting this PKI's server and presenting `client` (a certificate chain and its
 * key, e.g. a scenario leaf built with the openssl CLI), or no certificate.
 */
export function presentingAgent(
  pki: TestPki,
  client: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined,
  tls: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; minVersion?: 'TLSv1.2' | 'TLSv1.3' } = {},
): Agent {
  return new Agent({
    connect: {
      ca: readFileSync(pki.path('root-ca.pem')),
      servername: 'localhost',
      ...(client ? { cert: client.cert, key: client.key } : {}),
      ...tls,
    },
  });
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = unknown>(): T;
}

export async function get(
  url: string,
  dispatcher: Dispatcher,
  opts: { method?: string; headers?: Record<string, string> | string[]; body?: string } = {},
): Promise<SimpleResponse> {
  const res = await request(url, {
    dispatcher,
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers ?? [],
    body: opts.body ?? null,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** A refusal as the client reads it: status, the body's `error`, and the Connection header. */
export interface ReadRefusal {
  readonly status: number;
  readonly error: string | undefined;
  readonly connection: string | undefined;
}

/**
 * One request on a connection the gateway refuses (strict mode: the one answer, then it closes).
 * Throws only when there is no HTTP answer at all.
 */
export async function refusal(url: string, dispatcher: Dispatcher): Promise<ReadRefusal> {
  const res = await get(url, dispatcher);
  let error: string | undefined;
  try {
    error = res.json<{ error?: string }>().error;
  } catch {
    error = undefined;
  }
  const connection = res.headers.connection;
  return { status: res.status, error, connection: Array.isArray(connection) ? connection[0] : connection };
}

/** Runs curl; returns status code and body (never throws on HTTP errors). */
export async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('curl', ['-sS', '--max-time', '10', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export async function openssl(args: string[], input?: string): Promise<string> {
  const child = execFileAsync('openssl', args, { encoding: 'utf8' });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout } = await child;
  return stdout;
}

/** Value of one sample in Prometheus text, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * Sends raw bytes over a client-certificate TLS connection and returns everything the gateway
 * answered until it closed (for hop-by-hop and malformed-request tests that HTTP clients refuse
 * to produce). The request should carry `Connection: close`.
 */
export function rawExchange(
  pki: TestPki,
  name: string,
  port: number,
  bytes: string,
  host = '127.0.0.1',
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      port,
      host,
      servername: 'localhost',
      ca: readFileSync(pki.path('root-ca.pem')),
      cert: readFileSync(pki.path(`${name}.pem`)),
      key: readFileSync(pki.path(`${name}-key.pem`)),
    });
    let out = '';
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => socket.write(bytes));
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

/**
 * Polls the admin /metrics until `name{labels}` satisfies `ok` (an event the gateway does not
 * announce otherwise, e.g. server-side sockets closed). Bounded: rejects after `timeoutMs`.
 */
export async function waitForMetric(
  gw: TestGateway,
  name: string,
  labels: Record<string, string>,
  ok: (value: number) => boolean,
  timeoutMs = 5_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const agent = new Agent();
  try {
    for (;;) {
      const res = await request(`${gw.adminUrl}/metrics`, { dispatcher: agent });
      const value = metricValue(await res.body.text(), name, labels) ?? 0;
      if (ok(value)) return value;
      if (performance.now() > deadline) throw new Error(`${name} stayed at ${value} for ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await agent.close();
  }
}

/** The bytes of a real TLS ClientHello (as Node's client sends it), captured on a plain TCP server. */
export function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createNetServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      const c = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost' });
      c.on('error', () => c.destroy());
    });
    server.on('error', reject);
  });
}

/** GET /trust on a gateway's admin listener, typed as the gateway writes it (trust/trust-status.ts). */
export async function trustOf(adminUrl: string): Promise<TrustStatus> {
  const res = await fetch(`${adminUrl}/trust`);
  if (res.status !== 200) throw new Error(`GET /trust answered ${res.status}`);
  return (await res.json()) as TrustStatus;
}
