'use strict';
// The floor of our architecture, for comparison only (never shipped): Node's https server with a
// required client certificate and CRLs, forwarding each request with undici's Pool.dispatch and
// streaming the answer back, with identity headers computed once per connection. No policy, no
// logging, no metrics, no header hygiene, no limits, no rotation: what the gateway costs above
// this line is the cost of those. `npm run bench` (bench/peers/run.mjs) measures it beside the
// gateway, configured by BENCH_HOST, BENCH_PORT, BENCH_SERVER_CERT, BENCH_SERVER_KEY, BENCH_CA,
// BENCH_CRL (PEM blocks of every CA level's CRL) and BENCH_UPSTREAM_URL.
const { readFileSync } = require('node:fs');
const { createServer } = require('node:https');
const { Pool } = require('undici');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const pems = (file, label) =>
  readFileSync(file, 'latin1').match(
    new RegExp(`-----BEGIN ${label}-----[^-]+-----END ${label}-----`, 'g'),
  ) ?? [];

const pool = new Pool(env('BENCH_UPSTREAM_URL'), { connections: 256, pipelining: 1 });
const DROP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'host',
  'x-client-subject',
  'x-client-serial',
  'x-client-verify',
]);
const identityOf = new WeakMap();

const server = createServer(
  {
    key: readFileSync(env('BENCH_SERVER_KEY')),
    cert: readFileSync(env('BENCH_SERVER_CERT')),
    ca: readFileSync(env('BENCH_CA')),
    crl: pems(env('BENCH_CRL'), 'X509 CRL'), // one CRL per PEM block (Node reads the first of each)
    requestCert: true,
    rejectUnauthorized: true,
  },
  (req, res) => {
    let identity = identityOf.get(req.socket);
    if (!identity) {
      const peer = req.socket.getPeerX509Certificate();
      identity = [
        'x-client-subject',
        peer.subject.split('\n').reverse().join(','),
        'x-client-serial',
        peer.serialNumber,
        'x-client-verify',
        'SUCCESS',
      ];
      // FLOOR_CERT=1: also the URL-encoded PEM, as the gateway's default X-Client-Cert (~1.4 KB).
      if (process.env.FLOOR_CERT === '1') identity.push('x-client-cert', encodeURIComponent(peer.toString()));
      identityOf.set(req.socket, identity);
    }
    const headers = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (!DROP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
    }
    headers.push(...identity);
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.dispatch(
      { path: req.url, method: req.method, headers, body: hasBody ? req : null },
      {
        onRequestStart() {},
        onResponseStart(_c, status, upstreamHeaders) {
          const out = {};
          for (const name in upstreamHeaders) if (!DROP.has(name)) out[name] = upstreamHeaders[name];
          res.writeHead(status, out);
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (res.headersSent) res.destroy();
          else res.writeHead(502, { 'content-length': 0 }).end();
        },
      },
    );
  },
);
server.on('tlsClientError', () => {});
server.listen(Number(env('BENCH_PORT')), env('BENCH_HOST'));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0)); // lets --cpu-prof write
