/**
 * `serve` (the container's command), `dev` (what `npm start` runs) and `healthcheck` (the
 * container's HEALTHCHECK). Only these load the gateway itself.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPrimary, runWorker } from '../cluster.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { GatewayConfigFileError } from '../config/gateway-config-file.js';
import { ParameterStoreError, ParameterStorePolicy, parameterNameOf } from '../config/parameter-store.js';
import { startEchoUpstream } from '../dev/echo-upstream.js';
import { Gateway } from '../gateway.js';
import { armHardExit } from '../hard-exit.js';
import { createLogger, flushLogsSync } from '../observability/index.js';
import { ReloadRequests } from '../trust/reload-requests.js';

function fail(message: string, code: number): never {
  process.stderr.write(`mtls-gateway: ${message}\n`);
  process.exit(code);
}

export async function serve(processEnv: NodeJS.ProcessEnv): Promise<void> {
  let env = processEnv;
  // GATEWAY_CONFIG=ssm:<name>: fetched and validated now, then read from its private file (the
  // primary's cluster workers inherit that path, so only the primary polls Parameter Store).
  let parameterPolicy: ParameterStorePolicy | undefined;
  if (cluster.isPrimary) {
    try {
      const parameter = parameterNameOf(env.GATEWAY_CONFIG);
      if (parameter) {
        parameterPolicy = await ParameterStorePolicy.materialize(parameter);
        env = { ...env, GATEWAY_CONFIG: parameterPolicy.file };
        process.env.GATEWAY_CONFIG = parameterPolicy.file;
      }
    } catch (err) {
      if (err instanceof ParameterStoreError || err instanceof GatewayConfigFileError)
        fail(`configuration error: GATEWAY_CONFIG: ${err.message} (in ${env.GATEWAY_CONFIG})`, 2);
      throw err;
    }
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`, 2);
    throw err;
  }
  if (cluster.isWorker) return runWorker(config);
  parameterPolicy?.start(
    config.trustRefreshSeconds,
    createLogger(config.logLevel, undefined, { format: config.logFormat }),
  );
  // SIGHUP reads the policy parameter first (inside the coalesced reload), so the reload sees it.
  const policyFirst = async (): Promise<void> => {
    await parameterPolicy?.pollNow();
  };
  if (config.workers > 1) return runPrimary(config, config.workers, policyFirst);
  const gateway = await Gateway.start(config);
  gateway.logger.info({
    event: 'lifecycle',
    msg: 'single process',
    workers: 1,
    workers_reason: config.workersReason,
  });
  let stopping = false;
  const drain = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    armHardExit(config.drainSeconds);
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
  const reloads = new ReloadRequests(async () => {
    await policyFirst();
    await gateway.reloadTrust();
  }, gateway.logger);
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

/**
 * The policy `npm start` runs with unless GATEWAY_CONFIG names another: whoami on, `/admin` closed
 * to everyone, `/receipts` open to any verified client, so every example of docs/partners.md works
 * against a fresh `npm start` as written.
 */
export const DEMO_POLICY = fileURLToPath(new URL('../../config/demo-gateway.json', import.meta.url));

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
    GATEWAY_CONFIG: process.env.GATEWAY_CONFIG || DEMO_POLICY,
    NODE_ENV: process.env.NODE_ENV === 'production' ? 'development' : process.env.NODE_ENV,
  });
  const port = process.env.GATEWAY_LISTEN?.split(':').pop() ?? '8443';
  process.stderr.write(
    `\nmtls-gateway is running (demo upstream on 127.0.0.1:${echo.port}). Try:\n\n` +
      `  curl --cacert certs-dev/root-ca.pem --cert certs-dev/partner-a.pem --key certs-dev/partner-a-key.pem https://localhost:${port}/receipts\n\n` +
      `  refused (route):    curl --cacert certs-dev/root-ca.pem --cert certs-dev/partner-a-combined.pem https://localhost:${port}/admin\n` +
      `  refused (revoked):  curl --cacert certs-dev/root-ca.pem --cert certs-dev/revoked-combined.pem https://localhost:${port}/\n` +
      `  admin:              curl http://127.0.0.1:9090/readyz   http://127.0.0.1:9090/metrics   http://127.0.0.1:9090/trust\n\n`,
  );
}
