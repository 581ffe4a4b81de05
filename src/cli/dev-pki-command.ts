/** `mtls-gateway dev-pki issue-client|revoke`: test partners in a development PKI (src/dev/pki.ts). */

import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { issueClientOnDisk, revokeOnDisk } from '../dev/pki.js';
import { printJson, readInput } from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const DEV_PKI_USAGE = `usage: mtls-gateway dev-pki [--out DIR]
       mtls-gateway dev-pki issue-client --name N [--days D] [--revoke] [--out DIR] [--json]
       mtls-gateway dev-pki revoke --cert FILE [--out DIR] [--json]

(no command)  write a fresh development PKI to DIR (default certs-dev)
issue-client  N.pem, N-key.pem, N-combined.pem signed by the development intermediate in DIR
              (valid D days, default 824); --revoke also lists it in the intermediate's CRL
revoke        lists FILE's certificate in the intermediate's CRL
Both rewrite the intermediate's CRL in DIR/crl.pem with the next CRL number. Development only.
`;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export async function devPkiSubcommand(sub: string, args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(DEV_PKI_USAGE);
    return 0;
  }
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      days: { type: 'string' },
      revoke: { type: 'boolean', default: false },
      cert: { type: 'string' },
      out: { type: 'string', default: 'certs-dev' },
      json: { type: 'boolean', default: false },
    },
  });
  const dir = resolve(values.out ?? 'certs-dev');
  readInput(
    resolve(dir, 'intermediate-ca-key.pem'),
    'development intermediate key (regenerate with dev-pki)',
  );
  if (sub === 'issue-client') {
    if (!values.name || !NAME.test(values.name))
      throw new UsageError('--name must be 1-64 of [A-Za-z0-9._-]');
    const days = values.days === undefined ? undefined : Number(values.days);
    if (days !== undefined && (!Number.isInteger(days) || days === 0))
      throw new UsageError('--days must be a whole number');
    const issued = await issueClientOnDisk(dir, {
      name: values.name,
      ...(days === undefined ? {} : { days }),
      revoke: values.revoke ?? false,
    });
    if (values.json) printJson({ dir, ...issued });
    else {
      process.stdout.write(
        `issued ${values.name} (serial ${issued.serialHex}): ${issued.files.join(', ')} in ${dir}\n`,
      );
      if (issued.crlNumber !== undefined)
        process.stdout.write(`revoked: crl.pem rewritten (CRL number ${issued.crlNumber})\n`);
    }
    return 0;
  }
  if (sub === 'revoke') {
    if (!values.cert) throw new UsageError('--cert is required');
    const cert = new X509Certificate(readInput(values.cert, 'certificate'));
    const crlNumber = await revokeOnDisk(dir, [cert.serialNumber]);
    if (values.json) printJson({ dir, serialHex: cert.serialNumber.toUpperCase(), crlNumber });
    else
      process.stdout.write(
        `revoked serial ${cert.serialNumber.toUpperCase()}: crl.pem rewritten (CRL number ${crlNumber})\n`,
      );
    return 0;
  }
  throw new UsageError(`unknown dev-pki command '${sub}'`);
}
