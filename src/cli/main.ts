#!/usr/bin/env node
/**
 * The mtls-gateway command line: argument parsing and dispatch only. `serve` is the container's
 * command; `dev` is what `npm start` runs; `dev-pki` writes the development PKI.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

// Each command's module is imported when it runs: `bundle check` should not pay for loading the
// gateway, the AWS SDK or the certificate generator.

const USAGE = `usage: mtls-gateway <command> [options]

commands:
  serve              run the gateway, configured by GATEWAY_* environment variables
  dev                development mode (npm start): dev PKI, demo upstream, gateway, admin
  dev-pki [--out D]  write the development PKI to D (default certs-dev)
  loadtest URL …     load-test a gateway with client certificates (loadtest --help)
  bundle check|diff|push   check, compare and publish CA bundles (bundle --help)
  crl check CRL …    verify a CRL against a bundle, look up serials (crl --help)
  explain CERT …     the gateway's whole decision for a client certificate, step by step (explain --help)
  dev-pki issue-client|revoke   test partners in a development PKI (dev-pki --help)
  healthcheck        exit 0 if GET /healthz on GATEWAY_ADMIN_LISTEN answers 200 within 2 s, else 1
`;

const SERVE_USAGE = `usage: mtls-gateway serve

Runs the gateway, configured only by GATEWAY_* environment variables (README, Configuration).
NODE_ENV=production: every source must be named and development material is refused.
A configuration error exits 2 with one line naming the variable.
signals: SIGTERM/SIGINT drain (exit 0 clean, 1 requests cut), SIGHUP reloads trust material now
`;

const DEV_USAGE = `usage: mtls-gateway dev        (what npm start runs)

Development mode: writes the development PKI to certs-dev/ if missing, starts the demo echo
upstream on 127.0.0.1:8081 and the gateway on GATEWAY_LISTEN (default 0.0.0.0:8443) with the demo
policy (src/dev/demo-policy.json, unless GATEWAY_CONFIG is set), admin on 127.0.0.1:9090.
`;

const HEALTHCHECK_USAGE = `usage: mtls-gateway healthcheck

The container's HEALTHCHECK: exit 0 if GET /healthz on GATEWAY_ADMIN_LISTEN (default
127.0.0.1:9090; a wildcard address is probed on loopback) answers 200 within 2 s, else 1.
`;

/** Whether the arguments ask for help: such a call prints the usage and runs nothing. */
function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

function fail(message: string, code: number): never {
  process.stderr.write(`mtls-gateway: ${message}\n`);
  process.exit(code);
}

/** Runs a command that returns its exit code; a usage error exits 2 with the usage text. */
async function securityCommand(run: () => Promise<number>, usage: string, prefix = ''): Promise<void> {
  try {
    process.exitCode = await run();
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      fail(`${prefix}${(err as Error).message}\n${usage}`, 2);
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // The long-running commands take no arguments: anything else is a usage error, never a start.
  const plain: Record<string, string> = {
    serve: SERVE_USAGE,
    dev: DEV_USAGE,
    healthcheck: HEALTHCHECK_USAGE,
  };
  const plainUsage = command === undefined ? undefined : plain[command];
  if (plainUsage !== undefined) {
    if (wantsHelp(rest)) {
      process.stdout.write(plainUsage);
      return;
    }
    if (rest.length > 0) fail(`${command}: unexpected argument '${rest[0]}'\n${plainUsage}`, 2);
  }
  switch (command) {
    case 'serve':
      return (await import('./serve-command.js')).serve(process.env);
    case 'dev':
      return (await import('./serve-command.js')).dev();
    case 'healthcheck':
      return (await import('./serve-command.js')).healthcheck(process.env);
    case 'loadtest': {
      const { LOADTEST_USAGE, loadtestCommand } = await import('./loadtest-command.js');
      if (wantsHelp(rest)) {
        process.stdout.write(LOADTEST_USAGE);
        return;
      }
      return securityCommand(() => loadtestCommand(rest), LOADTEST_USAGE, 'loadtest: ');
    }
    case 'bundle': {
      const { BUNDLE_USAGE, bundleCommand } = await import('./bundle-command.js');
      return securityCommand(() => bundleCommand(rest), BUNDLE_USAGE);
    }
    case 'crl': {
      const { CRL_USAGE, crlCommand } = await import('./crl-command.js');
      return securityCommand(() => crlCommand(rest), CRL_USAGE);
    }
    case 'explain': {
      const { EXPLAIN_USAGE, explainCommand } = await import('./explain-command.js');
      return securityCommand(() => explainCommand(rest), EXPLAIN_USAGE);
    }
    case 'dev-pki': {
      const { DEV_PKI_USAGE, devPkiSubcommand } = await import('./dev-pki-command.js');
      if (wantsHelp(rest)) {
        process.stdout.write(DEV_PKI_USAGE);
        return;
      }
      if (rest[0] !== undefined && !rest[0].startsWith('-')) {
        return securityCommand(() => devPkiSubcommand(rest[0]!, rest.slice(1)), DEV_PKI_USAGE);
      }
      const { values } = parseArgs({
        args: rest,
        options: { out: { type: 'string', default: 'certs-dev' } },
      });
      const dir = resolve(values.out ?? 'certs-dev');
      await (await import('../dev/pki.js')).writeDevPki(dir);
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
