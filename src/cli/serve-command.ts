/**
 * `serve` (the container's command), `dev` (what `npm start` runs) and `healthcheck` (the
 * container's HEALTHCHECK). Only these load the gateway itself.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { resolve } from 'node:path';
import { runPrimary, runWorker } from '../cluster.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { startEchoUpstream } from '../dev/echo-upstream.js';
import { Gateway } from '../gateway.js';
import { flushLogsSync } from '../observability/index.js';
import { ReloadRequests } from '../trust/reload-requests.js';

function fail(message: string, code: number): never {
  process.stderr.write(`mtls-gateway: ${message}\n`);
  process.exit(code);
}

export async function serve(env: NodeJS.ProcessEnv): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`, 2);
    throw err;
  }
  if (cluster.isWorker) return runWorker(config);
  if (config.workers > 1) return runPrimary(config, config.workers);
  const gateway = await Gateway.start(config);
  let stopping = false;
  const drain = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ event: 'lifecycle', msg: `received ${signal}` });
    gateway.drain().then(
      (clean) => {
        flushLogsSync();
        process.exit(clean ? 0 : 1);
      },
      () => {
        flushLogsSync();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
  // Coalesced: a burst of signals is at most two reloads (one in flight, one queued).
  const reloads = new ReloadRequests(() => gateway.reloadTrust(), gateway.logger);
  process.on('SIGHUP', () => {
    gateway.logger.info({ event: 'trust', msg: 'SIGHUP: reloading trust material' });
    reloads.request();
  });
}

/**
 * The container's HEALTHCHECK (Dockerfile and ECS task definition): the image has no curl, so node
 * asks the admin listener itself. A wildcard bind address is probed on loopback.
 */
export function healthcheck(env: NodeJS.ProcessEnv): Promise<void> {
  const listen = env.GATEWAY_ADMIN_LISTEN || '127.0.0.1:9090';
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  if (!m) fail(`healthcheck: GATEWAY_ADMIN_LISTEN '${listen}' is not host:port`, 1);
  const bound = m[1] ?? m[2]!;
  const host = bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
  return new Promise((done) => {
    const req = httpGet({ host, port: Number(m[3]), path: '/healthz', timeout: 2_000 }, (res) => {
      res.resume();
      process.exit(res.statusCode === 200 ? 0 : 1);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 2 s')));
    req.on('error', (err) => fail(`healthcheck: ${err.message}`, 1));
    req.on('close', done);
  });
}

export async function dev(): Promise<void> {
  const dir = resolve('certs-dev');
  if (!existsSync(resolve(dir, 'ca-bundle.pem'))) {
    // Loaded here only: the certificate-making library adds about 23 MB of RSS to a process.
    const { writeDevPki } = await import('../dev/pki.js');
    await writeDevPki(dir);
    process.stderr.write(`generated the development PKI in ${dir}\n`);
  }
  const echo = await startEchoUpstream('127.0.0.1', 8081);
  process.on('exit', () => echo.server.close());
  await serve({
    ...process.env,
    NODE_ENV: process.env.NODE_ENV === 'production' ? 'development' : process.env.NODE_ENV,
  });
  const port = process.env.GATEWAY_LISTEN?.split(':').pop() ?? '8443';
  process.stderr.write(
    `\nmtls-gateway is running (demo upstream on 127.0.0.1:${echo.port}). Try:\n\n` +
      `  curl --cacert certs-dev/root-ca.pem --cert certs-dev/partner-a.pem --key certs-dev/partner-a-key.pem https://localhost:${port}/receipts\n\n` +
      `  refused (revoked):  curl --cacert certs-dev/root-ca.pem --cert certs-dev/revoked-combined.pem https://localhost:${port}/\n` +
      `  admin:              curl http://127.0.0.1:9090/readyz   http://127.0.0.1:9090/metrics   http://127.0.0.1:9090/trust\n\n`,
  );
}
