/**
 * A real WSGI upstream: Python's `wsgiref` (python3 is on every test machine) started as a child
 * process on an ephemeral loopback port. It answers every request with the WSGI environ's
 * `HTTP_*` keys, `PATH_INFO` and `QUERY_STRING` as JSON. WSGI, like CGI, Rack and PHP-FPM, reads a
 * header named `X_Client_Id` as `HTTP_X_CLIENT_ID`: the same key as `X-Client-Id`.
 */
import { type ChildProcess, spawn } from 'node:child_process';

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
