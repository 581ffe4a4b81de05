// Memory per idle mTLS keep-alive connection (issue #8, goal 4): starts the built gateway on a fresh
// development PKI, reads its RSS idle, opens N verified keep-alive connections (one request each,
// then idle), reads RSS again. Loopback only. Usage (after npm run build):
//   [NODE_BIN=…] node bench/idle-connections.mjs [N=5000] [SETTLE_SECONDS=2]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';

const N = Number(process.argv[2] ?? 5000);
const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'idle-'));
await new Promise((r) =>
  spawn(process.execPath, [cli, 'dev-pki', '--out', dir], { stdio: 'ignore' }).on('exit', r),
);
// NODE_BIN runs the gateway on another Node (e.g. the Node 24 the image ships); the clients stay on this one.
const gw = spawn(process.env.NODE_BIN ?? process.execPath, [cli, 'serve'], {
  env: {
    PATH: process.env.PATH,
    GATEWAY_LISTEN: '127.0.0.1:18600',
    GATEWAY_ADMIN_LISTEN: '127.0.0.1:18601',
    GATEWAY_SERVER_CERT: join(dir, 'server.pem'),
    GATEWAY_SERVER_KEY: join(dir, 'server-key.pem'),
    GATEWAY_CA_BUNDLE: join(dir, 'ca-bundle.pem'),
    GATEWAY_CRLS: join(dir, 'crl.pem'),
    GATEWAY_UPSTREAM: 'http://127.0.0.1:18602',
    GATEWAY_LOG_LEVEL: 'warn',
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: String(N + 10),
    GATEWAY_KEEPALIVE_TIMEOUT_SECONDS: '300',
  },
  stdio: 'ignore',
});
const metric = (text, name) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line.split(' ')[1]) / 1024 / 1024;
};
/** RSS, and the V8 heap and off-heap (Buffers, OpenSSL is not in it) parts of it, in MB. */
const memory = async () => {
  const text = await (await fetch('http://127.0.0.1:18601/metrics')).text();
  return {
    rss: metric(text, 'mtls_gateway_process_resident_memory_bytes'),
    heap: metric(text, 'mtls_gateway_nodejs_heap_size_used_bytes'),
    external: metric(text, 'mtls_gateway_nodejs_external_memory_bytes'),
  };
};
const rss = async () => (await memory()).rss;
// Up to 60 s for the admin listener: a busy box starts the gateway slowly.
for (let i = 0; i < 600; i++) {
  try {
    await rss();
    break;
  } catch {
    await sleep(100);
  }
}
await sleep(1000);
const idleMemory = await memory();
const idle = idleMemory.rss;
const tls = {
  ca: readFileSync(join(dir, 'root-ca.pem')),
  cert: readFileSync(join(dir, 'partner-a.pem')),
  key: readFileSync(join(dir, 'partner-a-key.pem')),
};
const sockets = [];
const open = () =>
  new Promise((res, rej) => {
    const s = connect({ host: '127.0.0.1', port: 18600, servername: 'localhost', ...tls }, () => {
      // One request (answered 502: no upstream) makes it a verified, used keep-alive connection.
      s.write('GET /idle HTTP/1.1\r\nHost: localhost\r\n\r\n');
      s.once('data', () => res(s));
    });
    s.on('error', rej);
  });
for (let i = 0; i < N; i += 50)
  sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, open))));
await sleep(Number(process.argv[3] ?? 2) * 1000);
const loadedMemory = await memory();
const loaded = loadedMemory.rss;
console.log(
  `gateway: V8 heap used ${idleMemory.heap.toFixed(1)} -> ${loadedMemory.heap.toFixed(1)} MB, ` +
    `external ${idleMemory.external.toFixed(1)} -> ${loadedMemory.external.toFixed(1)} MB (the rest of RSS is native: OpenSSL, libuv, malloc)`,
);
console.log(
  `idle RSS ${idle.toFixed(1)} MB; with ${sockets.length} idle keep-alive mTLS connections ${loaded.toFixed(1)} MB (+${(loaded - idle).toFixed(1)} MB, ${(((loaded - idle) * 1024) / sockets.length).toFixed(1)} KiB each)`,
);
for (const s of sockets) s.destroy();
gw.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
