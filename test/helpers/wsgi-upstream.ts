/**
 * A real WSGI upstream: Python's `wsgiref` (python3 is on every test machine) started as a child
 * process on an ephemeral loopback port. It answers every request with the WSGI environ's
 * `HTTP_*` keys, `PATH_INFO` and `QUERY_STRING` as JSON. WSGI, like CGI, Rack and PHP-FPM, reads a
 * header named `X_Client_Id` as `HTTP_X_CLIENT_ID`: the same key as `X-Client-Id`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { rawExchange, startTestGateway, type TestGateway } from './gateway.js';
import { makeTestPki, type TestPki } from './pki.js';

const SCRIPT = `
import json
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith('HTTP_') or k in ('PATH_INFO', 'QUERY_STRING')}
    body = json.dumps(seen).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]

server = make_server('127.0.0.1', 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
`;

export interface WsgiUpstream {
  readonly port: number;
  close(): Promise<void>;
}

export function startWsgiUpstream(): Promise<WsgiUpstream> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`wsgiref upstream exited with ${code}`)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (!out.includes('\n') || line === undefined) return;
      child.removeAllListeners('exit');
      resolve({
        port: Number(line),
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill();
          }),
      });
    });
  });
}

/**
 * A fresh PKI, a wsgiref upstream and a gateway forwarding to it (with `policy` as GATEWAY_CONFIG
 * when given, then `env`), shared by the tests of one file: started before them, handed to `use`,
 * and stopped (gateway, upstream, PKI folder) after them.
 */
export function useWsgiGateway(
  opts: { policy?: object; env?: Record<string, string> },
  use: (started: { pki: TestPki; gw: TestGateway }) => void,
): void {
  let pki: TestPki | undefined;
  let wsgi: WsgiUpstream | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
    wsgi = await startWsgiUpstream();
    gw = await startTestGateway(pki, {
      ...(opts.policy
        ? { GATEWAY_CONFIG: await pki.write('wsgi-policy.json', JSON.stringify(opts.policy)) }
        : {}),
      GATEWAY_UPSTREAM: `http://127.0.0.1:${wsgi.port}`,
      GATEWAY_LOG_LEVEL: 'info',
      ...opts.env,
    });
    use({ pki, gw });
  });
  afterAll(async () => {
    await gw?.close();
    await wsgi?.close();
    await pki?.cleanup();
  });
}

/**
 * One request as partner-a on its own raw TLS connection (headers exactly as written, which HTTP
 * clients would normalise): the answer's status and, when the upstream answered (200), the environ
 * the WSGI app saw; `{}` for the gateway's own answers.
 */
export async function wsgiEnviron(
  pki: TestPki,
  gw: TestGateway,
  request: { method?: string; target: string; headers?: readonly string[] },
): Promise<{ status: number; environ: Record<string, string> }> {
  const method = request.method ?? 'GET';
  const lines = [...(method === 'GET' ? [] : ['Content-Length: 0']), ...(request.headers ?? [])];
  const raw = await rawExchange(
    pki,
    'partner-a',
    gw.port,
    `${method} ${request.target} HTTP/1.1\r\nHost: localhost\r\n${lines.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`,
  );
  const status = Number(raw.split(' ')[1]);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return { status, environ: status === 200 ? (JSON.parse(body) as Record<string, string>) : {} };
}
