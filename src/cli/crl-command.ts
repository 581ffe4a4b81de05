/** `mtls-gateway crl check`: argument parsing and printing (the logic is src/inspect/crl-report.ts). */
import { parseArgs } from 'node:util';
import { type CrlDiff, type CrlReport, checkCrl, diffCrls, isoSeconds } from '../inspect/index.js';
import {
  clientInputsFromDir,
  findingLines,
  printJson,
  readInput,
  revocationPolicyFromEnv,
} from './inspect-support.js';
import { UsageError } from './usage-error.js';

export const CRL_USAGE = `usage: mtls-gateway crl check CRL --bundle BUNDLE [--serial S]… [--json]
       mtls-gateway crl diff OLD NEW --bundle BUNDLE [--clients DIR] [--json]

check  Reads every CRL in CRL (PEM blocks or DER) with the gateway's parser and verifies it against
       the CAs of BUNDLE as the gateway would: issuer, signature, this/next update
       (GATEWAY_CRL_GRACE_SECONDS applies), CRL number, entries, and for each --serial (hex, colons
       allowed) whether it is listed.
diff   What replacing the CRLs of OLD by those of NEW changes, per signing CA (paired by the CA's
       key, not its name): serials added and removed, CRL numbers, whether the gateway would take
       the new CRL at all (it keeps a CRL that is not older), and with --clients (a folder of
       certificates; CA certificates are skipped) which known clients become revoked or unrevoked.
       exit codes: 0 nothing known is newly revoked, 1 a problem (a new CRL the gateway would
       ignore or keep the old one over) or a --clients certificate newly revoked, 2 usage error
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
  if (sub === 'diff') return diffCommand(rest);
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

function formatDiff(d: CrlDiff): string {
  let out = '';
  for (const e of d.cas) {
    const num = (x: typeof e.old): string =>
      x ? `number ${x.crl_number ?? 'none'}, ${x.entries} entries` : 'none';
    out += `CA ${e.ca.subject} (sha256 ${e.ca.fingerprint256})\n`;
    out += `  old CRL: ${num(e.old)}; new CRL: ${num(e.new)}${e.unchanged ? ' (unchanged)' : e.new && !e.takesEffect ? ' (NOT TAKEN: not newer)' : ''}\n`;
    out += `  serials added ${e.added.length}, removed ${e.removed.length}\n`;
    for (const s of e.added.slice(0, 20)) out += `    + ${s}\n`;
    if (e.added.length > 20) out += `    + … ${e.added.length - 20} more (--json lists all)\n`;
    for (const s of e.removed.slice(0, 20)) out += `    - ${s}\n`;
    if (e.removed.length > 20) out += `    - … ${e.removed.length - 20} more (--json lists all)\n`;
    for (const c of e.newlyRevoked) out += `  newly revoked    ${c.name} ${c.subject} (serial ${c.serial})\n`;
    for (const c of e.noLongerRevoked)
      out += `  no longer revoked ${c.name} ${c.subject} (serial ${c.serial})\n`;
  }
  out += findingLines(d.findings);
  return `${out}result: ${d.errors} error(s), ${d.warnings} warning(s)\n`;
}

function diffCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      clients: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 2) throw new UsageError('crl diff needs OLD and NEW');
  if (!values.bundle) throw new UsageError('--bundle is required (the CAs that sign the CRLs)');
  const [oldPath, newPath] = positionals as [string, string];
  const d = diffCrls({
    oldBytes: readInput(oldPath, 'CRL'),
    newBytes: readInput(newPath, 'CRL'),
    bundlePem: readInput(values.bundle, 'bundle').toString('latin1'),
    clients: values.clients
      ? clientInputsFromDir(values.clients).map((c) => ({ name: c.name, pem: c.certPem }))
      : [],
  });
  if (values.json) printJson(d);
  else process.stdout.write(formatDiff(d));
  return d.errors > 0 || d.cas.some((e) => e.newlyRevoked.length > 0) ? 1 : 0;
}
