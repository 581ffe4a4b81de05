// The servers bench/peers/run.mjs measures, each given the same PKI (pki.sh), the same upstream and
// one core. A server is { name, available(), start(ctx) → { argv, env } }: argv runs in the
// foreground (no daemon), so the harness owns its process session and can sum its CPU time.
//   ctx = { root, pki, dir, port, upstream, logLevel }  (dir: a scratch dir of this server's own)
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/**
 * The built gateway (dist/, npm run build) with its defaults apart from the addresses and PKI;
 * `checkout`: another built checkout of it instead (run.mjs --baseline DIR, for before/after).
 */
export const gatewayServer = (name, checkout) => ({
  name,
  available: () => true,
  start: ({ root, pki, port, upstream, logLevel }) => ({
    argv: [process.env.NODE_BIN ?? process.execPath, join(checkout ?? root, 'dist/cli/main.js'), 'serve'],
    env: {
      GATEWAY_LISTEN: `127.0.0.1:${port}`,
      GATEWAY_ADMIN_LISTEN: '127.0.0.1:0',
      GATEWAY_SERVER_CERT: join(pki, 'server-chain.pem'),
      GATEWAY_SERVER_KEY: join(pki, 'server.key'),
      GATEWAY_CA_BUNDLE: join(pki, 'trust.pem'),
      GATEWAY_CRLS: join(pki, 'crls.pem'),
      GATEWAY_UPSTREAM: `http://127.0.0.1:${upstream}`,
      GATEWAY_LOG_LEVEL: logLevel,
    },
  }),
});
const gateway = gatewayServer('gateway');

/**
 * Node https + undici Pool.dispatch and nothing of ours (bench/undici-dispatch-floor.cjs), sending
 * the gateway's largest identity header too (FLOOR_CERT=1: the URL-encoded client PEM), so both
 * put the same bytes on the upstream wire.
 */
const floor = {
  name: 'floor',
  available: () => true,
  start: ({ root, pki, port, upstream }) => ({
    argv: [process.env.NODE_BIN ?? process.execPath, join(root, 'bench/undici-dispatch-floor.cjs')],
    env: {
      BENCH_HOST: '127.0.0.1',
      BENCH_PORT: String(port),
      BENCH_SERVER_CERT: join(pki, 'server-chain.pem'),
      BENCH_SERVER_KEY: join(pki, 'server.key'),
      BENCH_CA: join(pki, 'trust.pem'),
      BENCH_CRL: join(pki, 'crls.pem'),
      BENCH_UPSTREAM_URL: `http://127.0.0.1:${upstream}`,
      FLOOR_CERT: process.env.FLOOR_CERT ?? '1',
    },
  }),
};

/** nginx, one worker: verifies the chain and both CRLs, sets the identity headers, reuses upstream sockets. */
const nginx = {
  name: 'nginx',
  available: () => has('nginx'),
  start: ({ pki, dir, port, upstream }) => {
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 10000000;
  upstream backend { server 127.0.0.1:${upstream}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${pki}/server-chain.pem;
    ssl_certificate_key ${pki}/server.key;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_client_certificate ${pki}/trust.pem;
    ssl_crl ${pki}/crls.pem;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Client-Subject $ssl_client_s_dn;
      proxy_set_header X-Client-Serial $ssl_client_serial;
      proxy_set_header X-Client-Verify $ssl_client_verify;
    }
  }
}
`,
    );
    return {
      argv: ['nginx', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')],
      env: {},
    };
  },
};

/** HAProxy, one thread: verify required with both CRLs, identity headers set (client copies replaced). */
const haproxy = {
  name: 'haproxy',
  available: () => has('haproxy'),
  start: ({ pki, dir, port, upstream }) => {
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
frontend tls
  bind 127.0.0.1:${port} ssl crt ${pki}/server-combined.pem ca-file ${pki}/trust.pem crl-file ${pki}/crls.pem verify required ssl-min-ver TLSv1.2
  http-request set-header X-Client-Subject %[ssl_c_s_dn(,0,rfc2253)]
  http-request set-header X-Client-Serial %[ssl_c_serial,hex]
  http-request set-header X-Client-Verify %[ssl_c_verify]
  default_backend backend
backend backend
  http-reuse always
  server upstream 127.0.0.1:${upstream}
`,
    );
    return { argv: ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')], env: {} };
  },
};

export const SERVERS = [gateway, floor, nginx, haproxy];

/**
 * The upstream every server forwards to: nginx answering `ok` (and echoing the identity headers
 * it received on /check), or, without nginx, a Node server doing the same.
 */
export function upstreamCommand(dir, port) {
  if (has('nginx')) {
    writeFileSync(
      join(dir, 'upstream.conf'),
      `worker_processes 1;
daemon off;
pid ${dir}/upstream.pid;
error_log ${dir}/upstream-error.log error;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 "ok\\n"; }
    location /check { return 200 "subject=$http_x_client_subject\\n"; }
  }
}
`,
    );
    return ['nginx', '-p', dir, '-e', join(dir, 'upstream-error.log'), '-c', join(dir, 'upstream.conf')];
  }
  const script = `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () =>
    s.end(q.url === '/check' ? 'subject=' + (q.headers['x-client-subject'] ?? '') + '\\n' : 'ok\\n')); })
    .listen(${port}, '127.0.0.1')`;
  return [process.execPath, '-e', script];
}
