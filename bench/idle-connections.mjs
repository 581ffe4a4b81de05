// Memory per idle mTLS keep-alive connection (issue #8, goal 4): starts the built gateway on a fresh
// development PKI, reads its RSS idle, opens N verified keep-alive connections (one request each,
// then idle), reads RSS again. Loopback only. Usage (after npm run build):
//   node bench/idle-connections.mjs [N=5000]
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
const gw = spawn(process.execPath, [cli, 'serve'], {
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
const rss = async () => {
  const text = await (await fetch('http://127.0.0.1:18601/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('mtls_gateway_process_resident_memory_bytes '));
  return Number(line.split(' ')[1]) / 1024 / 1024;
};
for (let i = 0; i < 100; i++) {
  try {
    await rss();
    break;
  } catch {
    await sleep(100);
  }
}
await sleep(1000);
const idle = await rss();
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
await sleep(2000);
const loaded = await rss();
console.log(
  `idle RSS ${idle.toFixed(1)} MB; with ${sockets.length} idle keep-alive mTLS connections ${loaded.toFixed(1)} MB (+${(loaded - idle).toFixed(1)} MB, ${(((loaded - idle) * 1024) / sockets.length).toFixed(1)} KiB each)`,
);
for (const s of sockets) s.destroy();
gw.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
