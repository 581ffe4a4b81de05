#!/usr/bin/env node
/**
 * The mtls-gateway command line: argument parsing and dispatch only. `serve` is the container's
 * command; `dev` is what `npm start` runs; `dev-pki` writes the development PKI.
 */
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.js';
import { startEchoUpstream } from '../dev/echo-upstream.js';
import { writeDevPki } from '../dev/pki.js';
import { Gateway } from '../gateway.js';
import { flushLogsSync } from '../observability/index.js';
import { LOADTEST_USAGE, loadtestCommand, UsageError } from './loadtest-command.js';

const USAGE = `usage: mtls-gateway <command> [options]

commands:
  serve              run the gateway, configured by GATEWAY_* environment variables
  dev                development mode (npm start): dev PKI, demo upstream, gateway, admin
  dev-pki [--out D]  write the development PKI to D (default certs-dev)
  loadtest URL …     load-test a gateway with client certificates (loadtest --help)
  healthcheck        exit 0 if GET /healthz on GATEWAY_ADMIN_LISTEN answers 200 within 2 s, else 1
`;

function fail(message: string, code: number): never {
  process.stderr.write(`mtls-gateway: ${message}\n`);
  process.exit(code);
}

async function serve(env: NodeJS.ProcessEnv): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`, 2);
    throw err;
  }
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
  process.on('SIGHUP', () => {
    gateway.logger.info({ event: 'trust', msg: 'SIGHUP: reloading trust material' });
    void gateway.reloadTrust();
  });
}

/**
 * The container's HEALTHCHECK (Dockerfile and ECS task definition): the image has no curl, so node
 * asks the admin listener itself. A wildcard bind address is probed on loopback.
 */
function healthcheck(env: NodeJS.ProcessEnv): Promise<void> {
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

async function dev(): Promise<void> {
  const dir = resolve('certs-dev');
  if (!existsSync(resolve(dir, 'ca-bundle.pem'))) {
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

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(process.env);
    case 'dev':
      return dev();
    case 'loadtest':
      if (rest.includes('--help')) {
        process.stdout.write(LOADTEST_USAGE);
        return;
      }
      try {
        process.exitCode = await loadtestCommand(rest);
      } catch (err) {
        if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
          fail(`loadtest: ${(err as Error).message}\n${LOADTEST_USAGE}`, 2);
        }
        throw err;
      }
      return;
    case 'healthcheck':
      return healthcheck(process.env);
    case 'dev-pki': {
      const { values } = parseArgs({
        args: rest,
        options: { out: { type: 'string', default: 'certs-dev' } },
      });
      const dir = resolve(values.out ?? 'certs-dev');
      await writeDevPki(dir);
      process.stdout.write(`wrote the development PKI to ${dir}\n`);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      fail(`unknown command '${command}'\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: Error) => fail(err.stack ?? err.message, 1));
