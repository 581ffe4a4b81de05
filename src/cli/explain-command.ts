/** `mtls-gateway explain`: argument parsing and printing (the logic is src/inspect/explain.ts). */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GatewayConfigFileError, readGatewayConfigFile } from '../config/gateway-config-file.js';
import { type Explanation, explainCertificate, loadBundle, loadCrls } from '../inspect/index.js';
import type { PolicyDocument } from '../policy/index.js';
import {
  clientInput,
  findingLines,
  printJson,
  readInput,
  revocationPolicyFromEnv,
} from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const EXPLAIN_USAGE = `usage: mtls-gateway explain CERT [--key KEY] [--bundle BUNDLE] [--crl FILE]… [--config FILE] [--json]

Runs the gateway's verification offline on a client certificate and prints each step's verdict:
chain, validity, purpose, revocation, partner match, allowed routes. With the private key (in CERT,
as NAME-key.pem next to it, or --key) OpenSSL decides in a real in-memory TLS handshake.
Defaults as the gateway: --bundle GATEWAY_CA_BUNDLE (a file) or certs-dev/ca-bundle.pem; --crl the
files of GATEWAY_CRLS or certs-dev/crl.pem; --config GATEWAY_CONFIG (without it, the default policy:
every verified client may call the default route to GATEWAY_UPSTREAM).
exit codes: 0 accepted, 1 refused, 2 usage error
`;

const remote = (s: string): boolean => /^(secretsmanager:|https:|s3:)/.test(s);

function format(e: Explanation): string {
  let out = `certificate ${e.certificate.subject}\n  issuer ${e.certificate.issuer}\n  serial ${e.certificate.serial}\n  sha256 ${e.certificate.fingerprint256}\n`;
  out += `verified by ${e.method}\n`;
  for (const s of e.steps) out += `${s.step.padEnd(10)} ${s.verdict.padEnd(11)} ${s.detail}\n`;
  out += e.accepted ? `result: accepted as ${e.partner}\n` : `result: refused ${e.reason}: ${e.message}\n`;
  return out;
}

export async function explainCommand(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      key: { type: 'string' },
      bundle: { type: 'string' },
      crl: { type: 'string', multiple: true },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('explain needs exactly one CERT');
  const env = process.env;
  const bundlePath =
    values.bundle ??
    (env.GATEWAY_CA_BUNDLE && !remote(env.GATEWAY_CA_BUNDLE)
      ? env.GATEWAY_CA_BUNDLE
      : 'certs-dev/ca-bundle.pem');
  const crlPaths =
    values.crl ??
    (env.GATEWAY_CRLS
      ? env.GATEWAY_CRLS.split(',')
          .map((s) => s.trim())
          .filter((s) => s && !remote(s))
      : existsSync('certs-dev/crl.pem')
        ? ['certs-dev/crl.pem']
        : []);
  const configPath = values.config ?? env.GATEWAY_CONFIG;
  let config: PolicyDocument | undefined;
  if (configPath) {
    try {
      config = readGatewayConfigFile(configPath).document;
    } catch (err) {
      if (err instanceof GatewayConfigFileError)
        throw new UsageError(`--config ${configPath}: ${err.message}`);
      throw err;
    }
  }
  const client = clientInput(positionals[0]!, values.key);
  const now = Date.now();
  const loaded = loadBundle(readInput(bundlePath, 'bundle'), { now, production: false });
  if (!loaded.bundle) throw new UsageError(`bundle '${bundlePath}' has no usable CA: ${loaded.gatewayError}`);
  const crls = loadCrls(
    crlPaths.map((name) => ({ name, bytes: readInput(name, 'CRL') })),
    loaded.bundle,
  );
  const e = await explainCertificate({
    client,
    bundle: loaded.bundle,
    revocation: crls.index,
    policy: revocationPolicyFromEnv(env),
    config,
    defaultUpstream: env.GATEWAY_UPSTREAM ?? 'http://127.0.0.1:8081',
  });
  const notes = [
    ...(loaded.gatewayError
      ? [
          {
            severity: 'warning' as const,
            code: 'gateway_refuses',
            message: `the gateway refuses ${bundlePath} as a whole: ${loaded.gatewayError}`,
          },
        ]
      : []),
    ...crls.results.flatMap((r) =>
      r.result.rejected.map((x) => ({
        severity: 'warning' as const,
        code: x.code.toLowerCase(),
        message: `${r.name}: CRL ignored: ${x.reason}`,
      })),
    ),
  ];
  if (values.json) printJson({ ...e, notes });
  else process.stdout.write(findingLines(notes, '') + format(e));
  return e.accepted ? 0 : 1;
}
