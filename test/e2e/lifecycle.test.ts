/**
 * The real `mtls-gateway serve` process: SIGTERM turns /readyz to 503 at once, stops accepting,
 * lets an in-flight request finish (exit 0) or cuts it after GATEWAY_DRAIN_SECONDS (exit 1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAgent, get, type LogLine } from '../helpers/gateway.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

let pki: TestPki;
let upstream: Server;
let upstreamPort: number;
const held: { req: IncomingMessage; res: ServerResponse }[] = [];
let onHeld: (() => void) | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = createServer((req, res) => {
    if (req.url === '/slow') {
      held.push({ req, res });
      onHeld?.();
      return;
    }
    res.end('fast');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  await pki.cleanup();
});

interface Running {
  child: ChildProcess;
  tlsPort: number;
  adminPort: number;
  waitLog(match: (l: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<number | null>;
}

async function serve(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      GATEWAY_LISTEN: '127.0.0.1:0',
      GATEWAY_ADMIN_LISTEN: '127.0.0.1:0',
      GATEWAY_SERVER_CERT: pki.path('server.pem'),
      GATEWAY_SERVER_KEY: pki.path('server-key.pem'),
      GATEWAY_CA_BUNDLE: pki.path('ca-bundle.pem'),
      GATEWAY_CRLS: pki.path('crl.pem'),
      GATEWAY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.match(line)) w.resolve(line);
      else waiters.push(w);
    }
  });
  const waitLog = (match: (l: LogLine) => boolean): Promise<LogLine> => {
    const found = lines.find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = (msg: string) => waitLog((l) => l.msg === msg).then((l) => (l.address as AddressInfo).port);
  return {
    child,
    tlsPort: await port('TLS listening'),
    adminPort: await port('admin listening'),
    waitLog,
    exited,
  };
}

function holdNext(): Promise<void> {
  return new Promise((resolve) => {
    onHeld = () => {
      onHeld = undefined;
      resolve();
    };
  });
}

// Each test spawns a real gateway process (AWS SDK import included): generous timeouts for a loaded CI box.
describe('graceful shutdown', { timeout: 90_000 }, () => {
  it('finishes an in-flight request after SIGTERM, reports not ready, and exits 0', async () => {
    const gw = await serve({ GATEWAY_DRAIN_SECONDS: '20' });
    const agent = clientAgent(pki, 'partner-a');
    const url = `https://localhost:${gw.tlsPort}`;
    expect((await get(`http://127.0.0.1:${gw.adminPort}/readyz`, agent)).status).toBe(200);
    const arrived = holdNext();
    const slow = request(`${url}/slow`, { dispatcher: agent });
    await arrived;
    gw.child.kill('SIGTERM');
    await gw.waitLog((l) => l.msg === 'draining');
    const ready = await get(`http://127.0.0.1:${gw.adminPort}/readyz`, agent);
    expect(ready.status).toBe(503);
    expect(ready.json()).toEqual({ status: 'not_ready', reason: 'draining' });
    held.shift()!.res.end('slow done');
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    expect(await res.body.text()).toBe('slow done');
    expect(await gw.exited).toBe(0);
    await agent.close();
  });

  it('cuts a request that outlives GATEWAY_DRAIN_SECONDS and exits 1', async () => {
    const gw = await serve({ GATEWAY_DRAIN_SECONDS: '1' });
    const agent = clientAgent(pki, 'partner-a');
    const arrived = holdNext();
    const slow = request(`https://localhost:${gw.tlsPort}/slow`, { dispatcher: agent });
    await arrived;
    gw.child.kill('SIGTERM');
    await expect(slow).rejects.toThrow();
    expect(await gw.exited).toBe(1);
    const line = await gw.waitLog((l) => l.msg === 'stopped');
    expect(line.cut_requests).toBe(1);
    held.shift()?.res.destroy();
    await agent.destroy();
  });
});
