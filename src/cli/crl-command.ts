/** `mtls-gateway crl check`: argument parsing and printing (the logic is src/inspect/crl-report.ts). */
import { parseArgs } from 'node:util';
import { type CrlReport, checkCrl, isoSeconds } from '../inspect/index.js';
import { findingLines, printJson, readInput, revocationPolicyFromEnv } from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const CRL_USAGE = `usage: mtls-gateway crl check CRL --bundle BUNDLE [--serial S]… [--json]

Reads every CRL in CRL (PEM blocks or DER) with the gateway's parser and verifies it against the
CAs of BUNDLE as the gateway would: issuer, signature, this/next update (GATEWAY_CRL_GRACE_SECONDS
applies), CRL number, entries, and for each --serial (hex, colons allowed) whether it is listed.
exit codes, one meaning each:
  0  every CRL is sound and no --serial is listed
  1  a CRL has a problem (unreadable, unverifiable, expired, or a warning): its listings cannot be relied on
  2  usage error
  3  every CRL is sound and a --serial is listed (what you want after revoking)
`;

function format(r: CrlReport): string {
  let out = '';
  for (const c of r.crls) {
    out += `CRL ${c.index} of ${r.source}: ${c.issuer ?? '(unreadable)'}\n`;
    if (c.issuer !== undefined) {
      out += `  signature ${c.verified ? `verified (signed by ${c.signedBy})` : 'NOT VERIFIED'}\n`;
      out += `  this update ${isoSeconds(c.thisUpdate!)}, next update ${c.nextUpdate === undefined ? 'none' : isoSeconds(c.nextUpdate)}, number ${c.crlNumber ?? 'none'}, ${c.entries} entries\n`;
    }
    for (const s of c.serials) {
      out += s.listed
        ? `  serial ${s.serial}: LISTED (revoked ${isoSeconds(s.revokedAt!)}${s.reason ? `, ${s.reason}` : ''})\n`
        : `  serial ${s.serial}: not listed\n`;
    }
    out += findingLines(c.findings);
  }
  return `${out}result: ${r.errors} error(s), ${r.warnings} warning(s)\n`;
}

export async function crlCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || rest.includes('--help')) {
    process.stdout.write(CRL_USAGE);
    return 0;
  }
  if (sub !== 'check') throw new UsageError(`unknown crl command '${sub}'`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      serial: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('crl check needs exactly one CRL file');
  if (!values.bundle) throw new UsageError('--bundle is required (the CAs that sign the CRL)');
  const crlPath = positionals[0]!;
  const bytes = readInput(crlPath, 'CRL');
  const tty = process.stderr.isTTY === true;
  const report = checkCrl({
    source: crlPath,
    bytes,
    bundlePem: readInput(values.bundle, 'bundle').toString('latin1'),
    serials: values.serial ?? [],
    now: Date.now(),
    graceSeconds: revocationPolicyFromEnv(process.env).graceSeconds,
    ...(tty && bytes.length > 1024 * 1024
      ? {
          onParse: (i: number, size: number) =>
            process.stderr.write(`parsing CRL ${i} (${(size / 1024 / 1024).toFixed(1)} MB)…\n`),
        }
      : {}),
  });
  if (values.json) printJson(report);
  else process.stdout.write(format(report));
  // A broken CRL outranks a listing: a serial "listed" in a CRL the gateway would ignore revokes nothing.
  if (report.errors + report.warnings > 0) return 1;
  return report.crls.some((c) => c.serials.some((s) => s.listed)) ? 3 : 0;
}
